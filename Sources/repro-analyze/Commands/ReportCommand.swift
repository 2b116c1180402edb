import ArgumentParser

// Placeholder until this subcommand lands; it fails loudly rather than pretending to work.
struct ReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "report", abstract: "(not yet available)", shouldDisplay: false)
  func run() throws { fail("'report' is not implemented in this build") }
}
