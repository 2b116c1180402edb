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
    var titler: Titler = runOrFail {
      let dir = try RulesDirectory.locate(explicit: rules.rules)
      return try Titler(rulesDirectory: dir)
    }
    if let vmlinux = symbols.vmlinux {
      // The guilty file then comes from the symbolized source of the guilty frame.
      let offset = runOrFail { try symbols.parsedKASLROffset() }
      let s = runOrFail {
        try Symbolizer(
          vmlinux: vmlinux, moduleDirectories: symbols.modules, kaslrOffset: offset, useCache: !symbols.noCache)
      }
      titler.sourceResolver = SharedSymbolizer(s).sourceResolver
    }
    let style = Style(enabled: Terminal.colorStdout)
    var totalBytes = 0
    var totalReports = 0
    var seconds = 0.0
    for path in logs {
      let bytes = runOrFail { try Self.readAll(path) }
      let t0 = Self.now()
      let reports = titler.reports(in: bytes)
      seconds += Self.now() - t0
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

  static func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
  }

  // MARK: JSON (hand-written for a fixed key order)

  static func jsonDocument(_ reports: [TitledReport]) -> String {
    var s = "{"
    s += fields(reports.first)
    s += ",\"reports\":["
    s += reports.map { "{" + fields($0) + "}" }.joined(separator: ",")
    s += "]}"
    return s
  }

  static func fields(_ r: TitledReport?) -> String {
    guard let r else {
      return "\"title\":null,\"alt_titles\":[],\"type\":null,\"frame\":null,\"corrupted\":false,"
        + "\"guilty_file\":null,\"start_line\":0,\"end_line\":0"
    }
    var parts: [String] = []
    parts.append("\"title\":" + quote(r.title))
    parts.append("\"alt_titles\":[" + r.altTitles.map(quote).joined(separator: ",") + "]")
    parts.append("\"type\":" + (r.type.map(quote) ?? "null"))
    parts.append("\"frame\":" + (r.frame.map(quote) ?? "null"))
    parts.append("\"corrupted\":" + (r.isCorrupted ? "true" : "false"))
    parts.append("\"guilty_file\":" + (r.guiltyFile.map(quote) ?? "null"))
    parts.append("\"start_line\":\(r.startLine)")
    parts.append("\"end_line\":\(r.endLine)")
    return parts.joined(separator: ",")
  }

  static func quote(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
      switch u {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default:
        if u.value < 0x20 {
          let h = String(u.value, radix: 16)
          out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
        } else {
          out.unicodeScalars.append(u)
        }
      }
    }
    return out + "\""
  }
}

private func format3(_ v: Double) -> String {
  let scaled = (v * 1000).rounded()
  let whole = Int(scaled) / 1000
  let frac = abs(Int(scaled)) % 1000
  let f = String(frac)
  return "\(whole)." + String(repeating: "0", count: 3 - f.count) + f
}
