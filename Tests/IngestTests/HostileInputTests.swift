import Foundation
import TestSupport
import Testing

@testable import Ingest

/// Inputs a kernel console can produce on a bad day: every parser must return events (or
/// nothing), never crash, and stay bounded.
@Suite struct HostileInputTests {
  func parse(_ bytes: [UInt8]) throws -> [Event] {
    try EventParser.parse(source: LogSource.bytes(bytes), rules: testRules)
  }

  @Test func nulsRandomBytesAndCROnlyInputs() throws {
    #expect(try parse([UInt8](repeating: 0, count: 1 << 16)).isEmpty)
    var rng = SystemRandomNumberGenerator()
    let random = (0..<(1 << 18)).map { _ in UInt8.random(in: 0...255, using: &rng) }
    _ = try parse(random)
    let cr = Array("[    1.0] BUG: x\r[    1.1] Call Trace:\r foo+0x1/0x2\r".utf8)
    _ = try parse(cr)
  }

  @Test func ansiColourInsideFramesIsIgnoredInNames() throws {
    let log = "INFO: task a:1 blocked for more than 5 seconds.\nCall Trace:\n <TASK>\n \u{1B}[31mfoo+0x1/0x2\u{1B}[0m\n bar+0x3/0x4\n </TASK>\n"
    let r = try #require(try parse(Array(log.utf8)).reports.first)
    #expect(r.frames.contains { $0.function == "bar" })
    #expect(!r.frames.contains { ($0.function ?? "").contains("\u{1B}") })
  }

  /// Cut a real report at every byte boundary: each prefix parses, reports never end before
  /// they start, and a cut inside the stack is flagged truncated.
  @Test func truncationSweepOverARealReport() throws {
    let log = try String(contentsOfFile: TestPaths.fixture("logs/lab/hung.log"), encoding: .utf8)
    let lines = log.split(separator: "\n", omittingEmptySubsequences: false)
    let report = Array(lines[465..<481].joined(separator: "\n").utf8)
    for cut in 0...report.count {
      let ev = try parse(Array(report[0..<cut]))
      for r in ev.reports {
        #expect(r.endLine >= r.position.line)
        #expect(!r.headline.isEmpty)
      }
    }
  }

  @Test func millionFrameTraceIsCappedAndCounted() throws {
    var s = "BUG: looping\nCall Trace:\n"
    s.reserveCapacity(30_000_000)
    for _ in 0..<1_000_000 { s += " loop_fn+0x1/0x2\n" }
    let r = try #require(try parse(Array(s.utf8)).reports.first)
    #expect(r.frames.count == 4096)
    #expect(r.omittedFrameCount == 1_000_000 - 4096)
  }

  @Test func deeplyNestedLockdepChainStaysBounded() throws {
    var s = "WARNING: possible circular locking dependency detected\n"
    for i in stride(from: 5000, through: 0, by: -1) { s += "-> #\(i) (lock\(i)){+.+.}-{4:4}:\n       f\(i)+0x1/0x2\n" }
    let r = try #require(try parse(Array(s.utf8)).reports.first)
    #expect(r.lockdep?.chain.count == 1024)
  }

  @Test func reportInsideAnFtraceDumpIsStillFound() throws {
    let log = """
      Dumping ftrace buffer:
      ---------------------------------
      vhost-12-104       1..... 2123127us : lockhog_lock: vhost_lock: wait dev->mutex lock=1 pid=104 comm=v owner=0
      BUG: kernel NULL pointer dereference, address: 0000000000000008
      vhost-12-104       1..... 2123472us : lockhog_lock: vhost_lock: acquire dev->mutex lock=1 owner=104 comm=v
      ---------------------------------

      """
    let ev = try parse(Array(log.utf8))
    #expect(ev.reports.map(\.kind) == [.pageFault])
    #expect(ev.ftrace.count == 2)
  }
}
