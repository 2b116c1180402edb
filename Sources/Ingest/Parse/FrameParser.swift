#if canImport(Glibc)
  import Glibc
#endif

/// Parses call-trace frame lines (message body, printk prefix already stripped).
///
/// printed by x86 `printk_stack_address()` (`" %s%pBb"`), arm64 `dump_backtrace_entry()`,
/// pre-4.14 x86 with raw `[<addr>]`, and by symbolizers (syz-symbolize appends ` file:line`
/// and emits `func file:line [inline]` lines; decode_stacktrace.sh writes `func (file:line ...)`).
public enum FrameParser {
  /// Parses `body`; returns nil when the line is not a frame.
  public static func parse(
    _ b: UnsafeBufferPointer<UInt8>, line: Int = 0, context: StackContext = .task
  ) -> Frame? {
    parseRaw(b).map { Frame($0, in: b, context: context, line: line) }
  }

  /// Parses `body` into ranges and numbers, decoding no text: `--jsonl` writes frames straight
  /// from these (JSONBuffer.frame(_:in:context:line:)), everything else builds a `Frame`.
  static func parseRaw(_ b: UnsafeBufferPointer<UInt8>) -> RawFrame? {
    let n = b.count
    var i = b.skipSpaces(0)
    guard i < n else { return nil }
    var address: UInt64?
    var reliable = true
    // `[<ffffffff81234567>]` raw address (old x86, arm, irq-state trailers).
    if b[i] == 0x5B, i + 2 < n, b[i + 1] == 0x3C {
      guard let (v, e) = b.hex(at: i + 2), e + 1 < n, b[e] == 0x3E, b[e + 1] == 0x5D else { return nil }
      address = v
      i = b.skipSpaces(e + 2)
    }
    // powerpc: `[c0000000012a3b40] [c000000000f1e2d0] func+0x../0x..` (stack pointer, then the
    // return address).
    if address == nil, b[i] == 0x5B, i + 2 < n, Bytes.isHex(b[i + 1]),
      let (_, e) = b.hex(at: i + 1), e < n, b[e] == 0x5D
    {
      var j = b.skipSpaces(e + 1)
      if j < n, b[j] == 0x5B, let (v, e2) = b.hex(at: j + 1), e2 < n, b[e2] == 0x5D {
        address = v
        j = b.skipSpaces(e2 + 1)
      }
      i = j
    }
    if i + 1 < n, b[i] == 0x3F, b[i + 1] == 0x20 {
      reliable = false
      i = b.skipSpaces(i + 2)
    }
    // arm32 "(func+0x../0x..) from [<...>]" form.
    var parenthesized = false
    if address != nil, i < n, b[i] == 0x28 {
      parenthesized = true
      i += 1
    }
    let symStart = i
    i = b.identEnd(from: i)
    let symEnd = i
    if symEnd == symStart {
      // A bare raw address frame: `[<ffffffff81234567>] 0xffffffff81234567` or nothing after.
      guard let address else { return nil }
      return RawFrame(address: address, isReliable: reliable)
    }
    // `[<addr>] 0xaddr`: the kernel could not name the address.
    if address != nil, symEnd - symStart > 2, b[symStart] == 0x30, b[symStart + 1] | 0x20 == 0x78 {
      return RawFrame(address: address, isReliable: reliable)
    }
    // The symbol must start like a C/Rust identifier, not a number or a dot.
    let first = b[symStart]
    guard !(Bytes.isDigit(first)) || address != nil, first != 0x2E else { return nil }
    var offset: UInt64?
    var size: UInt64?
    if i + 3 < n, b[i] == 0x2B, b[i + 1] == 0x30, b[i + 2] | 0x20 == 0x78 {
      guard let (o, e) = b.hex(at: i + 1) else { return nil }
      offset = o
      i = e
      if i + 3 < n, b[i] == 0x2F, b[i + 1] == 0x30, b[i + 2] | 0x20 == 0x78, let (s, e2) = b.hex(at: i + 1) {
        size = s
        i = e2
      }
    }
    if parenthesized, i < n, b[i] == 0x29 { i += 1 }
    var module: Range<Int>?
    var source: Range<Int>?
    var isInline = false
    // Trailing pieces, in any order: [mod] / [mod buildid], file:line, [inline], (T), (file:line ...).
    while true {
      i = b.skipSpaces(i)
      guard i < n else { break }
      if b[i] == 0x5B {
        guard let close = b.find(byte: 0x5D, from: i + 1) else { break }
        if b.has("[inline]", at: i) {
          isInline = true
        } else if module == nil {
          var e = i + 1
          while e < close, b[e] != 0x20 { e += 1 }
          guard e > i + 1 else { break }
          module = i + 1..<e
        }
        i = close + 1
        continue
      }
      if b[i] == 0x28 {
        // decode_stacktrace.sh "(file:line file:line)" or arm64 "(T)" markers.
        guard let close = lastParen(b, from: i) else { break }
        // Only a "(file:line ...)" paren is a source; "(T)", "(unreliable)" are markers.
        if close - i > 3, source == nil, let c = b.find(byte: 0x3A, from: i + 1, to: close),
          c + 1 < close, Bytes.isDigit(b[c + 1])
        {
          source = i + 1..<close
        }
        i = close + 1
        continue
      }
      // A source position "path/file.c:123" (optionally ":col").
      var e = i
      while e < n, b[e] != 0x20 { e += 1 }
      if let colon = b.find(byte: 0x3A, from: i, to: e), colon + 1 < e, Bytes.isDigit(b[colon + 1]) {
        if source == nil { source = i..<e }
        i = e
        continue
      }
      if b.has("from", at: i) { break }  // arm32 "... from [<...>] (caller)"
      break
    }
    if i < n, address == nil, !isInline, offset == nil { return nil }
    // Without an offset a frame needs a symbolizer's source position or a raw address.
    if offset == nil && address == nil && source == nil { return nil }
    if isInline && source == nil { return nil }
    var raw = RawFrame(address: address, isReliable: reliable)
    raw.function = symStart..<symEnd
    raw.offset = offset
    raw.size = size
    raw.module = module
    raw.source = source
    raw.isInline = isInline
    return raw
  }

  /// The shapes most frame lines have, parsed without the general parser's detours:
  /// ` [<addr>] ? func+0xOFF/0xSIZE [module]` with the address, `? ` and module optional and
  /// nothing after. Returns nil for anything else, which `parseRaw` then handles; when it
  /// returns a frame, it is exactly what `parseRaw` returns (tested on every fixture line and
  /// in the frame fuzz target).
  @inline(__always)
  static func parseCommon(_ b: UnsafeBufferPointer<UInt8>) -> RawFrame? {
    let n = b.count
    guard let p = b.baseAddress else { return nil }
    var i = 0
    while i < n, p[i] == 0x20 { i += 1 }
    guard i > 0, i + 6 < n else { return nil }
    var address: UInt64?
    if p[i] == 0x5B {
      // `[<` + hex + `>]`, then spaces.
      guard p[i + 1] == 0x3C, let (v, e) = b.hex(at: i + 2), e + 1 < n, p[e] == 0x3E, p[e + 1] == 0x5D else { return nil }
      address = v
      i = e + 2
      while i < n, p[i] == 0x20 { i += 1 }
      guard i + 6 < n else { return nil }
    }
    var reliable = true
    if p[i] == 0x3F {
      guard p[i + 1] == 0x20 else { return nil }
      reliable = false
      i += 2
      while i < n, p[i] == 0x20 { i += 1 }
    }
    let symStart = i
    i = b.identEnd(from: i)
    // A name, not a number (nor `0x…` after an address) or a dot, then `+0x`.
    guard i > symStart, i + 3 < n, p[i] == 0x2B, p[i + 1] == 0x30, p[i + 2] | 0x20 == 0x78,
      !Bytes.isDigit(p[symStart]), p[symStart] != 0x2E
    else { return nil }
    let symEnd = i
    guard let (offset, e) = b.hexDigits(from: i + 3), e + 3 < n, p[e] == 0x2F, p[e + 1] == 0x30, p[e + 2] | 0x20 == 0x78,
      let (size, e2) = b.hexDigits(from: e + 3)
    else { return nil }
    i = e2
    var module: Range<Int>?
    if i < n {
      // ` [module]` or ` [module buildid]`, then only spaces.
      guard p[i] == 0x20 else { return nil }
      while i < n, p[i] == 0x20 { i += 1 }
      if i < n {
        guard p[i] == 0x5B, let close = b.find(byte: 0x5D, from: i + 1), !b.has("[inline]", at: i) else { return nil }
        var m = i + 1
        while m < close, p[m] != 0x20 { m += 1 }
        guard m > i + 1 else { return nil }
        module = i + 1..<m
        i = close + 1
        while i < n, p[i] == 0x20 { i += 1 }
        guard i == n else { return nil }
      }
    }
    var raw = RawFrame(address: address, isReliable: reliable)
    raw.function = symStart..<symEnd
    raw.offset = offset
    raw.size = size
    raw.module = module
    return raw
  }

  /// Parses a frame from text (tests, cold paths).
  public static func parse(_ text: String, line: Int = 0) -> Frame? {
    var t = text
    return t.withUTF8 { parse($0, line: line) }
  }

  /// The matching `)` for the `(` at `open`, allowing nested parens (discriminators).
  static func lastParen(_ b: UnsafeBufferPointer<UInt8>, from open: Int) -> Int? {
    var depth = 0
    var i = open
    while i < b.count {
      if b[i] == 0x28 { depth += 1 }
      if b[i] == 0x29 {
        depth -= 1
        if depth == 0 { return i }
      }
      i += 1
    }
    return nil
  }

  /// Parses `RIP: 0010:func+0x../0x..` / `RIP: 0033:0x7f...` (x86 `show_ip()`); `at` is the
  /// offset just after `RIP: `. Also accepts arm64 `pc : func+0x..`.
  public static func parseRIP(_ b: UnsafeBufferPointer<UInt8>, at: Int, line: Int) -> InstructionPointer? {
    var i = b.skipSpaces(at)
    let segStart = i
    while i < b.count, Bytes.isHex(b[i]) { i += 1 }
    guard i < b.count, b[i] == 0x3A, i - segStart == 4 else {
      // No segment: arm64 `pc : func+0x..` style.
      let f = parse(UnsafeBufferPointer(rebasing: b[segStart...]), line: line)
      return f.map { InstructionPointer(segment: "0010", frame: $0) }
    }
    let segment = b.text(segStart..<i)
    let rest = UnsafeBufferPointer(rebasing: b[(i + 1)...])
    if segment != "0010" {
      return InstructionPointer(segment: segment, frame: nil)
    }
    var f = parse(rest, line: line)
    if f == nil, let (v, _) = rest.hex(at: 0) {
      f = Frame(function: nil, address: v, line: line)
    }
    return InstructionPointer(segment: segment, frame: f)
  }
}

/// A frame line's parts as ranges of the line's bytes (see `FrameParser.parseRaw`).
struct RawFrame: Equatable {
  var function: Range<Int>?
  var offset: UInt64?
  var size: UInt64?
  var module: Range<Int>?
  var address: UInt64?
  var isReliable: Bool
  var isInline = false
  var source: Range<Int>?

  init(address: UInt64?, isReliable: Bool) {
    self.address = address
    self.isReliable = isReliable
  }
}

extension Frame {
  /// Decodes the text parts of `raw` from the line `b` it was parsed from.
  init(_ raw: RawFrame, in b: UnsafeBufferPointer<UInt8>, context: StackContext, line: Int) {
    self.init(
      function: raw.function.map { b.text($0) }, offset: raw.offset, size: raw.size, module: raw.module.map { b.text($0) },
      address: raw.address, isReliable: raw.isReliable, isInline: raw.isInline, source: raw.source.map { b.text($0) },
      context: context, line: line)
  }
}
