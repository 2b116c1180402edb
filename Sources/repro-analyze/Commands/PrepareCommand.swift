import ArgumentParser

// Placeholder until this subcommand lands; it fails loudly rather than pretending to work.
struct PrepareCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "prepare", abstract: "(not yet available)", shouldDisplay: false)
  func run() throws { fail("'prepare' is not implemented in this build") }
}
