import ArgumentParser

// Placeholder until this subcommand lands; it fails loudly rather than pretending to work.
struct LocksCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "locks", abstract: "(not yet available)", shouldDisplay: false)
  func run() throws { fail("'locks' is not implemented in this build") }
}
