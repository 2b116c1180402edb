import Foundation
import Ingest

/// Builds the wait-for graph (blocked task → lock → holder) from a log's events.
///
/// Pure: events in, `LockAnalysis` out. Sources, strongest first: hung-task blocker lines
/// (`blocked on a mutex likely owned by`, ≈ v6.15+), `vhost_lock:` trace lines (acquire without
/// release), lockdep held-lock lists read together with each task's stack, sysrq-t/w dumps, and
/// lockdep circular-dependency splats. Facts that shape the rules (docs/locks.md):
/// - lockdep records a mutex as held *before* the task sleeps on it, so a task blocked in
///   `__mutex_lock` lists the lock it waits for; it is the entry whose `at:` site is the caller
///   of the lock primitive in its stack. Holders are the other listers not waiting for it.
/// - lockdep prints `&lock->dep_map`, trace lines print `&lock`: the two differ by a small
///   build-dependent offset that is learnt from locks whose names agree.
/// - a waiter's trace line may show a stale `owner=0`: zero means "unknown", not "free".
public struct LockCorrelator: Sendable {
  public let rules: LockRules

  public init(rules: LockRules) { self.rules = rules }

  public func analyze(_ events: [Event]) -> LockAnalysis {
    var acc = LockEvidenceAccumulator(rules: rules)
    for e in events { acc.add(e) }
    return acc.finish()
  }
}

/// Streaming form of `LockCorrelator.analyze`: feed events as the parser emits them, so a
/// command never holds the whole event list (trace lines are kept as small operations).
public struct LockEvidenceAccumulator {
  var state: CorrelationState

  public init(rules: LockRules) { state = CorrelationState(rules: rules) }

  public mutating func add(_ event: Event) { state.add(event) }

  public func finish() -> LockAnalysis {
    var s = state
    s.attachSplats()
    s.buildLocks()
    return s.conclude()
  }
}

// MARK: - Internal state

/// What the stack says a task is doing.
struct StackReading {
  var primitive: LockRules.Primitive?
  /// The first frame outside the scheduler and the primitive (the lock's caller, or what the
  /// task sleeps in when there is no primitive).
  var caller: Frame?
  var top: [String]
}

struct TaskRecord {
  var pid: Int
  var comm: String
  var commRank = 0  // how trustworthy `comm` is: 3 hung header/trace field, 1 task: line
  var tgid: Int?
  var state: String?
  var stateLine: Evidence?
  var frames: [Frame] = []
  var stackEvidence: Evidence?
  var hungSeconds: Int?
  var hungEvidence: Evidence?
  var heldList: HeldLockList?
  /// The lockdep splat that printed `heldList`, when it did (its `acquiring` lock is the wait).
  var heldListSplat: LockdepDetails?
  var blocker: BlockerNote?
  var reading: StackReading?

  init(pid: Int, comm: String) {
    self.pid = pid
    self.comm = comm
  }
}

struct TraceOp {
  enum Kind { case wait, acquire, release }
  var kind: Kind
  var pid: Int
  var comm: String?
  var owner: Int?
  var timestamp: Double
  var evidence: Evidence
}

struct LockNode {
  var name: String?
  var lockdepClass: String?
  var address: UInt64?
  var lockdepAddress: UInt64?
  var ops: [TraceOp] = []
  var listings: [Evidence] = []
  // Trace replay results.
  var traceHolder: TraceOp?
  var pendingWaits: [Int: TraceOp] = [:]
  var releaseByOther: [Evidence] = []

  func identity(primitive: String?) -> LockIdentity {
    LockIdentity(
      name: name ?? lockdepClass.map(lockExpression), lockdepClass: lockdepClass,
      address: address.map(hex), lockdepAddress: lockdepAddress.map(hex), primitive: primitive)
  }
}

func hex(_ v: UInt64) -> String { String(v, radix: 16) }

struct CorrelationState {
  let rules: LockRules
  var tasks: [Int: TaskRecord] = [:]
  var locks: [LockNode] = []
  var byTraceAddress: [UInt64: Int] = [:]
  var byLockdepAddress: [UInt64: Int] = [:]
  var splats: [(report: CrashReport, details: LockdepDetails)] = []
  var notes: [String] = []
  var sources: Set<String> = []
  var lockdepOff: Evidence?
  var pendingTraceOps: [(addr: UInt64, name: String?, op: TraceOp)] = []
  var heldLists: [HeldLockList] = []
  var lastTraceTimestamp: Double?

  init(rules: LockRules) { self.rules = rules }

  // MARK: collect

  mutating func task(_ pid: Int, comm: String, rank: Int) -> TaskRecord {
    var t = tasks[pid] ?? TaskRecord(pid: pid, comm: comm)
    if rank > t.commRank || (rank == t.commRank && comm.count > t.comm.count) {
      t.comm = comm
      t.commRank = rank
    }
    return t
  }

  /// Held lists printed inside a lockdep splat (the parser emits them before the splat ends).
  mutating func attachSplats() {
    for (pid, t) in tasks {
      guard let l = t.heldList else { continue }
      tasks[pid]!.heldListSplat = splats.first { s in
        s.report.position.file == l.position.file && s.report.position.line <= l.position.line
          && l.position.line <= s.report.endLine
          && (s.details.task?.pid ?? s.report.task?.pid) == l.task.pid
      }?.details
    }
  }

  mutating func add(_ e: Event) {
    switch e {
    case .report(let r):
      if r.kind == .lockdep, let d = r.lockdep { splats.append((r, d)) }
      collectReport(r)
    case .taskDump(let d):
      sources.insert("sysrq")
      guard let pid = d.info.pid else { return }
      var t = task(pid, comm: d.info.comm, rank: 1)
      t.tgid = d.info.tgid ?? t.tgid
      if let s = d.info.state { t.state = s }
      let ev = Evidence(
        file: d.position.file, line: d.position.line,
        fact: "task dump: \(d.info.comm) state:\(d.info.state ?? "?")")
      t.stateLine = ev
      if !d.frames.isEmpty {
        t.frames = d.frames
        t.stackEvidence = ev
      }
      tasks[pid] = t
    case .heldLocks(let l):
      sources.insert("lockdep")
      heldLists.append(l)
      var t = task(l.task.pid, comm: l.task.comm, rank: 2)
      t.heldList = l
      tasks[l.task.pid] = t
    case .blocker(let b):
      sources.insert("blocker")
      var t = task(b.waiter.pid, comm: b.waiter.comm, rank: 3)
      t.blocker = b
      tasks[b.waiter.pid] = t
      if let o = b.owner { tasks[o.pid] = task(o.pid, comm: o.comm, rank: 3) }
    case .ftrace(let f):
      collectTrace(f)
    case .marker(let m):
      if m.kind == .lockdepOff, lockdepOff == nil {
        lockdepOff = Evidence(file: m.position.file, line: m.position.line, fact: m.text)
      }
    }
  }

  mutating func collectReport(_ r: CrashReport) {
    guard r.kind == .hungTask, let h = r.hungTask else { return }
    sources.insert("hung_task")
    var t = task(h.task.pid, comm: h.task.comm, rank: 3)
    t.hungSeconds = max(t.hungSeconds ?? 0, h.seconds)
    let ev = Evidence(
      file: r.position.file, line: r.position.line,
      fact: "hung task: \(h.task.comm):\(h.task.pid) blocked for more than \(h.seconds) s")
    t.hungEvidence = ev
    if let info = h.info {
      t.state = info.state ?? t.state
      t.tgid = info.tgid ?? t.tgid
    }
    let frames = r.frames.filter { $0.context == .task }
    if !frames.isEmpty {
      t.frames = frames
      t.stackEvidence = ev
    }
    tasks[h.task.pid] = t
  }

  mutating func collectTrace(_ f: FtraceRecord) {
    lastTraceTimestamp = max(lastTraceTimestamp ?? f.timestamp, f.timestamp)
    guard let op = f.vhostLock ?? VhostLockText.parse(f.message) else { return }
    sources.insert("trace")
    let kind: TraceOp.Kind
    if rules.waitOps.contains(op.operation) {
      kind = .wait
    } else if rules.acquireOps.contains(op.operation) {
      kind = .acquire
    } else if rules.releaseOps.contains(op.operation) {
      kind = .release
    } else {
      return
    }
    guard let addrText = op.field("lock"), let addr = UInt64(addrText, radix: 16) else { return }
    // `pid=` names the waiter, `owner=` the acquirer; fall back to the traced task.
    let fieldPid = op.field("pid").flatMap { Int($0) }
    let owner = op.field("owner").flatMap { Int($0) }
    let pid: Int
    switch kind {
    case .wait: pid = fieldPid ?? f.pid
    case .acquire, .release: pid = owner ?? f.pid
    }
    let comm = op.field("comm") ?? (f.comm == "<...>" ? nil : f.comm)
    let verb: String
    switch kind {
    case .wait: verb = "wait"
    case .acquire: verb = "acquire"
    case .release: verb = "release"
    }
    let ev = Evidence(
      file: f.position.file, line: f.position.line,
      fact: "trace: \(comm ?? String(pid)) \(verb) \(op.lock ?? "lock") \(addrText)")
    let traceOp = TraceOp(
      kind: kind, pid: pid, comm: comm, owner: kind == .wait ? owner : nil,
      timestamp: f.timestamp, evidence: ev)
    pendingTraceOps.append((addr, op.lock, traceOp))
    if let comm { tasks[pid] = task(pid, comm: comm, rank: 3) }
  }

  // MARK: locks

  mutating func node(trace addr: UInt64, name: String?) -> Int {
    if let i = byTraceAddress[addr] { return i }
    locks.append(LockNode(name: name, address: addr))
    byTraceAddress[addr] = locks.count - 1
    return locks.count - 1
  }

  mutating func buildLocks() {
    for (addr, name, op) in pendingTraceOps {
      let i = node(trace: addr, name: name)
      locks[i].ops.append(op)
    }
    // Every lockdep instance (address → class), from held lists and splats.
    var classes: [(addr: UInt64, name: String, evidence: Evidence)] = []
    for l in heldLists {
      for e in l.locks {
        guard let a = e.address else { continue }
        classes.append((a, e.name, Evidence(file: l.position.file, line: e.line, fact: "")))
      }
    }
    for s in splats {
      for e in [s.details.acquiring].compactMap({ $0 }) + s.details.holding {
        guard let a = e.address else { continue }
        classes.append((a, e.name, Evidence(file: s.report.position.file, line: e.line, fact: "")))
      }
    }
    // Learn the dep_map offset from instances whose lockdep class and trace name agree.
    var deltaVotes: [UInt64: Int] = [:]
    for c in classes {
      let expr = lockExpression(c.name)
      for (taddr, i) in byTraceAddress where locks[i].name == expr && c.addr >= taddr {
        let d = c.addr - taddr
        if d <= rules.maxDepMapOffset { deltaVotes[d, default: 0] += 1 }
      }
    }
    let delta = deltaVotes.max { a, b in (a.value, b.key) < (b.value, a.key) }?.key
    if let delta, delta > 0 {
      notes.append(
        "lockdep prints &lock->dep_map: its addresses are the trace's lock addresses + 0x\(hex(delta)) in this log"
      )
    }
    for c in classes {
      if byLockdepAddress[c.addr] != nil { continue }
      var target: Int?
      if let delta, c.addr >= delta, let i = byTraceAddress[c.addr - delta] {
        target = i
      } else {
        let expr = lockExpression(c.name)
        let near = byTraceAddress.filter { (taddr, i) in
          locks[i].name == expr && c.addr >= taddr && c.addr - taddr <= rules.maxDepMapOffset
        }
        if near.count == 1 { target = near.first!.value }
      }
      if let i = target {
        locks[i].lockdepAddress = c.addr
        locks[i].lockdepClass = c.name
        if let n = locks[i].name, n != lockExpression(c.name) {
          notes.append(
            "the trace calls \(hex(locks[i].address ?? 0)) '\(n)', lockdep calls the same lock '\(c.name)' (matched by address)"
          )
        }
        byLockdepAddress[c.addr] = i
      } else {
        locks.append(LockNode(lockdepClass: c.name, lockdepAddress: c.addr))
        byLockdepAddress[c.addr] = locks.count - 1
      }
    }
    for i in locks.indices { replay(i) }
    for t in tasks.keys { tasks[t]!.reading = read(tasks[t]!.frames) }
  }

  /// Replays a lock's trace operations in order: the last acquire without a release is the
  /// holder; waits not followed by the same task's acquire are pending.
  mutating func replay(_ i: Int) {
    var holder: TraceOp?
    var waits: [Int: TraceOp] = [:]
    var odd: [Evidence] = []
    for op in locks[i].ops {
      switch op.kind {
      case .wait:
        waits[op.pid] = op
      case .acquire:
        waits[op.pid] = nil
        holder = op
      case .release:
        if let h = holder, h.pid != op.pid { odd.append(op.evidence) }
        holder = nil
      }
    }
    locks[i].traceHolder = holder
    locks[i].pendingWaits = waits
    locks[i].releaseByOther = odd
  }

  // MARK: stacks

  func read(_ frames: [Frame]) -> StackReading? {
    let usable = frames.filter { $0.isReliable && $0.function != nil }
    guard !usable.isEmpty else { return nil }
    // Symbolized logs print inlined callees before the function they were inlined into
    // (`__schedule_loop [inline]` before `schedule+0x..`): an inline frame is classified by
    // that containing frame, and only real frames can be call sites (lockdep's `at:` is one).
    var container = [String](repeating: "", count: usable.count)
    var next = ""
    for i in usable.indices.reversed() {
      if !usable[i].isInline { next = baseSymbol(usable[i].function!) }
      container[i] = next
    }
    var primitive: LockRules.Primitive?
    var caller: Frame?
    var top: [String] = []
    for (i, f) in usable.enumerated() {
      let name = container[i]
      if rules.isScheduler(name) { continue }
      if let p = rules.primitive(for: name) {
        if caller == nil { primitive = p }
        continue
      }
      if top.count < 6 { top.append(f.isInline ? f.function! + " [inline]" : f.kernelText) }
      if caller == nil && !f.isInline { caller = f }
    }
    return StackReading(primitive: primitive, caller: caller, top: top)
  }

  /// True when lockdep's `at:` site is the same call site as the frame.
  static func sameSite(_ caller: Frame, _ site: Frame) -> (matches: Bool, exact: Bool) {
    guard let a = caller.function, let b = site.function, baseSymbol(a) == baseSymbol(b) else {
      return (false, false)
    }
    if let x = caller.offset, let y = site.offset { return (x == y, x == y) }
    return (true, false)
  }

  /// The lock node a task waits for, from lockdep and from the trace, with evidence.
  func waitedLock(_ t: TaskRecord) -> (node: Int?, evidence: [Evidence], notes: [String]) {
    var evidence: [Evidence] = []
    var notes: [String] = []
    var fromLockdep: Int?
    if let r = t.reading, let p = r.primitive, p.isLockdepTracked, let caller = r.caller,
      let list = t.heldList
    {
      if let splat = t.heldListSplat, let acq = splat.acquiring, let a = acq.address,
        let site = acq.site, Self.sameSite(caller, site).matches
      {
        // The list was printed by a splat while the task was acquiring `acq`: every listed lock
        // is held, and the one being acquired is the wait.
        fromLockdep = byLockdepAddress[a]
        evidence.append(
          Evidence(
            file: list.position.file, line: acq.line,
            fact: "lockdep splat: \(t.comm) is trying to acquire \(acq.name) at \(site.kernelText)"))
      } else if t.heldListSplat != nil {
        // Printed by a splat during an acquire that is not in the list yet: every entry is held.
        notes.append(
          "\(t.comm)'s lockdep list was printed by a lockdep report while it was acquiring another lock; its entries are held, not waited for")
      } else {
        var seen = Set<Int>()
        let entries = list.locks.filter { seen.insert($0.index).inserted }
        let matches = entries.filter { e in e.site.map { Self.sameSite(caller, $0).matches } ?? false }
        let exact = matches.filter { e in Self.sameSite(caller, e.site!).exact }
        if let e = (exact.last ?? matches.last), let a = e.address {
          fromLockdep = byLockdepAddress[a]
          evidence.append(
            Evidence(
              file: list.position.file, line: e.line,
              fact:
                "lockdep lists #\(e.index) \(e.name) at \(e.site!.kernelText), the caller of \(p.kind) lock in its stack: the lock it waits for (recorded before sleeping)"
            ))
        } else if !entries.isEmpty {
          notes.append(
            "\(t.comm)'s lockdep list has no entry at its \(p.kind) call site \(caller.kernelText)")
        }
      }
    }
    // The latest pending wait (a task sleeps on one lock at a time; older ones lost lines).
    var fromTrace: Int?
    var latest: TraceOp?
    for (i, n) in locks.enumerated() {
      if let w = n.pendingWaits[t.pid], latest.map({ w.evidence.line > $0.evidence.line }) ?? true {
        fromTrace = i
        latest = w
      }
    }
    if let i = fromTrace, let w = latest {
      evidence.append(
        Evidence(
          file: w.evidence.file, line: w.evidence.line,
          fact: "trace: \(t.comm) waits for \(locks[i].name ?? "the lock") and never acquires it"))
    }
    if let a = fromLockdep, let b = fromTrace, a != b {
      // The trace records the wait itself; a lockdep list may predate the current wait.
      notes.append(
        "lockdep and the trace disagree on the lock \(t.comm) waits for: \(locks[a].identity(primitive: nil).display) (lockdep) vs \(locks[b].identity(primitive: nil).display) (trace); using the trace's"
      )
      return (b, evidence, notes)
    }
    return (fromTrace ?? fromLockdep, evidence, notes)
  }

  // MARK: conclude

  func summary(_ t: TaskRecord) -> TaskSummary {
    var s = TaskSummary(pid: t.pid, comm: t.comm)
    s.state = t.state
    s.blockedSeconds = t.hungSeconds
    s.stack = t.reading?.top ?? []
    if let r = t.reading {
      s.sleepsIn =
        r.primitive != nil
        ? "\(r.primitive!.kind) wait in \(r.caller?.kernelText ?? "?")" : r.caller?.kernelText
    }
    return s
  }

  /// Hung, named by a blocker line, in D state inside a lock primitive, or — from the trace
  /// alone — still waiting at least `traceOnlyWaitSeconds` before the trace's last event (a
  /// shorter pending wait is normal lock traffic caught by the dump).
  func isBlocked(_ t: TaskRecord, waited: Int?) -> Bool {
    if t.hungSeconds != nil || t.blocker != nil { return true }
    if t.state == "D", t.reading?.primitive != nil { return true }
    if let w = waited, let op = locks[w].pendingWaits[t.pid], let end = lastTraceTimestamp,
      end - op.timestamp >= Self.traceOnlyWaitSeconds
    {
      return true
    }
    return false
  }

  static let traceOnlyWaitSeconds = 1.0

  func conclude() -> LockAnalysis {
    // Pass 1: what each task waits for.
    var waits: [Int: (node: Int?, evidence: [Evidence], notes: [String])] = [:]
    for (pid, t) in tasks { waits[pid] = waitedLock(t) }
    let blockedPids = tasks.values.filter { isBlocked($0, waited: waits[$0.pid]?.node) }
      .map(\.pid).sorted()

    // Pass 2: holders.
    var results: [Int: BlockedTask] = [:]
    for pid in blockedPids {
      results[pid] = resolve(tasks[pid]!, waits: waits)
    }
    // Pass 3: chains and cycles over proven holder edges.
    var cycles: [LockCycle] = []
    var cycleKeys = Set<[Int]>()
    for pid in blockedPids {
      var chain: [ChainLink] = []
      var seen: [Int: Int] = [:]
      var cur: Int? = pid
      var cycleStart: Int?
      while let c = cur {
        if let at = seen[c] {
          cycleStart = at
          break
        }
        seen[c] = chain.count
        let r = results[c]
        let comm = tasks[c]?.comm ?? r?.comm ?? "?"
        chain.append(
          ChainLink(pid: c, comm: comm, waitsOn: r?.lock?.display, heldBy: r?.holder?.pid))
        cur = r?.holder?.pid
      }
      results[pid]!.chain = chain
      if let start = cycleStart {
        let ring = Array(chain[start...])
        if ring.contains(where: { $0.pid == pid }) { results[pid]!.isInCycle = true }
        let key = ring.map(\.pid).sorted()
        if cycleKeys.insert(key).inserted {
          let ev = ring.flatMap { results[$0.pid]?.evidenceDetail ?? [] }
          let names = ring.map { $0.waitsOn ?? "?" }
          let text =
            ring.map { "\($0.comm) (pid \($0.pid)) waits for \($0.waitsOn ?? "?")" }.joined(
              separator: ", held by ") + ", held by \(ring[0].comm) (pid \(ring[0].pid))"
          cycles.append(
            LockCycle(
              kind: "wait_for", tasks: ring, locks: names, isDeadlock: true,
              evidence: Array(Set(ev.map(\.line))).sorted(), evidenceDetail: ev.sorted(),
              description: "deadlock: " + text))
        }
      }
    }
    // Possible deadlocks through an unproven edge: t waits for something whose candidate
    // holder (e.g. the vhost worker that must run a flush) is itself waiting, through proven
    // edges, for t. The syzbot vhost_worker_killed hang has this shape (docs/locks.md).
    for pid in blockedPids {
      guard let r = results[pid], r.holder == nil else { continue }
      for c in r.holderCandidates {
        var path: [Int] = [c.pid]
        var cur = results[c.pid]?.holder?.pid
        while let x = cur, x != pid, path.count < 16, !path.contains(x) {
          path.append(x)
          cur = results[x]?.holder?.pid
        }
        guard cur == pid else { continue }
        let ring = [pid] + path
        let key = ring.sorted()
        guard cycleKeys.insert(key).inserted else { continue }
        let links = ring.enumerated().map { i, p in
          ChainLink(
            pid: p, comm: tasks[p]?.comm ?? "?", waitsOn: results[p]?.lock?.display,
            heldBy: ring[(i + 1) % ring.count])
        }
        let ev = ring.flatMap { results[$0]?.evidenceDetail ?? [] } + c.evidence
        var parts = [
          "\(links[0].comm) (pid \(pid)) waits for \(links[0].waitsOn ?? "?") that \(c.comm) (pid \(c.pid)) must act on (not proven)"
        ]
        for (i, l) in links.enumerated().dropFirst() {
          let next = links[(i + 1) % links.count]
          parts.append("\(l.comm) (pid \(l.pid)) waits for \(l.waitsOn ?? "?"), held by \(next.comm) (pid \(next.pid))")
        }
        let text = parts.joined(separator: "; ")
        cycles.append(
          LockCycle(
            kind: "possible", tasks: links, locks: links.map { $0.waitsOn ?? "?" }, isDeadlock: false,
            evidence: Array(Set(ev.map(\.line))).sorted(), evidenceDetail: Array(Set(ev)).sorted(),
            description:
              "possible deadlock: \(text). Candidate edge because: \(c.why)"
          ))
      }
    }
    for s in splats where !s.details.chain.isEmpty {
      let ordered = s.details.chain.sorted { $0.index < $1.index }
      var names: [String] = []
      for l in ordered where !names.contains(l.name) { names.append(l.name) }
      let ev =
        [Evidence(file: s.report.position.file, line: s.report.position.line, fact: s.report.headline)]
        + ordered.map {
          Evidence(file: s.report.position.file, line: $0.line, fact: "lockdep chain -> #\($0.index) \($0.name)")
        }
      let confirmed = cycles.contains { c in
        c.kind == "wait_for"
          && Set(c.locks.map { lockExpression(stripAddress($0)) }).isSubset(
            of: Set(names.map(lockExpression)).union(
              Set(c.tasks.compactMap { $0.waitsOn }.map { lockExpression(stripAddress($0)) })))
          && !Set(names.map(lockExpression)).isDisjoint(
            with: Set(c.locks.map { lockExpression(stripAddress($0)) }))
      }
      let who = s.details.task.map { " (seen by \($0.comm)/\($0.pid))" } ?? ""
      cycles.append(
        LockCycle(
          kind: "lockdep", tasks: [], locks: names, isDeadlock: confirmed,
          evidence: ev.map(\.line).sorted(), evidenceDetail: ev,
          description:
            "lockdep: possible circular locking dependency \((names + [names.first ?? ""]).joined(separator: " -> "))\(who)"
            + (confirmed ? "; the hung tasks confirm the deadlock" : "; lock order only, not proof of a hang")))
    }

    // Holdings summary.
    var holdings: [Int: LockHolding] = [:]
    for pid in blockedPids {
      guard let r = results[pid], let h = r.holder, let node = waits[pid]?.node else { continue }
      if var existing = holdings[node] {
        existing.waiters.append(pid)
        existing.confidence = min(existing.confidence, r.confidence)
        holdings[node] = existing
      } else {
        let since = locks[node].traceHolder.flatMap { $0.pid == h.pid ? $0.timestamp : nil }
        holdings[node] = LockHolding(
          lock: r.lock ?? locks[node].identity(primitive: nil), holder: h, since: since,
          waiters: [pid], confidence: r.confidence,
          evidence: r.holderEvidence)
      }
    }
    var allNotes = notes
    if let off = lockdepOff {
      allNotes.append(
        "lockdep turned itself off at \(off.file):\(off.line): later reports have no held-lock lists")
    }
    if !sources.contains("lockdep") && !sources.contains("trace") && !blockedPids.isEmpty {
      allNotes.append(
        "no lockdep lists and no vhost_lock trace lines: holders can only be inferred from stacks (boot with lockdep or the trace_printk instrumentation)"
      )
    }
    return LockAnalysis(
      blocked: blockedPids.compactMap { results[$0] },
      holders: holdings.values.sorted { ($0.holder.pid, $0.lock.display) < ($1.holder.pid, $1.lock.display) },
      cycles: cycles, notes: allNotes, sources: sources.sorted())
  }

  /// Finds the holder of what `t` waits for, scoring each source (see docs/locks.md).
  func resolve(
    _ t: TaskRecord, waits: [Int: (node: Int?, evidence: [Evidence], notes: [String])]
  ) -> BlockedTask {
    let w = waits[t.pid]!
    var evidence = w.evidence
    var notes = w.notes
    for e in [t.hungEvidence, t.stackEvidence != t.hungEvidence ? t.stackEvidence : nil] {
      if let e { evidence.append(e) }
    }
    if t.reading == nil && t.blocker == nil {
      notes.append(
        w.node == nil
          ? "no call trace for it in the log (or one in a format not parsed): what it waits for is unknown"
          : "no call trace for it in the log: the wait is known from the trace only")
    }
    if t.hungSeconds == nil, let i = w.node, let op = locks[i].pendingWaits[t.pid],
      let end = lastTraceTimestamp
    {
      let waited = Int(end - op.timestamp)
      notes.append("still waiting \(waited) s (trace clock) when the trace ends")
    }
    var score: [Int: Int] = [:]
    var why: [Int: [Evidence]] = [:]
    func vote(_ pid: Int, _ points: Int, _ ev: Evidence) {
      guard pid != t.pid else { return }
      score[pid, default: 0] += points
      why[pid, default: []].append(ev)
    }
    let primitive = t.reading?.primitive?.kind ?? t.blocker?.primitive
    if let b = t.blocker {
      if let o = b.owner {
        vote(
          o.pid, 3,
          Evidence(
            file: b.position.file, line: b.position.line,
            fact: "kernel: \(t.comm) is blocked on a \(b.primitive) likely owned by \(o.comm):\(o.pid)"))
      } else {
        notes.append("the kernel says the \(b.primitive) owner of \(t.comm) is not found")
        evidence.append(Evidence(file: b.position.file, line: b.position.line, fact: "kernel: owner not found"))
      }
    }
    if let ni = w.node {
      let n = locks[ni]
      if let h = n.traceHolder {
        vote(
          h.pid, 2,
          Evidence(
            file: h.evidence.file, line: h.evidence.line,
            fact: "trace: \(h.comm ?? String(h.pid)) acquire \(n.name ?? "lock"), no release after it"))
        if let ht = tasks[h.pid], ht.reading != nil, waits[h.pid]?.node != ni, let ev = ht.stackEvidence {
          vote(h.pid, 1, Evidence(file: ev.file, line: ev.line, fact: "holder's stack is not waiting for it: \(summary(ht).sleepsIn ?? "?")"))
        }
      }
      if let pw = n.pendingWaits[t.pid], let o = pw.owner {
        if o != 0 {
          vote(o, 1, Evidence(file: pw.evidence.file, line: pw.evidence.line, fact: "trace: \(t.comm)'s wait line names owner=\(o)"))
        } else {
          notes.append("\(t.comm)'s trace wait line shows owner=0 (a stale or unread owner field; ignored)")
        }
      }
      if let la = n.lockdepAddress {
        for other in tasks.values where other.pid != t.pid {
          guard let list = other.heldList,
            let e = list.locks.first(where: { $0.address == la })
          else { continue }
          let ev = Evidence(
            file: list.position.file, line: e.line,
            fact: "lockdep: \(e.name) listed as held by \(other.comm)/\(other.pid)")
          if waits[other.pid]?.node == ni {
            notes.append(
              "lockdep also lists \(other.comm)/\(other.pid) as holding \(e.name), but it is waiting for it (listed before sleeping)")
            continue
          }
          if other.reading != nil {
            vote(other.pid, 3, ev)
          } else {
            vote(other.pid, 1, Evidence(file: ev.file, line: ev.line, fact: ev.fact + " (no stack: could be a waiter too)"))
          }
        }
      }
      if !n.releaseByOther.isEmpty {
        notes.append("the trace shows \(n.name ?? "the lock") released by a task that did not acquire it (trace lost lines?)")
      }
    }
    // Completion-style waits: who must act (a candidate only).
    if let r = t.reading, let p = r.primitive, !p.isLockdepTracked {
      let names = Set(t.frames.compactMap { $0.function.map(baseSymbol) })
      for c in rules.completers where !c.frames.isDisjoint(with: names) {
        let comm = c.task.replacingOccurrences(of: "{tgid}", with: String(t.tgid ?? t.pid))
          .replacingOccurrences(of: "{pid}", with: String(t.pid))
        for other in tasks.values where other.comm == comm && other.pid != t.pid {
          let ev = other.hungEvidence ?? other.stackEvidence ?? other.stateLine
          vote(
            other.pid, 1,
            Evidence(
              file: ev?.file ?? "", line: ev?.line ?? 0,
              fact: "\(c.why); \(other.comm) is \(other.state.map { "in state \($0)" } ?? "present")"
                + (summary(other).sleepsIn.map { ", in \($0)" } ?? "")))
        }
      }
    }
    // Tasks with lockdep's "N locks held" but no entries: running elsewhere, candidates only.
    if score.values.allSatisfy({ $0 < 2 }) {
      for other in tasks.values where other.pid != t.pid {
        if let l = other.heldList, l.locks.isEmpty, l.count > 0 {
          vote(
            other.pid, 1,
            Evidence(
              file: l.position.file, line: l.position.line,
              fact: "lockdep: \(l.count) locks held by \(other.comm)/\(other.pid), none listed (running on a CPU)"))
        }
      }
    }

    let proven = score.filter { $0.value >= 2 }.map(\.key).sorted()
    var holder: TaskSummary?
    var confidence = Confidence.none
    var candidates: [HolderCandidate] = []
    if proven.count == 1, let h = proven.first {
      holder = tasks[h].map(summary) ?? TaskSummary(pid: h, comm: "?")
      confidence = score[h]! >= 4 ? .high : .medium
      evidence += why[h] ?? []
    } else if proven.count > 1 {
      notes.append(
        "contradictory evidence: \(proven.map { "\(tasks[$0]?.comm ?? "?")/\($0)" }.joined(separator: " and ")) each look like the holder"
      )
      confidence = .low
    } else if !score.isEmpty {
      confidence = .low
    }
    if holder == nil {
      for (pid, _) in score.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
        let why = why[pid] ?? []
        candidates.append(
          HolderCandidate(
            pid: pid, comm: tasks[pid]?.comm ?? "?", why: why.map(\.fact).joined(separator: "; "),
            evidence: why))
        evidence += why
      }
      if candidates.isEmpty && (w.node != nil || primitive != nil) {
        notes.append("no line in the log names the holder")
      }
    }
    // What this task holds (trace acquires without release, lockdep entries it does not wait on).
    var holds: [LockIdentity] = []
    for (i, n) in locks.enumerated() {
      // lockdep entries count as held only when the stack tells waiting from holding.
      let listed =
        n.lockdepAddress.map { la in t.heldList?.locks.contains { $0.address == la } ?? false }
        ?? false
      if n.traceHolder?.pid == t.pid || (listed && w.node != i && t.reading != nil) {
        holds.append(n.identity(primitive: nil))
      }
    }
    var lock = w.node.map { locks[$0].identity(primitive: primitive) }
    if lock == nil, let primitive { lock = LockIdentity(primitive: primitive) }
    var seen = Set<Evidence>()
    let detail = evidence.filter { seen.insert($0).inserted }.sorted()
    var result = BlockedTask(
      pid: t.pid, comm: t.comm, task: summary(t), primitive: primitive,
      waitSite: t.reading?.primitive != nil ? t.reading?.caller?.kernelText : nil, lock: lock,
      holder: holder, holderCandidates: candidates, holds: holds, chain: [], isInCycle: false,
      evidence: Array(Set(detail.map(\.line))).sorted(), evidenceDetail: detail,
      confidence: confidence, notes: notes)
    if let h = holder { result.holderEvidence = (why[h.pid] ?? []).sorted() }
    return result
  }
}

/// `dev->mutex (ffff…)` → `dev->mutex`.
func stripAddress(_ display: String) -> String {
  guard let p = display.firstIndex(of: " ") else { return display }
  return String(display[..<p])
}

/// Fallback parser for `vhost_lock: <op> [<lock>] key=value …` when the ingest layer did not
/// split the message.
enum VhostLockText {
  static func parse(_ message: String) -> VhostLockOp? {
    guard let r = message.range(of: "vhost_lock: ") else { return nil }
    let words = message[r.upperBound...].split(separator: " ", omittingEmptySubsequences: true)
    guard let op = words.first, !op.contains("=") else { return nil }
    var lock: String?
    var fields: [VhostField] = []
    for w in words.dropFirst() {
      if let eq = w.firstIndex(of: "=") {
        fields.append(VhostField(key: String(w[..<eq]), value: String(w[w.index(after: eq)...])))
      } else if lock == nil && fields.isEmpty {
        lock = String(w)
      }
    }
    return VhostLockOp(operation: String(op), lock: lock, fields: fields)
  }
}
