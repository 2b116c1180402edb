/// A few byte-string literals from the rules (`Call Trace:`, `(ftrace buffer empty)`, …) that
/// hot-path lines are tested against. The literals live in one allocation owned by
/// `IngestRules`; this view is a plain value, so checking a line touches no Swift array and
/// costs no retain/release (looping over a `[[UInt8]]` did, once per line inside reports).
struct LiteralSet {
  private let bytes: UnsafePointer<UInt8>
  /// Start and length of each literal in `bytes`.
  private let spans: UnsafePointer<(start: Int, count: Int)>
  let count: Int
  /// Bit b set: some literal starts with byte b (a line starting otherwise is rejected at once).
  private let firstBytes: (UInt64, UInt64, UInt64, UInt64)

  /// An empty literal (matches every line, as `IngestRules.startsWith` does).
  private let hasEmpty: Bool
  /// The storage to free when the owner goes (see `IngestRules.deinit`).
  let storage: UnsafeMutableRawPointer

  init(_ literals: [[UInt8]]) {
    let total = literals.reduce(0) { $0 + $1.count }
    let spanBytes = MemoryLayout<(start: Int, count: Int)>.stride * max(1, literals.count)
    storage = .allocate(byteCount: spanBytes + max(1, total), alignment: 16)
    let spans = storage.bindMemory(to: (start: Int, count: Int).self, capacity: max(1, literals.count))
    let bytes = (storage + spanBytes).bindMemory(to: UInt8.self, capacity: max(1, total))
    var at = 0
    var first: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    for (i, lit) in literals.enumerated() {
      spans[i] = (at, lit.count)
      for b in lit {
        bytes[at] = b
        at += 1
      }
      guard let b = lit.first else { continue }
      let bit = UInt64(1) << UInt64(b & 63)
      switch b >> 6 {
      case 0: first.0 |= bit
      case 1: first.1 |= bit
      case 2: first.2 |= bit
      default: first.3 |= bit
      }
    }
    self.spans = UnsafePointer(spans)
    self.bytes = UnsafePointer(bytes)
    self.count = literals.count
    self.firstBytes = first
    self.hasEmpty = literals.contains { $0.isEmpty }
  }

  @inline(__always) func mayStart(with b: UInt8) -> Bool {
    let word: UInt64
    switch b >> 6 {
    case 0: word = firstBytes.0
    case 1: word = firstBytes.1
    case 2: word = firstBytes.2
    default: word = firstBytes.3
    }
    return (word >> UInt64(b & 63)) & 1 != 0
  }

  /// True when `b` starts with one of the literals (an empty literal matches every line, as
  /// `IngestRules.startsWith` does).
  @inline(__always) func matchesStart(of b: UnsafeBufferPointer<UInt8>) -> Bool {
    guard let p = b.baseAddress, b.count > 0 else { return hasEmpty }
    guard mayStart(with: p[0]) || hasEmpty else { return false }
    for i in 0..<count {
      let s = spans[i]
      guard s.count <= b.count else { continue }
      var k = 0
      while k < s.count, p[k] == bytes[s.start + k] { k += 1 }
      if k == s.count { return true }
    }
    return false
  }
}
