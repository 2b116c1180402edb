import Foundation
import TestSupport
import Testing

@testable import Ingest

/// Replays every fuzz reproducer (Tests/Fuzz/regressions/<target>/) and every seed
/// (Tests/Fuzz/corpus/<target>/) through the same invariant checks the libFuzzer harness runs.
/// A reproducer stays here forever: adding a file under regressions/ adds a test case.
@Suite struct FuzzRegressionTests {
  static let targets = ["lines", "frame", "lockdep", "task", "ftrace", "events", "jsonl", "xz"]

  static func inputs(_ kind: String) -> [String] {
    var out: [String] = []
    for t in targets {
      let dir = TestPaths.root + "/Tests/Fuzz/\(kind)/\(t)"
      let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
      out += names.sorted().map { "\(t)/\($0)" }
    }
    return out
  }

  static func problems(target: String, bytes: [UInt8]) -> [String] {
    bytes.withUnsafeBufferPointer { input in
      switch target {
      case "lines": FuzzChecks.lines(input)
      case "frame": FuzzChecks.eachLine(input, FuzzChecks.frame)
      case "lockdep": FuzzChecks.eachLine(input, FuzzChecks.lockdep)
      case "task": FuzzChecks.eachLine(input, FuzzChecks.task)
      case "ftrace": FuzzChecks.eachLine(input, FuzzChecks.ftrace)
      case "events": FuzzChecks.events(input, rules: testRules)
      case "jsonl": FuzzChecks.jsonl(input, rules: testRules)
      case "xz": FuzzChecks.xz(bytes)
      default: ["unknown fuzz target \(target)"]
      }
    }
  }

  static func replay(_ kind: String, _ relative: String) throws -> [String] {
    let target = String(relative.split(separator: "/")[0])
    let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.root + "/Tests/Fuzz/\(kind)/\(relative)"))
    // Every target also goes through the whole event parser and the JSON writer: a reproducer
    // found by one parser's target must not break the pipeline around it either.
    var all = problems(target: target, bytes: Array(data))
    if target != "xz" { all += problems(target: "jsonl", bytes: Array(data)) }
    return all
  }

  @Test(arguments: inputs("regressions"))
  func reproducerNoLongerBreaksAnInvariant(_ relative: String) throws {
    #expect(try Self.replay("regressions", relative) == [], "\(relative)")
  }

  @Test(arguments: inputs("corpus"))
  func seedKeepsEveryInvariant(_ relative: String) throws {
    #expect(try Self.replay("corpus", relative) == [], "\(relative)")
  }

  @Test func everyTargetHasSeedsAndTheListMatchesTheHarness() throws {
    let harness = try String(contentsOfFile: TestPaths.root + "/Tests/Fuzz/Harness/Fuzz.swift", encoding: .utf8)
    for t in Self.targets + ["title", "redact", "syzbot"] {
      #expect(harness.contains("case \(t)"), "\(t) missing from the harness")
      let seeds = (try? FileManager.default.contentsOfDirectory(atPath: TestPaths.root + "/Tests/Fuzz/corpus/\(t)")) ?? []
      #expect(!seeds.isEmpty, "no seeds for \(t)")
    }
  }

  /// A token that starts with `=` is a bare word, not a field with an empty key (fuzz finding,
  /// Tests/Fuzz/regressions/ftrace/vhost-empty-key).
  @Test func vhostTokenStartingWithEqualsIsNotAField() {
    let message = Array("wait =x dev->mutex owner=1".utf8)
    let op = message.withUnsafeBufferPointer { LineParsers.vhostLock($0) }
    #expect(op.operation == "wait")
    #expect(op.lock == "=x")
    #expect(op.fields.map(\.key) == ["owner"])
  }

  /// Header rules match bytes, not UTF-8: a hung task whose comm is not valid UTF-8 (syzkaller
  /// sets arbitrary comms) is still a report (Tests/Fuzz/regressions/events/binary-comm-hung-task).
  @Test func hungTaskWithBinaryCommIsStillAReport() throws {
    let path = TestPaths.root + "/Tests/Fuzz/regressions/events/binary-comm-hung-task"
    let events = try EventParser.parse(source: LogSource.open(path), rules: testRules)
    let r = try #require(events.reports.first)
    #expect(r.kind == .hungTask)
    #expect(r.hungTask?.task.pid == 104)
    #expect(r.hungTask?.task.comm.hasPrefix("vh\u{FFFD}") == true)
    #expect(r.frames.map(\.function) == ["lockhog_lock"])
  }
}
