import ArgumentParser

@main
struct RootCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "repro-analyze",
    abstract: "Reproduce and explain syzbot kernel bugs: fetch, boot, watch, and analyze serial logs.",
    discussion: """
      With no subcommand, the arguments are logs to analyze:
        repro-analyze qemu-serial.panic.*.log
      """,
    version: ReproAnalyzeVersion.string,
    subcommands: [
      AnalyzeCommand.self, ReportCommand.self, SymbolizeCommand.self, LocksCommand.self,
      DiffCommand.self, ExcerptCommand.self, PrepareCommand.self, RunCommand.self,
      WatchCommand.self, BuildKernelCommand.self, BenchCommand.self,
      BenchSymbolizeCommand.self,
    ],
    defaultSubcommand: AnalyzeCommand.self
  )
}

enum ReproAnalyzeVersion {
  static let string = "0.1.0"
}
