import Foundation
import Forensics
import Ingest

/// Shared input handling for `locks`, `diff` and `excerpt`: read logs into events, load rules.
enum ForensicsInput {
  /// Parses one log (path or `-`) into events. Errors name the file.
  static func events(_ path: String, rulesDirectory dir: String) throws -> [Event] {
    let rules = try IngestRules.shared(directory: dir)
    let src = try LogSource.open(path)
    return try EventParser.parse(source: src, rules: rules)
  }

  /// Streams one log's events to `sink` without keeping them (memory stays with the consumer).
  static func stream(_ source: LogSource, file: String, rulesDirectory dir: String, _ sink: @escaping (Event) -> Void) throws {
    let rules = try IngestRules.shared(directory: dir)
    let p = EventParser(rules: rules, file: file, sink: sink)
    try source.forEachLine { p.consume($0) }
    p.finish()
  }

  /// syzbot titles of the reports in a log (whole file read; nil title engine errors are fatal).
  static func titledReports(_ path: String, rulesDirectory dir: String) throws -> [TitledReport] {
    guard path != "-" else { return [] }
    let titler = try Titler(rulesDirectory: dir)
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ExcerptError("\(path): cannot read")
    }
    return titler.reports(in: [UInt8](data))
  }

  static func lockRules(_ dir: String) throws -> LockRules {
    try LockRules.load(rulesDirectory: dir)
  }

  /// Sorted keys, snake_case, pretty when a human may read it.
  static func encoder(pretty: Bool = true) -> JSONEncoder {
    let enc = JSONEncoder()
    enc.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
    enc.keyEncodingStrategy = .convertToSnakeCase
    return enc
  }

  static func printJSON<T: Encodable>(_ value: T) throws {
    let data = try encoder().encode(value)
    FileHandle.standardOutput.write(data + Data([10]))
  }
}
