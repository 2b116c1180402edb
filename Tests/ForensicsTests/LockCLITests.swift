import Foundation
import Testing
import TestSupport

/// The three subcommands run as a user runs them (the built binary).
@Suite("locks / diff / excerpt commands")
struct LockCLITests {
  @Test func locksJSONHasTheDocumentedShape() throws {
    let r = try runCommand(["locks", "--json", TestPaths.fixture("logs/locks/ld-hung.log")])
    #expect(r.status == 0, "\(r.stderr)")
    let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    let blocked = try #require(doc["blocked"] as? [[String: Any]])
    #expect(doc["cycles"] is [Any])
    let w = try #require(blocked.first { $0["pid"] as? Int == 66 })
    for key in ["pid", "comm", "lock", "holder", "chain", "evidence", "confidence"] {
      #expect(w.keys.contains(key), "missing \(key)")
    }
    #expect((w["holder"] as? [String: Any])?["pid"] as? Int == 65)
    #expect((w["lock"] as? [String: Any])?["name"] as? String == "dev->mutex")
    #expect((w["evidence"] as? [Int])?.isEmpty == false)
    // The holder's own entry: waits on nothing, so lock and holder are explicit nulls.
    let h = try #require(blocked.first { $0["pid"] as? Int == 65 })
    #expect(h["holder"] is NSNull)
    #expect(h["lock"] is NSNull)
  }

  @Test func locksTextReadsLikeADiagnosis() throws {
    let r = try runCommand(["locks", TestPaths.fixture("logs/lab/hung.log")], environment: ["NO_COLOR": "1"])
    #expect(r.status == 0)
    #expect(r.stdout.contains("vhost-1234 (pid 104) holds dev->mutex (ffffffffc0203440) since 2.287433 s"))
    #expect(r.stdout.contains("2 tasks blocked on it for 5 s: lockhog-waiter1 (pid 105), lockhog-waiter2 (pid 106)"))
    #expect(!r.stdout.contains("\u{1B}["))
  }

  @Test func missingLogIsAClearError() throws {
    let r = try runCommand(["locks", "/nonexistent/qemu-serial.log"])
    #expect(r.status == 2)
    #expect(r.stderr.contains("/nonexistent/qemu-serial.log"))
  }

  @Test func excerptWithKeyFileIsReproducibleAndSummarises() throws {
    let dir = NSTemporaryDirectory() + "ra-excerpt-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let log = TestPaths.fixture("logs/lab/hung-kaslr.log")
    let a = try runCommand(["excerpt", "--key", dir + "/k", "-o", dir + "/a.txt", log])
    let b = try runCommand(["excerpt", "--key", dir + "/k", "-o", dir + "/b.txt", log])
    #expect(a.status == 0 && b.status == 0, "\(a.stderr)")
    #expect(a.stderr.contains("created key file"))
    #expect(a.stderr.contains("kernel_pointer") && a.stderr.contains("kaslr_offset"))
    let ta = try String(contentsOfFile: dir + "/a.txt", encoding: .utf8)
    let tb = try String(contentsOfFile: dir + "/b.txt", encoding: .utf8)
    #expect(ta == tb)
    #expect(ta.contains("INFO: task lockhog-waiter1:105 blocked for more than 5 seconds."))
    #expect(ta.contains("Kernel Offset: <redacted>"))
    #expect(!ta.contains("0x24e00000"))
    #expect(!FileManager.default.fileExists(atPath: dir + "/a.txt.part"))
  }

  @Test func diffJSONNamesOnlyBReports() throws {
    let r = try runCommand([
      "diff", "--json", TestPaths.fixture("logs/lab/msleep.log"), TestPaths.fixture("logs/locks/ld-abba.log"),
    ])
    #expect(r.status == 0, "\(r.stderr)")
    let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    let diff = try #require(doc["diff"] as? [String: Any])
    let onlyB = try #require(diff["only_b"] as? [[String: Any]])
    // Titles come from the title engine (syzbot's names).
    #expect(onlyB.contains { $0["title"] as? String == "possible deadlock in lockhog_lock" })
    #expect(onlyB.contains { $0["title"] as? String == "INFO: task hung in abba_a_fn" })
  }
}

@Suite("excerpt command input handling")
struct ExcerptCLIInputTests {
  @Test func readsStdin() throws {
    let log = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("logs/lab/hung.log")))
    let r = try runCommand(["excerpt", "-"], stdin: log)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("INFO: task lockhog-waiter2:106 blocked for more than 5 seconds."))
    #expect(r.stdout.contains("lines omitted"))
  }

  @Test func shortKeyFileIsRefusedWithAHint() throws {
    let key = NSTemporaryDirectory() + "ra-key-\(UUID().uuidString)"
    try Data("short".utf8).write(to: URL(fileURLWithPath: key))
    defer { try? FileManager.default.removeItem(atPath: key) }
    let r = try runCommand(["excerpt", "--key", key, TestPaths.fixture("logs/lab/hung.log")])
    #expect(r.status == 2)
    #expect(r.stderr.contains(key) && r.stderr.contains("at least 16"))
    #expect(r.stdout.isEmpty)
  }
}

@Suite("diff command inputs")
struct DiffCLIInputTests {
  /// A bundle directory stands for its serial log; a log against itself is identical (and the
  /// same path twice must not trip anything).
  @Test func bundleDirectoryAndSamePathTwice() throws {
    let dir = NSTemporaryDirectory() + "ra-bundle-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let log = TestPaths.fixture("logs/lab/hung.log")
    try FileManager.default.copyItem(atPath: log, toPath: dir + "/qemu-serial.log")
    let r = try runCommand(["diff", log, dir], environment: ["NO_COLOR": "1"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("qemu-serial.log"))
    #expect(r.stdout.contains("No differences"))
    let same = try runCommand(["diff", log, log])
    #expect(same.status == 0, "\(same.stderr)")
  }

  @Test(arguments: ["", "\0\0\0\0", "\u{1B}[2J garbage \u{FF}\n"])
  func hostileInputsDoNotCrash(_ content: String) throws {
    let path = NSTemporaryDirectory() + "ra-hostile-\(UUID().uuidString).log"
    try Data(content.utf8).write(to: URL(fileURLWithPath: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    for args in [["locks", path], ["locks", "--json", path], ["excerpt", path], ["diff", path, path]] {
      let r = try runCommand(args)
      #expect(r.status == 0, "\(args): \(r.stderr)")
    }
  }
}
