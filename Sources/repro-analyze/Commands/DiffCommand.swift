import ArgumentParser
import Forensics
import Foundation
import Ingest

/// `repro-analyze diff A B`: what changed between two runs.
struct DiffCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "diff",
    abstract: "Compare two logs or bundles: reports, stacks, lock graphs, tracepoint counts.",
    discussion: """
      A bundle directory stands for its newest qemu-serial.panic.*.log, else
      qemu-serial.log, else crash.log (syzbot's). Reports are matched by
      title; stacks are compared without offsets and addresses; wait-for
      edges without pids.

      Example:
        repro-analyze diff repro/<extid>/crash.log repro/<extid>
      """)

  @Argument(help: "First log or bundle directory.") var a: String
  @Argument(help: "Second log or bundle directory.") var b: String
  @Flag(name: .long, help: "Print one JSON document on stdout.") var json = false
  @OptionGroup var rulesOptions: RulesOptions

  func run() throws {
    runOrFail {
      let dir = try RulesDirectory.locate(explicit: rulesOptions.rules)
      let pa = try Self.resolve(a)
      let pb = try Self.resolve(b)
      let ea = try ForensicsInput.events(pa, rulesDirectory: dir)
      let eb = try ForensicsInput.events(pb, rulesDirectory: dir)
      // Titles from the title engine (per file), the comparer's own fallback otherwise.
      let lockRules = try ForensicsInput.lockRules(dir)
      var titledByFile: [String: [TitledReport]] = [:]  // A and B may be the same file
      for p in [pa, pb] where titledByFile[p] == nil {
        titledByFile[p] = try ForensicsInput.titledReports(p, rulesDirectory: dir)
      }
      let titled = titledByFile
      let comparer = RunComparer(lockRules: lockRules) { r in
        RunComparer.title(of: r, in: titled[r.position.file] ?? [])
          ?? RunComparer.fallbackTitle(r, rules: lockRules)
      }
      let d = comparer.compare(ea, eb)
      if json {
        try ForensicsInput.printJSON(Document(a: pa, b: pb, diff: d))
      } else {
        print(DiffText.render(d, a: pa, b: pb, style: Style(enabled: Terminal.colorStdout)), terminator: "")
      }
    }
  }

  struct Document: Encodable {
    var a: String
    var b: String
    var diff: RunDiff
  }

  /// A file stays a file; a directory is a bundle: pick its serial log.
  static func resolve(_ path: String) throws -> String {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
      throw ExcerptError("\(path): no such file or directory")
    }
    guard isDir.boolValue else { return path }
    let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    let panics = names.filter { $0.hasPrefix("qemu-serial.panic.") && $0.hasSuffix(".log") }.sorted()
    if let newest = panics.last { return path + "/" + newest }
    for n in ["qemu-serial.log", "crash.log"] where names.contains(n) { return path + "/" + n }
    throw ExcerptError(
      "\(path): a directory without qemu-serial.panic.*.log, qemu-serial.log or crash.log\n  hint: pass a log file")
  }
}

enum DiffText {
  static func render(_ d: RunDiff, a: String, b: String, style: Style) -> String {
    var out = ""
    func line(_ s: String = "") { out += s + "\n" }
    line(style.bold("--- A: \(a)"))
    line(style.bold("+++ B: \(b)"))
    if d.isIdentical {
      line("No differences in reports, stacks (offsets ignored), lock graph or tracepoint counts.")
      return out
    }
    line()
    line(style.bold("Reports"))
    for m in d.matched {
      line("  = \(m.title)  (A:\(m.aLine) B:\(m.bLine))" + (m.isStackIdentical ? "" : style.yellow("  stack differs")))
    }
    for r in d.onlyA { line(style.red("  - only in A: \(r.title)  (A:\(r.line))")) }
    for r in d.onlyB { line(style.green("  + only in B: \(r.title)  (B:\(r.line))")) }
    for m in d.matched where !m.isStackIdentical {
      line()
      line(style.bold("Stack diff: \(m.title)"))
      line("  --- A:\(m.aLine)")
      line("  +++ B:\(m.bLine)")
      for l in m.stackDiff {
        let text = "  \(l.op) \(l.frame)"
        line(l.op == "-" ? style.red(text) : l.op == "+" ? style.green(text) : text)
      }
    }
    if !(d.locksBoth.isEmpty && d.locksOnlyA.isEmpty && d.locksOnlyB.isEmpty && d.cyclesA == 0 && d.cyclesB == 0) {
      line()
      line(style.bold("Lock graph") + " (pids masked as N)")
      for e in d.locksBoth { line("  = \(e.description)") }
      for e in d.locksOnlyA { line(style.red("  - \(e.description)")) }
      for e in d.locksOnlyB { line(style.green("  + \(e.description)")) }
      if d.cyclesA != d.cyclesB { line("  cycles: A \(d.cyclesA), B \(d.cyclesB)") }
    }
    let changed = d.tracepoints.filter { $0.delta != 0 }
    if !changed.isEmpty {
      line()
      line(style.bold("Tracepoints") + " (counts that differ)")
      let width = max(24, changed.map(\.name.count).max() ?? 0)
      line("  " + "name".padding(toLength: width, withPad: " ", startingAt: 0) + "       A       B   delta")
      for t in changed {
        let delta = t.delta > 0 ? "+\(t.delta)" : "\(t.delta)"
        line(
          "  " + t.name.padding(toLength: width, withPad: " ", startingAt: 0)
            + pad(String(t.a)) + pad(String(t.b)) + pad(delta))
      }
    }
    return out
  }

  static func pad(_ s: String) -> String { String(repeating: " ", count: max(1, 8 - s.count)) + s }
}
