import ArgumentParser
import Foundation

struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measure repro-analyze against baseline tools in the same run (ratios, not thresholds).",
    subcommands: [BenchIngestCommand.self, BenchSymbolizeCommand.self]
  )
}
