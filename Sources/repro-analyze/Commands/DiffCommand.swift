import ArgumentParser

// Placeholder until this subcommand lands; it fails loudly rather than pretending to work.
struct DiffCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "diff", abstract: "(not yet available)", shouldDisplay: false)
  func run() throws { fail("'diff' is not implemented in this build") }
}
