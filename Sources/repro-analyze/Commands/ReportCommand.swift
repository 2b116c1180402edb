import ArgumentParser
import Forensics
import Ingest

#if canImport(Glibc)
  import Glibc
#endif

/// `repro-analyze report`: the crash reports of a log, titled the way syzbot titles them.
struct ReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Title the crash reports in a log the way syzbot does.",
    discussion: """
      Finds crash reports in a kernel console log and prints the primary one (the first real \
      report, as syzbot picks it) with its syzbot title, alternative titles, type, guilty \
      frame, corrupted flag and guilty source file. --all prints every report.

      --json prints one JSON object per log: the primary report's keys at top level and \
      "reports" listing all of them.

      Example:
        repro-analyze report crash.log
        repro-analyze report --json --all qemu-serial.log
        repro-analyze report --timing --all --json corpus/*.log > /dev/null
      """)

  @Argument(help: "Console logs (plain or .xz), or - for stdin.")
  var logs: [String] = []

  @Flag(name: .long, help: "Print one JSON object per log.")
  var json = false

  @Flag(name: .long, help: "Show every report, not only the primary one.")
  var all = false

  @Flag(name: .long, help: "Print bytes, reports and time spent titling to stderr.")
  var timing = false

  @OptionGroup var rules: RulesOptions
  @OptionGroup var symbols: SymbolOptions

  func validate() throws {
    if logs.isEmpty { throw ValidationError("give a log file, or - for stdin") }
  }

  func run() throws {
    let titler: Titler = runOrFail {
      let dir = try RulesDirectory.locate(explicit: rules.rules)
      return try Titler(rulesDirectory: dir)
    }
    // --vmlinux: frames without file:line get one from DWARF, so the guilty file matches what
    // syzbot computes from its symbolized report.
    let explicitOffset: UInt64? = runOrFail {
      try symbols.kaslrOffset.map { s -> UInt64 in
        let hex = s.hasPrefix("0x") ? String(s.dropFirst(2)) : s
        guard let v = UInt64(hex, radix: 16) else { throw CLIError("--kaslr-offset '\(s)': not a hex number") }
        return v
      }
    }
    let symbolizer: Symbolizer? = symbols.vmlinux.map { vmlinux in
      runOrFail {
        try Symbolizer(
          vmlinux: vmlinux, moduleDirectories: symbols.modules, kaslrOffset: explicitOffset,
          useCache: !symbols.noCache)
      }
    }
    let style = Style(enabled: Terminal.colorStdout)
    var totalBytes = 0
    var totalReports = 0
    var seconds = 0.0
    for path in logs {
      let bytes = runOrFail { try Self.readAll(path) }
      var titler = titler
      if let symbolizer {
        // Refuses a vmlinux that did not produce this log; finds the KASLR offset.
        let facts = runOrFail {
          try bytes.withUnsafeBufferPointer {
            try LogSymbolizer(symbolizer: symbolizer).prepare($0, explicitOffset: explicitOffset)
          }
        }
        symbolizer.kaslrOffset = explicitOffset ?? facts.kernelOffset ?? facts.inferredOffset ?? 0
        let box = SourceLookup(symbolizer)
        titler.sourceResolver = { box.source(of: $0) }
      }
      let t0 = MonotonicClock.seconds()
      let reports = titler.reports(in: bytes)
      seconds += MonotonicClock.seconds() - t0
      totalBytes += bytes.count
      totalReports += reports.count
      if json {
        print(Self.jsonDocument(reports))
      } else {
        printHuman(path: path, reports: reports, style: style)
      }
    }
    if timing {
      let mib = Double(totalBytes) / 1_048_576
      let perMiB = mib > 0 ? seconds / mib : 0
      Terminal.writeStderr(
        "report: \(logs.count) log(s), \(format3(mib)) MiB, \(totalReports) report(s), "
          + "titled in \(format3(seconds)) s (\(format3(perMiB)) s/MiB)\n")
    }
  }

  func printHuman(path: String, reports: [TitledReport], style: Style) {
    if logs.count > 1 { print(style.bold("== \(path)")) }
    guard let primary = reports.first else {
      print("no crash report found")
      return
    }
    for (i, r) in (all ? reports : [primary]).enumerated() {
      if i > 0 { print("") }
      print(style.bold(style.red(r.title)) + (r.isCorrupted ? " " + style.yellow("[corrupted]") : ""))
      print("  type:       \(r.type ?? "UNKNOWN")")
      if let f = r.frame { print("  frame:      \(f)") }
      if let g = r.guiltyFile { print("  file:       \(g)") }
      print("  lines:      \(path):\(r.startLine)-\(r.endLine)")
      for a in r.altTitles { print("  also:       \(style.dim(a))") }
      if let why = r.corruptionReason { print("  corrupted:  \(why)") }
    }
    if !all && reports.count > 1 {
      print(style.dim("(\(reports.count - 1) more report(s); --all shows them)"))
    }
  }

  /// The whole input as bytes; lines re-terminated with `\n` (CR stripped, as syzkaller does).
  static func readAll(_ path: String) throws -> [UInt8] {
    let source = try LogSource.open(path)
    var out: [UInt8] = []
    if let n = source.byteCount, !source.isCompressed { out.reserveCapacity(n + 1) }
    try source.forEachLine { line in
      out.append(contentsOf: line.bytes)
      out.append(0x0A)
    }
    return out
  }

  // MARK: JSON (fixed key order; strings escaped by Ingest's JSONBuffer)

  static func jsonDocument(_ reports: [TitledReport]) -> String {
    let json = JSONBuffer(capacity: 1024)
    var first = true
    json.byte(0x7B)
    fields(reports.first, into: json, first: &first)
    json.writeKey("reports", first: &first)
    json.writeArray(reports) { r in
      var f = true
      json.byte(0x7B)
      fields(r, into: json, first: &f)
      json.byte(0x7D)
    }
    json.byte(0x7D)
    return String(decoding: json.bytes, as: UTF8.self)
  }

  /// The keys of one report; a missing report (no crash found) gives nulls, `[]`, false and 0.
  static func fields(_ r: TitledReport?, into json: JSONBuffer, first: inout Bool) {
    json.writeKey("title", first: &first)
    json.writeString(r?.title)
    json.writeKey("alt_titles", first: &first)
    json.writeArray(r?.altTitles ?? []) { json.writeString($0) }
    json.writeKey("type", first: &first)
    json.writeString(r?.type)
    json.writeKey("frame", first: &first)
    json.writeString(r?.frame)
    json.writeKey("corrupted", first: &first)
    json.writeBool(r?.isCorrupted ?? false)
    json.writeKey("guilty_file", first: &first)
    json.writeString(r?.guiltyFile)
    json.writeKey("start_line", first: &first)
    json.writeInt(r?.startLine ?? 0)
    json.writeKey("end_line", first: &first)
    json.writeInt(r?.endLine ?? 0)
  }
}

private func format3(_ v: Double) -> String {
  let scaled = (v * 1000).rounded()
  let whole = Int(scaled) / 1000
  let frac = abs(Int(scaled)) % 1000
  let f = String(frac)
  return "\(whole)." + String(repeating: "0", count: 3 - f.count) + f
}

/// Gives the titler a source lookup backed by a `Symbolizer`. The symbolizer is not thread-safe;
/// `report` titles one log at a time on one thread, which is what makes this box sound.
private final class SourceLookup: @unchecked Sendable {
  let symbolizer: Symbolizer
  init(_ symbolizer: Symbolizer) { self.symbolizer = symbolizer }

  /// `file:line` of the innermost (inlined) location, the first one syzbot's report shows.
  func source(of frame: Frame) -> String? {
    guard let chain = symbolizer.symbolize(frame), let hit = chain.first(where: { $0.file != nil }),
      let file = hit.file
    else { return nil }
    return "\(symbolizer.displayPath(file)):\(hit.line)"
  }
}
