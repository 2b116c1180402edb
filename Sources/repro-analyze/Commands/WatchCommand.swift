import ArgumentParser

// Placeholder until this subcommand lands; it fails loudly rather than pretending to work.
struct WatchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "watch", abstract: "(not yet available)", shouldDisplay: false)
  func run() throws { fail("'watch' is not implemented in this build") }
}
