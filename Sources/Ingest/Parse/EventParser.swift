#if canImport(Glibc)
  import Glibc
#endif

/// Turns console lines into events: a streaming state machine, one instance per input.
///
/// Lines are grouped by printk caller id (`[T123]`/`[C1]`) when present, so two CPUs' reports
/// printed at the same time are rebuilt separately (syzkaller does the same). Only header
/// candidates (rule prefilter) and lines inside open reports, dumps and lock lists are parsed.
///
/// Memory: bounded by the open state (at most one open report per caller id, frames per report
/// capped at `maxFramesPerReport`), never by the log size.
public final class EventParser {
  public let rules: IngestRules
  public let file: String
  /// Frames kept per report/dump; the rest are counted in `omittedFrameCount`.
  public var maxFramesPerReport = 4096
  /// When false, reports are only delimited and counted (header, kind, position): no frames,
  /// registers or lock entries are decoded. `analyze` switches to it once its summary is full,
  /// so the rest of a huge log costs a boundary scan, not a full parse.
  public var isDetailed = true
  /// When set, the raw lines of each detailed report (its own context only, at most 256 KiB)
  /// are collected and passed here just before the report event is emitted — for analyses
  /// that work on report text, such as the title engine.
  public var onReportText: ((CrashReport, [UInt8]) -> Void)?
  private let sink: (Event) -> Void
  private let scratch = PCRE2Scratch()
  /// JSON Lines mode (`analyze --jsonl`): when set, every event is written here as it is
  /// parsed, in the form `JSONBuffer.event` gives it, and the sink is not called. Frames,
  /// register dumps and ftrace records, most of a log's events, are encoded straight from the
  /// line bytes instead of being built as values first (on the bench log, `--jsonl` took about
  /// half the CPU time of building and encoding the values). Reports are
  /// counted by kind in `countedReports`; tracepoint tallies are not kept. Needs `isDetailed`.
  public var jsonLines: JSONLinesOutput? {
    didSet {
      fileJSON.reset()
      fileJSON.string(file)
    }
  }
  /// `file` encoded as a JSON string, for the positions of ftrace records and markers.
  private let fileJSON = JSONBuffer(capacity: 256)
  /// Cleared buffers for the frames and registers of the next reports (JSON Lines mode).
  private var spareBuffers: [JSONBuffer] = []

  // Open state, keyed by caller id (ParsedPrefix.noCaller when the log has none).
  private let reports = SmallMap<ReportState>()
  private let dumps = SmallMap<TaskDumpState>()
  private let lockLists = SmallMap<LockListState>()
  /// Contexts inside a `Showing all locks held` section → the section's last header line.
  private let inAllLocks = SmallMap<Int>()
  private var ftrace: FtraceState?
  private var pendingFtrace: FtraceRecord?
  /// JSON Lines mode: the last ftrace record, held (like `pendingFtrace`) for the ` => func`
  /// lines that may follow it: its keys before `stack`, the stack entries, and the rest.
  private var pendingFtraceJSON = false
  private let ftraceHeadJSON = JSONBuffer(capacity: 1024)
  private let ftraceStackJSON = JSONBuffer(capacity: 1024)
  private var ftraceStackCount = 0
  private let ftraceTailJSON = JSONBuffer(capacity: 1024)
  /// The raw bytes of the line being consumed (valid only during `consume`).
  private var currentLine = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
  /// Counts for summaries.
  public private(set) var lineCount = 0
  public private(set) var truncatedLineCount = 0

  public init(rules: IngestRules, file: String, sink: @escaping (Event) -> Void) {
    self.rules = rules
    self.file = file
    self.sink = sink
  }

  /// Passes an event to this parser's sink, as if this parser had produced it (the second
  /// core's events after a split; see TwoCoreParse).
  public func emit(_ event: Event) { deliver(event) }

  /// The one way events leave the parser: to the sink, or encoded to `jsonLines`.
  @inline(__always)
  private func deliver(_ event: Event, frames: JSONBuffer? = nil, registers: JSONBuffer? = nil) {
    guard let out = jsonLines else {
      sink(event)
      return
    }
    out.write(event, frames: frames, registers: registers)
  }

  private func emitDump(_ d: TaskDumpState) {
    deliver(.taskDump(d.dump), frames: d.framesJSON)
    recycle(d.framesJSON)
  }

  private func takeBuffer() -> JSONBuffer? {
    guard jsonLines != nil else { return nil }
    return spareBuffers.popLast() ?? JSONBuffer(capacity: 2048)
  }

  private func recycle(_ b: JSONBuffer?) {
    // A few spares cover the reports open at once; a buffer a runaway report grew is dropped.
    guard let b, spareBuffers.count < 32, b.capacity <= 1 << 20 else { return }
    b.reset()
    spareBuffers.append(b)
  }

  /// Parses a whole source, returning all events (convenience for tests and small inputs).
  public static func parse(source: LogSource, rules: IngestRules) throws -> [Event] {
    var events: [Event] = []
    let p = EventParser(rules: rules, file: source.name) { events.append($0) }
    try source.forEachLine { p.consume($0) }
    p.finish()
    return events
  }

  // MARK: - per-line entry point

  public func consume(_ line: borrowing Line) {
    lineCount += 1
    if line.isTruncated { truncatedLineCount += 1 }
    let raw = line.bytes
    if line.number & 1023 == 0, hasOpenContexts {
      closeSilentContexts(now: line.number)
      fastKey = Int.max
    }
    let pre = PrefixParser.parse(raw)
    if !isDetailed, ftrace == nil, countOnlyFastPath, skipsCountOnly(raw, from: pre.bodyStart, key: pre.callerKey, number: line.number) {
      return
    }
    // Most lines of a report are plain frames: taken here, before the dispatch below, when the
    // open report of this context would do nothing with the line but add the frame.
    if isDetailed, frameLane, ftrace == nil, pre.bodyStart < raw.count, raw[pre.bodyStart] == 0x20,
      let ref = reports.unretained(pre.callerKey)
    {
      let number = line.number
      // (In a lockdep report every line also goes to the held-lock list of its context; a
      // frame line only ends an open one, so with none open it changes nothing there.)
      let noLockList = lockLists.isEmpty || !lockLists.contains(pre.callerKey)
      if ref._withUnsafeGuaranteedRef({ $0.takePlainFrame(UnsafeBufferPointer(rebasing: raw[pre.bodyStart...]), line: raw, number: number, noLockList: noLockList) }) {
        return
      }
    }
    fastKey = Int.max  // the slow path may change any state: recompute the fast one next line
    currentLine = raw
    let body = UnsafeBufferPointer(rebasing: raw[pre.bodyStart...])
    let key = pre.callerKey
    let number = line.number
    let offset = line.offset

    if ftrace != nil {
      if consumeFtrace(body, pre: pre, number: number, offset: offset) { return }
    }

    // 1. Header rules (prefilter on the first 8 bytes, then the literals, then PCRE2).
    if let first = body.first, first != 0x20, rules.mayStartHeader(body.baseAddress!, count: body.count),
      let hit = rules.matchHeader(body, scratch: scratch)
    {
      let rule = rules.rules[hit.rule]
      let pos = SourcePosition(file: file, line: number, offset: offset)
      switch rule.action {
      case .report(let kind):
        startReport(kind, hit.body, hit.match, pre: pre, pos: pos)
        return
      case .marker(let kind):
        if kind == .linuxVersion { closeAll() }
        emitMarker(kind, hit.body, hit.match, pre: pre, pos: pos)
        if kind == .endTrace, let r = reports.removeValue(forKey: key) ?? soleUnkeyedReport(key) {
          if r.text != nil { r.appendText(raw) }
          r.report.endMarker = body.text(from: 0)
          r.report.endLine = number
          finishReport(r, truncated: false)
        }
        return
      case .blocker:
        emitBlocker(hit.body, hit.match, pos: pos)
        return
      }
    }

    // ftrace_dump() may run inside a panic report (ftrace_dump_on_oops): start it regardless.
    if body.first == 0x44, rules.ftraceStart.matchesStart(of: body) {
      flushPendingFtrace()
      ftrace = FtraceState(start: SourcePosition(file: file, line: number, offset: offset))
      deliver(.marker(Marker(kind: .ftraceDumpStart, text: body.text(from: 0), position: SourcePosition(file: file, line: number, offset: offset), timestamp: pre.timestamp)))
      return
    }

    // 2. Inside an open report of this context (borrowed from the map: no retain per line; a
    // reference is taken only to end it).
    if let ref = reports.unretained(key) {
      let (keep, closed, lockish) = ref._withUnsafeGuaranteedRef { r in
        let keep = r.isCountOnly ? r.delimit(body, number: number) : r.consume(body, pre: pre, number: number, parser: self)
        if keep, r.text != nil { r.appendText(raw) }
        return (keep, r.closed, r.report.kind == .lockdep || r.inHeldLocks)
      }
      if !keep || closed {
        let r = ref.takeUnretainedValue()
        reports[key] = nil
        finishReport(r, truncated: false)
        // The line that ended the report may start something else.
        if !keep { consumeOutside(body, pre: pre, number: number, offset: offset) }
      }
      if isDetailed && lockish { feedLockList(body, key: key, number: number, offset: offset, insideReport: true) }
      return
    }
    consumeOutside(body, pre: pre, number: number, offset: offset)
  }

  // MARK: - count-only fast path

  /// Off only in tests, which check the fast path changes no result.
  var countOnlyFastPath = true
  /// The frame lane (`ReportState.takePlainFrame`); off only in tests, which check it changes
  /// no result.
  var frameLane = true
  private enum FastState { case idle, countOnlyReport, dump, other }
  /// The context the fast state below describes (`Int.max`: none; recomputed on demand).
  private var fastKey = Int.max
  private var fastState = FastState.other
  /// The open count-only report of `fastKey`; owned by `reports`, and dropped from the cache
  /// whenever the slow path runs, so no retain/release per line.
  private unowned(unsafe) var fastReport: ReportState?
  private unowned(unsafe) var fastDump: TaskDumpState?
  private var fastEndsAtTask = false
  private var fastIsSanitizer = false
  private var fastIsLockdep = false

  /// Count-only mode: decides from the first bytes of the body whether the full `consume` would
  /// do anything beyond moving an open report's end line, and does just that when not. Most
  /// lines of a huge log (frames inside reports, noise outside) stop here. Exactly the cases the
  /// slow path handles go on: header first bytes, `Dumping ftrace`, and per state the bytes
  /// `ReportState.delimit` / `consumeOutside` look at.
  @inline(__always)
  private func skipsCountOnly(_ raw: UnsafeBufferPointer<UInt8>, from start: Int, key: Int, number: Int) -> Bool {
    let n = raw.count
    if start < n, rules.mayStartHeader(raw.baseAddress! + start, count: n - start) { return false }
    if key != fastKey { refreshFastState(key) }
    switch fastState {
    case .countOnlyReport:
      var i = start
      while i < n, Bytes.isSpace(raw[i]) { i += 1 }
      if i < n {
        // What `ReportState.delimit` acts on, for the kinds it acts on.
        switch raw[i] {
        case 0x3C: if fastEndsAtTask, i + 1 < n, raw[i + 1] == 0x2F { return false }  // `</TASK>`
        case 0x3D: if fastIsSanitizer { return false }  // `=====` closing rule
        case 0x73: if fastIsLockdep { return false }  // `stack backtrace:`
        default: break
        }
      }
      fastReport.unsafelyUnwrapped.report.endLine = number
      return true
    case .idle:
      if start < n {
        // `task:` dumps, `Showing all locks`, `N locks held` / `no locks held`, `====`.
        let c = raw[start]
        if c == 0x74 || c == 0x53 || c == 0x6E || c == 0x3D || c &- 0x30 < 10 { return false }
      }
      return true
    case .dump:
      // `TaskDumpState.delimit`: an indented line that is not a closing marker goes on the stack.
      var i = start
      while i < n, Bytes.isSpace(raw[i]) { i += 1 }
      guard i > start, i < n, raw[i] != 0x3C else { return false }
      fastDump.unsafelyUnwrapped.dump.endLine = number
      return true
    case .other:
      return false
    }
  }

  private func refreshFastState(_ key: Int) {
    fastKey = key
    fastReport = nil
    fastDump = nil
    if let r = reports[key] {
      fastState = r.isCountOnly ? .countOnlyReport : .other
      if r.isCountOnly {
        fastReport = r
        let kind = r.report.kind
        fastIsLockdep = kind == .lockdep
        fastEndsAtTask = kind == .hungTask || kind == .lockdep
        fastIsSanitizer = sanitizerKinds.contains(kind)
      }
    } else if lockLists.contains(key) {
      fastState = .other
    } else if let d = dumps[key] {
      fastState = .dump
      fastDump = d
    } else {
      fastState = .idle
    }
  }

  /// Ends the input: closes everything still open (reports are then marked truncated when they
  /// were cut inside a stack).
  public func finish() {
    fastKey = Int.max
    flushPendingFtrace()
    publishTallies()
    if let f = ftrace {
      deliver(.marker(Marker(kind: .ftraceDumpEnd, text: "(log ended inside the ftrace dump)", value: "\(f.recordCount)", position: f.start)))
      ftrace = nil
    }
    for key in lockLists.keys.sorted() { if let l = lockLists.removeValue(forKey: key) { deliver(.heldLocks(l.list)) } }
    for key in dumps.keys.sorted() { if let d = dumps.removeValue(forKey: key) { emitDump(d) } }
    for r in reports.values.sorted(by: { $0.report.position.line < $1.report.position.line }) {
      finishReport(r, truncated: r.inTrace || r.frameCount == 0)
    }
    reports.removeAll()
  }

  // MARK: - outside reports

  private func consumeOutside(_ body: UnsafeBufferPointer<UInt8>, pre: ParsedPrefix, number: Int, offset: Int) {
    let key = pre.callerKey
    guard let first = body.first else { return }
    // Task dumps (sysrq-t, hung-task blocker owner): `task:` line then a stack.
    if first == 0x74, let info = LineParsers.taskLine(body) {
      closeDump(key)
      let d = TaskDumpState(dump: TaskDump(info: info, position: SourcePosition(file: file, line: number, offset: offset)))
      d.dump.timestamp = pre.timestamp
      if isDetailed { d.framesJSON = takeBuffer() }
      dumps[key] = d
      return
    }
    if let d = dumps[key] {
      if isDetailed ? d.consume(body, number: number, max: maxFramesPerReport) : d.delimit(body, number: number) { return }
      dumps[key] = nil
      emitDump(d)
    }
    if feedLockList(body, key: key, number: number, offset: offset, insideReport: false) { return }
  }

  /// Held-lock lists: headers and `#N:` entries. Returns true when the line belonged to one.
  @discardableResult
  private func feedLockList(_ body: UnsafeBufferPointer<UInt8>, key: Int, number: Int, offset: Int, insideReport: Bool) -> Bool {
    guard let first = body.first else { return false }
    if first == 0x53, rules.allLocksStart.matchesStart(of: body) {
      inAllLocks[key] = number
      return true
    }
    if Bytes.isDigit(first) || first == 0x6E, let (count, task) = LineParsers.heldLocksHeader(body) {
      if inAllLocks.contains(key) { inAllLocks[key] = number }
      if !isDetailed {
        // Count-only: lists are tallied; their entries fall through as plain lines.
        countedLockLists += 1
        return true
      }
      if let l = lockLists.removeValue(forKey: key) { deliver(.heldLocks(l.list)) }
      let list = HeldLockList(task: task, count: count, position: SourcePosition(file: file, line: number, offset: offset), isSystemDump: inAllLocks.contains(key))
      if count == 0 {
        deliver(.heldLocks(list))
      } else {
        lockLists[key] = LockListState(list: list)
      }
      return true
    }
    if let l = lockLists[key] {
      if !isDetailed {
        // Count-only: entries are recognised by shape, not decoded.
        let t = body.skipSpaces(0)
        if t + 1 < body.count, body[t] == 0x23, Bytes.isDigit(body[t + 1]) { return true }
      } else if let e = LineParsers.heldLockEntry(body, line: number) {
        // Symbolized logs repeat an entry once per inline level: keep the first. The repeats
        // are adjacent, so only the trailing entries of the same index are compared (searching
        // the whole list cost n²/2 comparisons on a hostile list of n entries).
        if !l.list.locks.reversed().prefix(while: { $0.index == e.index }).contains(where: { $0.address == e.address }) {
          if l.list.locks.count < 4096 { l.list.locks.append(e) }
        }
        return true
      }
      lockLists[key] = nil
      deliver(.heldLocks(l.list))
    }
    if first == 0x3D, body.count >= 20, body.has("====================") {
      inAllLocks.removeValue(forKey: key)
    }
    return false
  }

  private func closeDump(_ key: Int) {
    if let d = dumps.removeValue(forKey: key) { emitDump(d) }
  }

  // MARK: - reports

  private func soleUnkeyedReport(_ key: Int) -> ReportState? {
    // An end marker printed from another context (e.g. `[C0]` after an NMI) still ends the only
    // open report.
    guard reports.count == 1, let (k, r) = reports.first, key == ParsedPrefix.noCaller || k == ParsedPrefix.noCaller else { return nil }
    reports[k] = nil
    return r
  }

  /// Reports of other contexts that have printed nothing for this many lines are over: their
  /// context moved on (or the log is a concatenation of runs).
  static let staleLineCount = 2000
  static let maxOpenReports = 16

  private func startReport(_ kind: ReportKind, _ body: UnsafeBufferPointer<UInt8>, _ m: PCRE2Match, pre: ParsedPrefix, pos: SourcePosition) {
    let key = pre.callerKey
    if let old = reports.removeValue(forKey: key) { finishReport(old, truncated: false) }
    // Other contexts' reports: only worth a scan when more than one is open or the one open
    // report has gone quiet.
    if let only = reports.first?.value, reports.count > 1 || pos.line - only.report.endLine > Self.staleLineCount {
      closeStaleReports(now: pos.line)
    }
    closeDump(key)
    if let l = lockLists.removeValue(forKey: key) { deliver(.heldLocks(l.list)) }
    // Count-only reports need no text: they are tallied by kind (see `countedReports`).
    // Built in its state and filled in place: a local report handed over was copied (each of
    // its strings and arrays retained) and then destroyed.
    let state = ReportState(
      report: CrashReport(kind: kind, headline: isDetailed ? body.text(from: 0) : "", position: pos, prefix: isDetailed ? pre.linePrefix : LinePrefix()),
      max: maxFramesPerReport, sanitizerEnd: rules.sanitizerEnd, callTrace: rules.callTrace)
    if kind == .hungTask, let c = m["comm"], let p = m["pid"], let s = m["seconds"] {
      let task = TaskRef(comm: body.text(c), pid: Int(body.text(p)) ?? 0)
      state.report.task = task
      state.report.hungTask = HungTaskDetails(task: task, seconds: Int(body.text(s)) ?? 0)
    }
    if kind == .lockdep { state.report.lockdep = LockdepDetails() }
    state.callerKey = key
    state.isCountOnly = !isDetailed
    if isDetailed {
      state.framesJSON = takeBuffer()
      state.registersJSON = takeBuffer()
    }
    if onReportText != nil && isDetailed {
      state.text = []
      state.appendText(currentLine)
    }
    reports[key] = state
  }

  private func closeStaleReports(now: Int) {
    closeSilentReports(now: now)
    var open = reports.values
    while open.count >= Self.maxOpenReports {
      let oldest = open.removeFirst()
      reports.removeValue(forKey: oldest.callerKey)
      finishReport(oldest, truncated: oldest.inTrace)
    }
  }

  /// A context that printed nothing for `staleLineCount` lines has moved on: its open report,
  /// task dump, lock list and all-locks section end. Checked every 1024 lines at absolute line
  /// numbers, so any two parsers holding the same state at a line sweep the same way (the
  /// two-core split relies on it), and state of a context that went silent (a CPU that stopped
  /// printing, a truncated `Showing all locks` section) does not stay open to the end.
  private func closeSilentContexts(now: Int) {
    let limit = now - Self.staleLineCount
    closeSilentReports(now: now)
    for key in dumps.keys.sorted() {
      if let d = dumps[key], d.dump.endLine < limit {
        dumps[key] = nil
        emitDump(d)
      }
    }
    for key in lockLists.keys.sorted() {
      if let l = lockLists[key], (l.list.locks.last?.line ?? l.list.position.line) < limit {
        lockLists[key] = nil
        deliver(.heldLocks(l.list))
      }
    }
    for key in inAllLocks.keys.sorted() where (inAllLocks[key] ?? 0) < limit { inAllLocks[key] = nil }
  }

  /// Finishes, in print order, the reports whose context printed nothing for `staleLineCount`
  /// lines.
  private func closeSilentReports(now: Int) {
    for r in reports.values.sorted(by: { $0.report.position.line < $1.report.position.line }) where now - r.report.endLine > Self.staleLineCount {
      reports.removeValue(forKey: r.callerKey)
      finishReport(r, truncated: r.inTrace)
    }
  }

  /// A new boot (`Linux version` banner): nothing from the previous run is still open.
  private func closeAll() {
    flushPendingFtrace()
    ftrace = nil
    for key in lockLists.keys { if let l = lockLists.removeValue(forKey: key) { deliver(.heldLocks(l.list)) } }
    for key in dumps.keys { if let d = dumps.removeValue(forKey: key) { emitDump(d) } }
    for r in reports.values.sorted(by: { $0.report.position.line < $1.report.position.line }) {
      finishReport(r, truncated: r.inTrace || r.frameCount == 0)
    }
    reports.removeAll()
    inAllLocks.removeAll()
  }

  /// Held-lock lists seen in count-only mode (not emitted as events).
  public private(set) var countedLockLists = 0
  /// Reports seen in count-only mode, by kind (they are not emitted as events).
  public private(set) var countedReports: [ReportKind: Int] = [:]

  private func finishReport(_ r: ReportState, truncated: Bool) {
    // Count-only reports are only tallied; JSON Lines mode tallies what it writes.
    if r.isCountOnly || jsonLines != nil { countedReports[r.report.kind, default: 0] += 1 }
    if r.isCountOnly { return }
    if let cb = onReportText, let text = r.text { cb(r.report, text) }
    // Completed where it lies: the report is done with.
    r.report.isTruncated = truncated
    if r.omitted > 0 { r.report.omittedFrameCount = r.omitted }
    if let out = jsonLines {
      // The bytes `deliver` would write, without wrapping the report in an `Event` (a copy that
      // retained each of its strings and arrays).
      out.writeReport(&r.report, frames: r.framesJSON, registers: r.registersJSON)
    } else {
      sink(.report(r.report))
    }
    recycle(r.framesJSON)
    recycle(r.registersJSON)
  }

  private func emitMarker(_ kind: MarkerKind, _ body: UnsafeBufferPointer<UInt8>, _ m: PCRE2Match, pre: ParsedPrefix, pos: SourcePosition) {
    if let out = jsonLines {
      // Written from the line: no strings made for the text and value.
      out.writeMarker(kind, line: body, value: m["value"], file: fileJSON, number: pos.line, offset: pos.offset, timestamp: pre.timestamp)
      return
    }
    let value = m["value"].map { body.text($0) }
    deliver(.marker(Marker(kind: kind, text: body.text(from: 0), value: value, position: pos, timestamp: pre.timestamp)))
  }

  private func emitBlocker(_ body: UnsafeBufferPointer<UInt8>, _ m: PCRE2Match, pos: SourcePosition) {
    guard let wc = m["wcomm"], let wp = m["wpid"], let pr = m["primitive"] else { return }
    let waiter = TaskRef(comm: body.text(wc), pid: Int(body.text(wp)) ?? 0)
    var owner: TaskRef?
    if let oc = m["ocomm"], let op = m["opid"] { owner = TaskRef(comm: body.text(oc), pid: Int(body.text(op)) ?? 0) }
    var note = BlockerNote(waiter: waiter, primitive: body.text(pr), owner: owner, position: pos)
    note.waiterRole = m["wrole"].map { body.text($0) }
    note.ownerRole = m["orole"].map { body.text($0) }
    deliver(.blocker(note))
  }

  // MARK: - ftrace dumps

  /// Returns true when the line was consumed by the dump.
  private func consumeFtrace(_ body: UnsafeBufferPointer<UInt8>, pre: ParsedPrefix, number: Int, offset: Int) -> Bool {
    // The dump's state is updated in place (`ftrace?.…`): copying it out and back costs a
    // retain/release pair per line, and dumps are hundreds of thousands of lines.
    guard let sawOpeningDashes = ftrace?.sawOpeningDashes else { return false }
    func position() -> SourcePosition { SourcePosition(file: file, line: number, offset: offset) }
    if body.has("-----------------------------") {
      if sawOpeningDashes {
        flushPendingFtrace()
        let count = ftrace?.recordCount ?? 0
        deliver(.marker(Marker(kind: .ftraceDumpEnd, text: body.text(from: 0), value: "\(count)", position: position(), timestamp: pre.timestamp)))
        ftrace = nil
      } else {
        ftrace?.sawOpeningDashes = true
      }
      return true
    }
    let trimmed = body.skipSpaces(0)
    if rules.ftraceEmpty.matchesStart(of: UnsafeBufferPointer(rebasing: body[trimmed...])) {
      deliver(.marker(Marker(kind: .ftraceDumpEnd, text: body.text(from: 0), value: "0", position: position(), timestamp: pre.timestamp)))
      ftrace = nil
      return true
    }
    if body.first == 0x23 { return true }  // "# WARNING: FUNCTION TRACING IS CORRUPTED" etc.
    guard sawOpeningDashes else { return false }
    if body.has("=> ", at: trimmed), pendingFtraceJSON || pendingFtrace != nil {
      // `<stack trace>` records are followed by ` => func <addr>` lines.
      var e = trimmed + 3
      while e < body.count, body[e] != 0x20 { e += 1 }
      if pendingFtraceJSON {
        if ftraceStackCount < 256 {
          if ftraceStackCount > 0 { ftraceStackJSON.byte(0x2C) }
          ftraceStackJSON.text(body, trimmed + 3..<e)
          ftraceStackCount += 1
        }
      } else if var p = pendingFtrace {
        if (p.stack?.count ?? 0) < 256 { p.stack = (p.stack ?? []) + [body.text(trimmed + 3..<e)] }
        pendingFtrace = p
      }
      return true
    }
    if !isDetailed, let name = LineParsers.ftraceEventName(body) {
      // Count-only: tally by event name (and vhost_lock operation) without building records.
      ftrace?.recordCount += 1
      countTracepoint(body, name: name)
      return true
    }
    if jsonLines != nil {
      guard let rec = LineParsers.ftraceRaw(body) else { return false }
      flushPendingFtrace()
      ftrace?.recordCount += 1
      encodeFtrace(rec, body, number: number, offset: offset)
      return true
    }
    if let rec = LineParsers.ftraceLine(body, position: position()) {
      flushPendingFtrace()
      ftrace?.recordCount += 1
      pendingFtrace = rec
      return true
    }
    // Not a trace line: a report printed in the middle of the dump, or the dump was cut.
    return false
  }

  /// JSON Lines mode: encodes an ftrace record from its line (see `pendingFtraceJSON`); the same
  /// bytes as `JSONBuffer.ftrace(LineParsers.ftraceLine(…))`.
  private func encodeFtrace(_ r: LineParsers.RawFtraceLine, _ b: UnsafeBufferPointer<UInt8>, number: Int, offset: Int) {
    ftraceStackJSON.reset()
    ftraceStackCount = 0
    pendingFtraceJSON = true
    ftraceHeadJSON.reset()
    ftraceTailJSON.reset()
    // Trace lines are nearly always printable ASCII with no quote or backslash: one check of
    // the whole line then spares each part (and each vhost field) its own.
    if let base = b.baseAddress, JSONBuffer.isPlain(base, b.count) {
      ftraceHeadJSON.ftraceHeadPlain(
        base, comm: r.comm, cpu: r.cpu, event: r.event, flags: r.flags, message: r.message, pid: r.pid, file: fileJSON,
        number: number, offset: offset)
      if let v = r.vhost {
        let m = UnsafeBufferPointer(rebasing: b[v...])
        ftraceTailJSON.ftraceTailPlain(timestamp: r.timestamp, base + v) { LineParsers.vhostTokens(m, field: $0) }
      } else {
        ftraceTailJSON.ftraceTailPlain(timestamp: r.timestamp)
      }
      return
    }
    ftraceHeadJSON.ftraceHead(
      comm: LineText(b, r.comm), cpu: r.cpu, event: LineText(b, r.event), flags: r.flags.map { LineText(b, $0) },
      message: LineText(b, r.message), pid: r.pid, file: EncodedString(json: fileJSON), line: number, offset: offset)
    let tail = ftraceTailJSON
    tail.ftraceTimestamp(r.timestamp)
    if let v = r.vhost {
      let m = UnsafeBufferPointer(rebasing: b[v...])
      tail.vhostLock {
        var first = true
        let (op, lock) = LineParsers.vhostTokens(m) { k, value in
          tail.keyValue(m, key: k, value: value, first: first)
          first = false
        }
        return (lock.map { LineText(m, $0) }, LineText(m, op ?? 0..<0))
      }
    }
    tail.byte(0x7D)
  }

  /// Tracepoint tallies gathered in count-only mode: name → count, and vhost_lock
  /// "operation lock" → count. Keys are hashed from bytes; a name is decoded once.
  public private(set) var countedTracepoints: [String: Int] = [:]
  public private(set) var countedVhostOps: [String: Int] = [:]
  private var tallyByHash: [UInt64: (name: String, vhost: Bool)] = [:]
  private var tallyCounts: [UInt64: Int] = [:]

  private func countTracepoint(_ body: UnsafeBufferPointer<UInt8>, name: Range<Int>) {
    tally(LineParsers.fnv1a(body, name), body, [name], vhost: false)
    guard let v = UnsafeBufferPointer(rebasing: body[name.upperBound...]).find("vhost_lock: ") else { return }
    // Operation and lock name: the first two bare (non key=value) words after the marker.
    var words: (Range<Int>?, Range<Int>?) = (nil, nil)
    var i = name.upperBound + v + 12
    while i < body.count, words.1 == nil {
      i = body.skipSpaces(i)
      let w = i
      while i < body.count, body[i] != 0x20 { i += 1 }
      if i > w, body.find(byte: 0x3D, from: w, to: i) == nil {
        if words.0 == nil { words.0 = w..<i } else { words.1 = w..<i }
      }
    }
    guard let first = words.0 else { return }
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15
    h = (h &* 31) ^ LineParsers.fnv1a(body, first)
    if let second = words.1 { h = (h &* 31) ^ LineParsers.fnv1a(body, second) }
    tally(h, body, [first] + (words.1.map { [$0] } ?? []), vhost: true)
  }

  /// One hash lookup for a name seen before; the name is decoded only the first time.
  @inline(__always)
  private func tally(_ h: UInt64, _ body: UnsafeBufferPointer<UInt8>, _ words: @autoclosure () -> [Range<Int>], vhost: Bool) {
    if let i = tallyCounts.index(forKey: h) {
      tallyCounts.values[i] += 1
      return
    }
    tallyCounts[h] = 1
    if tallyByHash[h] == nil { tallyByHash[h] = (words().map { body.text($0) }.joined(separator: " "), vhost) }
  }

  // MARK: - splitting one input across two parsers (TwoCoreParse)

  /// True when nothing is open: no report, dump, lock list, `Showing all locks` section or
  /// ftrace dump in any context. Two parsers that are both quiescent after the same line go on
  /// identically from there, which is what lets a second core start mid-file.
  public var isQuiescent: Bool { !hasOpenContexts && ftrace == nil && pendingFtrace == nil && !pendingFtraceJSON }

  /// Some context has an open report, dump, lock list or all-locks section.
  private var hasOpenContexts: Bool { !(reports.isEmpty && dumps.isEmpty && lockLists.isEmpty && inAllLocks.isEmpty) }

  /// The running totals, to subtract a prefix of another parser's work (see `absorb`).
  public struct Counts: Sendable {
    var lines = 0
    var truncatedLines = 0
    var reports: [ReportKind: Int] = [:]
    var lockLists = 0
    var tallies: [UInt64: Int] = [:]
  }

  /// A snapshot of the totals (taken before `finish`).
  public var counts: Counts {
    Counts(lines: lineCount, truncatedLines: truncatedLineCount, reports: countedReports, lockLists: countedLockLists, tallies: tallyCounts)
  }

  /// Adds what `tail` counted after its snapshot `since`: `self` parsed the input up to a line
  /// after which both were quiescent, `tail` from before that line to the end (finished).
  public func absorb(_ tail: EventParser, since: Counts) {
    lineCount += tail.lineCount - since.lines
    truncatedLineCount += tail.truncatedLineCount - since.truncatedLines
    countedLockLists += tail.countedLockLists - since.lockLists
    for (k, v) in tail.countedReports {
      let n = v - since.reports[k, default: 0]
      if n > 0 { countedReports[k, default: 0] += n }
    }
    // `tail` published its tallies by name at `finish`; take out the snapshot's share.
    var tracepoints = tail.countedTracepoints
    var vhostOps = tail.countedVhostOps
    for (h, c) in since.tallies {
      guard let e = tail.tallyByHash[h] else { continue }
      if e.vhost { vhostOps[e.name, default: 0] -= c } else { tracepoints[e.name, default: 0] -= c }
    }
    for (k, v) in tracepoints where v > 0 { countedTracepoints[k, default: 0] += v }
    for (k, v) in vhostOps where v > 0 { countedVhostOps[k, default: 0] += v }
  }

  /// Moves count-only tallies into `countedTracepoints` / `countedVhostOps`.
  private func publishTallies() {
    for (h, c) in tallyCounts {
      guard let e = tallyByHash[h] else { continue }
      if e.vhost { countedVhostOps[e.name, default: 0] += c } else { countedTracepoints[e.name, default: 0] += c }
    }
    tallyCounts.removeAll()
  }

  private func flushPendingFtrace() {
    if pendingFtraceJSON, jsonLines != nil {
      pendingFtraceJSON = false
      let stack = ftraceStackCount > 0 ? ftraceStackJSON : nil
      borrowed(jsonLines).unsafelyUnwrapped._withUnsafeGuaranteedRef {
        $0.writeFtrace(head: ftraceHeadJSON, stack: stack, tail: ftraceTailJSON)
      }
    }
    if let p = pendingFtrace {
      sink(.ftrace(p))
      pendingFtrace = nil
    }
  }
}

final class LockListState {
  var list: HeldLockList
  init(list: HeldLockList) { self.list = list }
}

struct FtraceState {
  var start: SourcePosition
  var sawOpeningDashes = false
  var recordCount = 0
}

/// An open `task:` dump collecting its stack.
final class TaskDumpState {
  init(dump: TaskDump) { self.dump = dump }
  var dump: TaskDump
  var context: StackContext = .task
  var sawTrace = false
  /// JSON Lines mode: the frames, encoded as they are parsed (`dump.frames` stays empty).
  var framesJSON: JSONBuffer?
  var frameCount = 0

  /// Count-only: a dump goes on while lines look like stack lines.
  func delimit(_ body: UnsafeBufferPointer<UInt8>, number: Int) -> Bool {
    let t = body.skipSpaces(0)
    guard t < body.count else { return false }
    if body.has("</TASK>", at: t) {
      dump.endLine = number
      return false
    }
    if t > 0 || body[t] == 0x3C || body.has("Call Trace:", at: t) {
      dump.endLine = number
      return true
    }
    return false
  }

  /// Returns false when the line does not belong to the dump (which then ends).
  func consume(_ body: UnsafeBufferPointer<UInt8>, number: Int, max: Int) -> Bool {
    let t = body.skipSpaces(0)
    let rest = UnsafeBufferPointer(rebasing: body[t...])
    if rest.has("Call Trace:") || rest.has("Call trace:") {
      sawTrace = true
      return true
    }
    if let ctx = ReportState.contextMarker(rest) {
      if let c = ctx { context = c } else if rest.has("</TASK>") {
        dump.endLine = number
        return sawTrace  // `</TASK>` ends the dump (consumed)
      }
      dump.endLine = number
      return true
    }
    if body.first == 0x20 || body.first == 0x09 || sawTrace, let f = FrameParser.parseRaw(body) {
      if frameCount < max {
        collectFrame(f, in: body, context: context, line: number, json: borrowed(framesJSON), frames: &dump.frames, count: &frameCount)
      }
      dump.endLine = number
      return true
    }
    // Lines sched_show_task()/show_regs() print inside a dump: the kworker's `Workqueue:` line
    // before the trace, and a user task's registers inside `<TASK>`.
    if rest.has("Workqueue:") || (sawTrace && (rest.has("RIP: ") || rest.has("Code: ") || LineParsers.looksLikeRegisters(rest))) {
      dump.endLine = number
      return true
    }
    return false
  }
}

/// An open crash report collecting its lines.
final class ReportState {
  var report: CrashReport
  var inTrace = false
  var context: StackContext = .task
  var omitted = 0
  let max: Int
  let sanitizerEnd: [UInt8]
  /// Valid while the parser's rules live (the parser holds them).
  let callTrace: LiteralSet
  var sawStackBacktrace = false
  var sawContextMarker = false
  var callerKey = ParsedPrefix.noCaller
  /// Started in count-only mode: tallied, never emitted.
  var isCountOnly = false
  /// Raw report lines for `EventParser.onReportText` (nil when not collected).
  var text: [UInt8]?
  /// JSON Lines mode: frames and registers, encoded as they are parsed (`report.frames` and
  /// `report.registers` stay empty).
  var framesJSON: JSONBuffer?
  var registersJSON: JSONBuffer?
  var frameCount = 0
  var registerCount = 0

  func appendText(_ line: UnsafeBufferPointer<UInt8>) {
    guard var t = text, t.count < 256 << 10 else { return }
    text = nil  // keep the buffer uniquely referenced while appending
    t.append(contentsOf: line)
    t.append(0x0A)
    text = t
  }
  var inHeldLocks = false
  var lockdepExpect: LockdepExpect = .none
  var chainIndex = -1

  enum LockdepExpect { case none, acquiring, holding }

  init(report: CrashReport, max: Int, sanitizerEnd: [UInt8], callTrace: LiteralSet) {
    self.report = report
    self.max = max
    self.sanitizerEnd = sanitizerEnd
    self.callTrace = callTrace
  }

  /// `<TASK>`-style marker: returns .some(context) for an opening marker, .some(nil) for a
  /// closing one, nil when the line is not a marker.
  static func contextMarker(_ rest: UnsafeBufferPointer<UInt8>) -> StackContext?? {
    guard rest.first == 0x3C, rest.count >= 5 else { return nil }
    if rest.has("<TASK>") { return .some(.task) }
    if rest.has("<IRQ>") { return .some(.irq) }
    if rest.has("<NMI>") { return .some(.nmi) }
    if rest.has("<SOFTIRQ>") { return .some(.softirq) }
    if rest.has("<EOI>") { return .some(.task) }
    if rest.has("</") { return .some(nil) }
    if rest.has("<#") { return .some(.exception) }
    return nil
  }

  /// Count-only mode: tracks where the report ends without decoding its lines.
  func delimit(_ body: UnsafeBufferPointer<UInt8>, number: Int) -> Bool {
    report.endLine = number
    let t = body.skipSpaces(0)
    guard t < body.count else { return true }
    let c = body[t]
    if c == 0x3C, body.has("</TASK>", at: t) {
      if report.kind == .hungTask || (report.kind == .lockdep && sawStackBacktrace) { closed = true }
    } else if c == 0x3D, sanitizerKinds.contains(report.kind), number > report.position.line + 1,
      body.count - t >= sanitizerEnd.count,
      memcmp(body.baseAddress! + t, sanitizerEnd, sanitizerEnd.count) == 0
    {
      closed = true
    } else if c == 0x73, report.kind == .lockdep, body.has("stack backtrace:", at: t) {
      sawStackBacktrace = true
    }
    return true
  }

  /// A frame line in the common shape (`FrameParser.parseCommon`) when `consume` would do
  /// nothing with it but collect the frame: not counting only, not in a held-lock list, not a
  /// frame of a lockdep chain block, and in a lockdep report only while the context has no
  /// held-lock list open (`noLockList`). The body starts with a space, so it cannot start a
  /// header or a dump. Returns false, having changed nothing, otherwise.
  @inline(__always)
  func takePlainFrame(_ body: UnsafeBufferPointer<UInt8>, line raw: UnsafeBufferPointer<UInt8>, number: Int, noLockList: Bool) -> Bool {
    guard !isCountOnly, !inHeldLocks, chainIndex < 0 || inTrace, report.kind != .lockdep || noLockList,
      let f = FrameParser.parseCommon(body)
    else {
      return false
    }
    if frameCount < max {
      collectFrame(f, in: body, context: context, line: number, json: borrowed(framesJSON), frames: &report.frames, count: &frameCount)
    } else {
      omitted += 1
    }
    report.endLine = number
    if text != nil { appendText(raw) }
    return true
  }

  /// Feeds one line; returns false when the line ends the report (the line is not part of it).
  func consume(_ body: UnsafeBufferPointer<UInt8>, pre: ParsedPrefix, number: Int, parser: EventParser) -> Bool {
    let t = body.skipSpaces(0)
    let rest = UnsafeBufferPointer(rebasing: body[t...])
    guard let first = rest.first else {
      report.endLine = number
      return true
    }
    // Register dump lines (`RAX: … RBX: …`, a report has a dozen) go straight to the register
    // list: every branch below but the RIP and CPU lines' passes over them (no frame parses
    // `NAME: `, no held-lock line starts so), and lockdep's description parser is left its lines.
    if first &- 0x41 < 26, !inHeldLocks, report.kind != .lockdep, let e = LineParsers.registerLineStart(rest),
      e != 3 || !(rest.has("RIP: ") || rest.has("CPU: ")), !callTrace.matchesStart(of: rest)
    {
      if t == 0 && inTrace && !sawContextMarker { inTrace = false }
      report.endLine = number
      registerLine(rest)
      return true
    }
    // Frames first: they are most of a report's lines.
    if first != 0x3C, (t > 0 || inTrace), let f = FrameParser.parseRaw(body) {
      if chainIndex >= 0, let count = report.lockdep?.chain.count, chainIndex < count, t >= 4 && !inTrace {
        // In place: a copy of the lockdep details, written back, copied the whole chain per frame.
        if (report.lockdep?.chain[chainIndex].frames.count ?? 64) < 64 {
          report.lockdep?.chain[chainIndex].frames.append(Frame(f, in: body, context: context, line: number))
        }
      } else if frameCount < max {
        collectFrame(f, in: body, context: context, line: number, json: borrowed(framesJSON), frames: &report.frames, count: &frameCount)
      } else {
        omitted += 1
      }
      report.endLine = number
      return true
    }
    if let ctx = ReportState.contextMarker(rest) {
      report.endLine = number
      sawContextMarker = true
      if let c = ctx {
        context = c
        inTrace = true
      } else if rest.has("</TASK>") {
        inTrace = false
        // A hung task or lockdep report is over once its (final) task stack closes.
        if report.kind == .hungTask || (report.kind == .lockdep && sawStackBacktrace) {
          return finishAfter()
        }
      } else {
        context = .task
      }
      return true
    }
    if callTrace.matchesStart(of: rest) {
      if rest.has("stack backtrace:") { sawStackBacktrace = true }
      inTrace = true
      chainIndex = -1
      report.endLine = number
      return true
    }
    switch first {
    case 0x52:  // R
      if rest.has("RIP: ") {
        if report.rip == nil { report.rip = FrameParser.parseRIP(rest, at: 5, line: number) }
        report.endLine = number
        return true
      }
    case 0x43:  // C
      if rest.has("Code: ") {
        if report.code == nil { report.code = rest.text(6..<rest.count) }
        report.endLine = number
        return true
      }
      if rest.has("CPU: "), let (cpu, task, taint) = LineParsers.cpuLine(rest) {
        report.cpu = report.cpu ?? cpu
        if report.task == nil { report.task = task }
        if report.taint == nil { report.taint = taint }
        report.endLine = number
        return true
      }
    case 0x4D:  // M
      if rest.has("Modules linked in:") {
        if report.modules == nil {
          report.modules = rest.text(18..<rest.count).split(separator: " ").map(String.init)
        }
        report.endLine = number
        return true
      }
    case 0x74:  // t
      if report.kind == .hungTask, report.hungTask?.info == nil, let info = LineParsers.taskLine(rest) {
        report.hungTask?.info = info
        report.endLine = number
        return true
      }
    case 0x2D:  // -
      if report.kind == .lockdep, let link = LineParsers.chainHeader(rest, line: number) {
        // Real chains are a handful of links; cap hostile ones (lines stay in the report).
        if (report.lockdep?.chain.count ?? 0) < 1024 { report.lockdep?.chain.append(link) }
        chainIndex = (report.lockdep?.chain.count ?? 0) - 1
        inTrace = false
        report.endLine = number
        return true
      }
    case 0x2A:  // *
      if rest.has("*** DEADLOCK ***") {
        report.lockdep?.isDeadlock = true
        report.endLine = number
        return true
      }
    case 0x3D:  // =
      if sanitizerKinds.contains(report.kind), report.endLine > report.position.line,
        rest.count >= sanitizerEnd.count, memcmp(rest.baseAddress!, sanitizerEnd, sanitizerEnd.count) == 0
      {
        // The closing rule of a sanitizer report is part of it.
        report.endLine = number
        return finishAfter()
      }
    default:
      break
    }
    if (t > 0 || report.kind == .hungTask) && (rest.has("Tainted: ") || rest.has("Not tainted")) {
      if report.taint == nil { report.taint = rest.text(from: 0) }
      if report.kind == .hungTask, report.hungTask?.taint == nil { report.hungTask?.taint = rest.text(from: 0) }
      report.endLine = number
      return true
    }
    if report.kind == .lockdep {
      if rest.find(" is trying to acquire") != nil {
        lockdepExpect = .acquiring
        if report.lockdep?.task == nil, let sp = rest.find(" is trying") {
          report.lockdep?.task = LineParsers.splitTask(rest, 0, sp, separator: 0x2F)
        }
      } else if rest.has("but task is already holding") {
        lockdepExpect = .holding
      } else if lockdepExpect != .none, let l = LineParsers.lockDescription(rest, from: 0, index: -1, line: number) {
        if lockdepExpect == .acquiring { report.lockdep?.acquiring = l } else { report.lockdep?.holding.append(l) }
        lockdepExpect = .none
      }
    }
    // (A header starts with a digit or `no`: the first byte spares most lines the call.)
    inHeldLocks =
      ((Bytes.isDigit(first) || first == 0x6E) && LineParsers.heldLocksHeader(rest) != nil)
      || (inHeldLocks && LineParsers.heldLockEntry(rest, line: number) != nil)
    if t == 0 && inTrace && !sawContextMarker {
      // Old kernels without <TASK> markers: the first non-frame, non-register line ends the
      // stack, and with it a hung-task report.
      if report.kind == .hungTask && !LineParsers.looksLikeRegisters(rest) { return false }
      inTrace = false
    }
    report.endLine = number
    registerLine(rest)
    return true
  }

  /// Marks the report complete after the current line (the line stays in the report).
  private func finishAfter() -> Bool {
    closed = true
    return true
  }

  var closed = false

  private func registerLine(_ rest: UnsafeBufferPointer<UInt8>) {
    guard let f = rest.first, f &- 0x41 < 26, registerCount < 64 else { return }
    guard registersJSON != nil else {
      _ = LineParsers.registers(rest, into: &report.registers)
      registerCount = report.registers.count
      return
    }
    var n = registerCount
    borrowed(registersJSON).unsafelyUnwrapped._withUnsafeGuaranteedRef { j in
      _ = LineParsers.forEachRegister(rest) { name, value in
        j.register(rest, name: name, value: value, first: n == 0)
        n += 1
      }
    }
    registerCount = n
  }
}

/// Adds a parsed frame to an open report's or dump's stack: encoded into `json` in JSON Lines
/// mode, as a `Frame` value otherwise. The buffer comes borrowed (`borrowed(_:)`): passed as a
/// reference beside the inout `frames`, it was retained and released around every frame.
@inline(__always)
private func collectFrame(
  _ f: RawFrame, in line: UnsafeBufferPointer<UInt8>, context: StackContext, line number: Int,
  json: Unmanaged<JSONBuffer>?, frames: inout [Frame], count: inout Int
) {
  if let json {
    let first = count == 0
    json._withUnsafeGuaranteedRef { j in
      if !first { j.byte(0x2C) }
      j.frame(f, in: line, context: context, line: number)
    }
  } else {
    frames.append(Frame(f, in: line, context: context, line: number))
  }
  count += 1
}

/// A per-line buffer or output, to be used without a retain/release pair (each showed in
/// profiles): the owner keeps it alive, and `_withUnsafeGuaranteedRef` borrows it.
@inline(__always)
private func borrowed<T: AnyObject>(_ object: T?) -> Unmanaged<T>? {
  object.map { Unmanaged.passUnretained($0) }
}

private let sanitizerKinds: Set<ReportKind> = [.kasan, .kmsan, .kcsan, .kfence, .ubsan]
