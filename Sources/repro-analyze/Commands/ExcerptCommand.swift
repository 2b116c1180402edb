import ArgumentParser

// Placeholder until this subcommand lands; it fails loudly rather than pretending to work.
struct ExcerptCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "excerpt", abstract: "(not yet available)", shouldDisplay: false)
  func run() throws { fail("'excerpt' is not implemented in this build") }
}
