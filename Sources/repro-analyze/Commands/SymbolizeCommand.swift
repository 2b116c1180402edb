import ArgumentParser

// Placeholder until this subcommand lands; it fails loudly rather than pretending to work.
struct SymbolizeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "symbolize", abstract: "(not yet available)", shouldDisplay: false)
  func run() throws { fail("'symbolize' is not implemented in this build") }
}
