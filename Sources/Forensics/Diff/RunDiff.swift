import Ingest

/// One line of a unified stack diff: `" "` both, `"-"` only A, `"+"` only B.
public struct StackDiffLine: Sendable, Hashable, Codable {
  public var op: String
  public var frame: String
}

/// A report present in both runs.
public struct MatchedReport: Sendable, Hashable, Codable {
  public var title: String
  public var aLine: Int
  public var bLine: Int
  public var isStackIdentical: Bool
  /// Unified diff of the normalised stacks (empty when identical).
  public var stackDiff: [StackDiffLine]
}

public struct ReportSide: Sendable, Hashable, Codable {
  public var title: String
  public var line: Int
  public var headline: String
}

/// A wait-for edge with run-specific parts (pids, numbers in comms, addresses) removed.
public struct LockEdge: Sendable, Hashable, Codable, Comparable {
  public var waiter: String
  public var lock: String
  public var holder: String?
  public static func < (a: LockEdge, b: LockEdge) -> Bool {
    (a.waiter, a.lock, a.holder ?? "") < (b.waiter, b.lock, b.holder ?? "")
  }
  public var description: String { "\(waiter) -[\(lock)]-> \(holder ?? "?")" }
}

public struct TracepointCount: Sendable, Hashable, Codable {
  public var name: String
  public var a: Int
  public var b: Int
  public var delta: Int { b - a }
  private enum CodingKeys: String, CodingKey { case name, a, b, delta }
  public init(name: String, a: Int, b: Int) {
    self.name = name
    self.a = a
    self.b = b
  }
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    name = try c.decode(String.self, forKey: .name)
    a = try c.decode(Int.self, forKey: .a)
    b = try c.decode(Int.self, forKey: .b)
  }
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(name, forKey: .name)
    try c.encode(a, forKey: .a)
    try c.encode(b, forKey: .b)
    try c.encode(delta, forKey: .delta)
  }
}

/// Result of comparing two runs.
public struct RunDiff: Sendable, Hashable, Codable {
  public var onlyA: [ReportSide]
  public var onlyB: [ReportSide]
  public var matched: [MatchedReport]
  public var locksOnlyA: [LockEdge]
  public var locksOnlyB: [LockEdge]
  public var locksBoth: [LockEdge]
  public var cyclesA: Int
  public var cyclesB: Int
  /// Tracepoints whose counts differ (all of them with `includeEqual`).
  public var tracepoints: [TracepointCount]

  public var isIdentical: Bool {
    onlyA.isEmpty && onlyB.isEmpty && matched.allSatisfy(\.isStackIdentical) && locksOnlyA.isEmpty
      && locksOnlyB.isEmpty && cyclesA == cyclesB && tracepoints.allSatisfy { $0.delta == 0 }
  }
}

/// Compares two runs' events: reports matched by title, stacks on normalised frames, wait-for
/// edges and tracepoint counts. Pure.
public struct RunComparer: Sendable {
  public let lockRules: LockRules
  /// Title of a report; defaults to `RunComparer.fallbackTitle` (syzbot-style for hung tasks,
  /// normalised headline otherwise) until the title engine is wired in.
  public var title: @Sendable (CrashReport) -> String

  public init(lockRules: LockRules, title: (@Sendable (CrashReport) -> String)? = nil) {
    self.lockRules = lockRules
    let rules = lockRules
    self.title = title ?? { RunComparer.fallbackTitle($0, rules: rules) }
  }

  public func compare(_ a: [Event], _ b: [Event]) -> RunDiff {
    let ra = reports(a)
    let rb = reports(b)
    // Match by title, in order: the n-th report with a title in A pairs with the n-th in B.
    var pool: [String: [CrashReport]] = [:]
    for r in rb { pool[title(r), default: []].append(r) }
    var matched: [MatchedReport] = []
    var onlyA: [ReportSide] = []
    for r in ra {
      let t = title(r)
      if var list = pool[t], !list.isEmpty {
        let other = list.removeFirst()
        pool[t] = list
        let sa = Self.normalizedStack(r)
        let sb = Self.normalizedStack(other)
        let d = sa == sb ? [] : Self.unifiedDiff(sa, sb)
        matched.append(
          MatchedReport(
            title: t, aLine: r.position.line, bLine: other.position.line, isStackIdentical: sa == sb,
            stackDiff: d))
      } else {
        onlyA.append(ReportSide(title: t, line: r.position.line, headline: r.headline))
      }
    }
    let onlyB = rb.filter { r in pool[title(r)]?.contains(r) ?? false }.map {
      ReportSide(title: title($0), line: $0.position.line, headline: $0.headline)
    }
    let correlator = LockCorrelator(rules: lockRules)
    let la = correlator.analyze(a)
    let lb = correlator.analyze(b)
    let ea = Set(Self.edges(la))
    let eb = Set(Self.edges(lb))
    let ta = Self.tracepoints(a)
    let tb = Self.tracepoints(b)
    let names = Set(ta.keys).union(tb.keys).sorted()
    return RunDiff(
      onlyA: onlyA, onlyB: onlyB, matched: matched, locksOnlyA: ea.subtracting(eb).sorted(),
      locksOnlyB: eb.subtracting(ea).sorted(), locksBoth: ea.intersection(eb).sorted(),
      cyclesA: la.cycles.count, cyclesB: lb.cycles.count,
      tracepoints: names.map { TracepointCount(name: $0, a: ta[$0] ?? 0, b: tb[$0] ?? 0) })
  }

  func reports(_ events: [Event]) -> [CrashReport] {
    events.compactMap { if case .report(let r) = $0 { r } else { nil } }
  }

  /// Reliable frames as `function [module]`, offsets and addresses dropped, inline frames kept
  /// (marked), compiler suffixes (`.constprop.0`, `.isra.0`) removed.
  public static func normalizedStack(_ r: CrashReport) -> [String] {
    r.frames.filter { $0.isReliable && $0.function != nil }.map { f in
      var s = baseSymbol(f.function!)
      if let m = f.module { s += " [\(m)]" }
      if f.isInline { s += " [inline]" }
      return s
    }
  }

  /// Unified diff by longest common subsequence (stacks are short).
  public static func unifiedDiff(_ a: [String], _ b: [String]) -> [StackDiffLine] {
    let n = a.count
    let m = b.count
    var lcs = [[Int]](repeating: [Int](repeating: 0, count: m + 1), count: n + 1)
    for i in stride(from: n - 1, through: 0, by: -1) {
      for j in stride(from: m - 1, through: 0, by: -1) {
        lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
      }
    }
    var out: [StackDiffLine] = []
    var i = 0
    var j = 0
    while i < n || j < m {
      if i < n && j < m && a[i] == b[j] {
        out.append(StackDiffLine(op: " ", frame: a[i]))
        i += 1
        j += 1
      } else if j < m && (i == n || lcs[i][j + 1] > lcs[i + 1][j]) {
        out.append(StackDiffLine(op: "+", frame: b[j]))
        j += 1
      } else {
        out.append(StackDiffLine(op: "-", frame: a[i]))
        i += 1
      }
    }
    return out
  }

  /// Digits in comms vary between runs (`vhost-1234`, `syz.5.259`, `kworker/0:1`): mask them.
  static func maskDigits(_ s: String) -> String {
    var out = ""
    var inDigits = false
    for c in s {
      if c.isNumber {
        if !inDigits { out.append("N") }
        inDigits = true
      } else {
        out.append(c)
        inDigits = false
      }
    }
    return out
  }

  static func edges(_ a: LockAnalysis) -> [LockEdge] {
    a.blocked.compactMap { b in
      guard let lock = b.lock else { return nil }
      let name = lock.name ?? lock.lockdepClass.map(lockExpression) ?? "a \(lock.primitive ?? "lock")"
      return LockEdge(
        waiter: maskDigits(b.comm), lock: name, holder: b.holder.map { maskDigits($0.comm) })
    }
  }

  /// Trace events by name; `vhost_lock:` lines by operation and lock (`vhost_lock acquire dev->mutex`).
  static func tracepoints(_ events: [Event]) -> [String: Int] {
    var counts: [String: Int] = [:]
    for case .ftrace(let f) in events {
      if let op = f.vhostLock ?? VhostLockText.parse(f.message) {
        counts["vhost_lock \(op.operation)" + (op.lock.map { " \($0)" } ?? ""), default: 0] += 1
      } else {
        counts[f.event, default: 0] += 1
      }
    }
    return counts
  }

  /// The syzbot title of `r` from the title engine's reports of the same log, matched by the
  /// header line; nil when the engine did not title that report (e.g. the panic that follows
  /// hung-task reports, which syzbot folds into them).
  public static func title(of r: CrashReport, in titled: [TitledReport]) -> String? {
    titled.first(where: { $0.startLine == r.position.line })?.title
  }

  /// syzbot-style `INFO: task hung in <frame>` for hung tasks (first frame outside the scheduler
  /// and lock primitives); other reports: the headline with numbers, addresses and offsets masked.
  public static func fallbackTitle(_ r: CrashReport, rules: LockRules) -> String {
    if r.kind == .hungTask {
      let f = r.frames.first { f in
        guard f.isReliable, let fn = f.function.map(baseSymbol) else { return false }
        return !rules.isScheduler(fn) && rules.primitive(for: fn) == nil
      }
      if let fn = f?.function { return "INFO: task hung in " + baseSymbol(fn) }
    }
    var s = ""
    var word = ""
    func flush() {
      if word.hasPrefix("0x") || (word.count >= 8 && word.allSatisfy(\.isHexDigit)) {
        s += "ADDR"
      } else if let plus = word.firstIndex(of: "+"), word[plus...].contains("/") {
        s += String(word[..<plus])
      } else {
        s += maskDigits(word)
      }
      word = ""
    }
    for c in r.headline {
      if c == " " || c == "," || c == "(" || c == ")" {
        flush()
        s.append(c)
      } else {
        word.append(c)
      }
    }
    flush()
    return s
  }
}
