import ArgumentParser
import CSupport
import Forensics
import Foundation
import Ingest
import Synchronization

struct AnalyzeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "analyze",
    abstract: "Parse serial logs and ftrace dumps into crash reports, hung tasks, locks and traces.",
    discussion: """
      Example:
        repro-analyze analyze qemu-serial.panic.20261125-1201.log
        repro-analyze qemu-serial.log --jsonl | jq 'select(.kind=="report")'
        repro-analyze analyze --summary runs/        # many logs, grouped by signature
      Exit status: 0 when the logs were read (findings or not), 1 when a finding matched
      --fail-on, 2 on usage or input errors.
      """
  )

  @Argument(help: "Log files (.xz is read transparently), directories (searched recursively), or - for stdin.")
  var files: [String] = []

  @OptionGroup var output: OutputOptions
  @OptionGroup var rulesOptions: RulesOptions
  @OptionGroup var symbols: SymbolOptions

  @Option(name: .long, help: "Also write a self-contained HTML report (summary, stacks, lock graph, timeline, excerpt).")
  var html: String?
  @OptionGroup(title: "Batch mode (many logs)") var batchOptions: BatchOptions

  @Option(name: .customLong("fail-on"), help: "Exit 1 when a report of this kind is found (any, hung_task, kasan, warning, …); repeatable.")
  var failOn: [String] = []

  @Option(name: .customLong("max-frames"), help: "Frames shown per stack in the text summary.")
  var maxFrames = 10

  @Flag(name: .long, help: "Print per file the bytes read, the time taken and whether two cores were used, to stderr.")
  var timing = false

  /// Adds file:line and inline frames to the kept reports; refuses a vmlinux whose banner differs
  /// from the log's `Linux version` line.
  func symbolizeSummary(_ summary: inout LogSummary, vmlinux: String) throws {
    let explicit = try symbols.parsedKASLROffset()
    let sym = try Symbolizer(vmlinux: vmlinux, moduleDirectories: symbols.modules, kaslrOffset: explicit, useCache: !symbols.noCache)
    if let banner = sym.banner {
      for f in summary.files {
        if let release = f.linuxVersion, !banner.hasPrefix("Linux version \(release) ") {
          throw CLIError(
            "\(f.path): the log's kernel is \(release) but \(vmlinux) is '\(banner.prefix(80))'\n  hint: pass the vmlinux of the kernel that produced this log (its build id must match)")
        }
      }
    }
    let offsets = Dictionary(summary.files.map { ($0.path, $0.kernelOffset) }, uniquingKeysWith: { a, _ in a })
    _ = summary.symbolize(with: sym) { file in
      if let explicit { return explicit }
      guard let v = offsets[file] ?? nil else { return nil }
      return v == "disabled" ? 0 : UInt64(v.dropFirst(2), radix: 16)
    }
  }

  func validate() throws {
    if files.isEmpty { throw ValidationError("give at least one log file, directory, or - for stdin") }
    let kinds = Set(ReportKind.allCases.map(\.rawValue)).union(["any"])
    for k in failOn where !kinds.contains(k) {
      throw ValidationError("--fail-on '\(k)': not a report kind; use one of \(kinds.sorted().joined(separator: ", "))")
    }
  }

  /// What the second core's parser produced (see TwoCoreParse): a summary of its own and, with
  /// --jsonl, its JSON Lines in an unlinked temporary file (memory stays flat). Touched only by
  /// the tail's thread until the head joins it.
  final class TailOutput {
    var summary = LogSummary()
    /// The tail parser's JSON Lines output (--jsonl), written to `spool`.
    let jsonLines: JSONLinesOutput?
    private let spool = Spool()

    /// An unlinked temporary file in $TMPDIR (or /tmp), created on the first write. A failure
    /// is kept and reported by `copySpool`: output is never dropped silently. Written by the
    /// tail's thread; `written` tells the head how much of it is complete, so the head can copy
    /// it out while the tail still runs.
    final class Spool: @unchecked Sendable {
      // SAFETY: `fd` and `failure` are set by the tail's thread before the head reads them (the
      // head reads `fd` only after seeing `written` > 0, `failure` only after the join).
      var fd: Int32 = -1
      var failure: String?
      let written = Atomic<Int>(0)
      /// Creates the file; false (with `failure` set) when that is impossible.
      func open() -> Bool {
        let dir = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(dir)/repro-analyze-jsonl.XXXXXX".utf8CString)
        fd = mkstemp(&template)
        if fd >= 0 {
          unlink(template)
        } else {
          failure = "cannot create a temporary file in \(dir): \(String(cString: strerror(errno)))"
        }
        return fd >= 0
      }

      func write(_ b: UnsafeBufferPointer<UInt8>) {
        if fd < 0, failure == nil { _ = open() }
        guard fd >= 0, failure == nil, let base = b.baseAddress else { return }
        var done = 0
        while done < b.count {
          let n = Glibc.write(fd, base + done, b.count - done)
          if n < 0 && errno == EINTR { continue }
          if n <= 0 {
            failure = "cannot write the temporary JSON Lines spool: \(String(cString: strerror(errno)))"
            return
          }
          done += n
        }
        written.add(b.count, ordering: .releasing)
      }
      deinit { if fd >= 0 { close(fd) } }
    }

    init(path: String, jsonl: Bool) {
      summary.beginFile(path)
      jsonLines = jsonl ? JSONLinesOutput { [spool] in spool.write($0) } : nil
    }

    func add(_ e: Event) { summary.add(e) }

    /// Whether the second core can be used: with --jsonl its output needs the spool file (when
    /// none can be created, one core reads everything and nothing waits anywhere).
    var canSplit: Bool { jsonLines == nil || spool.fd >= 0 || spool.open() }

    /// Spool bytes already copied to standard output.
    private var copied = 0
    /// For --timing: whether the tail had finished when the head did, and how many spool bytes
    /// were left to copy once both were done.
    private(set) var tailWasDone = false
    private(set) var copiedAfterJoin = 0

    /// While the tail runs: copies what it has spooled from byte `offset` (the sync point's) on,
    /// so that little is left to copy once it is done.
    func copyWhileRunning(to out: StdoutWriter, from offset: Int, until finished: () -> Bool) {
      copied = offset
      out.flush()
      tailWasDone = finished()
      while !finished() {
        let ready = spool.written.load(ordering: .acquiring)
        if ready - copied >= 1 << 20 {
          // Stops quietly on an error: the final copy meets and reports it.
          if (try? send(upTo: ready)) == nil { return }
        } else {
          usleep(1000)
        }
      }
    }

    /// Copies the rest of the spooled output, from byte `offset` (the sync point's) or where
    /// `copyWhileRunning` stopped, once the tail is done (and joined).
    func copySpool(to out: StdoutWriter, from offset: Int) throws {
      copied = max(copied, offset)
      jsonLines?.flush()
      let hint = "\n  hint: set TMPDIR to a directory with free space (the second core's output waits there)"
      if let failure = spool.failure { throw CLIError(failure + hint) }
      out.flush()
      let before = copied
      try send(upTo: spool.written.load(ordering: .acquiring))
      copiedAfterJoin = copied - before
    }

    /// sendfile: in the kernel, no copy through this process. In 1 MiB pieces, the size the
    /// parsers write in (single writes of several MiB copied slower per byte on the bench VM).
    /// Where sendfile cannot write (stdout opened for appending, `>>`: EINVAL), the bytes go
    /// through a buffer instead.
    private func send(upTo end: Int) throws {
      guard spool.fd >= 0 else { return }
      var at = off_t(copied)
      while at < end {
        let want = Int(min(off_t(end) - at, 1 << 20))
        let n = throughBuffer ? copyThroughBuffer(from: at, count: want) : sendfile(1, spool.fd, &at, want)
        if n < 0 && errno == EINTR { continue }
        if n < 0 && errno == EPIPE { StdoutWriter.failed(EPIPE) }  // the reader is gone: quietly
        if n < 0 && errno == EAGAIN {
          // A non-blocking stdout (a pipe set up so by its reader) that is full.
          StdoutWriter.waitUntilWritable()
          continue
        }
        if n < 0 && (errno == EINVAL || errno == ENOSYS) && !throughBuffer {
          throughBuffer = true
          continue
        }
        if n <= 0 { throw CLIError("cannot copy the temporary JSON Lines spool to standard output: \(String(cString: strerror(errno)))") }
        if throughBuffer { at += off_t(n) }
        copied = Int(at)
        release(upTo: copied)
      }
    }

    /// Set once sendfile has refused standard output.
    private var throughBuffer = false
    private var copyBuffer: UnsafeMutableRawPointer?

    /// Reads up to `count` spool bytes at `offset` and writes them all to stdout (a failed
    /// write ends the run as `StdoutWriter`'s do): the bytes read, or -1 with errno set.
    private func copyThroughBuffer(from offset: off_t, count: Int) -> Int {
      let buf = copyBuffer ?? UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 4096)
      copyBuffer = buf
      let n = pread(spool.fd, buf, count, offset)
      if n > 0 { StdoutWriter.writeAll(buf.assumingMemoryBound(to: UInt8.self), n) }
      return n
    }

    deinit { copyBuffer?.deallocate() }

    /// Spool bytes whose page-cache pages were handed back (`release`).
    private var released = 0

    /// Only when standard output is a regular file: sendfile then has copied the bytes when it
    /// returns. Into a pipe it passes references to the spool's pages, which the reader may
    /// not have read yet (punching a hole zeroes the part of a large page it covers).
    private lazy var mayRelease: Bool = {
      var st = stat()
      return fstat(1, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }()

    /// Punches out the spool's whole pages below `offset`, which were copied out (or precede
    /// the sync point and are never copied), so the kernel reuses those pages for the output's
    /// at once. Otherwise the copy needs as many fresh pages again, and on a VM whose freed
    /// memory goes back to the host (free page reporting) getting them cost 4-9x the copy
    /// itself (600 MiB: 1.3-2.8 s against 0.25-0.3 s punched, docs/performance.md). Best
    /// effort: a file system without hole punching keeps its pages until the spool is closed.
    /// (Into a pipe, nothing is released: see `mayRelease`.)
    private func release(upTo offset: Int) {
      let end = offset & ~4095
      guard end - released >= 4 << 20, mayRelease else { return }
      if ra_punch_hole(spool.fd, released, end - released) == 0 {
        released = end
      } else {
        released = Int.max / 2  // not supported here: stop trying
      }
    }
  }

  func run() throws {
    if try AnalyzeBatch.runIfRequested(arguments: files, options: batchOptions, output: output, rulesDirectory: rulesOptions.rules, failOn: failOn) { return }
    let rulesDir = runOrFail { try RulesDirectory.locate(explicit: rulesOptions.rules) }
    let rules = runOrFail { try IngestRules.shared(directory: rulesDir) }
    // The title rules (hundreds of JIT-compiled patterns) only serve the summary and HTML.
    let titler = output.jsonl ? nil : runOrFail { try Titler(rulesDirectory: rulesDir) }
    let inputs = runOrFail { try InputList.expand(files) }
    var summary = LogSummary()
    // Everything the HTML report needs (only collected with --html).
    var allEvents: [Event] = []
    var titlesByPosition: [SourcePosition: String] = [:]
    let wantsHTML = html != nil
    let out = StdoutWriter()
    for path in inputs {
      let source = runOrFail { try LogSource.open(path) }
      summary.beginFile(path)
      let total = source.byteCount ?? 0
      let bar = ProgressBar(total: total, label: path, enabled: Terminal.stderrIsTTY && total > 64 << 20 && !source.isCompressed)
      let streaming = output.jsonl
      var parserRef: EventParser?
      var jsonLinesFromEvents: JSONLinesOutput?
      var pendingTitle: TitledReport?
      let parser = EventParser(rules: rules, file: path) { event in
        summary.add(event, title: pendingTitle)
        if wantsHTML { allEvents.append(event) }
        pendingTitle = nil
        // Once the summary holds all the reports it will show, later ones are only counted.
        if !streaming, summary.isFull { parserRef?.isDetailed = false }
        jsonLinesFromEvents?.write(event)
      }
      parserRef = parser
      // --jsonl: the parser writes every event itself, as it parses (reports are counted for
      // --fail-on in `countedReports`). With --html the events are needed as values as well:
      // the parser hands them over, and they are written here.
      let jsonLines = streaming ? JSONLinesOutput { out.write($0) } : nil
      if wantsHTML { jsonLinesFromEvents = jsonLines } else { parser.jsonLines = jsonLines }
      if !streaming {
        // Title the reports the summary keeps, from their own lines (syzbot-compatible titles).
        parser.onReportText = { report, text in
          pendingTitle = summary.reports.count < summary.maxReports || wantsHTML ? titler?.reports(in: text).first : nil
          if wantsHTML, let t = pendingTitle?.title { titlesByPosition[report.position] = t }
        }
      }
      // A large file is read on two cores (same result as one parser; see TwoCoreParse). The
      // tail's events after its sync window go to a summary of its own, and with --jsonl to a
      // spool file, both appended after the head's.
      let tail = TailOutput(path: path, jsonl: streaming)
      let started = MonotonicClock.seconds()
      var headParsed = 0.0
      let joined = runOrFail {
        try TwoCoreParse.read(
          // (The spool file is only made for a source that will be split: not once per small log.)
          source, head: parser, split: !wantsHTML && (TwoCoreParse.splitPoint(source) == nil || tail.canSplit),
          progress: { bar.update($0) },
          eligible: { streaming || !parser.isDetailed }, tailSink: { tail.add($0) },
          makeTail: { sink in
            let p = EventParser(rules: rules, file: path, sink: sink)
            p.isDetailed = streaming
            p.jsonLines = tail.jsonLines
            return p
          },
          headPercent: streaming ? 45 : 55,
          whileTailRuns: streaming
            ? { point, finished in
              headParsed = MonotonicClock.seconds() - started
              jsonLines?.flush()
              tail.copyWhileRunning(to: out, from: point.outputOffset, until: finished)
            } : nil)
      }
      jsonLines?.flush()
      if let joined {
        summary.appendContinuation(tail.summary)
        if streaming { runOrFail { try tail.copySpool(to: out, from: joined.outputOffset) } }
      }
      if timing {
        let seconds = MonotonicClock.seconds() - started
        let mib = Double(total) / 1_048_576
        var how = joined != nil ? ", two cores" : ", one core"
        if joined != nil, streaming {
          // Where the time went: the second core's output is copied once the head's is out.
          how += String(
            format: " (first half parsed in %.3f s, the second %@; %.1f MiB of its output copied after both)", headParsed,
            tail.tailWasDone ? "done before it" : "still running then", Double(tail.copiedAfterJoin) / 1_048_576)
        }
        Terminal.writeStderr(
          "analyze: \(path): " + String(format: "%.1f MiB in %.3f s (%.0f MiB/s)", mib, seconds, seconds > 0 ? mib / seconds : 0) + how + "\n")
      }
      summary.addCounted(
        reports: parser.countedReports, lockLists: parser.countedLockLists, tracepoints: parser.countedTracepoints,
        vhostOps: parser.countedVhostOps)
      bar.finish()
      summary.endFile(lineCount: parser.lineCount, truncatedLineCount: parser.truncatedLineCount)
    }
    if let vmlinux = symbols.vmlinux, !output.jsonl {
      runOrFail { try symbolizeSummary(&summary, vmlinux: vmlinux) }
    }
    if let html {
      runOrFail {
        try writeHTMLReport(events: allEvents, logPaths: inputs, rulesDirectory: rulesDir, to: html) { titlesByPosition[$0.position] }
      }
      Terminal.writeStderr("repro-analyze: wrote \(html)\n")
    }
    if output.jsonl {
      // Written while parsing.
    } else if output.json {
      let enc = JSONEncoder()
      enc.outputFormatting = [.sortedKeys, .prettyPrinted]
      enc.keyEncodingStrategy = .convertToSnakeCase
      let data = runOrFail { try enc.encode(summary) }
      out.write(Array(data) + [0x0A])
    } else {
      out.write(Array(SummaryText.render(summary, style: Style(enabled: Terminal.colorStdout), maxFramesPerStack: maxFrames).utf8))
    }
    out.flush()
    if !failOn.isEmpty {
      let hit = failOn.contains("any") ? summary.reportCount > 0 : failOn.contains { summary.reportCounts[$0, default: 0] > 0 }
      if hit { throw ExitCode(1) }
    }
  }
}
