import Forensics
import Foundation
import Ingest

/// Invariants of the Forensics text analyses on arbitrary bytes: the title engine and the
/// redactor. Shared (by symlink) with the libFuzzer harness, which traps on a violation; the
/// regression tests replay saved inputs through the same checks.
enum ForensicsFuzzChecks {
  /// Titles: every report found has a non-empty title and a line range inside the log, and the
  /// primary report is the first of `--all`.
  static func title(_ input: UnsafeBufferPointer<UInt8>, titler: Titler) -> [String] {
    var problems: [String] = []
    let reports = titler.reports(in: input)
    var lines = 1
    for b in input where b == 0x0A { lines += 1 }
    var last = 0
    for r in reports {
      if r.title.isEmpty { problems.append("empty title at line \(r.startLine)") }
      if r.title.contains("\n") { problems.append("newline in title '\(r.title)'") }
      if r.startLine < 1 || r.endLine < r.startLine || r.endLine > lines {
        problems.append("report lines \(r.startLine)...\(r.endLine) outside 1...\(lines)")
      }
      if r.startLine <= last { problems.append("reports out of order at line \(r.startLine)") }
      last = r.startLine
    }
    let primary = titler.reports(in: input, limit: 1).first
    if primary?.title != reports.first?.title { problems.append("primary report differs from the first of --all") }
    return problems
  }

  /// Redaction: per line, the output has no newline, and redacting the output again changes
  /// nothing (pseudonyms are not themselves secrets), so excerpts are stable.
  static func redact(_ input: UnsafeBufferPointer<UInt8>, rules: RedactionRules) -> [String] {
    var problems: [String] = []
    let redactor = Redactor(rules: rules, key: Array("fuzz-key".utf8))
    var start = 0
    var count = 0
    while start <= input.count, count < 64 {
      var end = start
      while end < input.count, input[end] != 0x0A { end += 1 }
      let line = UnsafeBufferPointer(rebasing: input[start..<end])
      let once = redactor.redact(line: line)
      if once.contains(0x0A) { problems.append("redacted line contains a newline") }
      let twice = once.withUnsafeBufferPointer { redactor.redact(line: $0) }
      if twice != once {
        problems.append(
          "not idempotent: '\(String(decoding: once.prefix(200), as: UTF8.self))' → '\(String(decoding: twice.prefix(200), as: UTF8.self))'")
      }
      start = end + 1
      count += 1
    }
    return problems
  }
}
