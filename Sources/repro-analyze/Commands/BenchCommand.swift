import ArgumentParser

// Placeholder until this subcommand lands; it fails loudly rather than pretending to work.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "bench", abstract: "(not yet available)", shouldDisplay: false)
  func run() throws { fail("'bench' is not implemented in this build") }
}
