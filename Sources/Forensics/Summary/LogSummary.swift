import Ingest

/// A bounded digest of one or more logs' events: what `analyze` prints by default.
///
/// Memory stays flat whatever the log size: the first `maxReports` reports (and lock lists,
/// blockers, markers) are kept in full, later ones are only counted.
public struct LogSummary: Sendable, Codable {
  public struct FileInfo: Sendable, Codable, Equatable {
    public var path: String
    public var lineCount: Int
    public var truncatedLineCount: Int
    public var linuxVersion: String?
    public var kernelOffset: String?
  }

  /// A crash report plus what analyses add (the syzbot-style title when the title engine ran).
  public struct ReportEntry: Sendable, Codable {
    public var report: CrashReport
    public var title: String?
    public var altTitles: [String]?
    public var type: String?
    public var guiltyFrame: String?
    public var guiltyFile: String?
    public var isCorrupted: Bool?
  }

  public var schema = 1
  public var files: [FileInfo] = []
  public var reports: [ReportEntry] = []
  public var omittedReportCount = 0
  public var reportCounts: [String: Int] = [:]
  public var heldLocks: [HeldLockList] = []
  public var omittedHeldLockCount = 0
  public var blockers: [BlockerNote] = []
  public var taskDumpCount = 0
  public var ftraceRecordCount = 0
  /// ftrace records per event/caller name.
  public var tracepoints: [String: Int] = [:]
  /// `vhost_lock:` operations per "operation lock" (e.g. "acquire dev->mutex").
  public var vhostLockOps: [String: Int] = [:]
  public var markers: [Marker] = []

  public var maxReports = 500
  public var maxLockLists = 2000
  public var maxMarkers = 500

  public init() {}

  private enum CodingKeys: String, CodingKey {
    case schema, files, reports, omittedReportCount, reportCounts, heldLocks, omittedHeldLockCount
    case blockers, taskDumpCount, ftraceRecordCount, tracepoints, vhostLockOps, markers
  }

  /// Starts accounting for a new input file.
  public mutating func beginFile(_ path: String) {
    files.append(FileInfo(path: path, lineCount: 0, truncatedLineCount: 0))
  }

  public mutating func endFile(lineCount: Int, truncatedLineCount: Int) {
    guard !files.isEmpty else { return }
    files[files.count - 1].lineCount = lineCount
    files[files.count - 1].truncatedLineCount = truncatedLineCount
  }

  public mutating func add(_ event: Event, title: TitledReport? = nil) {
    switch event {
    case .report(let r):
      reportCounts[r.kind.rawValue, default: 0] += 1
      if reports.count < maxReports {
        reports.append(
          ReportEntry(
            report: r, title: title?.title, altTitles: title?.altTitles, type: title?.type,
            guiltyFrame: title?.frame, guiltyFile: title?.guiltyFile, isCorrupted: title?.isCorrupted))
      } else {
        omittedReportCount += 1
      }
    case .heldLocks(let l):
      if heldLocks.count < maxLockLists {
        heldLocks.append(l)
      } else {
        omittedHeldLockCount += 1
      }
    case .blocker(let b):
      if blockers.count < maxLockLists { blockers.append(b) }
    case .taskDump:
      taskDumpCount += 1
    case .ftrace(let f):
      ftraceRecordCount += 1
      tracepoints[f.event, default: 0] += 1
      if let v = f.vhostLock {
        vhostLockOps[v.operation + (v.lock.map { " " + $0 } ?? ""), default: 0] += 1
      }
    case .marker(let m):
      if !files.isEmpty {
        if m.kind == .linuxVersion, files[files.count - 1].linuxVersion == nil {
          files[files.count - 1].linuxVersion = m.value
        }
        if m.kind == .kernelOffset { files[files.count - 1].kernelOffset = m.value }
      }
      if markers.count < maxMarkers { markers.append(m) }
    }
  }

  /// Adds tallies a count-only parser gathered without emitting ftrace events.
  public mutating func addCounted(reports: [ReportKind: Int] = [:], lockLists: Int = 0, tracepoints: [String: Int], vhostOps: [String: Int]) {
    omittedHeldLockCount += lockLists
    for (k, v) in reports {
      reportCounts[k.rawValue, default: 0] += v
      omittedReportCount += v
    }
    for (k, v) in tracepoints {
      self.tracepoints[k, default: 0] += v
      ftraceRecordCount += v
    }
    for (k, v) in vhostOps { vhostLockOps[k, default: 0] += v }
  }

  /// Appends `tail`, a summary of the rest of the current file gathered by a second parser
  /// (`TwoCoreParse`), as if its events had been added here in order. `tail` has one file
  /// entry (its path is ignored) carrying the banner and KASLR offset it saw.
  public mutating func appendContinuation(_ tail: LogSummary) {
    var t = tail
    let info = t.files.first
    t.files = []
    merge(t)
    guard !files.isEmpty, let info else { return }
    if files[files.count - 1].linuxVersion == nil { files[files.count - 1].linuxVersion = info.linuxVersion }
    if let k = info.kernelOffset { files[files.count - 1].kernelOffset = k }
  }

  /// Merges another summary (batch mode: one per file, combined in input order).
  public mutating func merge(_ o: LogSummary) {
    files += o.files
    for r in o.reports {
      if reports.count < maxReports { reports.append(r) } else { omittedReportCount += 1 }
    }
    omittedReportCount += o.omittedReportCount
    for (k, v) in o.reportCounts { reportCounts[k, default: 0] += v }
    for l in o.heldLocks {
      if heldLocks.count < maxLockLists { heldLocks.append(l) } else { omittedHeldLockCount += 1 }
    }
    omittedHeldLockCount += o.omittedHeldLockCount
    blockers += o.blockers.prefix(max(0, maxLockLists - blockers.count))
    taskDumpCount += o.taskDumpCount
    ftraceRecordCount += o.ftraceRecordCount
    for (k, v) in o.tracepoints { tracepoints[k, default: 0] += v }
    for (k, v) in o.vhostLockOps { vhostLockOps[k, default: 0] += v }
    markers += o.markers.prefix(max(0, maxMarkers - markers.count))
  }

  /// True when no more reports or lock lists will be kept in detail.
  public var isFull: Bool { reports.count >= maxReports }

  /// Total crash reports seen (kept or not).
  public var reportCount: Int { reportCounts.values.reduce(0, +) }
}
