/// One `--addrs` input: a hex address (with or without `0x`), `func+0xOFF[/0xSIZE]` or
/// `module:func+0xOFF[/0xSIZE]`.
public enum AddressQuery: Sendable, Hashable {
  case address(UInt64)
  case symbol(module: String?, function: String, offset: UInt64, size: UInt64?)

  /// Parses one query; nil when the text is none of the accepted forms.
  public static func parse(_ text: String) -> AddressQuery? {
    let t = Substring(text).trimmed()
    guard !t.isEmpty else { return nil }
    if let plus = t.firstIndex(of: "+") {
      var head = t[..<plus]
      var module: String? = nil
      if let colon = head.firstIndex(of: ":") {
        module = String(head[..<colon])
        head = head[head.index(after: colon)...]
        guard !module!.isEmpty else { return nil }
      }
      guard !head.isEmpty, head.utf8.allSatisfy({ isSymbolByte($0) }) else { return nil }
      let rest = t[t.index(after: plus)...]
      let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
      guard parts.count <= 2, let off = hex(parts[0]) else { return nil }
      var size: UInt64? = nil
      if parts.count == 2 {
        guard let s = hex(parts[1]) else { return nil }
        size = s
      }
      return .symbol(module: module, function: String(head), offset: off, size: size)
    }
    guard let a = hex(t) else { return nil }
    return .address(a)
  }

  private static func isSymbolByte(_ c: UInt8) -> Bool {
    (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x5F
      || c == 0x2E || c == 0x24
  }

  private static func hex(_ s: Substring) -> UInt64? {
    var d = s
    if d.hasPrefix("0x") || d.hasPrefix("0X") { d = d.dropFirst(2) }
    guard !d.isEmpty, d.count <= 16 else { return nil }
    return UInt64(d, radix: 16)
  }
}

extension Substring {
  fileprivate func trimmed() -> Substring {
    var s = self
    while let f = s.first, f == " " || f == "\t" || f == "\r" { s.removeFirst() }
    while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
    return s
  }
}

extension Symbolizer {
  /// Batch mode: decodes the debug info all `queries` need, in parallel, before answering them
  /// one by one (answers are memoized, so asking again costs a table lookup).
  public func prefetch(_ queries: [AddressQuery]) {
    var addresses: [UInt64] = []
    addresses.reserveCapacity(queries.count)
    for q in queries {
      switch q {
      case .address(let a): addresses.append(a &- kaslrOffset)
      case .symbol(nil, let f, let o, let s):
        if let loc = locate(function: f, offset: o, size: s, module: nil) { addresses.append(loc.address) }
      case .symbol: break
      }
    }
    kernel.prefetch(addresses)
  }

  /// Batch mode for link-time vmlinux addresses (see `prefetch(_:)`).
  public func prefetch(linkAddresses: [UInt64]) { kernel.prefetch(linkAddresses) }

  /// Symbolizes one `--addrs` query. Addresses are exact (no return-address adjustment), as
  /// llvm-symbolizer treats them; vmlinux addresses get the KASLR offset removed.
  public func symbolize(_ query: AddressQuery) -> [SymbolizedFrame] {
    switch query {
    case .address(let a):
      return symbolize(address: a)
    case .symbol(let module, let function, let offset, let size):
      guard let loc = locate(function: function, offset: offset, size: size, module: module) else {
        return [SymbolizedFrame(function: "??", file: nil, line: 0, column: 0, isInlined: false)]
      }
      return symbolize(loc, isReturnAddress: false)
    }
  }
}
