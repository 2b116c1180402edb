import ArgumentParser
import Forensics
import Foundation
import Ingest

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
  @OptionGroup(title: "Batch mode (many logs)") var batchOptions: BatchOptions

  @Option(name: .customLong("fail-on"), help: "Exit 1 when a report of this kind is found (any, hung_task, kasan, warning, …); repeatable.")
  var failOn: [String] = []

  @Option(name: .customLong("max-frames"), help: "Frames shown per stack in the text summary.")
  var maxFrames = 10

  func validate() throws {
    if files.isEmpty { throw ValidationError("give at least one log file, directory, or - for stdin") }
    let kinds = Set(ReportKind.allCases.map(\.rawValue)).union(["any"])
    for k in failOn where !kinds.contains(k) {
      throw ValidationError("--fail-on '\(k)': not a report kind; use one of \(kinds.sorted().joined(separator: ", "))")
    }
  }

  func run() throws {
    if try AnalyzeBatch.runIfRequested(arguments: files, options: batchOptions, output: output, rulesDirectory: rulesOptions.rules, failOn: failOn) { return }
    let rules = runOrFail { try IngestRules.shared(directory: try RulesDirectory.locate(explicit: rulesOptions.rules)) }
    let inputs = runOrFail { try InputList.expand(files) }
    var summary = LogSummary()
    let out = StdoutWriter()
    var json = JSONBuffer()
    for path in inputs {
      let source = runOrFail { try LogSource.open(path) }
      summary.beginFile(path)
      let total = source.byteCount ?? 0
      let bar = ProgressBar(total: total, label: path, enabled: Terminal.stderrIsTTY && total > 64 << 20 && !source.isCompressed)
      let streaming = output.jsonl
      var parserRef: EventParser?
      let parser = EventParser(rules: rules, file: path) { event in
        summary.add(event)
        // Once the summary holds all the reports it will show, later ones are only counted.
        if !streaming, summary.isFull { parserRef?.isDetailed = false }
        if streaming {
          json.event(event)
          json.bytes.append(0x0A)
          if json.bytes.count > 1 << 16 {
            out.write(json.bytes)
            json.bytes.removeAll(keepingCapacity: true)
          }
        }
      }
      parserRef = parser
      runOrFail { try source.forEachLine(progress: { bar.update($0) }) { parser.consume($0) } }
      parser.finish()
      summary.addCounted(tracepoints: parser.countedTracepoints, vhostOps: parser.countedVhostOps)
      bar.finish()
      summary.endFile(lineCount: parser.lineCount, truncatedLineCount: parser.truncatedLineCount)
    }
    if output.jsonl {
      out.write(json.bytes)
    } else if output.json {
      let enc = JSONEncoder()
      enc.outputFormatting = [.sortedKeys, .prettyPrinted]
      enc.keyEncodingStrategy = .convertToSnakeCase
      let data = runOrFail { try enc.encode(summary) }
      out.write(Array(data) + [0x0A])
    } else {
      out.write(Array(SummaryText.render(summary, style: TextStyle(isEnabled: Terminal.colorStdout), maxFramesPerStack: maxFrames).utf8))
    }
    out.flush()
    if !failOn.isEmpty {
      let hit = failOn.contains("any") ? summary.reportCount > 0 : failOn.contains { summary.reportCounts[$0, default: 0] > 0 }
      if hit { throw ExitCode(1) }
    }
  }
}
