import Forensics
import Foundation
import Ingest

/// Writes the self-contained HTML report (`analyze --html OUT.html`, `locks --html OUT.html`).
///
/// - events: all events of `logPaths` (already parsed).
/// - title: syzbot-style title of a report, when the title engine is available; the headline
///   is shown otherwise.
/// - The excerpt section is redacted (random per-run key); stdin (`-`) gets no excerpt because
///   it cannot be read twice.
/// - asOneBoot: correlate locks across all logs (a serial log plus a separate trace); by
///   default each log is analysed on its own (pids of different boots must not meet).
func writeHTMLReport(
  events: [Event], logPaths: [String], rulesDirectory: String, to path: String,
  title: ((CrashReport) -> String?)? = nil, asOneBoot: Bool = false
) throws {
  let correlator = LockCorrelator(rules: try LockRules.load(rulesDirectory: rulesDirectory))
  let lockSets: [(name: String, analysis: LockAnalysis)] =
    asOneBoot || logPaths.count == 1
    ? [(logPaths.joined(separator: " + "), correlator.analyze(events))]
    : logPaths.map { p in (p, correlator.analyze(events.filter { $0.position.file == p })) }
  var titles: [SourcePosition: String] = [:]
  if let title {
    for case .report(let r) in events { if let t = title(r) { titles[r.position] = t } }
  }
  var excerpts: [(name: String, text: String)] = []
  let redaction = try RedactionRules.load(rulesDirectory: rulesDirectory)
  var g = SystemRandomNumberGenerator()
  let key = (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) }
  for p in logPaths where p != "-" {
    let own = events.filter { $0.position.file == p }
    let ownLocks = lockSets.flatMap { $0.analysis.blocked.flatMap(\.evidenceDetail) }.filter { $0.file == p }.map(\.line)
    let plan = ExcerptPlanner.plan(events: own, lockEvidence: ownLocks)
    let redactor = Redactor(rules: redaction, key: key)
    var bytes: [UInt8] = []
    _ = try ExcerptWriter.write(
      open: { try LogSource.open(p) }, plan: plan, maxBytes: 512 << 10, redactor: redactor,
      header: "") { bytes += $0 }
    let name = redactor.redact(String(p.split(separator: "/").last ?? "log"))
    excerpts.append((name, String(decoding: bytes, as: UTF8.self)))
  }
  let html = HTMLReport.render(
    HTMLReportInput(
      logPaths: logPaths, events: events, locks: lockSets, titles: titles, excerpts: excerpts,
      version: ReproAnalyzeVersion.string))
  let tmp = path + ".part"
  guard FileManager.default.createFile(atPath: tmp, contents: Data(html.utf8)) else {
    throw ExcerptError("\(path): cannot write the HTML report (check the directory exists and is writable)")
  }
  if FileManager.default.fileExists(atPath: path) { try? FileManager.default.removeItem(atPath: path) }
  do {
    try FileManager.default.moveItem(atPath: tmp, toPath: path)
  } catch {
    throw ExcerptError("\(path): cannot rename \(tmp): \(error.localizedDescription)")
  }
}
