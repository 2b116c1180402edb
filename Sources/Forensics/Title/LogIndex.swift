#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
import Ingest

/// Per-line facts the report finder needs, computed in one pass over the log bytes: line
/// boundaries, printk caller context, where the text starts after the console prefix, whether
/// the line is an unreliable (`? func`) frame, and which oops header (if any) it carries.
///
/// Only lines that contain an oops header literal (found with `memmem`) run any regex beyond the
/// console prefix, so the pass costs about one JIT regex per line.
struct LogIndex {
  enum Context: Hashable {
    /// Not kernel console output (no `[  t.tttttt]` prefix).
    case none
    /// Kernel output without a caller id.
    case console
    /// `[ T123]` (task) or `[ C1]` (CPU) caller id, as kind and number.
    case task(Int)
    case cpu(Int)
  }

  let bytes: UnsafeBufferPointer<UInt8>
  var lines: [Range<Int>] = []
  var contexts: [Context] = []
  /// Offset (absolute) where the text after the console prefix begins.
  var textStarts: [Int] = []
  var isQuestionable: [Bool] = []
  /// Index into `rules.oopses` of the first oops whose header the line carries, or -1.
  var oops: [Int16] = []
  /// The log holds a marker that damages every report in it (VM disconnect); checked once.
  var hasCorruptingMarker = false
  /// Guilty-file facts per line, filled on demand (`Titler.guiltyLine`).
  let guiltyLines = GuiltyLineCache()

  final class GuiltyLineCache {
    var byLine: [Int: Titler.GuiltyLine] = [:]
  }

  init(_ bytes: UnsafeBufferPointer<UInt8>, rules: TitleRules) {
    self.bytes = bytes
    guard let base = bytes.baseAddress, bytes.count > 0 else { return }
    hasCorruptingMarker = rules.corruptedLogMarkers.contains { bytes.contains($0) }
    var pos = 0
    let n = bytes.count
    lines.reserveCapacity(n / 64)
    while pos < n {
      var end = n
      if let hit = memchr(base + pos, 0x0A, n - pos) {
        end = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - base
      }
      var stop = end
      if stop > pos && base[stop - 1] == 0x0D { stop -= 1 }
      lines.append(pos..<stop)
      pos = end + 1
    }
    contexts.reserveCapacity(lines.count)
    textStarts.reserveCapacity(lines.count)
    isQuestionable.reserveCapacity(lines.count)
    oops.reserveCapacity(lines.count)
    for r in lines {
      let line = UnsafeBufferPointer(rebasing: bytes[r])
      var ctx = Context.none
      var start = r.lowerBound
      // The prefix always starts with `[`, `<`, `*` or a login banner; cheap check first.
      if memchr(line.baseAddress ?? base, Int32(UInt8(ascii: "]")), line.count) != nil,
        let m = rules.consolePrefix.match(line)
      {
        if let g = m[1] {
          ctx = Self.caller(UnsafeBufferPointer(rebasing: line[g]))
        } else {
          ctx = .console
        }
        // Text begins after the first "] " (the end of the timestamp/caller brackets).
        start = Self.afterBracket(line).map { r.lowerBound + $0 } ?? r.lowerBound
      }
      contexts.append(ctx)
      textStarts.append(start)
      var questionable = false
      if ctx != .none {
        let text = UnsafeBufferPointer(rebasing: bytes[start..<r.upperBound])
        if memchr(text.baseAddress ?? base, Int32(UInt8(ascii: "?")), text.count) != nil {
          questionable = rules.questionableFrame.matches(text)
        }
      }
      isQuestionable.append(questionable)
      oops.append(Int16(Self.matchOops(line, rules: rules)))
    }
  }

  /// First oops (table order) whose header occurs in the line and that no suppression or
  /// global ignore vetoes.
  static func matchOops(_ line: UnsafeBufferPointer<UInt8>, rules: TitleRules) -> Int {
    guard line.count > 0 else { return -1 }
    for (i, o) in rules.oopses.enumerated() {
      guard line.contains(o.header) else { continue }
      if o.suppressions.contains(where: { $0.matches(line) }) { continue }
      if rules.lineIgnores.contains(where: { $0.matches(line) }) { continue }
      return i
    }
    return -1
  }

  static func caller(_ b: UnsafeBufferPointer<UInt8>) -> Context {
    var kind: UInt8 = 0
    var num = 0
    for c in b {
      if c == UInt8(ascii: "T") || c == UInt8(ascii: "C") {
        kind = c
      } else if c >= 0x30 && c <= 0x39 {
        num = num &* 10 &+ Int(c - 0x30)
      }
    }
    return kind == UInt8(ascii: "C") ? .cpu(num) : .task(num)
  }

  static func afterBracket(_ line: UnsafeBufferPointer<UInt8>) -> Int? {
    guard line.count >= 2 else { return nil }
    for i in 0..<(line.count - 1) where line[i] == UInt8(ascii: "]") && line[i + 1] == 0x20 {
      return i + 2
    }
    return nil
  }

  /// The line's text after the console prefix.
  func text(_ i: Int) -> UnsafeBufferPointer<UInt8> {
    UnsafeBufferPointer(rebasing: bytes[textStarts[i]..<lines[i].upperBound])
  }

  func raw(_ i: Int) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: bytes[lines[i]]) }
}

extension UnsafeBufferPointer<UInt8> {
  func contains(_ needle: [UInt8]) -> Bool {
    firstOffset(of: needle) != nil
  }

  /// memchr for the first byte, memcmp for the rest (glibc's memmem is not exported to Swift).
  func firstOffset(of needle: [UInt8]) -> Int? {
    guard let base = baseAddress, let first = needle.first, needle.count <= count else { return nil }
    let last = count - needle.count
    var pos = 0
    return needle.withUnsafeBufferPointer { n -> Int? in
      while pos <= last {
        guard let hit = memchr(base + pos, Int32(first), last - pos + 1) else { return nil }
        let at = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - base
        if memcmp(base + at, n.baseAddress!, n.count) == 0 { return at }
        pos = at + 1
      }
      return nil
    }
  }
}

extension Array<UInt8> {
  func contains(_ needle: [UInt8]) -> Bool {
    withUnsafeBufferPointer { $0.contains(needle) }
  }
}
