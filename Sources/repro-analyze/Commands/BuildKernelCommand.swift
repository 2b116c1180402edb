import ArgumentParser

// Placeholder until this subcommand lands; it fails loudly rather than pretending to work.
struct BuildKernelCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "build-kernel", abstract: "(not yet available)", shouldDisplay: false)
  func run() throws { fail("'build-kernel' is not implemented in this build") }
}
