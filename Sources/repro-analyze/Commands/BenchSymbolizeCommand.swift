import ArgumentParser
import Forensics
import Foundation

/// `repro-analyze bench symbolize`: the symbolization benchmark, run the same way as
/// `bench ingest` (same run, ratios against the baseline tools).
struct BenchSymbolizeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "symbolize",
    abstract: "Time symbolize --addrs (cold, warm) against llvm-symbolizer, addr2line, eu-addr2line.",
    discussion: """
      Not a test: prints wall/CPU time and peak RSS of each tool on the same addresses.
        repro-analyze bench symbolize --vmlinux ~/.cache/repro-analyze/vmlinux-6.12/vmlinux
      """,
    shouldDisplay: true)

  @Option(name: .long, help: "vmlinux with DWARF.") var vmlinux: String
  @Option(name: .long, help: "Number of random .text addresses.") var count = 10_000
  @Option(name: .long, help: "Runs per tool (the fastest is reported).") var runs = 3
  @Flag(name: .customLong("skip-slow"), help: "Skip addr2line and eu-addr2line.") var skipSlow = false

  func run() throws {
    var o = SymbolizeBenchmark.Options(vmlinux: vmlinux, binary: Self.selfPath())
    o.count = count
    o.runs = runs
    o.includeSlowBaselines = !skipSlow
    _ = runOrFail { try SymbolizeBenchmark.run(o) { print($0) } }
  }

  static func selfPath() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
  }
}
