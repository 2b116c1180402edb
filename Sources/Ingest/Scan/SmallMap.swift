/// A tiny map from caller-id keys to open parser state. Logs have a handful of concurrently open
/// contexts at most, so a linear scan beats hashing (which dominated per-line cost).
final class SmallMap<Value> {
  private(set) var keysStore: [Int] = []
  private(set) var valuesStore: [Value] = []
  /// Consecutive lines nearly always come from the same context: remember the last lookup.
  private var cachedKey = Int.max
  private var cachedIndex = -1

  var count: Int { keysStore.count }
  var isEmpty: Bool { keysStore.isEmpty }
  var keys: [Int] { keysStore }
  var values: [Value] { valuesStore }
  var first: (key: Int, value: Value)? { keysStore.isEmpty ? nil : (keysStore[0], valuesStore[0]) }

  @inline(__always)
  fileprivate func index(_ key: Int) -> Int? {
    if key == cachedKey { return cachedIndex < 0 ? nil : cachedIndex }
    let found = scan(key)
    cachedKey = key
    cachedIndex = found ?? -1
    return found
  }

  private func invalidate() { cachedKey = Int.max }

  private func scan(_ key: Int) -> Int? {
    var i = 0
    let n = keysStore.count
    while i < n {
      if keysStore[i] == key { return i }
      i += 1
    }
    return nil
  }

  subscript(_ key: Int) -> Value? {
    @inline(__always) get {
      if keysStore.isEmpty { return nil }
      return index(key).map { valuesStore[$0] }
    }
    set {
      defer { invalidate() }
      if let i = index(key) {
        if let newValue {
          valuesStore[i] = newValue
        } else {
          keysStore.remove(at: i)
          valuesStore.remove(at: i)
        }
      } else if let newValue {
        keysStore.append(key)
        valuesStore.append(newValue)
      }
    }
  }

  @discardableResult
  func removeValue(forKey key: Int) -> Value? {
    guard let i = index(key) else { return nil }
    invalidate()
    keysStore.remove(at: i)
    return valuesStore.remove(at: i)
  }

  func removeAll() {
    invalidate()
    keysStore.removeAll()
    valuesStore.removeAll()
  }

  func contains(_ key: Int) -> Bool { index(key) != nil }
}

extension SmallMap where Value: AnyObject {
  /// The value for `key` without taking a reference: valid only while the map keeps it (the
  /// per-line lookup of the open report cost a retain/release pair per line).
  @inline(__always)
  func unretained(_ key: Int) -> Unmanaged<Value>? {
    if keysStore.isEmpty { return nil }
    guard let i = index(key) else { return nil }
    return valuesStore.withUnsafeBufferPointer { Unmanaged.passUnretained($0[i]) }
  }
}
