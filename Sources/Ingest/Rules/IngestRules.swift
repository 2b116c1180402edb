#if canImport(Glibc)
  import Glibc
#endif

/// What a header rule produces.
public enum HeaderAction: Sendable, Equatable {
  case report(ReportKind)
  case marker(MarkerKind)
  case blocker
}

/// One rule of `rules/ingest.toml`: literal prefilters plus a PCRE2 pattern.
public struct HeaderRule: Sendable {
  public var action: HeaderAction
  public var starts: [[UInt8]]
  public var pattern: PCRE2Pattern
  public var origin: String
}

/// The compiled contents of `rules/ingest.toml`. Loaded once per process and shared read-only.
public final class IngestRules: @unchecked Sendable {
  // SAFETY: all stored properties are immutable after init; `firstByteFlags` is written only
  // in init and freed in deinit.
  public let rules: [HeaderRule]
  /// For each first byte, the (literal, rule index) pairs starting with it: the prefilter.
  let dispatch: [[(literal: [UInt8], rule: Int)]]
  let tags: [[UInt8]]
  /// Line starts checked per line (plain values over bytes freed in deinit: no array traffic).
  let callTrace: LiteralSet
  let allLocksStart: LiteralSet
  let ftraceStart: LiteralSet
  let ftraceEmpty: LiteralSet
  let sanitizerEnd: [UInt8]
  /// Per first byte of a message body: bit 0 = some header literal starts with it, bit 1 = some
  /// subsystem tag does. A flat table so the per-line check touches no Swift arrays.
  let firstByteFlags: UnsafeMutablePointer<UInt8>
  /// The count-only fast path's prefilter: every literal a line may start with to matter (header
  /// `starts`, tags, ftrace dump starts) as its first 8 bytes and a mask, grouped by first byte
  /// (`prefixRanges[b]` = start and count in `prefixWords`).
  let prefixWords: UnsafeMutablePointer<(value: UInt64, mask: UInt64)>
  let prefixRanges: UnsafeMutablePointer<(start: Int32, count: Int32)>

  public init(text: String, file: String) throws(IngestError) {
    let doc = try TOMLParser.parse(text, file: file)
    var rules: [HeaderRule] = []
    // Keep file order across the three rule kinds: the first match wins.
    var ordered: [(line: Int, kind: String, table: TOMLTable)] = []
    for kind in ["report", "marker", "blocker"] {
      for t in doc.tables(kind) { ordered.append((t.line, kind, t)) }
    }
    ordered.sort { $0.line < $1.line }
    for (line, kind, t) in ordered {
      let origin = "\(file):\(line)"
      guard let starts = t["starts"]?.strings, !starts.isEmpty else {
        throw .rule(file: file, line: line, message: "rule needs 'starts' (one or more literals)")
      }
      guard let pattern = t["pattern"]?.string else {
        throw .rule(file: file, line: line, message: "rule needs 'pattern'")
      }
      let action: HeaderAction
      switch kind {
      case "report":
        guard let k = t["kind"]?.string, let rk = ReportKind(rawValue: k) else {
          throw .rule(file: file, line: line, message: "unknown report kind '\(t["kind"]?.string ?? "")'; one of \(ReportKind.allCases.map(\.rawValue))")
        }
        action = .report(rk)
      case "marker":
        guard let k = t["kind"]?.string, let mk = MarkerKind(rawValue: k) else {
          throw .rule(file: file, line: line, message: "unknown marker kind '\(t["kind"]?.string ?? "")'")
        }
        action = .marker(mk)
      default:
        action = .blocker
      }
      rules.append(
        HeaderRule(
          action: action, starts: starts.map { Array($0.utf8) },
          pattern: try PCRE2Pattern(pattern, bytes: true, origin: origin), origin: origin))
    }
    var dispatch = [[(literal: [UInt8], rule: Int)]](repeating: [], count: 256)
    for (i, r) in rules.enumerated() {
      for s in r.starts where !s.isEmpty { dispatch[Int(s[0])].append((s, i)) }
    }
    self.rules = rules
    self.dispatch = dispatch
    let st = doc["structure"]?.table ?? TOMLTable(line: 0)
    func list(_ key: String) -> [[UInt8]] { (st[key]?.strings ?? []).map { Array($0.utf8) } }
    tags = list("tags")
    callTrace = LiteralSet(list("call_trace"))
    allLocksStart = LiteralSet(list("all_locks_start"))
    let ftraceStarts = list("ftrace_start")
    ftraceStart = LiteralSet(ftraceStarts)
    ftraceEmpty = LiteralSet(list("ftrace_empty"))
    sanitizerEnd = Array((st["sanitizer_end"]?.string ?? "==================================================").utf8)
    firstByteFlags = .allocate(capacity: 256)
    firstByteFlags.initialize(repeating: 0, count: 256)
    for b in 0..<256 where !dispatch[b].isEmpty { firstByteFlags[b] |= 1 }
    for t in tags where !t.isEmpty { firstByteFlags[Int(t[0])] |= 2 }
    var byFirst = [[(value: UInt64, mask: UInt64)]](repeating: [], count: 256)
    for lit in rules.flatMap(\.starts) + tags + ftraceStarts where !lit.isEmpty {
      let w = Self.word(lit)
      if !byFirst[Int(lit[0])].contains(where: { $0 == w }) { byFirst[Int(lit[0])].append(w) }
    }
    prefixWords = .allocate(capacity: max(1, byFirst.reduce(0) { $0 + $1.count }))
    prefixRanges = .allocate(capacity: 256)
    var at = 0
    for b in 0..<256 {
      prefixRanges[b] = (Int32(at), Int32(byFirst[b].count))
      for w in byFirst[b] {
        prefixWords[at] = w
        at += 1
      }
    }
  }

  deinit {
    for set in [callTrace, allLocksStart, ftraceStart, ftraceEmpty] { set.storage.deallocate() }
    firstByteFlags.deallocate()
    prefixWords.deallocate()
    prefixRanges.deallocate()
  }

  /// The first (up to) 8 bytes of `lit`, little-endian, and the mask covering them.
  private static func word(_ lit: [UInt8]) -> (value: UInt64, mask: UInt64) {
    var v: UInt64 = 0
    var m: UInt64 = 0
    for (i, b) in lit.prefix(8).enumerated() {
      v |= UInt64(b) << (8 * UInt64(i))
      m |= 0xFF << (8 * UInt64(i))
    }
    return (v, m)
  }

  /// False when `body` cannot start with any header literal, tag or ftrace dump start (compares
  /// its first 8 bytes against each candidate's, no Swift arrays touched); true means "maybe".
  @inline(__always)
  func mayStartHeader(_ body: UnsafePointer<UInt8>, count: Int) -> Bool {
    let r = prefixRanges[Int(body[0])]
    if r.count == 0 { return false }
    var head: UInt64 = 0
    if count >= 8 {
      head = UnsafeRawPointer(body).loadUnaligned(as: UInt64.self)
    } else {
      for i in 0..<count { head |= UInt64(body[i]) << (8 * UInt64(i)) }
    }
    var i = Int(r.start)
    let end = i + Int(r.count)
    while i < end {
      let w = prefixWords[i]
      if head & w.mask == w.value { return true }
      i += 1
    }
    return false
  }

  /// Loads `ingest.toml` from `directory` (see `RulesDirectory.locate`).
  public static func load(directory: String) throws(IngestError) -> IngestRules {
    try IngestRules(text: try RulesDirectory.read(directory, "ingest.toml"), file: directory + "/ingest.toml")
  }

  nonisolated(unsafe) private static var cache: [String: IngestRules] = [:]
  private static let cacheLock = Mutex()

  /// The process-wide rules for `directory` (compiled on first use).
  public static func shared(directory: String) throws(IngestError) -> IngestRules {
    cacheLock.lock()
    defer { cacheLock.unlock() }
    if let r = cache[directory] { return r }
    let r = try load(directory: directory)
    cache[directory] = r
    return r
  }

  /// Finds the header rule matching `body` (prefilter on the first bytes, then PCRE2).
  @inline(__always)
  func matchHeader(_ body: UnsafeBufferPointer<UInt8>, scratch: PCRE2Scratch) -> (rule: Int, match: PCRE2Match, body: UnsafeBufferPointer<UInt8>)? {
    guard let first = body.first else { return nil }
    let flags = firstByteFlags[Int(first)]
    if flags == 0 { return nil }
    let candidates = dispatch[Int(first)]
    if !candidates.isEmpty, let m = tryRules(candidates, body, scratch) { return m }
    // "rcu: INFO: ..." / "watchdog: BUG: ...": retry after a known tag.
    for tag in tags where tag[0] == first && startsWith(body, tag) {
      let rest = UnsafeBufferPointer(rebasing: body[tag.count...])
      guard let f = rest.first, !dispatch[Int(f)].isEmpty else { continue }
      if let m = tryRules(dispatch[Int(f)], rest, scratch) { return m }
    }
    return nil
  }

  @inline(__always)
  private func tryRules(_ candidates: [(literal: [UInt8], rule: Int)], _ body: UnsafeBufferPointer<UInt8>, _ scratch: PCRE2Scratch) -> (rule: Int, match: PCRE2Match, body: UnsafeBufferPointer<UInt8>)? {
    var tried = -1
    for c in candidates where c.rule > tried && startsWith(body, c.literal) {
      // Candidates are in rule order; a rule listed under several literals is tried once.
      tried = c.rule
      if let m = rules[c.rule].pattern.match(body, scratch: scratch) { return (c.rule, m, body) }
    }
    return nil
  }

  @inline(__always)
  func startsWith(_ body: UnsafeBufferPointer<UInt8>, _ lit: [UInt8]) -> Bool {
    guard body.count >= lit.count else { return false }
    return lit.withUnsafeBufferPointer { memcmp(body.baseAddress!, $0.baseAddress!, lit.count) == 0 }
  }
}

/// A pthread mutex for the few process-wide caches (rules, compiled patterns).
final class Mutex: @unchecked Sendable {
  // SAFETY: the pthread mutex is only used through lock/unlock.
  private var m = pthread_mutex_t()
  init() { pthread_mutex_init(&m, nil) }
  deinit { pthread_mutex_destroy(&m) }
  func lock() { pthread_mutex_lock(&m) }
  func unlock() { pthread_mutex_unlock(&m) }
}
