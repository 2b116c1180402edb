import Ingest

/// A console line that carries a symbolizable code location, located by byte positions so the
/// line can be re-emitted byte for byte with additions.
///
/// Recognised (x86 `show_trace_log_lvl()`, `show_ip()`, lockdep `print_lock()`, ftrace
/// `trace_stack_print`):
/// - call-trace frames ` func+0x1a/0x30`, ` ? func+0x1a/0x30 [mod]`, ` [<ffffffff81234567>] func+0x..`
///   and bare ` [<ffffffff81234567>]` / ` 0xffffffff81234567` addresses;
/// - `RIP: 0010:func+0x1a/0x30` (an exact address, not a return address);
/// - lockdep held-lock sites `..., at: func+0x1a/0x30 [mod]`;
/// - ftrace stack entries ` => func <ffffffff81234567>`.
struct FrameLine {
  enum Kind: Equatable { case callTrace, rip, lockdepSite, ftraceStack }

  var kind: Kind
  var frame: Frame
  /// Bytes before the frame text (printk prefix and indentation), reused for inline lines.
  var leadByteCount: Int
  /// True when the line already ends in a `file:line` or `[inline]` (already symbolized).
  var isSymbolized: Bool

  /// Return addresses (everything but RIP) are looked up at `address - 1`.
  var isReturnAddress: Bool { kind != .rip }

  static func parse(_ b: UnsafeBufferPointer<UInt8>) -> FrameLine? {
    var i = skipPrefix(b)
    let prefixEnd = i
    while i < b.count && (b[i] == 0x20 || b[i] == 0x09) { i += 1 }
    guard i < b.count else { return nil }
    let bodyStart = i
    if let ripAt = find(b, Array("RIP: 0010:".utf8), from: bodyStart, limit: bodyStart + 1) {
      var p = ripAt + 10
      guard var frame = parseSymbolic(b, &p) else { return nil }
      frame.isReliable = true
      return FrameLine(kind: .rip, frame: frame, leadByteCount: prefixEnd, isSymbolized: hasSourceTail(b, p))
    }
    if b[i] == 0x3D && i + 2 < b.count && b[i + 1] == 0x3E && b[i + 2] == 0x20 {
      // ftrace `=> func <addr>`
      var p = i + 3
      let nameStart = p
      while p < b.count && isSymbolByte(b[p]) { p += 1 }
      guard p > nameStart, p + 2 < b.count, b[p] == 0x20, b[p + 1] == 0x3C else { return nil }
      var q = p + 2
      guard let addr = parseHex(b, &q), q < b.count, b[q] == 0x3E else { return nil }
      var f = Frame(function: nil, address: addr)
      f.function = nil
      return FrameLine(kind: .ftraceStack, frame: f, leadByteCount: i, isSymbolized: hasSourceTail(b, q + 1))
    }
    var reliable = true
    if b[i] == 0x3F && i + 1 < b.count && b[i + 1] == 0x20 {
      reliable = false
      i += 2
    }
    var raw: UInt64? = nil
    if i + 2 < b.count && b[i] == 0x5B && b[i + 1] == 0x3C {
      var p = i + 2
      guard let a = parseHex(b, &p), p + 1 < b.count || p + 1 == b.count, p < b.count, b[p] == 0x3E,
        p + 1 < b.count, b[p + 1] == 0x5D
      else { return nil }
      raw = a
      i = p + 2
      while i < b.count && b[i] == 0x20 { i += 1 }
      if i < b.count && b[i] == 0x3F && i + 1 < b.count && b[i + 1] == 0x20 {
        reliable = false
        i += 2
      }
    }
    var p = i
    if var frame = parseSymbolic(b, &p) {
      frame.isReliable = reliable
      frame.address = raw
      return FrameLine(kind: .callTrace, frame: frame, leadByteCount: bodyStart, isSymbolized: hasSourceTail(b, p))
    }
    if let raw {
      // Bare `[<addr>]` (old kernels print this when the name is unknown).
      let f = Frame(function: nil, address: raw, isReliable: reliable)
      return FrameLine(kind: .callTrace, frame: f, leadByteCount: bodyStart, isSymbolized: hasSourceTail(b, p))
    }
    // Lockdep held-lock site: `..., at: func+0x../0x.. [mod]`.
    if let at = find(b, Array(", at: ".utf8), from: bodyStart, limit: b.count) {
      var q = at + 6
      if let frame = parseSymbolic(b, &q) {
        return FrameLine(kind: .lockdepSite, frame: frame, leadByteCount: bodyStart, isSymbolized: hasSourceTail(b, q))
      }
    }
    return nil
  }

  /// Skips `<N>` and any `[...]` printk prefix groups at the start of the line.
  static func skipPrefix(_ b: UnsafeBufferPointer<UInt8>) -> Int {
    var i = 0
    if b.count > 2 && b[0] == 0x3C {
      var j = 1
      while j < b.count && j < 5 && b[j] >= 0x30 && b[j] <= 0x39 { j += 1 }
      if j > 1 && j < b.count && b[j] == 0x3E { i = j + 1 }
    }
    while i < b.count && b[i] == 0x5B {
      // A printk group holds digits, dots, spaces and a T/C caller letter; `[<` is an address.
      guard i + 1 < b.count, b[i + 1] != 0x3C else { break }
      var j = i + 1
      while j < b.count && b[j] != 0x5D && j - i < 40 {
        let c = b[j]
        guard c == 0x20 || c == 0x2E || (c >= 0x30 && c <= 0x39) || c == 0x54 || c == 0x43 else {
          return i
        }
        j += 1
      }
      guard j < b.count && b[j] == 0x5D else { return i }
      i = j + 1
    }
    return i
  }

  /// `func+0xOFF[/0xSIZE][ [mod[ buildid]]]` followed by end of line or a source tail.
  static func parseSymbolic(_ b: UnsafeBufferPointer<UInt8>, _ p: inout Int) -> Frame? {
    let start = p
    while p < b.count && isSymbolByte(b[p]) && b[p] != 0x2B { p += 1 }
    guard p > start, p + 3 < b.count, b[p] == 0x2B, b[p + 1] == 0x30, b[p + 2] == 0x78 else {
      return nil
    }
    let name = String(decoding: UnsafeBufferPointer(rebasing: b[start..<p]), as: UTF8.self)
    p += 1
    guard let off = parseHex(b, &p) else { return nil }
    var size: UInt64? = nil
    if p < b.count && b[p] == 0x2F {
      p += 1
      guard let s = parseHex(b, &p) else { return nil }
      size = s
    }
    var module: String? = nil
    if p + 1 < b.count && b[p] == 0x20 && b[p + 1] == 0x5B && !(p + 2 < b.count && b[p + 2] == 0x3C) {
      var q = p + 2
      let ms = q
      while q < b.count && b[q] != 0x5D && b[q] != 0x20 { q += 1 }
      let me = q
      while q < b.count && b[q] != 0x5D { q += 1 }
      guard q < b.count, me > ms else { return nil }
      module = String(decoding: UnsafeBufferPointer(rebasing: b[ms..<me]), as: UTF8.self)
      p = q + 1
    }
    // Only a frame when nothing but blanks or a source tail follows.
    var q = p
    while q < b.count && (b[q] == 0x20 || b[q] == 0x09) { q += 1 }
    guard q == b.count || hasSourceTail(b, p) else { return nil }
    return Frame(function: name, offset: off, size: size, module: module)
  }

  /// True when the text after `p` looks like ` path:line` or ` [inline]` (already symbolized).
  static func hasSourceTail(_ b: UnsafeBufferPointer<UInt8>, _ p: Int) -> Bool {
    var q = p
    while q < b.count && b[q] == 0x20 { q += 1 }
    guard q < b.count, q > p else { return false }
    var sawColon = false
    var digitsAfterColon = 0
    while q < b.count && b[q] != 0x20 {
      if b[q] == 0x3A {
        sawColon = true
        digitsAfterColon = 0
      } else if b[q] >= 0x30 && b[q] <= 0x39 {
        digitsAfterColon += 1
      }
      q += 1
    }
    return sawColon && digitsAfterColon > 0
  }

  static func isSymbolByte(_ c: UInt8) -> Bool {
    (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x5F
      || c == 0x2E || c == 0x24
  }

  static func parseHex(_ b: UnsafeBufferPointer<UInt8>, _ p: inout Int) -> UInt64? {
    if p + 1 < b.count && b[p] == 0x30 && (b[p + 1] == 0x78 || b[p + 1] == 0x58) { p += 2 }
    var v: UInt64 = 0
    let start = p
    while p < b.count, p - start < 16 {
      let c = b[p]
      let d: UInt8
      if c >= 0x30 && c <= 0x39 { d = c - 0x30 }
      else if c >= 0x61 && c <= 0x66 { d = c - 0x61 + 10 }
      else if c >= 0x41 && c <= 0x46 { d = c - 0x41 + 10 }
      else { break }
      v = v << 4 | UInt64(d)
      p += 1
    }
    return p > start ? v : nil
  }

  static func find(_ b: UnsafeBufferPointer<UInt8>, _ needle: [UInt8], from: Int, limit: Int) -> Int? {
    guard !needle.isEmpty, from + needle.count <= b.count else { return nil }
    var i = from
    let last = min(limit, b.count - needle.count)
    while i <= last {
      if b[i] == needle[0] {
        var k = 1
        while k < needle.count && b[i + k] == needle[k] { k += 1 }
        if k == needle.count { return i }
      }
      i += 1
    }
    return nil
  }
}
