#if canImport(Glibc)
  import Glibc
#endif
import CSupport

/// Small byte helpers for the hot path: no String, no allocation.
@usableFromInline
enum Bytes {
  @inlinable static func isDigit(_ c: UInt8) -> Bool { c &- 0x30 < 10 }
  @inlinable static func isHex(_ c: UInt8) -> Bool {
    c &- 0x30 < 10 || (c | 0x20) &- 0x61 < 6
  }
  /// Letters, digits, `_`, `.`, `$`: one bit test in a 128-bit set (the chain of range
  /// compares was half the frame parser's time).
  @inlinable static func isIdent(_ c: UInt8) -> Bool {
    // Bits 36 `$`, 46 `.`, 48-57 digits; 65-90 upper case, 95 `_`, 97-122 lower case.
    let low: UInt64 = 0x03FF_4010_0000_0000
    let high: UInt64 = 0x07FF_FFFE_87FF_FFFE
    return c < 128 && ((c < 64 ? low : high) >> UInt64(c & 63)) & 1 != 0
  }
  @inlinable static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }

  /// Word tests, eight bytes at once: 0x80 in each byte of the result that passes. Exact for
  /// the lowest such byte; a byte above one that passes may pass too (the borrow runs on), so
  /// use them for "is there any" and for the lowest one.
  @usableFromInline static let ones: UInt64 = 0x0101_0101_0101_0101
  @usableFromInline static let highs: UInt64 = 0x8080_8080_8080_8080
  /// Bytes of `w` that are zero (`zeroBytes(w ^ ones &* c)`: bytes equal to `c`).
  @inlinable @inline(__always) static func zeroBytes(_ w: UInt64) -> UInt64 { (w &- ones) & ~w & highs }
  /// Bytes of `w` below `c` (`c` <= 0x80).
  @inlinable @inline(__always) static func bytesBelow(_ w: UInt64, _ c: UInt8) -> UInt64 {
    (w &- ones &* UInt64(c)) & ~w & highs
  }
}

extension UnsafeBufferPointer where Element == UInt8 {
  /// True if the bytes at `at` equal `literal` (StaticString: no allocation).
  @inlinable @inline(__always) func has(_ literal: StaticString, at: Int = 0) -> Bool {
    let n = literal.utf8CodeUnitCount
    guard at >= 0, at + n <= count else { return false }
    return memcmp(baseAddress! + at, literal.utf8Start, n) == 0
  }

  /// Offset of `literal` in `self[from...]`, or nil.
  @inlinable func find(_ literal: StaticString, from: Int = 0) -> Int? {
    let n = literal.utf8CodeUnitCount
    guard from >= 0, count - from >= n, let base = baseAddress else { return nil }
    // memchr for the first byte, then compare (memmem is not exported by Swift's Glibc).
    let first = literal.utf8Start[0]
    var k = from
    let last = count - n
    while k <= last {
      guard let p = memchr(base + k, Int32(first), last - k + 1) else { return nil }
      let at = UnsafePointer<UInt8>(p.assumingMemoryBound(to: UInt8.self)) - base
      if memcmp(base + at, literal.utf8Start, n) == 0 { return at }
      k = at + 1
    }
    return nil
  }

  /// Offset of byte `c` in `self[from..<to]`, or nil.
  @inlinable func find(byte c: UInt8, from: Int = 0, to: Int? = nil) -> Int? {
    let end = Swift.min(to ?? count, count)
    guard from < end, let base = baseAddress else { return nil }
    guard let p = memchr(base + from, Int32(c), end - from) else { return nil }
    return UnsafePointer<UInt8>(p.assumingMemoryBound(to: UInt8.self)) - base
  }

  /// The end of the token at `i` (the next space, or the end) and the offset of its first `=`
  /// (-1: none), eight bytes per step: vhost_lock messages are a dozen `key=value` tokens.
  /// Exact: in each word only the lowest match of either byte is used, and the zero-byte
  /// test's lowest set bit is always a true match.
  @inlinable func tokenEnd(from start: Int) -> (end: Int, equals: Int) {
    var i = start
    var eq = -1
    guard let p = baseAddress else { return (i, eq) }
    while i + 8 <= count {
      let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
      let spaces = Bytes.zeroBytes(w ^ (Bytes.ones &* 0x20))
      if eq < 0 {
        let equals = Bytes.zeroBytes(w ^ (Bytes.ones &* 0x3D))
        if equals != 0, spaces == 0 || equals.trailingZeroBitCount < spaces.trailingZeroBitCount {
          eq = i + equals.trailingZeroBitCount >> 3
        }
      }
      if spaces != 0 { return (i + spaces.trailingZeroBitCount >> 3, eq) }
      i += 8
    }
    while i < count, p[i] != 0x20 {
      if p[i] == 0x3D, eq < 0 { eq = i }
      i += 1
    }
    return (i, eq)
  }

  /// The end of the identifier bytes (`Bytes.isIdent`) from `i`: sixteen bytes per step in
  /// SSE2 (`ra_ident_end`; frame lines are mostly function names, and the 8-byte word test it
  /// replaced cost ~160 instructions a name).
  @inlinable func identEnd(from i: Int) -> Int {
    guard let p = baseAddress, i < count else { return i }
    return ra_ident_end(p, i, count)
  }

  /// Skips spaces and tabs from `i`.
  @inlinable func skipSpaces(_ i: Int) -> Int {
    var i = i
    while i < count, Bytes.isSpace(self[i]) { i += 1 }
    return i
  }

  /// Parses a decimal number at `i`; returns (value, end) or nil when no digit is there.
  @inlinable func decimal(at i: Int) -> (Int, Int)? {
    var j = i
    var v = 0
    while j < count, Bytes.isDigit(self[j]), j - i < 18 {
      v = v &* 10 &+ Int(self[j] &- 0x30)
      j += 1
    }
    return j > i ? (v, j) : nil
  }

  /// Parses hex digits at `i` (an optional `0x` is skipped); returns (value, end).
  /// At most 16 digits are taken. Eight digits per step (`hexWord`): a byte loop's exit
  /// branch mispredicted on every number, and frames carry two or three.
  @inlinable @inline(__always) func hex(at i: Int) -> (UInt64, Int)? {
    // (Wrapping arithmetic: indices stay far below Int.max, and the overflow checks were a
    // third of the instructions.)
    var j = i
    if j &+ 1 < count, self[j] == 0x30, self[j &+ 1] | 0x20 == 0x78 { j &+= 2 }
    return hexDigits(from: j)
  }

  /// `hex(at:)` without the `0x`: the digits from `j` (callers that matched `0x` already).
  @inlinable @inline(__always) func hexDigits(from j: Int) -> (UInt64, Int)? {
    guard count >= 8 else { return hexLoop(from: j) }
    let (v, n) = hexWord(at: j)
    guard n > 0 else { return nil }
    guard n == 8 else { return (v, j &+ n) }
    let (v2, n2) = hexWord(at: j &+ 8)
    return (n2 == 0 ? v : v << UInt64(truncatingIfNeeded: 4 &* n2) | v2, j &+ 8 &+ n2)
  }

  /// The value and count of the hex digits among the eight bytes at `start` (bytes past the
  /// end count as none); needs `count >= 8`. SWAR: each byte is range-checked as a digit or a
  /// letter a-f/A-F with its high bit cleared (so no carry crosses bytes), the digits before the
  /// first other byte are kept, and their nibbles are folded in pairs, then pairs of pairs.
  @inlinable @inline(__always) func hexWord(at start: Int) -> (UInt64, Int) {
    guard start < count, let p = baseAddress else { return (0, 0) }
    let w: UInt64 =
      start &+ 8 <= count
      ? UnsafeRawPointer(p + start).loadUnaligned(as: UInt64.self)
      : UnsafeRawPointer(p + (count &- 8)).loadUnaligned(as: UInt64.self) >> UInt64(truncatingIfNeeded: 8 &* (start &+ 8 &- count))
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highs = ones &* 0x80
    let x = w & (ones &* 0x7F)
    // In [lo, hi] when x + (0x80 - lo) has the high bit and x + (0x7F - hi) has not.
    let digit = (x &+ ones &* 0x50) & ~(x &+ ones &* 0x46)
    let l = x | (ones &* 0x20)
    let letter = (l &+ ones &* 0x1F) & ~(l &+ ones &* 0x19)
    let valid = (digit | letter) & ~w & highs
    let n = (~valid & highs).trailingZeroBitCount >> 3
    guard n > 0 else { return (0, 0) }
    // Nibble per byte: low four bits, plus 9 for a letter (bit 6 set).
    var v = (x & (ones &* 0x0F)) &+ ((x >> 6) & ones) &* 9
    // The n digits to the top bytes, then the last digit to byte 0.
    v = (v << UInt64(truncatingIfNeeded: 8 &* (8 &- n))).byteSwapped
    v = (v | v >> 4) & 0x00FF_00FF_00FF_00FF
    v = (v | v >> 8) & 0x0000_FFFF_0000_FFFF
    v = (v | v >> 16) & 0xFFFF_FFFF
    return (v, n)
  }

  /// `hex(at:)` after the `0x`, a byte at a time (buffers shorter than a word; tests).
  @inlinable func hexLoop(from start: Int) -> (UInt64, Int)? {
    var j = start
    let end = Swift.min(count, start + 16)
    var v: UInt64 = 0
    while j < end {
      let c = self[j]
      let d = c &- 0x30
      if d < 10 {
        v = v << 4 | UInt64(d)
      } else {
        let l = (c | 0x20) &- 0x61
        guard l < 6 else { break }
        v = v << 4 | UInt64(l &+ 10)
      }
      j += 1
    }
    return j > start ? (v, j) : nil
  }

  /// Decodes `self[range]` as text: invalid UTF-8 is replaced, ANSI escapes and other control
  /// bytes (except tab) are dropped. Only called for lines that matter.
  func text(_ range: Range<Int>) -> String {
    let lo = Swift.max(0, range.lowerBound)
    let hi = Swift.min(count, range.upperBound)
    guard lo < hi, let p = baseAddress else { return "" }
    // Eight bytes per step while no byte is a control byte or DEL (a tab sends the word to the
    // byte test, which lets it through); the byte loop cost four instructions a byte on
    // headlines and `Code:` lines.
    var i = lo
    while i &+ 8 <= hi {
      let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
      // A byte below 0x20 or a DEL (a false alarm above one only goes to the byte test).
      if Bytes.bytesBelow(w, 0x20) | Bytes.zeroBytes(w ^ (Bytes.ones &* 0x7F)) != 0 { break }
      i &+= 8
    }
    var clean = true
    while i < hi {
      let c = p[i]
      if c < 0x20 && c != 0x09 || c == 0x7F {
        clean = false
        break
      }
      i &+= 1
    }
    if clean { return String(decoding: UnsafeBufferPointer(rebasing: self[lo..<hi]), as: UTF8.self) }
    var out: [UInt8] = []
    out.reserveCapacity(hi - lo)
    i = lo
    while i < hi {
      let c = self[i]
      if c == 0x1B {
        // CSI `ESC [ params letter`, or a two-byte escape such as `ESC 7`.
        i += 1
        if i < hi, self[i] == 0x5B {
          i += 1
          while i < hi, !((self[i] | 0x20) &- 0x61 < 26) { i += 1 }
        }
        i += 1
        continue
      }
      if (c < 0x20 && c != 0x09) || c == 0x7F {
        i += 1
        continue
      }
      out.append(c)
      i += 1
    }
    return String(decoding: out, as: UTF8.self)
  }

  func text(from: Int) -> String { text(from..<count) }
}
