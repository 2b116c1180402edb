import Foundation
import TestSupport
import Testing

@testable import Ingest

#if canImport(Glibc)
  import Glibc
#endif

/// The hostile-input corpus of issue 7 at the parser level (HostileInputTests covers NULs,
/// random bytes, CR-only, ANSI, the truncation sweep, a million frames and deep chains; the CLI
/// side is in CLITests/HostileCLITests). Every case has a defined outcome asserted here.
@Suite struct HostileCorpusTests {
  let hung = TestPaths.fixture("logs/lab/hung.log")

  func temp(_ name: String) -> String { NSTemporaryDirectory() + "ra-hostile-\(UUID().uuidString)-\(name)" }

  func parse(_ bytes: [UInt8]) throws -> [Event] {
    try EventParser.parse(source: LogSource.bytes(bytes), rules: testRules)
  }

  /// The first hung-task report of the lab log, up to the next one.
  func hungReportLines() throws -> [Substring] {
    let log = try String(contentsOfFile: hung, encoding: .utf8)
    let lines = log.split(separator: "\n", omittingEmptySubsequences: false)
    let start = try #require(lines.firstIndex { $0.contains("blocked for more than") })
    let end = try #require(lines[(start + 1)...].firstIndex { $0.contains("blocked for more than") })
    return Array(lines[start..<end])
  }

  @Test func emptyFileHasNoEvents() throws {
    let path = temp("empty.log")
    FileManager.default.createFile(atPath: path, contents: Data())
    defer { try? FileManager.default.removeItem(atPath: path) }
    #expect(try EventParser.parse(source: LogSource.open(path), rules: testRules).isEmpty)
  }

  /// Invalid UTF-8 in every field a report carries: comm, function, module, lock name, vhost
  /// fields, headline. Outcome: the report is still found, text fields decode with U+FFFD, every
  /// event encodes to valid JSON, and no field smuggles the raw bytes through.
  @Test func invalidUTF8InEveryFieldDecodesWithReplacementCharacters() throws {
    let bad: [UInt8] = [0xFF, 0xC3, 0x28, 0xE2, 0x82]
    func line(_ parts: [Any]) -> [UInt8] {
      var out: [UInt8] = []
      for p in parts { if let s = p as? String { out += Array(s.utf8) } else if let b = p as? [UInt8] { out += b } }
      return out + [0x0A]
    }
    var log: [UInt8] = []
    log += line(["[   10.0] INFO: task vh", bad, "ost:104 blocked for more than 5 seconds."])
    log += line(["[   10.0]       Not tainted 6.1.0 #1"])
    log += line(["[   10.0] task:vh", bad, "ost state:D stack:0 pid:104 ppid:2 flags:0x4000"])
    log += line(["[   10.0] Call Trace:"])
    log += line(["[   10.0]  <TASK>"])
    log += line(["[   10.0]  __schedule+0x1/0x2"])
    log += line(["[   10.0]  lockhog_lock+0x63/0x90 [lock", bad, "hog]"])
    log += line(["[   10.0]  fn", bad, "name+0x1/0x2"])
    log += line(["[   10.0]  </TASK>"])
    log += line(["[   10.1] 2 locks held by vh", bad, "ost/104:"])
    log += line(["[   10.1]  #0: ffff888054cc68e8 (&dev->mu", bad, "tex){+.+.}-{4:4}, at: lockhog_lock+0x63/0x90"])
    log += line(["[   10.2] Dumping ftrace buffer:"])
    log += line(["[   10.2] ---------------------------------"])
    log += line(["[   10.2] vhost-12-104       1..... 2123127us : lockhog_lock: vhost_lock: wait dev->mutex lock=1 comm=", bad, " owner=0"])
    log += line(["[   10.2] ---------------------------------"])
    let events = try parse(log)
    let report = try #require(events.reports.first)
    #expect(report.kind == .hungTask)
    #expect(report.headline.contains("\u{FFFD}"))
    #expect(report.hungTask?.task.pid == 104)
    #expect(report.frames.contains { $0.module?.contains("\u{FFFD}") == true })
    #expect(events.lockLists.first?.locks.first?.name.contains("\u{FFFD}") == true)
    #expect(events.ftrace.first?.vhostLock?.field("comm")?.contains("\u{FFFD}") == true)
    // A name cut by an invalid byte is not a frame: it is left out, never half-parsed.
    #expect(!report.frames.contains { $0.function == "fn" })
    let problems = log.withUnsafeBufferPointer { FuzzChecks.jsonl($0, rules: testRules) }
    #expect(problems == [])
  }

  /// Two CPUs printing reports at once, line by line, on a kernel without CONFIG_PRINTK_CALLER.
  /// Outcome: both headers become reports in order, neither spans lines outside the log, and
  /// the second header ends the first (which keeps only what came before it). With caller ids
  /// the same interleaving is rebuilt exactly (see EventParserTests).
  @Test func twoReportsInterleavedWithoutCallerIDs() throws {
    let a = try hungReportLines()
    let b = a.map { $0.replacingOccurrences(of: "vhost-1234:104", with: "other:200").replacingOccurrences(of: "lockhog", with: "otherfn") }
    var lines: [String] = []
    for i in 0..<max(a.count, b.count) {
      if i < a.count { lines.append(String(a[i])) }
      if i < b.count { lines.append(b[i]) }
    }
    let events = try parse(Array(lines.joined(separator: "\n").utf8))
    let reports = events.reports
    #expect(reports.count == 2)
    #expect(reports.map(\.hungTask?.task.pid) == [104, 200])
    for r in reports {
      #expect(r.position.line >= 1 && r.endLine <= lines.count && r.endLine >= r.position.line)
    }
    #expect(reports[0].endLine < reports[1].position.line)
  }

  /// A lockdep chain that loops back on itself (A → B → A …, as a corrupted log repeats
  /// blocks): the chain is capped and the report stays bounded.
  @Test func loopingLockdepChainIsCapped() throws {
    var s = "WARNING: possible circular locking dependency detected\n"
    for i in 0..<3000 { s += "-> #\(i % 2) (lock\(i % 2)){+.+.}-{4:4}:\n       f\(i % 2)+0x1/0x2\n" }
    s += "*** DEADLOCK ***\n"
    let r = try #require(try parse(Array(s.utf8)).reports.first)
    #expect(r.lockdep?.chain.count == 1024)
    #expect(r.lockdep?.isDeadlock == true)
  }

  /// A corrupt (not truncated) `.xz`: a typed error naming the file and the damage.
  @Test func corruptXZIsAnErrorNamingTheFile() throws {
    let xz = temp("corrupt.log.xz")
    defer { try? FileManager.default.removeItem(atPath: xz) }
    let r = try runCommand(["-c", "xz -c '\(hung)' > '\(xz)'"], executable: "/bin/sh")
    #expect(r.status == 0)
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: xz)))
    for i in 200..<216 { bytes[i] ^= 0x5A }
    try Data(bytes).write(to: URL(fileURLWithPath: xz))
    var caught: IngestError?
    do {
      _ = try EventParser.parse(source: LogSource.open(xz), rules: testRules)
    } catch let e as IngestError { caught = e }
    let e = try #require(caught)
    guard case .xz(let path, _, let code, _) = e else {
      Issue.record("expected an xz error, got \(e)")
      return
    }
    #expect(path == xz)
    #expect(code.contains("LZMA_DATA_ERROR") || code.contains("LZMA_BUF_ERROR"))
  }

  /// A FIFO is read like a pipe: a writer feeds a real log and the reports come out.
  @Test func fifoIsReadLikeAPipe() throws {
    let fifo = temp("serial.fifo")
    let data = try Data(contentsOf: URL(fileURLWithPath: hung))
    #expect(makeFIFO(fifo, feeding: data))
    defer { unlink(fifo) }
    let events = try EventParser.parse(source: LogSource.open(fifo), rules: testRules)
    #expect(events.reports.filter { $0.kind == .hungTask }.count == 3)
  }

  /// A file the kernel refuses to read (EIO even for root: /proc/self/mem at offset 0).
  @Test func unreadableFileIsAReadErrorNamingIt() throws {
    var caught: IngestError?
    do {
      _ = try EventParser.parse(source: LogSource.open("/proc/self/mem"), rules: testRules)
    } catch let e as IngestError { caught = e }
    let e = try #require(caught)
    #expect(e.description.contains("/proc/self/mem"))
  }

  /// chmod 000 only stops non-root users; as root (CI) the case above stands in for it.
  @Test(.enabled(if: getuid() != 0, "tests run as root, which reads mode-000 files; see unreadableFileIsAReadErrorNamingIt"))
  func modeZeroFileCannotBeOpened() throws {
    let path = temp("secret.log")
    FileManager.default.createFile(atPath: path, contents: Data("x\n".utf8))
    defer { try? FileManager.default.removeItem(atPath: path) }
    chmod(path, 0)
    #expect(throws: IngestError.self) { try LogSource.open(path) }
  }

  /// A single line far over the cap, through both read paths: it is cut at the cap and marked,
  /// and the lines after it are not lost. (The 100 MiB version runs through the CLI.)
  @Test(arguments: [true, false])
  func overlongLineIsCutAndTheRestSurvives(mapped: Bool) throws {
    var bytes = Array("BUG: huge ".utf8) + [UInt8](repeating: 0x41, count: 5 << 20) + [0x0A]
    bytes += Array("INFO: task a:1 blocked for more than 5 seconds.\n".utf8)
    let source: LogSource
    let path = temp("long.log")
    defer { try? FileManager.default.removeItem(atPath: path) }
    if mapped {
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      source = try LogSource.open(path)
    } else {
      source = LogSource.bytes(bytes)
    }
    var events: [Event] = []
    let p = EventParser(rules: testRules, file: "long.log") { events.append($0) }
    try source.forEachLine { p.consume($0) }
    p.finish()
    #expect(p.truncatedLineCount == 1)
    #expect(events.reports.count == 2)
    #expect(events.reports[0].headline.utf8.count <= source.maxLineByteCount)
    #expect(events.reports[1].kind == .hungTask)
  }
}
