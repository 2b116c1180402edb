/// Public access to `JSONBuffer`'s value writers for documents built outside Ingest (such as
/// `report --json`, whose keys keep a fixed order), so they share the event encoder's string
/// escaping instead of keeping a second copy. Thin wrappers only: the event encoder's own hot
/// path calls the internal writers directly.
extension JSONBuffer {
  /// `,"key":` (no comma before the first key of an object). Keys are written in call order.
  public func writeKey(_ k: StaticString, first: inout Bool) { key(k, first: &first) }

  /// A JSON string with `"`, `\` and control characters escaped; `null` for nil.
  public func writeString(_ s: String?) {
    if let s { string(s) } else { raw("null") }
  }

  public func writeInt(_ v: Int) { int(v) }

  public func writeBool(_ v: Bool) { bool(v) }

  /// `[a,b,...]` with `each` writing one element.
  public func writeArray<T>(_ items: [T], _ each: (T) -> Void) { array(items, each) }
}
