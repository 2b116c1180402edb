/// A hand-written JSON Lines encoder for events: `--jsonl` writes every event of gigabyte logs,
/// where `JSONEncoder` (≈10 µs per event) would dominate. Produces the same keys as the Codable
/// form (snake_case, sorted), so `JSONDecoder` with `.convertFromSnakeCase` reads it back.
#if canImport(Glibc)
  import Glibc
#endif
import CSupport

public final class JSONBuffer {
  private var base: UnsafeMutablePointer<UInt8>
  public private(set) var count = 0
  private(set) var capacity: Int

  public init(capacity: Int = 1 << 16) {
    self.capacity = max(capacity, 256)
    base = .allocate(capacity: self.capacity)
  }

  deinit { base.deallocate() }

  /// A copy of the buffered bytes (tests, small outputs).
  public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

  /// Lends the buffered bytes; the pointer must not escape.
  public func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
    try body(UnsafeBufferPointer(start: base, count: count))
  }

  public func reset() { count = 0 }

  @inline(__always) func reserve(_ n: Int) {
    if count + n > capacity { grow(count + n) }
  }

  private func grow(_ need: Int) {
    var c = capacity * 2
    while c < need { c *= 2 }
    let nb = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
    nb.update(from: base, count: count)
    base.deallocate()
    base = nb
    capacity = c
  }

  @inline(__always) public func byte(_ b: UInt8) {
    reserve(1)
    base[count] = b
    count += 1
  }

  @inline(__always) func append(_ p: UnsafePointer<UInt8>, _ n: Int) {
    guard n > 0 else { return }
    reserve(n)
    memcpy(base + count, p, n)
    count += n
  }

  @inline(__always) func raw(_ s: StaticString) {
    let n = s.utf8CodeUnitCount
    reserve(n)
    Self.copySmall(base + count, s.utf8Start, n)
    count += n
  }

  static let hexDigits: StaticString = "0123456789abcdef"

  func string(_ s: String) {
    byte(0x22)
    // Native strings lend their bytes in place; `withUTF8` needed a mutable copy (a retain).
    if s.utf8.withContiguousStorageIfAvailable({ stringBody($0) }) == nil {
      var s = s
      s.withUTF8 { stringBody($0) }
    }
    byte(0x22)
  }

  /// The escaped bytes of `string` (without the quotes).
  private func stringBody(_ b: UnsafeBufferPointer<UInt8>) {
    guard let p = b.baseAddress else { return }
    // Nearly always nothing to escape: one word-wise check and one copy.
    if Self.isPlain(p, b.count) {
      append(p, b.count)
      return
    }
    var start = 0
    for i in 0..<b.count {
      let c = p[i]
      guard c < 0x20 || c == 0x22 || c == 0x5C else { continue }
      append(p + start, i - start)
      switch c {
      case 0x22: raw("\\\"")
      case 0x5C: raw("\\\\")
      case 0x0A: raw("\\n")
      case 0x09: raw("\\t")
      case 0x0D: raw("\\r")
      default:
        raw("\\u00")
        byte(Self.hexDigits.utf8Start[Int(c >> 4)])
        byte(Self.hexDigits.utf8Start[Int(c & 15)])
      }
      start = i + 1
    }
    append(p + start, b.count - start)
  }

  /// Writes `b[r]` exactly as `string(b.text(r))` would, without building the String when the
  /// bytes are printable ASCII other than `"` and `\\` (nearly every byte of a kernel log): those
  /// are copied as they are. Anything else (control bytes, escapes, UTF-8 that must be checked)
  /// takes the String path, so the two can never differ.
  func text(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) {
    let lo = max(0, r.lowerBound)
    let hi = min(b.count, r.upperBound)
    guard lo < hi, let p = b.baseAddress.map({ $0 + lo }) else {
      raw("\"\"")
      return
    }
    let n = hi - lo
    guard Self.isPlain(p, n) else {
      string(b.text(lo..<hi))
      return
    }
    reserve(n + 2)
    base[count] = 0x22
    Self.copy(base + count + 1, p, n)
    base[count + n + 1] = 0x22
    count += n + 2
  }

  /// True when every byte is in 0x20...0x7E and none is `"` or `\\`: eight bytes per step with
  /// the exact zero/less-than word tests (a false answer only sends the bytes the slow way).
  @inline(__always) static func isPlain(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    // Sixteen bytes and more (ftrace lines, messages): SSE2, a third of the word loop's work.
    if n >= 16 { return ra_is_plain_long(p, n) != 0 }
    let ones = Bytes.ones
    @inline(__always) func bad(_ w: UInt64) -> Bool {
      // A byte < 0x20, a byte > 0x7E (0x7F is dropped by `text`, ≥ 0x80 is UTF-8), `"`, `\\`:
      // the four tests' top bits or-ed and tested once (no branch per test).
      Bytes.bytesBelow(w, 0x20) | ((w &+ ones) | w) & Bytes.highs | Bytes.zeroBytes(w ^ (ones &* 0x22))
        | Bytes.zeroBytes(w ^ (ones &* 0x5C)) != 0
    }
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 8 <= n {
      if bad(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) { return false }
      i += 8
    }
    if i < n {
      // The last 1-7 bytes: the final 8 again when there are that many (overlapping), else
      // assembled in a register padded with spaces (a memcpy to the stack and a reload stalled
      // store forwarding: a third of this function's time).
      if n >= 8 { return !bad(raw.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)) }
      var w: UInt64 = ones &* 0x20
      var k = n - 1
      while k >= 0 {
        w = w << 8 | UInt64(p[k])
        k -= 1
      }
      if bad(w) { return false }
    }
    return true
  }

  /// Appends bytes already encoded by another `JSONBuffer` (pre-encoded parts of an event).
  func append(_ other: JSONBuffer) {
    other.withBytes { if let b = $0.baseAddress { append(b, $0.count) } }
  }

  func uint(_ v: UInt64) {
    reserve(24)
    count = Self.put(base + count, v) - base
  }

  /// `range` of a line is empty or printable ASCII needing no escape (nil: absent, so fine).
  @inline(__always) static func isPlain(_ range: Range<Int>?, _ line: UnsafePointer<UInt8>) -> Bool {
    guard let r = range else { return true }
    return isPlain(line + r.lowerBound, r.count)
  }

  // Cursor writers for `frame(_:in:context:line:)`: the caller has reserved the room.

  @inline(__always) static func put(_ p: UnsafeMutablePointer<UInt8>, _ s: StaticString) -> UnsafeMutablePointer<UInt8> {
    copySmall(p, s.utf8Start, s.utf8CodeUnitCount)
    return p + s.utf8CodeUnitCount
  }

  /// Copies a short constant (keys, punctuation) with word moves: the last word overlaps the
  /// previous one instead of finishing byte by byte. (A byte loop cost three instructions a
  /// byte, a memcpy call more: keys are most of a frame's JSON.)
  @inline(__always) static func copySmall(_ dst: UnsafeMutablePointer<UInt8>, _ src: UnsafePointer<UInt8>, _ n: Int) {
    let d = UnsafeMutableRawPointer(dst)
    let s = UnsafeRawPointer(src)
    if n >= 8 {
      var i = 0
      while i + 8 < n {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: i, as: UInt64.self), toByteOffset: i, as: UInt64.self)
        i += 8
      }
      d.storeBytes(of: s.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self), toByteOffset: n - 8, as: UInt64.self)
    } else if n >= 4 {
      d.storeBytes(of: s.loadUnaligned(as: UInt32.self), as: UInt32.self)
      d.storeBytes(of: s.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self), toByteOffset: n - 4, as: UInt32.self)
    } else {
      for i in 0..<n { dst[i] = src[i] }
    }
  }

  /// Names, paths and other text parts are short: word moves inline beat a call into memcpy.
  @inline(__always) static func copy(_ dst: UnsafeMutablePointer<UInt8>, _ src: UnsafePointer<UInt8>, _ n: Int) {
    if n <= 64 { copySmall(dst, src, n) } else { memcpy(dst, src, n) }
  }

  @inline(__always) static func put(_ p: UnsafeMutablePointer<UInt8>, _ line: UnsafePointer<UInt8>, _ r: Range<Int>) -> UnsafeMutablePointer<UInt8> {
    copy(p, line + r.lowerBound, r.count)
    return p + r.count
  }

  /// Decimal digits of `v` at `p`; may write up to 24 bytes (the caller reserved them).
  @inline(__always) static func put(_ p: UnsafeMutablePointer<UInt8>, _ v: UInt64) -> UnsafeMutablePointer<UInt8> {
    if v < 100_000_000 { return putShort(p, UInt32(truncatingIfNeeded: v)) }
    return putLong(p, v)
  }

  /// Signed decimal at `p` (the caller reserved 24 bytes).
  @inline(__always) static func putInt(_ p: UnsafeMutablePointer<UInt8>, _ v: Int) -> UnsafeMutablePointer<UInt8> {
    if v >= 0 { return put(p, UInt64(v)) }
    p[0] = 0x2D
    return put(p + 1, UInt64(v.magnitude))
  }

  /// Line numbers, offsets and sizes: below 10^8.
  @inline(__always) static func putShort(_ p: UnsafeMutablePointer<UInt8>, _ v: UInt32) -> UnsafeMutablePointer<UInt8> {
    if v < 10 {
      p[0] = UInt8(truncatingIfNeeded: v) &+ 0x30
      return p + 1
    }
    let d = eightDigits(v)
    // The most significant digit is the lowest byte: leading zeros are the low zero bytes.
    let zeros = d.trailingZeroBitCount & ~7
    UnsafeMutableRawPointer(p).storeBytes(of: (d >> UInt64(zeros)) | 0x3030_3030_3030_3030, as: UInt64.self)
    return p + 8 - zeros >> 3
  }

  /// 10^8 and above, in groups of eight digits: the leading group as `putShort` writes it, the
  /// others with their leading zeros.
  private static func putLong(_ p: UnsafeMutablePointer<UInt8>, _ v: UInt64) -> UnsafeMutablePointer<UInt8> {
    let high = v / 100_000_000
    var q: UnsafeMutablePointer<UInt8>
    if high < 100_000_000 {
      q = putShort(p, UInt32(truncatingIfNeeded: high))
    } else {
      q = putShort(p, UInt32(truncatingIfNeeded: high / 100_000_000))
      q = putEightDigits(q, UInt32(truncatingIfNeeded: high % 100_000_000))
    }
    return putEightDigits(q, UInt32(truncatingIfNeeded: v % 100_000_000))
  }

  /// All eight digits of `v` < 10^8, leading zeros included.
  @inline(__always) static func putEightDigits(_ p: UnsafeMutablePointer<UInt8>, _ v: UInt32) -> UnsafeMutablePointer<UInt8> {
    UnsafeMutableRawPointer(p).storeBytes(of: eightDigits(v) | 0x3030_3030_3030_3030, as: UInt64.self)
    return p + 8
  }

  /// The eight decimal digits of `v` < 10^8 as byte values 0...9, most significant in the lowest
  /// byte: split into 4-digit halves, then 2-digit and 1-digit parts in every lane at once (the
  /// multiply-shifts are exact division by 100 and by 10 for the lane ranges they see).
  @inline(__always) static func eightDigits(_ v: UInt32) -> UInt64 {
    var x = UInt64(v / 10_000) | UInt64(v % 10_000) << 32
    let hundreds = ((x &* 5243) >> 19) & 0x0000_007F_0000_007F
    x = hundreds | (x &- hundreds &* 100) << 16
    let tens = ((x &* 103) >> 10) & 0x000F_000F_000F_000F
    return tens | (x &- tens &* 10) << 8
  }

  /// A kernel address as a JSON string of 16 lower-case hex digits, the way x86-64 prints
  /// `[<%px>]` and lockdep prints lock addresses (so it can be searched for in the log). A JSON
  /// number would not survive jq or JavaScript: they read numbers as doubles, and
  /// 18446744071593071497 came back as 18446744071593070000.
  @inline(__always) static func putAddress(_ p: UnsafeMutablePointer<UInt8>, _ v: UInt64) -> UnsafeMutablePointer<UInt8> {
    let d = UnsafeMutableRawPointer(p)
    d.storeBytes(of: 0x22, as: UInt8.self)
    d.storeBytes(of: hexDigits(UInt32(truncatingIfNeeded: v >> 32)), toByteOffset: 1, as: UInt64.self)
    d.storeBytes(of: hexDigits(UInt32(truncatingIfNeeded: v)), toByteOffset: 9, as: UInt64.self)
    d.storeBytes(of: 0x22, toByteOffset: 17, as: UInt8.self)
    return p + 18
  }

  /// The 8 hex digits of `v` as ASCII bytes, most significant first in memory: each nibble is
  /// spread into a byte of its own, then all eight become digits or letters at once.
  @inline(__always) static func hexDigits(_ v: UInt32) -> UInt64 {
    var x = UInt64(v)
    x = (x | x << 16) & 0x0000_FFFF_0000_FFFF
    x = (x | x << 8) & 0x00FF_00FF_00FF_00FF
    x = (x | x << 4) & 0x0F0F_0F0F_0F0F_0F0F
    // 0x27 more for nibbles 10...15: 'a' - '0' - 10.
    let letters = ((x &+ 0x0606_0606_0606_0606) & 0x1010_1010_1010_1010) >> 4
    return (x &+ 0x3030_3030_3030_3030 &+ letters &* 0x27).byteSwapped
  }

  /// See `putAddress`.
  func hexAddress(_ v: UInt64) {
    reserve(18)
    count = JSONBuffer.putAddress(base + count, v) - base
  }

  func int(_ v: Int) {
    reserve(24)
    count = Self.putInt(base + count, v) - base
  }

  func double(_ v: Double) {
    // Timestamps: microsecond precision is what the kernel prints.
    let us = Int((v * 1_000_000).rounded())
    int(us / 1_000_000)
    byte(0x2E)
    // Six digits, leading zeros kept: the last six of `eightDigits` (the first two are zero).
    let frac = UInt32(truncatingIfNeeded: abs(us % 1_000_000))
    reserve(8)
    UnsafeMutableRawPointer(base + count).storeBytes(of: (Self.eightDigits(frac) >> 16) | 0x3030_3030_3030_3030, as: UInt64.self)
    count += 6
  }

  func bool(_ v: Bool) { v ? raw("true") : raw("false") }

  /// `[a,b,...]` with `each` writing one element.
  @inline(__always) func array<T>(_ items: [T], _ each: (T) -> Void) {
    byte(0x5B)
    for (i, x) in items.enumerated() {
      if i > 0 { byte(0x2C) }
      each(x)
    }
    byte(0x5D)
  }

  /// `{"key":…,"value":…}` from a line's bytes, after a comma unless `first`: the pair writer
  /// below, through a cursor when both parts are printable ASCII.
  func keyValue(_ line: UnsafeBufferPointer<UInt8>, key: Range<Int>, value: Range<Int>, first: Bool) {
    guard let lineBase = line.baseAddress, Self.isPlain(key, lineBase), Self.isPlain(value, lineBase) else {
      if !first { byte(0x2C) }
      keyValue(LineText(line, key), LineText(line, value))
      return
    }
    plainPair(lineBase, first ? "{\"key\":\"" : ",{\"key\":\"", key, value)
  }

  /// `open` + `line[a]` + `","value":"` + `line[b]` + `"}` through a cursor; the caller has
  /// checked that neither part needs escaping.
  private func plainPair(_ lineBase: UnsafePointer<UInt8>, _ open: StaticString, _ a: Range<Int>, _ b: Range<Int>) {
    reserve(a.count + b.count + 32)
    var p = base + count
    p = Self.put(p, open)
    p = Self.put(p, lineBase, a)
    p = Self.put(p, "\",\"value\":\"")
    p = Self.put(p, lineBase, b)
    p = Self.put(p, "\"}")
    count = p - base
  }

  /// `{"key":…,"value":…}` pairs (vhost fields).
  func keyValue<K: JSONStringValue, V: JSONStringValue>(_ k: K, _ v: V) { pair("key", k, v) }

  /// `{"<first>":a,"value":b}`: the shape of vhost fields and registers.
  private func pair<A: JSONStringValue, B: JSONStringValue>(_ first: StaticString, _ a: A, _ b: B) {
    var f = true
    byte(0x7B)
    key(first, first: &f)
    text(a)
    key("value", first: &f)
    text(b)
    byte(0x7D)
  }

  @inline(__always) func text<S: JSONStringValue>(_ t: S) { t.write(to: self) }

  /// Writes `,"key":` (no comma before the first key); keys must be passed already sorted.
  @inline(__always) func key(_ k: StaticString, first: inout Bool) {
    reserve(k.utf8CodeUnitCount + 4)
    if !first {
      base[count] = 0x2C
      count += 1
    }
    first = false
    base[count] = 0x22
    count += 1
    let n = k.utf8CodeUnitCount
    Self.copySmall(base + count, k.utf8Start, n)
    count += n
    base[count] = 0x22
    base[count + 1] = 0x3A
    count += 2
  }
}

/// A text field: a String (events), a range of a line's bytes (`--jsonl` writing while it
/// parses), or a buffer already holding an encoded JSON string. The writers are generic over
/// it, so each form gets its own specialised copy (an enum cost a copy and a destroy per field).
protocol JSONStringValue {
  func write(to json: JSONBuffer)
}

extension String: JSONStringValue {
  @inline(__always) func write(to json: JSONBuffer) { json.string(self) }
}

/// `line[range]`, written as `string(line.text(range))` would write it.
struct LineText: JSONStringValue {
  let line: UnsafeBufferPointer<UInt8>
  let range: Range<Int>
  init(_ line: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
    self.line = line
    self.range = range
  }
  @inline(__always) func write(to json: JSONBuffer) { json.text(line, range) }
}

/// A JSON string already encoded (with its quotes).
struct EncodedString: JSONStringValue {
  let json: JSONBuffer
  @inline(__always) func write(to out: JSONBuffer) { out.append(json) }
}

extension JSONBuffer {
  public func event(_ e: Event) { event(e, frames: nil, registers: nil) }

  /// `frames` / `registers`: a report's or task dump's lists, already encoded.
  func event(_ e: Event, frames: JSONBuffer?, registers: JSONBuffer?) {
    if case .ftrace(let r) = e {
      ftraceEvent { ftrace(r) }
      return
    }
    var f = true
    byte(0x7B)
    switch e {
    case .blocker(let b):
      key("blocker", first: &f)
      blocker(b)
    case .ftrace:
      break  // written above
    case .heldLocks(let l):
      key("held_locks", first: &f)
      heldLocks(l)
    case .marker(let m):
      key("kind", first: &f)
      raw("\"marker\"")
      key("marker", first: &f)
      marker(m)
      byte(0x7D)
      return
    case .report(let r):
      key("kind", first: &f)
      raw("\"report\"")
      key("report", first: &f)
      report(r, frames: frames, registers: registers)
      byte(0x7D)
      return
    case .taskDump(let t):
      key("kind", first: &f)
      raw("\"task_dump\"")
      key("task_dump", first: &f)
      taskDump(t, frames: frames)
      byte(0x7D)
      return
    }
    key("kind", first: &f)
    byte(0x22)
    var k = e.kind.rawValue
    k.withUTF8 { append($0.baseAddress!, $0.count) }
    byte(0x22)
    byte(0x7D)
  }

  func position(_ p: SourcePosition) { position(file: p.file, line: p.line, offset: p.offset) }

  func position<S: JSONStringValue>(file: S, line: Int, offset: Int) {
    var f = true
    byte(0x7B)
    key("file", first: &f)
    text(file)
    key("line", first: &f)
    int(line)
    key("offset", first: &f)
    int(offset)
    byte(0x7D)
  }

  func task(_ t: TaskRef) {
    var f = true
    byte(0x7B)
    key("comm", first: &f)
    string(t.comm)
    key("pid", first: &f)
    int(t.pid)
    byte(0x7D)
  }

  func frame(_ fr: Frame) {
    frame(
      address: fr.address, context: fr.context, function: fr.function, isInline: fr.isInline,
      isReliable: fr.isReliable, line: fr.line, module: fr.module, offset: fr.offset, size: fr.size,
      source: fr.source)
  }

  /// A frame straight from the line it was parsed from: the same bytes as `frame(Frame(raw, …))`.
  /// The common case (every text part printable ASCII, no escape needed) is written through a
  /// cursor after one capacity check: most of a log's JSON is frames, and the per-write
  /// capacity checks and count updates of the general writers were a fifth of their cost.
  func frame(_ raw: RawFrame, in b: UnsafeBufferPointer<UInt8>, context: StackContext, line: Int) {
    // (The function name needs no check: the parser takes only identifier bytes into it.)
    if let lineBase = b.baseAddress, Self.isPlain(raw.module, lineBase), Self.isPlain(raw.source, lineBase) {
      // Text parts are disjoint ranges of the line; the rest is at most 4 numbers and the keys.
      reserve(b.count + 256)
      var p = base + count
      p = Self.put(p, "{")
      var first = true
      if let a = raw.address {
        p = Self.put(p, "\"address\":")
        p = Self.putAddress(p, a)
        first = false
      }
      if context != .task {
        if !first { p = Self.put(p, ",") }
        switch context {
        case .irq: p = Self.put(p, "\"context\":\"irq\"")
        case .softirq: p = Self.put(p, "\"context\":\"softirq\"")
        case .nmi: p = Self.put(p, "\"context\":\"nmi\"")
        case .exception: p = Self.put(p, "\"context\":\"exception\"")
        case .unknown: p = Self.put(p, "\"context\":\"unknown\"")
        case .task: break
        }
        first = false
      }
      if let r = raw.function {
        p = Self.put(p, first ? "\"function\":\"" : ",\"function\":\"")
        p = Self.put(p, lineBase, r)
        p = Self.put(p, "\"")
        first = false
      }
      if raw.isInline {
        p = Self.put(p, first ? "\"is_inline\":true" : ",\"is_inline\":true")
        first = false
      }
      if !raw.isReliable {
        p = Self.put(p, first ? "\"is_reliable\":false" : ",\"is_reliable\":false")
        first = false
      }
      p = Self.put(p, first ? "\"line\":" : ",\"line\":")
      p = Self.putInt(p, line)
      if let r = raw.module {
        p = Self.put(p, ",\"module\":\"")
        p = Self.put(p, lineBase, r)
        p = Self.put(p, "\"")
      }
      if let v = raw.offset {
        p = Self.put(p, ",\"offset\":")
        p = Self.put(p, v)
      }
      if let v = raw.size {
        p = Self.put(p, ",\"size\":")
        p = Self.put(p, v)
      }
      if let r = raw.source {
        p = Self.put(p, ",\"source\":\"")
        p = Self.put(p, lineBase, r)
        p = Self.put(p, "\"")
      }
      p = Self.put(p, "}")
      count = p - base
      return
    }
    frame(
      address: raw.address, context: context, function: raw.function.map { LineText(b, $0) }, isInline: raw.isInline,
      isReliable: raw.isReliable, line: line, module: raw.module.map { LineText(b, $0) }, offset: raw.offset, size: raw.size,
      source: raw.source.map { LineText(b, $0) })
  }

  @inline(__always)
  private func frame<S: JSONStringValue>(
    address: UInt64?, context: StackContext, function: S?, isInline: Bool, isReliable: Bool, line: Int,
    module: S?, offset: UInt64?, size: UInt64?, source: S?
  ) {
    var f = true
    byte(0x7B)
    if let a = address {
      key("address", first: &f)
      hexAddress(a)
    }
    if context != .task {
      key("context", first: &f)
      byte(0x22)
      var c = context.rawValue
      c.withUTF8 { append($0.baseAddress!, $0.count) }
      byte(0x22)
    }
    if let v = function {
      key("function", first: &f)
      text(v)
    }
    if isInline {
      key("is_inline", first: &f)
      raw("true")
    }
    if !isReliable {
      key("is_reliable", first: &f)
      raw("false")
    }
    key("line", first: &f)
    int(line)
    if let v = module {
      key("module", first: &f)
      text(v)
    }
    if let v = offset {
      key("offset", first: &f)
      uint(v)
    }
    if let v = size {
      key("size", first: &f)
      uint(v)
    }
    if let v = source {
      key("source", first: &f)
      text(v)
    }
    byte(0x7D)
  }

  /// `{"name":…,"value":…}` from a line's bytes, after a comma unless `first`; as the generic
  /// writer below, through a cursor when the value is printable ASCII (register values are
  /// hex: always, in practice). `name` must be upper-case letters and digits, as
  /// `LineParsers.forEachRegister` finds them, so it needs no check.
  func register(_ line: UnsafeBufferPointer<UInt8>, name: Range<Int>, value: Range<Int>, first: Bool) {
    guard let lineBase = line.baseAddress, Self.isPlain(value, lineBase) else {
      if !first { byte(0x2C) }
      register(name: LineText(line, name), value: LineText(line, value))
      return
    }
    plainPair(lineBase, first ? "{\"name\":\"" : ",{\"name\":\"", name, value)
  }

  /// `{"name":…,"value":…}`: one register of a dump.
  func register<S: JSONStringValue>(name: S, value: S) { pair("name", name, value) }

  /// `[` + the elements another buffer holds + `]` (a list encoded while it was parsed).
  func preEncodedArray(_ elements: JSONBuffer) {
    byte(0x5B)
    append(elements)
    byte(0x5D)
  }

  func frames(_ list: [Frame]) {
    array(list) { frame($0) }
  }

  func lock(_ l: HeldLock) {
    var f = true
    byte(0x7B)
    if let a = l.address {
      key("address", first: &f)
      hexAddress(a)
    }
    key("index", first: &f)
    int(l.index)
    key("line", first: &f)
    int(l.line)
    key("name", first: &f)
    string(l.name)
    if let s = l.site {
      key("site", first: &f)
      frame(s)
    }
    if let u = l.usage {
      key("usage", first: &f)
      string(u)
    }
    if let w = l.waitType {
      key("wait_type", first: &f)
      string(w)
    }
    byte(0x7D)
  }

  func heldLocks(_ l: HeldLockList) {
    var f = true
    byte(0x7B)
    key("count", first: &f)
    int(l.count)
    key("is_system_dump", first: &f)
    bool(l.isSystemDump)
    key("locks", first: &f)
    array(l.locks) { lock($0) }
    key("position", first: &f)
    position(l.position)
    key("task", first: &f)
    task(l.task)
    byte(0x7D)
  }

  func blocker(_ b: BlockerNote) {
    var f = true
    byte(0x7B)
    if let o = b.owner {
      key("owner", first: &f)
      task(o)
    }
    if let r = b.ownerRole {
      key("owner_role", first: &f)
      string(r)
    }
    key("position", first: &f)
    position(b.position)
    key("primitive", first: &f)
    string(b.primitive)
    key("waiter", first: &f)
    task(b.waiter)
    if let r = b.waiterRole {
      key("waiter_role", first: &f)
      string(r)
    }
    byte(0x7D)
  }

  func ftrace(_ r: FtraceRecord) {
    ftraceHead(
      comm: r.comm, cpu: r.cpu, event: r.event, flags: r.flags, message: r.message, pid: r.pid,
      file: r.position.file, line: r.position.line, offset: r.position.offset)
    if let s = r.stack {
      ftraceStackKey()
      array(s) { string($0) }
    }
    ftraceTimestamp(r.timestamp)
    if let v = r.vhostLock {
      vhostLock {
        for (i, fl) in v.fields.enumerated() {
          if i > 0 { byte(0x2C) }
          keyValue(fl.key, fl.value)
        }
        return (v.lock, v.operation)
      }
    }
    byte(0x7D)
  }

  // An ftrace record in parts, so `--jsonl` can write the parts it knows as soon as it parses
  // the line and add the ` => func` stack lines that may follow: `{` + head, then optionally
  // `,"stack":[…]`, then the timestamp, the vhost_lock object and `}`.
  func ftraceHead<S: JSONStringValue, F: JSONStringValue>(
    comm: S, cpu: Int, event: S, flags: S?, message: S, pid: Int, file: F, line: Int, offset: Int
  ) {
    var f = true
    byte(0x7B)
    key("comm", first: &f)
    text(comm)
    key("cpu", first: &f)
    int(cpu)
    key("event", first: &f)
    text(event)
    if let fl = flags {
      key("flags", first: &f)
      text(fl)
    }
    key("message", first: &f)
    text(message)
    key("pid", first: &f)
    int(pid)
    key("position", first: &f)
    position(file: file, line: line, offset: offset)
  }

  /// `ftraceHead` for a line that is plain throughout (`isPlain` over the whole line, checked
  /// once by the caller): every text part is copied through one cursor with no check of its
  /// own. `file` is the file name already encoded. Same bytes as `ftraceHead`.
  func ftraceHeadPlain(
    _ line: UnsafePointer<UInt8>, comm: Range<Int>, cpu: Int, event: Range<Int>, flags: Range<Int>?, message: Range<Int>,
    pid: Int, file: JSONBuffer, number: Int, offset: Int
  ) {
    reserve(comm.count + event.count + (flags?.count ?? 0) + message.count + file.count + 192)
    var p = base + count
    p = Self.put(p, "{\"comm\":\"")
    p = Self.put(p, line, comm)
    p = Self.put(p, "\",\"cpu\":")
    p = Self.putInt(p, cpu)
    p = Self.put(p, ",\"event\":\"")
    p = Self.put(p, line, event)
    if let flags {
      p = Self.put(p, "\",\"flags\":\"")
      p = Self.put(p, line, flags)
    }
    p = Self.put(p, "\",\"message\":\"")
    p = Self.put(p, line, message)
    p = Self.put(p, "\",\"pid\":")
    p = Self.putInt(p, pid)
    p = Self.put(p, ",\"position\":{\"file\":")
    Self.copy(p, file.base, file.count)
    p += file.count
    p = Self.put(p, ",\"line\":")
    p = Self.putInt(p, number)
    p = Self.put(p, ",\"offset\":")
    p = Self.putInt(p, offset)
    p[0] = 0x7D
    count = p + 1 - base
  }

  /// `ftraceTimestamp` and `vhostLock` for a plain line (see `ftraceHeadPlain`), with the
  /// record's closing brace: `vhost` scans the message and calls `field` for each key=value
  /// entry, returning the lock name and operation. (Not an optional closure: that one escaped,
  /// and its context was allocated per record.)
  func ftraceTailPlain(
    timestamp: Double, _ line: UnsafePointer<UInt8>,
    vhost: (_ field: (Range<Int>, Range<Int>) -> Void) -> (op: Range<Int>?, lock: Range<Int>?)
  ) {
    ftraceTimestamp(timestamp)
    raw(",\"vhost_lock\":{\"fields\":[")
    var first = true
    let (op, lock) = vhost { k, v in
      plainPair(line, first ? "{\"key\":\"" : ",{\"key\":\"", k, v)
      first = false
    }
    reserve((lock?.count ?? 0) + (op?.count ?? 0) + 40)
    var p = base + count
    p[0] = 0x5D
    p += 1
    if let lock {
      p = Self.put(p, ",\"lock\":\"")
      p = Self.put(p, line, lock)
      p[0] = 0x22
      p += 1
    }
    p = Self.put(p, ",\"operation\":\"")
    if let op { p = Self.put(p, line, op) }
    p = Self.put(p, "\"}")
    count = p - base
    byte(0x7D)
  }

  /// `ftraceTailPlain` for a record without vhost_lock fields.
  func ftraceTailPlain(timestamp: Double) {
    ftraceTimestamp(timestamp)
    byte(0x7D)
  }

  /// `{"ftrace":` + the record `body` writes + `,"kind":"ftrace"}`.
  func ftraceEvent(_ body: () -> Void) {
    raw("{\"ftrace\":")
    body()
    raw(",\"kind\":\"ftrace\"}")
  }

  func ftraceStackKey() {
    var f = false
    key("stack", first: &f)
  }

  func ftraceTimestamp(_ t: Double) {
    var f = false
    key("timestamp", first: &f)
    double(t)
  }

  /// `,"vhost_lock":{"fields":[…],"lock":…,"operation":…}`; `fields` writes the entries and
  /// returns the lock name and operation (found while scanning the message for the fields).
  func vhostLock<S: JSONStringValue>(_ fields: () -> (lock: S?, operation: S)) {
    var f = false
    key("vhost_lock", first: &f)
    var g = true
    byte(0x7B)
    key("fields", first: &g)
    byte(0x5B)
    let (lock, operation) = fields()
    byte(0x5D)
    if let l = lock {
      key("lock", first: &g)
      text(l)
    }
    key("operation", first: &g)
    text(operation)
    byte(0x7D)
  }

  func marker(_ m: Marker) {
    marker(
      kind: m.kind, file: m.position.file, line: m.position.line, offset: m.position.offset, text: m.text,
      timestamp: m.timestamp, value: m.value)
  }

  /// `{"kind":"marker","marker":…}`, as `event(.marker(…))` writes it.
  func markerEvent<F: JSONStringValue, S: JSONStringValue>(
    kind: MarkerKind, file: F, line: Int, offset: Int, text: S, timestamp: Double?, value: S?
  ) {
    raw("{\"kind\":\"marker\",\"marker\":")
    marker(kind: kind, file: file, line: line, offset: offset, text: text, timestamp: timestamp, value: value)
    byte(0x7D)
  }

  private func marker<F: JSONStringValue, S: JSONStringValue>(
    kind: MarkerKind, file: F, line: Int, offset: Int, text: S, timestamp: Double?, value: S?
  ) {
    var f = true
    byte(0x7B)
    key("kind", first: &f)
    string(kind.rawValue)
    key("position", first: &f)
    position(file: file, line: line, offset: offset)
    key("text", first: &f)
    self.text(text)
    if let t = timestamp {
      key("timestamp", first: &f)
      double(t)
    }
    if let v = value {
      key("value", first: &f)
      self.text(v)
    }
    byte(0x7D)
  }

  func taskInfo(_ t: TaskInfo) {
    var f = true
    byte(0x7B)
    key("comm", first: &f)
    string(t.comm)
    if let v = t.flags {
      key("flags", first: &f)
      string(v)
    }
    if let v = t.pid {
      key("pid", first: &f)
      int(v)
    }
    if let v = t.ppid {
      key("ppid", first: &f)
      int(v)
    }
    if let v = t.stack {
      key("stack", first: &f)
      int(v)
    }
    if let v = t.state {
      key("state", first: &f)
      string(v)
    }
    if let v = t.taskFlags {
      key("task_flags", first: &f)
      string(v)
    }
    if let v = t.tgid {
      key("tgid", first: &f)
      int(v)
    }
    byte(0x7D)
  }

  func taskDump(_ d: TaskDump, frames encoded: JSONBuffer? = nil) {
    var f = true
    byte(0x7B)
    key("end_line", first: &f)
    int(d.endLine)
    key("frames", first: &f)
    if let encoded { preEncodedArray(encoded) } else { frames(d.frames) }
    key("info", first: &f)
    taskInfo(d.info)
    key("position", first: &f)
    position(d.position)
    if let t = d.timestamp {
      key("timestamp", first: &f)
      double(t)
    }
    byte(0x7D)
  }

  /// `{"kind":"report","report":…}`, as `event(.report(r), …)` writes it, from a report borrowed
  /// where it lies (wrapping it in an `Event` copied it, retaining each of its strings and arrays).
  func reportEvent(_ r: borrowing CrashReport, frames: JSONBuffer?, registers: JSONBuffer?) {
    raw("{\"kind\":\"report\",\"report\":")
    report(r, frames: frames, registers: registers)
    byte(0x7D)
  }

  /// `frames` / `registers`, when given, hold the report's lists already encoded (`--jsonl`
  /// writes them while parsing; `r.frames` / `r.registers` are then empty).
  func report(_ r: borrowing CrashReport, frames encodedFrames: JSONBuffer? = nil, registers encodedRegisters: JSONBuffer? = nil) {
    var f = true
    byte(0x7B)
    if let v = r.code {
      key("code", first: &f)
      string(v)
    }
    if let v = r.cpu {
      key("cpu", first: &f)
      int(v)
    }
    key("end_line", first: &f)
    int(r.endLine)
    if let v = r.endMarker {
      key("end_marker", first: &f)
      string(v)
    }
    key("frames", first: &f)
    if let encodedFrames { preEncodedArray(encodedFrames) } else { frames(r.frames) }
    key("headline", first: &f)
    string(r.headline)
    if let h = r.hungTask {
      key("hung_task", first: &f)
      var g = true
      byte(0x7B)
      if let i = h.info {
        key("info", first: &g)
        taskInfo(i)
      }
      key("seconds", first: &g)
      int(h.seconds)
      if let t = h.taint {
        key("taint", first: &g)
        string(t)
      }
      key("task", first: &g)
      task(h.task)
      byte(0x7D)
    }
    key("is_truncated", first: &f)
    bool(r.isTruncated)
    key("kind", first: &f)
    string(r.kind.rawValue)
    if let l = r.lockdep {
      key("lockdep", first: &f)
      var g = true
      byte(0x7B)
      if let a = l.acquiring {
        key("acquiring", first: &g)
        lock(a)
      }
      key("chain", first: &g)
      byte(0x5B)
      for (i, c) in l.chain.enumerated() {
        if i > 0 { byte(0x2C) }
        var h = true
        byte(0x7B)
        key("frames", first: &h)
        frames(c.frames)
        key("index", first: &h)
        int(c.index)
        key("line", first: &h)
        int(c.line)
        key("name", first: &h)
        string(c.name)
        byte(0x7D)
      }
      byte(0x5D)
      key("holding", first: &g)
      array(l.holding) { lock($0) }
      key("is_deadlock", first: &g)
      bool(l.isDeadlock)
      if let t = l.task {
        key("task", first: &g)
        task(t)
      }
      byte(0x7D)
    }
    if let m = r.modules {
      key("modules", first: &f)
      array(m) { string($0) }
    }
    if let o = r.omittedFrameCount {
      key("omitted_frame_count", first: &f)
      int(o)
    }
    key("position", first: &f)
    position(r.position)
    key("prefix", first: &f)
    var g = true
    byte(0x7B)
    if let c = r.prefix.caller {
      key("caller", first: &g)
      string(c)
    }
    if let l = r.prefix.level {
      key("level", first: &g)
      int(l)
    }
    if let t = r.prefix.timestamp {
      key("timestamp", first: &g)
      double(t)
    }
    byte(0x7D)
    key("registers", first: &f)
    if let encodedRegisters {
      preEncodedArray(encodedRegisters)
    } else {
      array(r.registers) { register(name: $0.name, value: $0.value) }
    }
    if let ip = r.rip {
      key("rip", first: &f)
      var h = true
      byte(0x7B)
      if let fr = ip.frame {
        key("frame", first: &h)
        frame(fr)
      }
      key("segment", first: &h)
      string(ip.segment)
      byte(0x7D)
    }
    if let t = r.taint {
      key("taint", first: &f)
      string(t)
    }
    if let t = r.task {
      key("task", first: &f)
      task(t)
    }
    byte(0x7D)
  }
}
