import ArgumentParser
import Foundation
import Ingest

struct AnalyzeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "analyze", abstract: "Analyze logs.")
  @Argument(help: "Log files, or - for stdin.") var files: [String] = []
  @OptionGroup var rulesOptions: RulesOptions
  func run() throws {
    let dir = try RulesDirectory.locate(explicit: rulesOptions.rules)
    let rules = try IngestRules.shared(directory: dir)
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    enc.keyEncodingStrategy = .convertToSnakeCase
    for f in files {
      let src = try LogSource.open(f)
      let p = EventParser(rules: rules, file: f) { e in
        if let d = try? enc.encode(e) { FileHandle.standardOutput.write(d + Data([10])) }
      }
      try src.forEachLine { p.consume($0) }
      p.finish()
    }
  }
}
