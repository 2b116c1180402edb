import ArgumentParser

// Placeholder until this subcommand lands; it fails loudly rather than pretending to work.
struct RunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "run", abstract: "(not yet available)", shouldDisplay: false)
  func run() throws { fail("'run' is not implemented in this build") }
}
