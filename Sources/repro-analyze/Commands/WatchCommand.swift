import ArgumentParser
import Driver
import Forensics
import Foundation
import Ingest

/// `repro-analyze watch`: follow a serial log, report matches, archive crash reports.
struct WatchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "watch",
    abstract: "Follow a growing serial log: print pattern matches, archive panic and hung-task reports.",
    discussion: """
      Matches are appended to watch_patterns.log next to the log; on a hung-task report or panic
      the log, this session's matches and the execprog stream tail are archived as
      qemu-serial.panic.<ts>.log, watch_patterns.panic.<ts>.log, execprog_stream.tail.<ts>.log.
      Patterns are rules/watch.toml. Survives truncation and recreation of the log.
        repro-analyze watch repro/a9528028ab4ca83e8bac
        repro-analyze watch --jsonl qemu-serial.log
      """
  )

  @Argument(help: "Bundle directory (reads its qemu-serial.log) or a log file (default: current directory).")
  var target: String = "."

  @Flag(name: .long, help: "Stream events as JSON Lines on stdout.")
  var jsonl = false

  @OptionGroup var rulesOptions: RulesOptions

  @Flag(name: .customLong("from-end"), help: "Start at the end of the log, like tail -n 0 -F.")
  var fromEnd = false

  @Flag(name: .long, help: "Exit after the first archive has been written.")
  var once = false

  @Option(name: .long, help: "Exit after this many seconds.")
  var timeout: Double?

  @Option(name: .long, help: "Seconds of quiet after a report before archiving (default from rules).")
  var settle: Double?

  func validate() throws {
    if let timeout, timeout <= 0 { throw ValidationError("--timeout must be positive") }
    if let settle, settle < 0 { throw ValidationError("--settle must not be negative") }
  }

  func run() throws {
    var options = WatchOptions.resolve(target)
    options.fromEnd = fromEnd
    options.exitAfterArchive = once
    options.timeout = timeout
    let rulesDirectory = runOrFail { try RulesDirectory.locate(explicit: rulesOptions.rules) }
    var rules = runOrFail { try WatchRules.load(directory: rulesDirectory) }
    if let settle { rules.settleSeconds = settle }
    let style = Style(enabled: Terminal.colorStdout)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    var isFirst = true
    let fileName = (options.logPath as NSString).lastPathComponent
    // Archives are labelled with the syzbot-style title from the Forensics title engine; if its
    // rules cannot be loaded, the report's headline line is used instead (with a warning).
    var titler: ReportTitling?
    do {
      titler = SyzbotTitling(titler: try Titler(rulesDirectory: rulesDirectory))
    } catch {
      Terminal.writeStderr("repro-analyze: warning: title rules unavailable, labelling reports by their first line: \(error)\n")
    }
    let watcher = Watcher(options: options, rules: rules, titler: titler) { event in
      if jsonl {
        guard var data = try? encoder.encode(event) else { return }
        if isFirst {
          // `"schema": 1` on the first record (docs/STYLE.md §7).
          data.removeLast()
          data.append(contentsOf: Array(",\"schema\":1}".utf8))
          isFirst = false
        }
        data.append(0x0A)
        FileHandle.standardOutput.write(data)
        return
      }
      var line: String
      switch event.event {
      case "match":
        let text = event.text ?? ""
        line = "\(fileName):\(event.line ?? 0): " + (event.pattern.map { style.dim("[\($0)] ") } ?? "")
          + (["hung-task", "kernel-panic", "kasan", "bug", "oops"].contains(event.pattern ?? "") ? style.red(text) : text)
      case "report":
        return
      case "archive":
        line = style.bold("watch: \(event.kind ?? "report") report: \(event.title ?? "")") + "\n"
          + (event.archives ?? []).map { "  archived \($0)" }.joined(separator: "\n")
      case "waiting":
        line = "watch: waiting for \(event.file) to appear"
      default:
        line = "watch: \(event.text ?? event.event)"
      }
      FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
    runOrFail { try watcher.run() }
  }
}

/// Adapts the Forensics title engine to the watcher's `ReportTitling` hook.
struct SyzbotTitling: ReportTitling {
  let titler: Titler
  func title(reportText: String) -> String? {
    titler.primaryReport(in: Array(reportText.utf8))?.title
  }
}
