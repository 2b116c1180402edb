import Foundation
import TestSupport
import Testing

/// `analyze --batch` / `--jsonl DIR` / `--summary`: one record per report, deterministic bytes,
/// stable signatures, errors that name the file without losing the other inputs.
@Suite struct BatchCLITests {
  let lab = TestPaths.fixture("logs/lab")
  let lab612 = TestPaths.fixture("logs/lab-6.12")

  func records(_ stdout: String) throws -> [[String: Any]] {
    try stdout.split(separator: "\n").map {
      try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
  }

  @Test func jsonlOverADirectoryGivesOneRecordPerReport() throws {
    let r = try runCommand(["analyze", "--jsonl", lab])
    #expect(r.status == 0)
    let recs = try records(r.stdout)
    // Single-file --json counts the same reports: the batch must not lose or invent any.
    let single = try runCommand(["analyze", "--json", lab])
    let obj = try #require(try JSONSerialization.jsonObject(with: Data(single.stdout.utf8)) as? [String: Any])
    let counts = try #require(obj["report_counts"] as? [String: Int])
    #expect(recs.count == counts.values.reduce(0, +))
    for rec in recs {
      #expect(rec["schema"] as? Int == 1)
      #expect((rec["signature"] as? String)?.count == 16)
      #expect(rec["title"] is String)
      #expect(rec["stack"] is [String])
    }
  }

  @Test func outputIsDeterministicWhateverTheWorkerCount() throws {
    let one = try runCommand(["analyze", "--batch", "--jobs", "1", lab, lab612])
    let two = try runCommand(["analyze", "--batch", "--jobs", "2", lab, lab612])
    let again = try runCommand(["analyze", "--batch", "--jobs", "2", lab, lab612])
    #expect(one.status == 0)
    #expect(!one.stdout.isEmpty)
    #expect(one.stdout == two.stdout)
    #expect(two.stdout == again.stdout)
  }

  /// hung.log and hung-kaslr.log are the same bug at different KASLR slides and timings: their
  /// vhost worker reports share one signature.
  @Test func signatureIsStableAcrossKASLRAndRuns() throws {
    let r = try runCommand(["analyze", "--batch", "\(lab)/hung.log", "\(lab)/hung-kaslr.log"])
    let recs = try records(r.stdout)
    let vhost = recs.filter { ($0["headline"] as? String)?.contains("vhost-1234") == true }
    #expect(vhost.count == 2)
    #expect(Set(vhost.compactMap { $0["signature"] as? String }).count == 1)
    #expect((vhost.first?["stack"] as? [String])?.first == "lockhog_sleep_forever_d")
  }

  @Test func summaryGroupsBySignatureWithCounts() throws {
    let r = try runCommand(["analyze", "--summary", "--json", lab])
    #expect(r.status == 0)
    let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    let groups = try #require(doc["groups"] as? [[String: Any]])
    let total = groups.compactMap { $0["count"] as? Int }.reduce(0, +)
    #expect(total == doc["report_count"] as? Int)
    #expect(doc["file_count"] as? Int == 5)
    let counts = groups.compactMap { $0["count"] as? Int }
    #expect(counts == counts.sorted(by: >))
    let text = try runCommand(["analyze", "--summary", lab], environment: ["NO_COLOR": "1"])
    #expect(text.stdout.contains("signatures"))
    #expect(text.stdout.contains("lockhog_lock"))
  }

  @Test func aBadInputIsNamedAndTheOthersStillCount() throws {
    let bad = NSTemporaryDirectory() + "ra-batch-\(UUID().uuidString).log.xz"
    defer { try? FileManager.default.removeItem(atPath: bad) }
    try Data([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, 1, 2, 3]).write(to: URL(fileURLWithPath: bad))
    let r = try runCommand(["analyze", "--batch", bad, "\(lab)/hung.log"])
    #expect(r.status == 2)
    #expect(r.stderr.contains(bad))
    #expect(try records(r.stdout).count == 4)
  }

  @Test func singleFileJsonlStillStreamsEvents() throws {
    let r = try runCommand(["analyze", "--jsonl", "\(lab)/hung.log"])
    let recs = try records(r.stdout)
    #expect(recs.contains { $0["kind"] as? String == "ftrace" })
    let events = try runCommand(["analyze", "--jsonl", "--events", lab])
    #expect(try records(events.stdout).contains { $0["kind"] as? String == "marker" })
  }

  @Test func failOnWorksInBatchMode() throws {
    #expect(try runCommand(["analyze", "--batch", "--fail-on", "hung_task", lab]).status == 1)
    #expect(try runCommand(["analyze", "--batch", "--fail-on", "kasan", lab]).status == 0)
  }
}
