import Foundation
import Testing

@testable import Ingest

@Suite struct FrameParserTests {
  struct Row: Sendable, CustomStringConvertible {
    var line: String
    var function: String?
    var offset: UInt64? = nil
    var size: UInt64? = nil
    var module: String? = nil
    var address: UInt64? = nil
    var reliable = true
    var inline = false
    var source: String? = nil
    var description: String { line }
  }

  static let rows: [Row] = [
    Row(line: " __schedule+0x10e9/0x6820", function: "__schedule", offset: 0x10e9, size: 0x6820),
    Row(line: " ? __pfx___schedule+0x10/0x10", function: "__pfx___schedule", offset: 0x10, size: 0x10, reliable: false),
    Row(line: " lockhog_lock+0x64/0xa0 [lockhog]", function: "lockhog_lock", offset: 0x64, size: 0xa0, module: "lockhog"),
    Row(line: " func+0x10/0x20 [vhost 0123456789abcdef]", function: "func", offset: 0x10, size: 0x20, module: "vhost"),
    Row(line: " __mutex_lock+0x7e6/0x1350 kernel/locking/mutex.c:776", function: "__mutex_lock", offset: 0x7e6, size: 0x1350, source: "kernel/locking/mutex.c:776"),
    Row(line: " __mutex_lock_common kernel/locking/mutex.c:692 [inline]", function: "__mutex_lock_common", inline: true, source: "kernel/locking/mutex.c:692"),
    Row(line: " [<ffffffff8de17609>] ? __schedule+0x239/0x6f0", function: "__schedule", offset: 0x239, size: 0x6f0, address: 0xffffffff8de17609, reliable: false),
    Row(line: " [<ffffffff810032f2>] 0xffffffff810032f2", function: nil, address: 0xffffffff810032f2),
    Row(line: "  __switch_to+0xf8/0x168 (T)", function: "__switch_to", offset: 0xf8, size: 0x168),
    Row(line: " watchdog.cold+0xc/0xbb", function: "watchdog.cold", offset: 0xc, size: 0xbb),
    Row(line: " lockhog_unlock.constprop.0+0x50/0x50 [lockhog]", function: "lockhog_unlock.constprop.0", offset: 0x50, size: 0x50, module: "lockhog"),
    Row(line: " __schedule (kernel/sched/core.c:4272 kernel/sched/core.c:5019)", function: "__schedule", source: "kernel/sched/core.c:4272 kernel/sched/core.c:5019"),
    Row(line: " dump_stack_lvl+0x44/0x5c", function: "dump_stack_lvl", offset: 0x44, size: 0x5c),
    Row(line: "[c0000000012a3b40] [c000000000f1e2d0] dump_stack+0xb4/0x100 (unreliable)", function: "dump_stack", offset: 0xb4, size: 0x100, address: 0xc000000000f1e2d0),
  ]

  @Test(arguments: rows)
  func parsesFrame(_ row: Row) throws {
    let f = try #require(FrameParser.parse(row.line))
    #expect(f.function == row.function)
    #expect(f.offset == row.offset)
    #expect(f.size == row.size)
    #expect(f.module == row.module)
    #expect(f.address == row.address)
    #expect(f.isReliable == row.reliable)
    #expect(f.isInline == row.inline)
    #expect(f.source == row.source)
  }

  @Test(arguments: [
    "Call Trace:", " <TASK>", "Hardware name: QEMU Standard PC", "    Not tainted 6.1.0",
    "RSP: 0018:ffffc90003157480 EFLAGS: 00000246", "", "   ", " random words here",
    " 12345", " +0x10/0x20", "Modules linked in: lockhog(OE)",
  ])
  func rejectsNonFrames(_ line: String) {
    #expect(FrameParser.parse(line) == nil)
  }

  /// The fast lane's parser (`parseCommon`) either declines a line or agrees with `parseRaw`:
  /// on every line of the fixture logs, on the table above, and on variants at each point where
  /// the lane declines (tabs, missing pieces, trailing text, 16+ hex digits, odd modules).
  @Test func commonShapeParserAgreesWithTheGeneralOne() throws {
    let log = try #require(FileManager.default.contents(atPath: TwoCoreParseTests.bigLog))
    var taken = 0
    var lines = Array(log).split(separator: 0x0A, omittingEmptySubsequences: false).map { line -> [UInt8] in
      // The body, as the parser sees it: after `[ time]` and `[ caller]`.
      var b = Array(line)
      while b.first == 0x5B, let close = b.firstIndex(of: 0x5D), b[1] == 0x20 || b[1] == 0x54 || b[1] == 0x43 { b.removeSubrange(0...close) }
      return b
    }
    lines += Self.rows.map { Array($0.line.utf8) }
    let variants = [
      " f+0x1/0x2", "  ? f+0x1/0x2", " ?f+0x1/0x2", " ? \tf+0x1/0x2", "\tf+0x1/0x2", " f+0x1/0x2\t", " f+0x1/0x2 ",
      " f+0x1/0x2 x", " f+0x1/0x2x", " f+0x1/0xg", " f+0x/0x2", " f+0x1", " f+0x1/", " f+0x1/0x", " f+0X1/0X2",
      " f+0x1111222233334444/0x2", " f+0x11112222333344445/0x2", " f+0x1/0x11112222333344445", " 9f+0x1/0x2", " .f+0x1/0x2",
      " f+0x1/0x2 [m]", " f+0x1/0x2 [m]  ", " f+0x1/0x2 [m] x", " f+0x1/0x2 [ m]", " f+0x1/0x2 []", " f+0x1/0x2 [m", " f+0x1/0x2 [inline]",
      " f+0x1/0x2 [m b]", " f+0x1/0x2 [m] [n]", " f+0x1/0x2 a.c:1", " [<ffffffff81000000>] f+0x1/0x2",
      " [<ffffffff81000000>]  ? f+0x1/0x2 [m]", " [<ffffffff81000000>] 0xffffffff81000000", " [<ffffffff81000000>] 0x1+0x1/0x2",
      " [<ffffffff81000000>] (f+0x1/0x2)", " [<ffffffff81000000> f+0x1/0x2", " [<>] f+0x1/0x2", " [<ffffffff81000000>]\tf+0x1/0x2",
      " [c0000000012a3b40] [c000000000f1e2d0] f+0x1/0x2", " <TASK>", " f$x.y_1+0x1/0x2", " f\u{7F}+0x1/0x2", " f+0x1/0x2\r",
    ]
    lines += variants.map { Array($0.utf8) }
    for line in lines {
      line.withUnsafeBufferPointer { b in
        guard let common = FrameParser.parseCommon(b) else { return }
        taken += 1
        #expect(common == FrameParser.parseRaw(b), "\(String(decoding: b, as: UTF8.self))")
      }
    }
    // The lane must take the usual frames, or it speeds nothing up.
    #expect(taken > 1000)
    for usual in [" f+0x1/0x2", " ? f+0x1/0x2 [m]", " [<ffffffff81000000>] ? f+0x1/0x2"] {
      #expect(Array(usual.utf8).withUnsafeBufferPointer { FrameParser.parseCommon($0) } != nil, "\(usual)")
    }
  }

  @Test func parsesKernelRIP() throws {
    var s = "RIP: 0010:wq_watchdog_touch+0xb4/0x160 kernel/workqueue.c:7654"
    let ip = try s.withUTF8 { try #require(FrameParser.parseRIP($0, at: 5, line: 3)) }
    #expect(ip.segment == "0010")
    #expect(ip.isUserSpace == false)
    #expect(ip.frame?.function == "wq_watchdog_touch")
    #expect(ip.frame?.source == "kernel/workqueue.c:7654")
  }

  @Test func parsesUserRIP() throws {
    var s = "RIP: 0033:0x7efe38790a77"
    let ip = try s.withUTF8 { try #require(FrameParser.parseRIP($0, at: 5, line: 3)) }
    #expect(ip.isUserSpace)
    #expect(ip.frame == nil)
  }
}
