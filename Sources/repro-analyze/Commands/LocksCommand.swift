import ArgumentParser
import Forensics
import Foundation
import Ingest

/// `repro-analyze locks`: who holds the lock that blocked tasks wait for.
struct LocksCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "locks",
    abstract: "Explain hung tasks: blocked task -> lock -> holder, chains, cycles, evidence.",
    discussion: """
      Reads hung-task reports, lockdep held-lock lists and circular-dependency
      reports, blocker lines ("blocked on a mutex likely owned by"), sysrq
      task dumps and vhost_lock: trace lines. Several LOGs are read as one
      boot (a serial log and a separately saved trace); use --each for
      unrelated logs.

      Example:
        repro-analyze locks repro/<extid>/qemu-serial.log
        repro-analyze locks --each repro/<extid>/qemu-serial.panic.*.log
      """)

  @Argument(help: "Log files, or - for stdin.") var files: [String]
  @Flag(name: .long, help: "Print one JSON document on stdout.") var json = false
  @Flag(name: .long, help: "Analyze each LOG on its own instead of as one boot.") var each = false
  @Option(name: .long, help: "Also write the HTML report (graph, stacks, timeline, excerpt) to this file.")
  var html: String?
  @OptionGroup var rulesOptions: RulesOptions

  func run() throws {
    runOrFail {
      let dir = try RulesDirectory.locate(explicit: rulesOptions.rules)
      let correlator = LockCorrelator(rules: try ForensicsInput.lockRules(dir))
      let groups = each ? files.map { [$0] } : [files]
      var results: [(files: [String], analysis: LockAnalysis)] = []
      var all: [Event] = []  // kept only for --html
      let keep = html != nil
      for g in groups {
        var acc = LockEvidenceAccumulator(rules: correlator.rules)
        for f in g {
          try ForensicsInput.stream(try LogSource.open(f), file: f, rulesDirectory: dir) { e in
            acc.add(e)
            if keep { all.append(e) }
          }
        }
        results.append((g, acc.finish()))
      }
      if let html {
        var titled: [String: [TitledReport]] = [:]
        for f in files { titled[f] = try ForensicsInput.titledReports(f, rulesDirectory: dir) }
        try writeHTMLReport(
          events: all, logPaths: files, rulesDirectory: dir, to: html,
          title: { r in RunComparer.title(of: r, in: titled[r.position.file] ?? []) },
          asOneBoot: !each)
        Terminal.writeStderr("locks: wrote \(html)\n")
      }
      if json {
        if each {
          try ForensicsInput.printJSON(
            EachLog(logs: results.map { LogAnalysis(file: $0.files[0], analysis: $0.analysis) }))
        } else {
          try ForensicsInput.printJSON(results[0].analysis)
        }
        return
      }
      let style = Style(enabled: Terminal.colorStdout)
      for r in results {
        if results.count > 1 || each { print(style.bold("== \(r.files.joined(separator: " "))")) }
        print(LockText.render(r.analysis, style: style), terminator: "")
      }
    }
  }

  struct EachLog: Encodable { var logs: [LogAnalysis] }
  struct LogAnalysis: Encodable {
    var file: String
    var analysis: LockAnalysis
  }
}

/// The diagnosis as text: holders first, then each blocked task, cycles, notes.
enum LockText {
  static func render(_ a: LockAnalysis, style: Style) -> String {
    var out = ""
    func line(_ s: String = "") { out += s + "\n" }
    if a.blocked.isEmpty && a.cycles.isEmpty {
      line("No blocked tasks and no lock cycles in this log (sources: \(sourcesText(a))).")
      for n in a.notes { line(style.dim("note: \(n)")) }
      return out
    }
    for h in a.holders {
      let since = h.since.map { " since \(String(format: "%.6f", $0)) s (trace clock)" } ?? ""
      let waited = a.blocked.filter { h.waiters.contains($0.pid) }
      let longest = waited.compactMap(\.task.blockedSeconds).max()
      let names = waited.map { "\($0.comm) (pid \($0.pid))" }.joined(separator: ", ")
      line(
        style.bold("\(h.holder.comm) (pid \(h.holder.pid)) holds \(h.lock.display)")
          + "\(since); \(waited.count) task\(waited.count == 1 ? "" : "s") blocked on it"
          + (longest.map { " for \($0) s" } ?? "") + ": \(names) [confidence: \(h.confidence.rawValue)]")
      if let s = h.holder.sleepsIn {
        line("  holder" + (h.holder.state.map { " state \($0)," } ?? "") + " in \(s)")
      }
    }
    if !a.holders.isEmpty { line() }
    for b in a.blocked {
      var head = "\(b.comm) (pid \(b.pid))"
      if let s = b.task.state { head += " state \(s)" }
      if let sec = b.task.blockedSeconds { head += ", blocked > \(sec) s" }
      line(style.bold(head))
      if let lock = b.lock {
        line("  waits for \(lock.display)\(b.waitSite.map { " in \($0)" } ?? "")")
      } else if let s = b.task.sleepsIn {
        line("  sleeps in \(s), not in a known lock primitive")
      }
      if let h = b.holder {
        line(
          "  held by " + style.yellow("\(h.comm) (pid \(h.pid))")
            + (h.state.map { " state \($0)" } ?? "") + (h.sleepsIn.map { ", in \($0)" } ?? "")
            + " [confidence: \(b.confidence.rawValue)]")
      } else if !b.holderCandidates.isEmpty {
        line("  holder not proven [confidence: \(b.confidence.rawValue)]; candidates:")
        for c in b.holderCandidates { line("    \(c.comm) (pid \(c.pid)): \(c.why)") }
      } else if b.lock != nil {
        line("  holder unknown")
      }
      if !b.holds.isEmpty { line("  holds " + b.holds.map(\.display).joined(separator: ", ")) }
      if b.chain.count > 2 || b.isInCycle {
        line(
          "  chain: "
            + b.chain.map { "\($0.comm)/\($0.pid)" + ($0.waitsOn.map { " -[\($0)]->" } ?? "") }
            .joined(separator: " "))
      }
      if b.isInCycle { line("  " + style.red("in a deadlock cycle")) }
      for n in b.notes { line(style.dim("  note: \(n)")) }
      line(style.dim("  evidence (lines): ") + b.evidence.map(String.init).joined(separator: ", "))
      for e in b.evidenceDetail { line(style.dim("    \(e.file):\(e.line): \(e.fact)")) }
    }
    for c in a.cycles {
      line()
      line(style.red(c.description))
      line(style.dim("  evidence: " + c.evidence.map(String.init).joined(separator: ", ")))
    }
    if !a.notes.isEmpty { line() }
    for n in a.notes { line(style.dim("note: \(n)")) }
    return out
  }

  static func sourcesText(_ a: LockAnalysis) -> String {
    a.sources.isEmpty ? "none" : a.sources.joined(separator: ", ")
  }
}
