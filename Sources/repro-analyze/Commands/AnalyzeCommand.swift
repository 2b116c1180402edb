import ArgumentParser
import Ingest

struct AnalyzeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "analyze", abstract: "Analyze logs.")
  @Argument(help: "Log files, or - for stdin.") var files: [String] = []
  func run() throws {
    for f in files {
      var lines = 0
      let src = try LogSource.open(f)
      try src.forEachLine { _ in lines += 1 }
      print("\(f): \(lines) lines")
    }
  }
}
