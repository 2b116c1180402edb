import Ingest

/// An inclusive, 1-based range of log lines chosen for an excerpt.
public struct LineRange: Sendable, Hashable, Codable {
  public var first: Int
  public var last: Int
  /// 0 = crash reports, 1 = lock evidence, held-lock lists, blocker lines and markers, 2 = nice
  /// to have (vhost_lock trace lines, D-state task dumps). Under the cap, tier 2 is dropped
  /// first, then tier 1; what is left is cut in file order.
  public var tier: Int
  public init(first: Int, last: Int, tier: Int) {
    self.first = first
    self.last = last
    self.tier = tier
  }
}

/// Chooses which lines of a log go into a safe-to-share excerpt. Pure.
public enum ExcerptPlanner {
  /// Crash reports, held-lock lists, blocker lines, lock evidence and markers (tier 1), blocked
  /// task dumps and vhost_lock trace lines (tier 2), each with `context` lines before it.
  public static func plan(events: [Event], lockEvidence: [Int] = [], context: Int = 3) -> [LineRange] {
    var ranges = events.flatMap { self.ranges(for: $0, context: context) }
    for l in lockEvidence { ranges.append(LineRange(first: l, last: l, tier: 1)) }
    return merge(ranges)
  }

  /// The lines one event asks for (streaming use: call per event, then `merge`).
  public static func ranges(for e: Event, context: Int = 3) -> [LineRange] {
    func r(_ first: Int, _ last: Int, _ tier: Int, context c: Int = context) -> [LineRange] {
      [LineRange(first: max(1, first - c), last: max(first, last), tier: tier)]
    }
    switch e {
    case .report(let x): return r(x.position.line, x.endLine, 0)
    case .heldLocks(let l): return r(l.position.line, l.locks.map(\.line).max() ?? l.position.line, 1, context: 0)
    case .blocker(let b): return r(b.position.line, b.position.line, 1)
    case .marker(let m): return r(m.position.line, m.position.line, 1, context: 0)
    case .taskDump(let d): return d.info.state == "D" ? r(d.position.line, d.endLine, 2, context: 0) : []
    case .ftrace(let f):
      return f.vhostLock != nil || f.message.contains("vhost_lock:")
        ? r(f.position.line, f.position.line, 2, context: 0) : []
    }
  }

  /// Sorts and merges overlapping or adjacent ranges (the merged tier is the more important).
  public static func merge(_ ranges: [LineRange]) -> [LineRange] {
    var out: [LineRange] = []
    for r in ranges.sorted(by: { ($0.first, $0.last) < ($1.first, $1.last) }) {
      if var prev = out.last, r.first <= prev.last + 1, r.tier == prev.tier || r.first <= prev.last {
        prev.last = max(prev.last, r.last)
        prev.tier = min(prev.tier, r.tier)
        out[out.count - 1] = prev
      } else {
        out.append(r)
      }
    }
    return out
  }
}

/// What an excerpt run produced.
public struct ExcerptResult: Sendable, Hashable, Codable {
  public var totalLines: Int
  public var keptLines: Int
  public var byteCount: Int
  /// True when the cap cut the excerpt (tier-2 ranges dropped or output stopped early).
  public var isCapped: Bool
  public var redactions: [RedactionCount]
}

/// Streams the chosen lines of a log through a `Redactor`, with `[... N lines omitted ...]`
/// markers between ranges, stopping at `maxBytes`.
public enum ExcerptWriter {
  public static func write(
    open: () throws -> LogSource, plan: [LineRange], maxBytes: Int, redactor: Redactor,
    header: String, emit: ([UInt8]) -> Void
  ) throws -> ExcerptResult {
    // Pass 1: sizes of the planned ranges, to decide whether tier 2 fits.
    var sizes = [Int](repeating: 0, count: plan.count)
    var total = 0
    var idx = 0
    try open().forEachLine { line in
      total = line.number
      while idx < plan.count && plan[idx].last < line.number { idx += 1 }
      if idx < plan.count && plan[idx].first <= line.number { sizes[idx] += line.bytes.count + 1 }
    }
    var chosen = plan
    var capped = false
    // Drop the least important tier until the planned lines fit (reports always stay).
    var budgetTier = 2
    func plannedBytes(_ maxTier: Int) -> Int {
      zip(plan, sizes).reduce(0) { $0 + ($1.0.tier <= maxTier ? $1.1 : 0) }
    }
    while budgetTier > 0 && plannedBytes(budgetTier) + header.utf8.count > maxBytes { budgetTier -= 1 }
    if budgetTier < 2 {
      chosen = plan.filter { $0.tier <= budgetTier }
      capped = chosen.count != plan.count
    }
    // Pass 2: write.
    var written = 0
    var kept = 0
    var nextLine = 1
    var stopped = false
    func put(_ bytes: [UInt8]) {
      emit(bytes)
      written += bytes.count
    }
    func omitted(_ n: Int, _ why: String = "") {
      guard n > 0 else { return }
      put(Array("[... \(n) line\(n == 1 ? "" : "s") omitted\(why) ...]\n".utf8))
    }
    put(Array(header.utf8))
    idx = 0
    let reserve = 96  // room for the final omission marker
    try open().forEachLine { line in
      if stopped { return }
      while idx < chosen.count && chosen[idx].last < line.number { idx += 1 }
      guard idx < chosen.count, chosen[idx].first <= line.number else { return }
      var bytes = redactor.redact(line: line.bytes)
      bytes.append(0x0A)
      if written + bytes.count + reserve > maxBytes {
        stopped = true
        capped = true
        return
      }
      omitted(line.number - nextLine)
      put(bytes)
      kept += 1
      nextLine = line.number + 1
    }
    omitted(total - nextLine + 1, stopped ? " (excerpt capped at \(maxBytes) bytes)" : "")
    return ExcerptResult(
      totalLines: total, keptLines: kept, byteCount: written, isCapped: capped,
      redactions: redactor.summary)
  }
}
