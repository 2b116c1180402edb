import ArgumentParser
import Forensics
import Foundation
import Ingest

/// Batch-mode flags of `analyze` (see docs/batch.md).
struct BatchOptions: ParsableArguments {
  @Flag(name: .long, help: "One JSON Lines record per crash report with a stable signature (implied by --jsonl with a directory or several inputs).")
  var batch = false

  @Flag(name: .long, help: "Group the reports of all inputs by signature, with counts (text; --json or --jsonl for machines).")
  var summary = false

  @Flag(name: .long, help: "With --jsonl and many inputs: stream every parsed event instead of batch records.")
  var events = false

  @Option(name: .long, help: "Worker threads for batch mode (default: the number of CPUs).")
  var jobs: Int?

  func validate() throws {
    if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    if events && (batch || summary) { throw ValidationError("--events cannot be combined with --batch or --summary") }
  }

  enum Mode { case records, summary }

  /// Batch mode to run, or nil for the single-stream `analyze` behaviour. `--jsonl` over a
  /// directory or several inputs means batch records unless `--events` asks for the stream.
  func mode(arguments: [String], output: OutputOptions) throws -> Mode? {
    if summary { return .summary }
    if batch {
      if output.json { throw ValidationError("--batch writes JSON Lines; use --jsonl or nothing, not --json") }
      return .records
    }
    guard output.jsonl, !events else { return nil }
    var isDirectory: ObjCBool = false
    let hasDirectory = arguments.contains {
      FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && isDirectory.boolValue
    }
    return arguments.count > 1 || hasDirectory ? .records : nil
  }
}

/// One line of batch output: a crash report reduced to what grouping and triage need.
/// Keys are snake_case and sorted; no wall-clock or host fields, so equal inputs give equal bytes.
struct BatchRecord: Codable, Sendable {
  var schema = 1
  var file: String
  /// 0-based index of the report in its file.
  var report: Int
  var line: Int
  var endLine: Int
  var kind: String
  var headline: String
  var title: String
  /// `title_engine` (syzbot-style title) or `headline` (normalised headline: no title matched).
  var titleSource: String
  var altTitles: [String]
  /// syzbot crash type (`HANG`, `LOCKDEP`, …) from the title engine.
  var type: String?
  var guiltyFrame: String?
  var isCorrupted: Bool
  var signature: String
  var stack: [String]
  var task: TaskRef?
  var frameCount: Int
  var isTruncated: Bool
}

/// Runs `analyze` over many logs on several threads; output order is input order.
enum AnalyzeBatch {
  /// What one worker produced for one input.
  struct FileResult: Sendable {
    var records: [BatchRecord] = []
    var error: String?
  }

  /// Runs batch mode when the flags and inputs ask for it (see `BatchOptions.mode`); returns
  /// false when `analyze` should run its normal single-stream path.
  static func runIfRequested(
    arguments: [String], options: BatchOptions, output: OutputOptions, rulesDirectory: String?,
    failOn: [String]
  ) throws -> Bool {
    guard let mode = try options.mode(arguments: arguments, output: output) else { return false }
    let dir = runOrFail { try RulesDirectory.locate(explicit: rulesDirectory) }
    let rules = runOrFail { try IngestRules.shared(directory: dir) }
    let signatureRules = runOrFail { try SignatureRules.load(directory: dir) }
    let inputs = runOrFail { try InputList.expand(arguments) }
    let titler = runOrFail { try Titler(rulesDirectory: dir) }
    try run(
      inputs: inputs, mode: mode, output: output, jobs: options.jobs, failOn: failOn, rules: rules,
      signatureRules: signatureRules, titler: titler)
    return true
  }

  static func run(
    inputs: [String], mode: BatchOptions.Mode, output: OutputOptions, jobs: Int?, failOn: [String],
    rules: IngestRules, signatureRules: SignatureRules, titler: Titler?
  ) throws {
    let out = StdoutWriter()
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    var groups = SignatureGroups()
    var errorCount = 0
    var kinds = Set<String>()
    forEachResult(inputs: inputs, jobs: jobs ?? ProcessInfo.processInfo.activeProcessorCount) {
      path, result in
      if let e = result.error {
        errorCount += 1
        Terminal.writeStderr("repro-analyze: error: \(e)\n")
      }
      groups.fileCount += 1
      if result.records.isEmpty && result.error == nil { groups.filesWithoutReports += 1 }
      for r in result.records {
        kinds.insert(r.kind)
        switch mode {
        case .records:
          if let data = try? encoder.encode(r) { out.write(Array(data) + [0x0A]) }
        case .summary:
          groups.add(r)
        }
      }
    }
    if mode == .summary {
      groups.errorCount = errorCount
      if output.json {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        e.keyEncodingStrategy = .convertToSnakeCase
        out.write(Array(try e.encode(groups.document())) + [0x0A])
      } else if output.jsonl {
        for g in groups.sorted() { out.write(Array(try encoder.encode(g)) + [0x0A]) }
      } else {
        out.write(groups.text(style: Style(enabled: Terminal.colorStdout)))
      }
    }
    out.flush()
    if errorCount > 0 { throw ExitCode(2) }
    if !failOn.isEmpty, failOn.contains("any") ? !kinds.isEmpty : !kinds.isDisjoint(with: failOn) {
      throw ExitCode(1)
    }

    func forEachResult(inputs: [String], jobs: Int, _ emit: (String, FileResult) -> Void) {
      let pool = OrderedPool(count: inputs.count, workers: min(max(jobs, 1), max(inputs.count, 1))) { i in
        analyzeFile(inputs[i], rules: rules, signatureRules: signatureRules, titler: titler)
      }
      for (i, path) in inputs.enumerated() { emit(path, pool.result(i)) }
    }
  }

  /// Parses one log and turns its reports into records. Errors name the file.
  static func analyzeFile(
    _ path: String, rules: IngestRules, signatureRules: SignatureRules, titler: Titler?
  ) -> FileResult {
    var result = FileResult()
    do {
      let source = try LogSource.open(path)
      var index = 0
      var titled: TitledReport?
      let parser = EventParser(rules: rules, file: path) { event in
        guard case .report(let r) = event else { return }
        let sig = signatureRules.signature(of: r, title: titled?.title)
        result.records.append(
          BatchRecord(
            file: path, report: index, line: r.position.line, endLine: r.endLine,
            kind: r.kind.rawValue, headline: r.headline, title: sig.title,
            titleSource: sig.titleSource, altTitles: titled?.altTitles ?? [], type: titled?.type,
            guiltyFrame: titled?.frame, isCorrupted: titled?.isCorrupted ?? false,
            signature: sig.hash, stack: sig.frames, task: r.task,
            frameCount: r.frames.count + (r.omittedFrameCount ?? 0), isTruncated: r.isTruncated))
        index += 1
        titled = nil
      }
      if let titler {
        // The title engine names each report from its own lines (syzbot-compatible titles),
        // just before the parser emits the report event.
        parser.onReportText = { _, text in titled = titler.reports(in: text).first }
      }
      try source.forEachLine { parser.consume($0) }
      parser.finish()
    } catch {
      result.error = String(describing: error)
    }
    return result
  }
}

/// Runs `work(i)` for i in 0..<count on `workers` threads and hands results back in index order.
/// Workers stay at most `window` items ahead of the consumer, so memory is bounded by the window,
/// not by the number of inputs.
final class OrderedPool<Result: Sendable>: @unchecked Sendable {
  // SAFETY: all mutable state is guarded by `cond`.
  private let cond = NSCondition()
  private var results: [Int: Result] = [:]
  private var next = 0
  private var consumed = 0
  private let count: Int
  private let window = 64

  init(count: Int, workers: Int, _ work: @escaping @Sendable (Int) -> Result) {
    self.count = count
    for _ in 0..<workers {
      let t = Thread { [self] in
        while let i = claim() {
          let r = work(i)
          cond.lock()
          results[i] = r
          cond.broadcast()
          cond.unlock()
        }
      }
      t.stackSize = 8 << 20
      t.start()
    }
  }

  private func claim() -> Int? {
    cond.lock()
    defer { cond.unlock() }
    while next < count && next >= consumed + window { cond.wait() }
    guard next < count else { return nil }
    next += 1
    return next - 1
  }

  /// Blocks until item `i` is done; must be called for 0, 1, 2, … in order.
  func result(_ i: Int) -> Result {
    cond.lock()
    defer { cond.unlock() }
    while results[i] == nil { cond.wait() }
    let r = results.removeValue(forKey: i)!
    consumed = i + 1
    cond.broadcast()
    return r
  }
}

/// `--summary`: reports grouped by signature.
struct SignatureGroups {
  struct Group: Codable, Sendable {
    var signature: String
    var title: String
    var titleSource: String
    var stack: [String]
    var kind: String
    var count: Int
    var fileCount: Int
    /// The first few occurrences, `path:line`, in input order.
    var examples: [String]
  }

  struct Document: Codable {
    var schema = 1
    var fileCount: Int
    var filesWithoutReports: Int
    var errorCount: Int
    var reportCount: Int
    var groups: [Group]
  }

  var fileCount = 0
  var filesWithoutReports = 0
  var errorCount = 0
  var reportCount = 0
  private var bySignature: [String: Group] = [:]
  private var lastFile: [String: String] = [:]
  static let exampleCount = 5

  mutating func add(_ r: BatchRecord) {
    reportCount += 1
    var g =
      bySignature[r.signature]
      ?? Group(
        signature: r.signature, title: r.title, titleSource: r.titleSource, stack: r.stack,
        kind: r.kind, count: 0, fileCount: 0, examples: [])
    g.count += 1
    if lastFile[r.signature] != r.file {
      g.fileCount += 1
      lastFile[r.signature] = r.file
    }
    if g.examples.count < Self.exampleCount { g.examples.append("\(r.file):\(r.line)") }
    bySignature[r.signature] = g
  }

  /// Most frequent first; ties by signature, so the order is deterministic.
  func sorted() -> [Group] {
    bySignature.values.sorted { ($0.count, $1.signature) > ($1.count, $0.signature) }
  }

  func document() -> Document {
    Document(
      fileCount: fileCount, filesWithoutReports: filesWithoutReports, errorCount: errorCount,
      reportCount: reportCount, groups: sorted())
  }

  func text(style: Style) -> String {
    let groups = sorted()
    var s = style.bold("\(groups.count) signature\(groups.count == 1 ? "" : "s")")
    s += ", \(reportCount) report\(reportCount == 1 ? "" : "s") in \(fileCount) file\(fileCount == 1 ? "" : "s")"
    s += " (\(filesWithoutReports) without a report, \(errorCount) unreadable)\n"
    for g in groups {
      s += "\n" + String(repeating: " ", count: max(0, 6 - String(g.count).count)) + style.bold("\(g.count)")
      s += "  " + style.dim(g.signature) + "  " + style.red(g.title) + "\n"
      let stack = g.stack.isEmpty ? "(no reliable frames)" : g.stack.joined(separator: " < ")
      s += "        " + stack + "\n"
      s += "        in \(g.fileCount) file\(g.fileCount == 1 ? "" : "s"), first: \(g.examples.first ?? "-")\n"
    }
    return s
  }
}
