import Foundation
import Testing
import TestSupport

@testable import Forensics
@testable import Ingest

@Suite("RunComparer")
struct DiffTests {
  func comparer() throws -> RunComparer {
    RunComparer(lockRules: try LockRules.load(rulesDirectory: TestPaths.root + "/rules"))
  }

  /// Two boots of the same scenario differ only in pids, offsets and timestamps.
  @Test func twoBootsOfTheSameScenarioAreIdentical() throws {
    let d = try comparer().compare(try fixtureEvents("logs/lab/hung.log"), try fixtureEvents("logs/lab/hung-twice.log"))
    #expect(d.isIdentical)
    #expect(d.matched.count == 4)
    #expect(d.locksBoth == [LockEdge(waiter: "lockhog-waiterN", lock: "dev->mutex", holder: "vhost-N")])
  }

  /// 6.1 vs 6.12: same titles; the stacks differ by the 6.12 entry frame only.
  @Test func kernelVersionsDifferInEntryFrames() throws {
    let d = try comparer().compare(try fixtureEvents("logs/lab/hung.log"), try fixtureEvents("logs/locks/ld-hung.log"))
    #expect(d.onlyA.isEmpty && d.onlyB.isEmpty)
    let waiter = try #require(d.matched.first { $0.title == "INFO: task hung in lockhog_lock" })
    #expect(!waiter.isStackIdentical)
    #expect(waiter.stackDiff.filter { $0.op != " " } == [StackDiffLine(op: "+", frame: "ret_from_fork_asm")])
    #expect(d.locksOnlyA.isEmpty && d.locksOnlyB.isEmpty)
  }

  /// A lock-order deadlock vs a plain holder: the lockdep report only in B, new edges, cycles.
  @Test func deadlockRunShowsNewReportEdgesAndCycles() throws {
    let d = try comparer().compare(try fixtureEvents("logs/lab/msleep.log"), try fixtureEvents("logs/locks/ld-abba.log"))
    #expect(d.onlyB.map(\.title) == ["WARNING: possible circular locking dependency detected"])
    #expect(d.locksOnlyB.contains(LockEdge(waiter: "vhost-N", lock: "vq->mutex", holder: "lockhog-abba")))
    #expect(d.cyclesA == 0 && d.cyclesB == 2)
    let acquire = try #require(d.tracepoints.first { $0.name == "vhost_lock acquire vq->mutex" })
    #expect(acquire.a == 0 && acquire.b == 1 && acquire.delta == 1)
  }

  @Test func unifiedDiffIsMinimal() {
    let d = RunComparer.unifiedDiff(["a", "b", "c", "d"], ["a", "x", "c", "d", "e"])
    #expect(d.map { $0.op + $0.frame } == [" a", "-b", "+x", " c", " d", "+e"])
  }
}
