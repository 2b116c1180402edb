#if canImport(Glibc)
  import Glibc
#endif

/// Result of stripping a console line's prefix: where the message body starts, and the parsed
/// prefix fields. `callerKey` encodes the caller id as an Int (T123 → 123, C1 → -2, none → Int.min)
/// so the hot path can group lines by context without building strings.
public struct ParsedPrefix {
  public var bodyStart: Int
  /// Timestamp as printed: whole seconds, fraction digits and their scale (10^digits); the
  /// Double is computed only when asked (a divide per line showed in profiles).
  var seconds = -1
  var fractionScale = 1
  /// The fraction as parsed, or (`packedFraction` != 0) still as printed: the fixed-width fast
  /// path keeps the word holding `.dddddd` and the digits are read only when asked (most lines
  /// never need their time).
  private var parsedFraction = 0
  private var packedFraction: UInt64 = 0
  var fraction: Int {
    get {
      guard packedFraction != 0 else { return parsedFraction }
      var v = 0
      for k in 1..<7 { v = v &* 10 &+ Int((packedFraction >> UInt64(8 * k)) & 0x0F) }
      return v
    }
    set {
      parsedFraction = newValue
      packedFraction = 0
    }
  }
  /// `w`: bytes 6...13 of a `[%5lu.%06lu]` line, already checked to hold six digits.
  mutating func setPackedFraction(_ w: UInt64) {
    packedFraction = w
    fractionScale = 1_000_000
  }
  public var callerKey: Int
  public var level: Int?

  init(bodyStart: Int, timestamp: Double?, callerKey: Int, level: Int?) {
    self.bodyStart = bodyStart
    self.callerKey = callerKey
    self.level = level
    if let timestamp { self.timestamp = timestamp }
  }

  public var timestamp: Double? {
    // One correctly rounded division of exact integers: the nearest Double to the printed
    // decimal, so JSON round-trips compare equal.
    get { seconds < 0 ? nil : Double(seconds &* fractionScale &+ fraction) / Double(fractionScale) }
    set {
      guard let v = newValue else {
        seconds = -1
        return
      }
      seconds = Int(v)
      fractionScale = 1_000_000
      fraction = Int(((v - Double(seconds)) * 1_000_000).rounded())
    }
  }

  public static let noCaller = Int.min

  public var caller: String? {
    if callerKey == Self.noCaller { return nil }
    return callerKey >= 0 ? "T\(callerKey)" : "C\(-callerKey - 1)"
  }

  public var linePrefix: LinePrefix { LinePrefix(timestamp: timestamp, caller: caller, level: level) }
}

/// Strips printk and log-collector prefixes from a console line.
///
/// Forms (kernel/printk/printk.c `info_print_prefix()`): `<6>` syslog level, `[  123.456789]`
/// time (CONFIG_PRINTK_TIME), `[  T123]`/`[    C1]` caller (CONFIG_PRINTK_CALLER, no space
/// between the brackets). Also util-linux `dmesg -x` (`kern  :info  : `), `dmesg -T`
/// (`[Tue Nov 25 12:00:00 2026] `), ANSI escapes before the prefix, and a kernel line glued
/// after user-space output on the same serial line (`...rsyslogd[   12.037795] audit: ...`).
public enum PrefixParser {
  @inline(__always)
  public static func parse(_ b: UnsafeBufferPointer<UInt8>) -> ParsedPrefix {
    if let fixed = parseKernelShape(b) { return fixed }
    if let fast = parseCommon(b) { return fast }
    return parseGeneral(b)
  }

  /// The exact widths printk uses, `[%5lu.%06lu]` and `[%6s]` for the caller: fixed offsets and
  /// one 8-byte check of the six fraction digits, so no loop runs over the timestamp. Anything
  /// else (seconds ≥ 100000, other widths) is left to `parseCommon`, which gives the same
  /// result for these shapes (tested line by line on real logs).
  @inline(__always)
  static func parseKernelShape(_ b: UnsafeBufferPointer<UInt8>) -> ParsedPrefix? {
    let n = b.count
    guard n >= 14, let p = b.baseAddress, p[0] == 0x5B, p[6] == 0x2E, p[13] == 0x5D else { return nil }
    // Bytes 7...12 are digits: high nibble 3, and still 3 after adding 6.
    let w = UnsafeRawPointer(p + 6).loadUnaligned(as: UInt64.self)
    let lanes: UInt64 = 0x00FF_FFFF_FFFF_FF00
    let threes: UInt64 = 0x3030_3030_3030_3030 & lanes
    guard w & 0xF0F0_F0F0_F0F0_F0F0 & lanes == threes,
      (w &+ 0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0 & lanes == threes
    else { return nil }
    // Bytes 1...5: spaces, then at least one digit.
    var i = 1
    while i < 6, p[i] == 0x20 { i += 1 }
    guard i < 6 else { return nil }
    guard let sec = digits(p, i, 6) else { return nil }
    var r = ParsedPrefix(bodyStart: 14, timestamp: nil, callerKey: ParsedPrefix.noCaller, level: nil)
    r.seconds = sec
    r.setPackedFraction(w)
    var end = 14
    if n > 14, p[14] == 0x5B {
      // `[%6s]`: spaces, T or C, digits.
      guard n >= 22, p[21] == 0x5D else { return nil }
      var j = 15
      while j < 21, p[j] == 0x20 { j += 1 }
      guard j < 20, p[j] == 0x54 || p[j] == 0x43 else { return nil }
      let isTask = p[j] == 0x54
      guard let v = digits(p, j + 1, 21) else { return nil }
      r.callerKey = isTask ? v : -v - 1
      end = 22
    }
    if end < n, p[end] == 0x20 { end += 1 }
    r.bodyStart = end
    return r
  }

  /// The decimal value of `p[from..<to]` when every byte there is a digit.
  @inline(__always)
  static func digits(_ p: UnsafePointer<UInt8>, _ from: Int, _ to: Int) -> Int? {
    var v = 0
    for k in from..<to {
      let d = p[k] &- 0x30
      guard d < 10 else { return nil }
      v = v &* 10 &+ Int(d)
    }
    return v
  }

  /// The common shapes `[  123.456789] ` and `[  123.456789][  T123] `, without any helper
  /// calls: this runs once per line.
  @inline(__always)
  static func parseCommon(_ b: UnsafeBufferPointer<UInt8>) -> ParsedPrefix? {
    let n = b.count
    guard n > 3, let p = b.baseAddress, p[0] == 0x5B else { return nil }
    var i = 1
    while i < n, p[i] == 0x20 { i += 1 }
    var sec = 0
    let s0 = i
    while i < n, p[i] &- 0x30 < 10 {
      sec = sec &* 10 &+ Int(p[i] &- 0x30)
      i += 1
    }
    guard i > s0, i - s0 < 12, i < n, p[i] == 0x2E else { return nil }
    i += 1
    var frac = 0
    var scale = 1
    let f0 = i
    while i < n, p[i] &- 0x30 < 10 {
      frac = frac &* 10 &+ Int(p[i] &- 0x30)
      scale &*= 10
      i += 1
    }
    guard i > f0, i - f0 <= 9, i < n, p[i] == 0x5D else { return nil }
    i += 1
    var r = ParsedPrefix(bodyStart: 0, timestamp: nil, callerKey: ParsedPrefix.noCaller, level: nil)
    r.seconds = sec
    r.fraction = frac
    r.fractionScale = scale
    if i < n, p[i] == 0x5B {
      var j = i + 1
      while j < n, p[j] == 0x20 { j += 1 }
      guard j < n, p[j] == 0x54 || p[j] == 0x43 else { return nil }
      let isTask = p[j] == 0x54
      j += 1
      var v = 0
      let v0 = j
      while j < n, p[j] &- 0x30 < 10 {
        v = v &* 10 &+ Int(p[j] &- 0x30)
        j += 1
      }
      guard j > v0, j - v0 < 10, j < n, p[j] == 0x5D else { return nil }
      r.callerKey = isTask ? v : -v - 1
      i = j + 1
    }
    if i < n, p[i] == 0x20 { i += 1 }
    r.bodyStart = i
    return r
  }

  static func parseGeneral(_ b: UnsafeBufferPointer<UInt8>) -> ParsedPrefix {
    var r = ParsedPrefix(bodyStart: 0, timestamp: nil, callerKey: ParsedPrefix.noCaller, level: nil)
    let n = b.count
    var i = 0
    // Leading ANSI escapes (init scripts colour their output on the same console).
    while i < n, b[i] == 0x1B { i = skipEscape(b, i) }
    // dmesg -x: "kern  :info  : " (facility and level names decoded by util-linux).
    if i + 12 < n, b[i] &- 0x61 < 26, looksLikeDmesgDecoded(b, i), let end = dmesgDecodedPrefixEnd(b, i) { i = end }
    // <N> syslog level
    if i + 2 < n, b[i] == 0x3C, Bytes.isDigit(b[i + 1]) {
      var j = i + 1
      var v = 0
      while j < n, Bytes.isDigit(b[j]), j - i < 5 {
        v = v * 10 + Int(b[j] - 0x30)
        j += 1
      }
      if j < n, b[j] == 0x3E {
        r.level = v & 7
        i = j + 1
      }
    }
    var sawBracket = false
    // Up to three bracketed fields: time, caller, (out-of-tree) extra context.
    var fields = 0
    while i < n, b[i] == 0x5B, fields < 3 {
      guard let close = b.find(byte: 0x5D, from: i + 1, to: min(n, i + 40)) else { break }
      var j = b.skipSpaces(i + 1)
      if j < close, Bytes.isDigit(b[j]), let ts = timestamp(b, j, close) {
        r.timestamp = ts
      } else if j < close, b[j] == 0x54 || b[j] == 0x43, let (v, e) = b.decimal(at: j + 1), e == close {
        r.callerKey = b[j] == 0x54 ? v : -v - 1
      } else if j < close, isWeekday(b, j), close - j >= 20 {
        // dmesg -T wall-clock time: keep as body start only (no seconds-since-boot).
        j = close
      } else {
        break
      }
      i = close + 1
      sawBracket = true
      fields += 1
    }
    if sawBracket, i < n, b[i] == 0x20 { i += 1 }
    if !sawBracket && r.level == nil {
      // A kernel line glued after other output: look for "[ digits.digits]" further in.
      if let glued = findGluedTimestamp(b, from: i) {
        var g = parse(UnsafeBufferPointer(rebasing: b[glued...]))
        g.bodyStart += glued
        return g
      }
    }
    r.bodyStart = i
    return r
  }

  @inline(__always)
  static func skipEscape(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int {
    var i = i + 1
    if i < b.count, b[i] == 0x5B {
      i += 1
      while i < b.count, !((b[i] | 0x20) &- 0x61 < 26) { i += 1 }
    }
    return min(i + 1, b.count)
  }

  @inline(__always)
  static func timestamp(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Double? {
    guard let (sec, dot) = b.decimal(at: start), dot < end, b[dot] == 0x2E,
      let (frac, fe) = b.decimal(at: dot + 1), fe == end
    else { return nil }
    var scale = 1
    for _ in 0..<min(fe - dot - 1, 12) { scale *= 10 }
    return Double(sec &* scale &+ frac) / Double(scale)
  }

  static let facilities: [StaticString] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
    "local7",
  ]
  static let levels: [StaticString] = [
    "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug",
  ]

  /// Cheap shape test before the name tables: a facility word, optional padding, `:` within
  /// the first 10 bytes, then a lower-case level name.
  @inline(__always)
  static func looksLikeDmesgDecoded(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Bool {
    var j = i
    let limit = min(b.count - 1, i + 10)
    while j < limit, b[j] != 0x3A {
      guard b[j] &- 0x61 < 26 || Bytes.isDigit(b[j]) || b[j] == 0x20 else { return false }
      j += 1
    }
    return j < limit && b[j] == 0x3A && b[j + 1] &- 0x61 < 26
  }

  /// End of a `dmesg -x` prefix (`kern  :info  : `) starting at `i`, or nil.
  static func dmesgDecodedPrefixEnd(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int? {
    guard let f = facilities.first(where: { b.has($0, at: i) }) else { return nil }
    var j = b.skipSpaces(i + f.utf8CodeUnitCount)
    guard j < b.count, b[j] == 0x3A else { return nil }
    j += 1
    guard let l = levels.first(where: { b.has($0, at: j) }) else { return nil }
    j = b.skipSpaces(j + l.utf8CodeUnitCount)
    guard j + 1 < b.count, b[j] == 0x3A, b[j + 1] == 0x20 else { return nil }
    return j + 2
  }

  static func isWeekday(_ b: UnsafeBufferPointer<UInt8>, _ j: Int) -> Bool {
    guard j + 3 < b.count, b[j + 3] == 0x20 else { return false }
    for d: StaticString in ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] where b.has(d, at: j) {
      return true
    }
    return false
  }

  static func findGluedTimestamp(_ b: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
    var k = from + 1
    while let open = b.find(byte: 0x5B, from: k) {
      // A timestamp's bracket is followed by padding or a digit: `[inline]`, `[<ffff…>]` and
      // module names go no further (this runs on every line without a prefix).
      if open + 1 < b.count, b[open + 1] == 0x20 || b[open + 1] == 0x09 || Bytes.isDigit(b[open + 1]),
        let close = b.find(byte: 0x5D, from: open + 1, to: min(b.count, open + 20))
      {
        let j = b.skipSpaces(open + 1)
        if j < close, timestamp(b, j, close) != nil, close - open >= 9 { return open }
      }
      k = open + 1
    }
    return nil
  }
}
