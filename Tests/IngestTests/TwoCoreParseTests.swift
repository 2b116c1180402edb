import Foundation
import TestSupport
import Testing
import CSupport

@testable import Ingest

/// The two-core split must give exactly what one parser gives, wherever the middle falls:
/// inside a report, an ftrace dump, a lock list, between two CPUs' interleaved reports.
@Suite struct TwoCoreParseTests {
  /// Every real log in the fixtures (syzkaller corpus, both labs, lock scenarios), concatenated
  /// in a fixed order into one report-dense file, written once.
  static let bigLog: String = {
    let fm = FileManager.default
    var paths: [String] = []
    for dir in ["corpus/syzkaller/public/cases", "logs/lab", "logs/lab-6.12", "logs/locks"] {
      let d = TestPaths.fixture(dir)
      let names = (try? fm.contentsOfDirectory(atPath: d)) ?? []
      paths += names.filter { $0.hasSuffix(".log") }.sorted().map { d + "/" + $0 }
    }
    var bytes: [UInt8] = []
    for p in paths { bytes += Array((fm.contents(atPath: p) ?? Data())) }
    let out = NSTemporaryDirectory() + "repro-analyze-twocore-\(getpid()).log"
    fm.createFile(atPath: out, contents: Data(bytes))
    return out
  }()

  struct Outcome: Equatable {
    var events: [Event] = []
    var lines = 0
    var truncated = 0
    var reports: [ReportKind: Int] = [:]
    var lockLists = 0
    var tracepoints: [String: Int] = [:]
    var vhostOps: [String: Int] = [:]
  }

  /// One parser, start to end. `countOnlyAfter`: switch to count-only after that many reports,
  /// as `analyze` does once its summary is full.
  static func sequential(_ path: String, countOnlyAfter: Int?) throws -> Outcome {
    let (p, events) = Self.parser(path, countOnlyAfter: countOnlyAfter)
    try LogSource.open(path).forEachLine { p.consume($0) }
    p.finish()
    var o = Outcome()
    o.events = events.events
    o.collect(p)
    return o
  }

  final class Collected { var events: [Event] = [] }

  /// A parser whose events are collected, switching to count-only like `analyze`.
  static func parser(_ path: String, countOnlyAfter: Int?) -> (EventParser, Collected) {
    let out = Collected()
    var reports = 0
    var parser: EventParser?
    let p = EventParser(rules: testRules, file: path) { e in
      out.events.append(e)
      if case .report = e { reports += 1 }
      if let n = countOnlyAfter, reports >= n { parser?.isDetailed = false }
    }
    parser = p
    return (p, out)
  }

  static func split(_ path: String, near: Int, countOnlyAfter: Int?) throws -> (Outcome, used: Bool) {
    var tailEvents: [Event] = []
    let (head, events) = Self.parser(path, countOnlyAfter: countOnlyAfter)
    let used = try TwoCoreParse.read(
      LogSource.open(path), head: head,
      eligible: { countOnlyAfter == nil || !head.isDetailed }, tailSink: { tailEvents.append($0) },
      makeTail: { sink in
        let t = EventParser(rules: testRules, file: path, sink: sink)
        t.isDetailed = countOnlyAfter == nil
        return t
      }, minimumBytes: 1, splitNear: near) != nil
    // (A tail that was cancelled may have emitted events: they are dropped, as the head
    // re-reads its lines.)
    var o = Outcome()
    o.events = events.events + (used ? tailEvents : [])
    o.collect(head)
    return (o, used)
  }

  /// The count-only fast path skips work only: on every real log, the same events and tallies
  /// as the full count-only parse.
  @Test func countOnlyFastPathChangesNothingOnRealLogs() throws {
    let bytes = try #require(FileManager.default.contents(atPath: Self.bigLog))
    let problems = Array(bytes).withUnsafeBufferPointer { FuzzChecks.countOnlyFastPathAgrees($0, rules: testRules) }
    #expect(problems == [])
  }

  /// The frame lane skips work only: on every real log, the same events, and the same JSON
  /// Lines bytes, as without it (with the frame cap high enough that every frame is kept).
  @Test func frameLaneChangesNothingOnRealLogs() throws {
    let bytes = try #require(FileManager.default.contents(atPath: Self.bigLog))
    let problems = Array(bytes).withUnsafeBufferPointer { FuzzChecks.frameLaneAgrees($0, rules: testRules, maxFrames: 4096) }
    #expect(problems == [])
  }

  /// The lane's conditions, on lines real logs rarely have: a held-lock list still open when a
  /// lockdep report starts in its context (the first frame line ends the list), frames of a
  /// chain block, a frame right after a list's entries, frames past the cap.
  @Test(arguments: [
    "[    1.0] 1 lock held by a/1:\n[    1.0]  #0: ffff888000000001 (&x){+.+.}-{4:4}, at: g+0x1/0x2\n[    1.1] WARNING: possible circular locking dependency detected\n[    1.1]  f+0x1/0x2\n[    1.1]  k+0x1/0x2\n",
    "[    1.1] WARNING: possible circular locking dependency detected\n[    1.1] the existing dependency chain (in reverse order) is:\n[    1.1] \n-> #1 (&x){+.+.}-{4:4}:\n[    1.1]        f+0x1/0x2\n[    1.1]        g+0x1/0x2\n[    1.1] stack backtrace:\n[    1.1]  h+0x1/0x2\n",
    "[    1.1] WARNING: possible circular locking dependency detected\n[    1.1] 2 locks held by a/1:\n[    1.1]  #0: ffff888000000001 (&x){+.+.}-{4:4}, at: g+0x1/0x2\n[    1.1]  f+0x1/0x2\n[    1.1]  #1: ffff888000000002 (&y){+.+.}-{4:4}, at: h+0x1/0x2\n",
    "[    1.1] BUG: KASAN: use-after-free in f+0x1/0x2\n[    1.1] Call Trace:\n" + String(repeating: "[    1.1]  f+0x1/0x2\n", count: 70) + "[    1.1] ---[ end trace 0000000000000000 ]---\n",
  ])
  func frameLaneChangesNothingAtItsEdges(_ log: String) {
    let problems = Array(log.utf8).withUnsafeBufferPointer { FuzzChecks.frameLaneAgrees($0, rules: testRules) }
    #expect(problems == [])
  }

  /// A head that is not eligible (e.g. a summary still decoding in detail at the split) cancels
  /// the tail and reads on alone: same result, and the tail's events are not used.
  @Test func ineligibleHeadReadsOnAlone() throws {
    let path = Self.bigLog
    let reference = try Self.sequential(path, countOnlyAfter: nil)
    var tailEvents: [Event] = []
    let (head, events) = Self.parser(path, countOnlyAfter: nil)
    let used = try TwoCoreParse.read(
      LogSource.open(path), head: head, eligible: { false },
      tailSink: { tailEvents.append($0) },
      makeTail: { EventParser(rules: testRules, file: path, sink: $0) }, minimumBytes: 1) != nil
    #expect(!used)
    var o = Outcome()
    o.events = events.events
    o.collect(head)
    #expect(o == reference)
  }

  @Test(arguments: [nil, 40] as [Int?])
  func splitAnywhereGivesTheSequentialResult(countOnlyAfter: Int?) throws {
    let path = Self.bigLog
    let size = Int(try FileManager.default.attributesOfItem(atPath: path)[.size] as! UInt64)
    #expect(size > 2 << 20)
    let reference = try Self.sequential(path, countOnlyAfter: countOnlyAfter)
    #expect(reference.events.count > 500)
    var used = 0
    // 23 split points spread over the file (a prime, so they land at unrelated places).
    for k in 1..<24 {
      let (o, didSplit) = try Self.split(path, near: size * k / 24, countOnlyAfter: countOnlyAfter)
      if didSplit { used += 1 }
      #expect(o.lines == reference.lines, "split \(k)")
      #expect(o.reports == reference.reports, "split \(k)")
      #expect(o.lockLists == reference.lockLists, "split \(k)")
      #expect(o.tracepoints == reference.tracepoints, "split \(k)")
      #expect(o.vhostOps == reference.vhostOps, "split \(k)")
      #expect(o.events.count == reference.events.count, "split \(k)")
      if o.events != reference.events {
        let i = zip(o.events, reference.events).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(o.events.count, reference.events.count)
        Issue.record("split \(k): events differ from #\(i)")
      }
    }
    // Most splits must really have used the second parser, or this proves nothing.
    #expect(used >= 18, "only \(used) of 23 splits used the tail")
  }
}

extension TwoCoreParseTests.Outcome {
  mutating func collect(_ p: EventParser) {
    lines = p.lineCount
    truncated = p.truncatedLineCount
    reports = p.countedReports
    lockLists = p.countedLockLists
    tracepoints = p.countedTracepoints
    vhostOps = p.countedVhostOps
  }
}

@Suite struct NewlineCountTests {
  @Test func countsLikeAByteLoopAtEveryLengthAndAlignment() {
    var rng = SystemRandomNumberGenerator()
    for n in [0, 1, 31, 32, 33, 64, 255 * 32, 255 * 32 + 1, 300 * 32 + 7, 100_000] {
      let bytes = (0..<n + 3).map { _ in UInt8.random(in: 0...3, using: &rng) == 0 ? 0x0A : UInt8.random(in: 0...255, using: &rng) }
      for start in 0..<3 {
        let slice = Array(bytes[start..<start + n])
        let expected = slice.filter { $0 == 0x0A }.count
        let got = slice.withUnsafeBytes { TwoCoreParse.countNewlines($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, n) }
        #expect(got == expected, "n=\(n) start=\(start)")
      }
    }
  }

  /// Nothing but newlines: every byte lane counts one per step, the most it can hold before
  /// the lanes are summed.
  @Test func countsARunOfNewlinesPastEveryLaneSum() {
    for n in [15, 16, 255 * 16 - 1, 255 * 16, 255 * 16 + 1, 256 * 16, 255 * 16 * 3 + 5, 70_000] {
      let bytes = [UInt8](repeating: 0x0A, count: n)
      #expect(bytes.withUnsafeBytes { TwoCoreParse.countNewlines($0.baseAddress!, n) } == n, "n=\(n)")
    }
  }
}

/// `ra_find_newlines` (the line splitter's batch search), both its AVX2 and SSE2 paths, against
/// a byte loop: every alignment, lengths around the 64-byte block, blocks with more newlines
/// than the four written without a branch, and a full batch (the caller's capacity) in the middle.
@Suite struct NewlineSearchTests {
  typealias Search = (UnsafePointer<UInt8>, Int, UnsafeMutablePointer<UInt32>, Int, UnsafeMutablePointer<Int>) -> Int

  static func offsets(_ bytes: [UInt8], capacity: Int, _ search: Search) -> [Int] {
    var found: [Int] = []
    let out = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
    defer { out.deallocate() }
    bytes.withUnsafeBufferPointer { b in
      var at = 0
      while at < b.count {
        var looked = 0
        let k = search(b.baseAddress! + at, b.count - at, out, capacity, &looked)
        #expect(looked > 0 || k > 0, "no progress at \(at)")
        if looked == 0 && k == 0 { return }
        for i in 0..<k { found.append(at + Int(out[i])) }
        at += looked
      }
    }
    return found
  }

  @Test(arguments: [("dispatch", false), ("sse2", true)])
  func findsEveryNewlineLikeAByteLoop(_ name: String, _ sse2: Bool) {
    let search: Search = sse2 ? { ra_find_newlines_sse2($0, $1, $2, $3, $4) } : { ra_find_newlines($0, $1, $2, $3, $4) }
    var rng = SystemRandomNumberGenerator()
    for density in [0, 2, 8, 64] {
      for n in [1, 3, 63, 64, 65, 127, 128, 129, 1000, 5000, 70_000] {
        let bytes = (0..<n + 3).map { _ in
          density > 0 && Int.random(in: 0..<density, using: &rng) == 0 ? 0x0A : UInt8.random(in: 0...255, using: &rng)
        }
        for start in 0..<3 {
          let slice = Array(bytes[start..<start + n])
          let expected = slice.indices.filter { slice[$0] == 0x0A }
          for capacity in [128, 1024] {
            #expect(Self.offsets(slice, capacity: capacity, search) == expected, "\(name) n=\(n) density=\(density) capacity=\(capacity)")
          }
        }
      }
    }
    // Nothing but newlines: every block holds 64, and a batch fills long before the input ends.
    let all = [UInt8](repeating: 0x0A, count: 10_000)
    #expect(Self.offsets(all, capacity: 128, search) == Array(0..<10_000), "\(name)")
  }
}
