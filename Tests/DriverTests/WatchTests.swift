import Foundation
import Testing
import TestSupport

@testable import Driver

/// Collects events from the watcher's thread.
final class EventBox: @unchecked Sendable {
  private let lock = NSLock()
  private var items: [WatchEvent] = []
  func add(_ e: WatchEvent) { lock.withLock { items.append(e) } }
  var events: [WatchEvent] { lock.withLock { items } }
}

@Suite("watch")
struct WatchTests {
  static let labLog = TestPaths.shared("lab/logs/hung.log")
  /// The original workflow's live egrep pattern.
  static let originalPattern = "INFO: task|blocked for more than|hung task|vhost_worker_killed|BUG:|KASAN:|panic|Oops"

  func rules(settle: Double = 0.3) throws -> WatchRules {
    var r = try WatchRules.load(directory: TestPaths.root + "/rules")
    r.settleSeconds = settle
    return r
  }

  /// Appends `data` to `path` in small pieces from another thread, like a serial console.
  func appendSlowly(_ data: [UInt8], to path: String, chunk: Int = 4096) {
    let h = FileHandle(forWritingAtPath: path)!
    h.seekToEndOfFile()
    var i = 0
    while i < data.count {
      let end = min(i + chunk, data.count)
      h.write(Data(data[i..<end]))
      i = end
      usleep(2000)
    }
    try? h.close()
  }

  @Test func matchesTheSameLinesAsTheOriginalEgrep() throws {
    let dir = try makeTempDir("watch-grep")
    let log = dir + "/qemu-serial.log"
    try FileManager.default.copyItem(atPath: Self.labLog, toPath: log)
    let box = EventBox()
    var options = WatchOptions.resolve(dir)
    options.timeout = 1
    let watcher = Watcher(options: options, rules: try rules(), sink: box.add)
    try watcher.run()
    let grep = try runCommand(["-nE", Self.originalPattern, log], executable: "/bin/grep")
    let expected = grep.stdout.split(separator: "\n").compactMap { Int($0.prefix { $0 != ":" }) }
    let got = box.events.filter { $0.event == "match" }.compactMap(\.line)
    #expect(!expected.isEmpty)
    #expect(got == expected)
    // watch_patterns.log gets the same lines (tee -a).
    let teed = readText(dir + "/watch_patterns.log").split(separator: "\n").count
    #expect(teed == expected.count)
    // The hung-task report started an incident that was archived with its headline.
    let archive = try #require(box.events.first { $0.event == "archive" })
    #expect(archive.kind == "panic")
    #expect(archive.title == "INFO: task vhost-1234:104 blocked for more than 5 seconds.")
    #expect(archive.line == 466)
    let files = archive.archives ?? []
    #expect(files.count == 2)
    #expect(files.allSatisfy { fileExists($0) })
    #expect(try sha256(files[0]) == (try sha256(log)))
  }

  @Test func followsAGrowingLogThroughTruncationAndRecreation() throws {
    let dir = try makeTempDir("watch-follow")
    let log = dir + "/qemu-serial.log"
    let lab = Array(try Data(contentsOf: URL(fileURLWithPath: Self.labLog)))
    FileManager.default.createFile(atPath: dir + "/" + BundleFiles.execprogStream,
      contents: Data((0..<5000).map { "executing program \($0)\n" }.joined().utf8))
    let box = EventBox()
    var options = WatchOptions.resolve(dir)
    options.timeout = 60
    options.exitAfterArchive = true
    let watcher = Watcher(options: options, rules: try rules(), sink: box.add)
    let writer = Thread {
      // 1. The log appears late, with boot noise and one BUG line.
      usleep(100_000)
      FileManager.default.createFile(atPath: log, contents: Data("[    1.0] boot\n[    1.1] BUG: early\n".utf8))
      usleep(150_000)
      // 2. Truncated (a new boot writing into the same file).
      let h = FileHandle(forWritingAtPath: log)!
      h.truncateFile(atOffset: 0)
      try? h.close()
      usleep(150_000)
      self.appendSlowly(Array("[    2.0] Oops: first\n".utf8), to: log)
      usleep(150_000)
      // 3. Recreated: a new file renamed over the old one (a new inode), then the real
      // hung-task boot grows in pieces.
      FileManager.default.createFile(atPath: log + ".new", contents: nil)
      _ = rename(log + ".new", log)
      self.appendSlowly(lab, to: log)
    }
    writer.start()
    try watcher.run()
    let ev = box.events
    let kinds = ev.map(\.event)
    #expect(kinds.contains("waiting"))
    #expect(kinds.contains("truncated"))
    #expect(kinds.contains("recreated"))
    let matches = ev.filter { $0.event == "match" }
    #expect(matches.first?.text == "[    1.1] BUG: early" && matches.first?.line == 2)
    #expect(matches.contains { $0.text == "[    2.0] Oops: first" && $0.line == 1 })
    #expect(matches.contains { $0.pattern == "hung-task" && $0.line == 466 })
    let archive = try #require(ev.last)
    #expect(archive.event == "archive")
    let tail = try #require(archive.archives?.first { $0.contains("execprog_stream.tail.") })
    let tailText = readText(tail)
    #expect(tailText.hasPrefix("executing program ") && tailText.hasSuffix("executing program 4999\n"))
    #expect(tailText.utf8.count <= 65536)
  }

  @Test func jsonlFromTheCLIStartsWithASchemaAndEndsWithTheArchive() throws {
    let dir = try makeTempDir("watch-cli")
    try FileManager.default.copyItem(atPath: Self.labLog, toPath: dir + "/qemu-serial.log")
    let r = try runCommand(["watch", "--jsonl", "--once", "--timeout", "30", "--settle", "0.2", dir])
    #expect(r.status == 0, "\(r.stderr)")
    let lines = r.stdout.split(separator: "\n")
    let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
    #expect(first?["schema"] as? Int == 1)
    let last = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as? [String: Any]
    #expect(last?["event"] as? String == "archive")
    #expect((last?["archives"] as? [String])?.count == 2)
  }

  @Test(arguments: [
    ("[   10.936846] INFO: task vhost-1234:104 blocked", "INFO: task vhost-1234:104 blocked"),
    ("[   10.936846][  T104] BUG: x", "BUG: x"),
    ("<4>[    1.0] Oops: 0000", "Oops: 0000"),
    ("no prefix here", "no prefix here"),
  ])
  func headlinesDropPrintkPrefixes(line: String, headline: String) {
    #expect(Watcher.headline(line) == headline)
  }

  @Test func rulesThatCouldCrossLinesAreRejected() {
    #expect(throws: (any Error).self) {
      try WatchRules.parse("[[pattern]]\nname = \"x\"\nregex = 'a\\sb'\n", file: "t.toml")
    }
  }
}
