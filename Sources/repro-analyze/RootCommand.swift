#if canImport(Glibc)
  import Glibc
#endif
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
    ],
    defaultSubcommand: AnalyzeCommand.self
  )

  /// Parses and runs, mapping usage errors to exit status 2 (the tool's documented contract:
  /// 0 ok, 1 findings matched --fail-on, 2 usage or input error).
  static func main() async {
    do {
      var command = try parseAsRoot()
      if var asyncCommand = command as? AsyncParsableCommand {
        try await asyncCommand.run()
      } else {
        try command.run()
      }
      StdoutWriter.checkPrinted()
    } catch {
      let code = exitCode(for: error)
      if code == .validationFailure {
        Terminal.writeStderr(fullMessage(for: error) + "\n")
        Glibc.exit(2)
      }
      if code.isSuccess || code == ExitCode(1) {
        // --help, --version and the like print to stdout, and --fail-on ends with 1 after its
        // output: in both, a failed stdout write must not pass unnoticed.
        let message = fullMessage(for: error)
        if !message.isEmpty { print(message) }
        StdoutWriter.checkPrinted()
        Glibc.exit(code.rawValue)
      }
      exit(withError: error)
    }
  }
}

enum ReproAnalyzeVersion {
  static let string = "0.1.0"
}
