import Foundation
import Testing
import TestSupport

@testable import Forensics
@testable import Ingest

/// Parses a fixture log with the real ingest rules.
func fixtureEvents(_ relative: String) throws -> [Event] {
  let rules = try IngestRules.shared(directory: TestPaths.root + "/rules")
  return try EventParser.parse(source: try LogSource.open(TestPaths.fixture(relative)), rules: rules)
}

func lockCorrelator() throws -> LockCorrelator {
  LockCorrelator(rules: try LockRules.load(rulesDirectory: TestPaths.root + "/rules"))
}

func jsonObject(_ relative: String) throws -> [String: Any] {
  let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture(relative)))
  return try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
}

@Suite("LockCorrelator on the lab logs")
struct LockCorrelatorLabTests {
  /// ../shared/lab (Debian 6.1, no lockdep): the holder is visible only in trace lines + stacks.
  @Test(arguments: ["hung", "hung-twice", "hung-kaslr", "hung-stack", "msleep"])
  func labHolderAndWaitersMatchExpectations(_ name: String) throws {
    let expected = try #require(try jsonObject("logs/locks/lab-locks.json")[name] as? [String: Any])
    let holder = try #require(expected["holder"] as? [String: Any])
    let waiters = try #require(expected["waiters"] as? [[String: Any]])
    let a = try lockCorrelator().analyze(try fixtureEvents("logs/lab/\(name).log"))

    let waiterPids = Set(waiters.map { $0["pid"] as! Int })
    for w in waiters {
      let b = try #require(a.blocked.first { $0.pid == w["pid"] as! Int }, "waiter \(w) not found")
      #expect(b.comm == w["comm"] as? String)
      #expect(b.lock?.name == expected["lock"] as? String)
      #expect(b.lock?.address == expected["lock_addr"] as? String)
      #expect(b.holder?.pid == holder["pid"] as? Int)
      #expect(b.holder?.comm == holder["comm"] as? String)
      #expect(b.confidence >= .medium)
      #expect(!b.evidence.isEmpty)
      #expect(b.primitive == "mutex")
    }
    // Nobody else is said to hold the lock; the holder is never listed as waiting for it.
    #expect(a.holders.count == 1)
    #expect(a.holders.first?.holder.pid == holder["pid"] as? Int)
    #expect(Set(a.holders.first?.waiters ?? []) == waiterPids)
    if let h = a.blocked.first(where: { $0.pid == holder["pid"] as! Int }) {
      #expect(h.lock == nil)
      #expect(h.holds.contains { $0.name == expected["lock"] as? String })
    }
    #expect(a.cycles.isEmpty == !(expected["cycle"] as! Bool))
  }

  /// ../shared/lab-6.12: lockdep lists the waiters as holding the lock too (the trap), and
  /// prints the dep_map address (mutex + 0x68).
  @Test(arguments: ["ld-hung", "ld-hung-kaslr", "ld-vhost-hung"])
  func lockdepWaitersAreNotHolders(_ name: String) throws {
    let scenarios = try #require(try jsonObject("logs/locks/lab-6.12-locks.json")["scenarios"] as? [String: Any])
    let s = try #require(scenarios[name] as? [String: Any])
    let lock = try #require(s["lock"] as? [String: Any])
    let holder = try #require(s["holder"] as? [String: Any])
    let waiters = try #require(s["waiters"] as? [[String: Any]])
    let listedAsHolding = try #require(s["lockdep_lists_as_holding"] as? [[Any]])
    #expect(listedAsHolding.count == 3)  // the trap is present in the input

    let a = try lockCorrelator().analyze(try fixtureEvents("logs/locks/\(name).log"))
    for w in waiters {
      let b = try #require(a.blocked.first { $0.pid == w["pid"] as! Int })
      #expect(b.lock?.name == lock["name"] as? String)
      #expect(b.lock?.address == lock["mutex_addr"] as? String)
      #expect(b.lock?.lockdepAddress == lock["lockdep_addr"] as? String)
      #expect(b.lock?.lockdepClass == lock["lockdep_class"] as? String)
      #expect(b.holder?.pid == holder["pid"] as? Int)
      #expect(b.holder?.comm == holder["comm"] as? String)
      #expect(b.confidence == .high)
      #expect(b.waitSite == lock["acquire_site"] as? String)
    }
    #expect(a.holders.map(\.holder.pid) == [holder["pid"] as! Int])
    #expect(a.notes.contains { $0.contains("+ 0x68") })
    #expect(a.cycles.isEmpty)
  }

  @Test func realVhostDriverLogWithoutHangHasNoBlockedTasks() throws {
    let a = try lockCorrelator().analyze(try fixtureEvents("logs/locks/ld-vhost.log"))
    #expect(a.blocked.isEmpty)
    #expect(a.cycles.isEmpty)
    #expect(a.sources.contains("trace"))
  }

  /// Recorded with `lab.sh ld-abba`: a lockdep circular-dependency report, then both tasks hang.
  /// The splat's held list was printed while vhost-1234 acquired the second lock, so it must not
  /// be read as "waits for its last entry"; lockdep calls the trace's vq->mutex &dev->vq_mutex.
  @Test func abbaDeadlockIsACycleConfirmedByLockdep() throws {
    let a = try lockCorrelator().analyze(try fixtureEvents("logs/locks/ld-abba.log"))
    let waitFor = try #require(a.cycles.first { $0.kind == "wait_for" })
    #expect(Set(waitFor.tasks.map(\.pid)) == [65, 66])
    #expect(Set(waitFor.locks.map(stripAddress)) == ["dev->mutex", "vq->mutex"])
    let lockdep = try #require(a.cycles.first { $0.kind == "lockdep" })
    #expect(lockdep.isDeadlock)
    #expect(Set(lockdep.locks) == ["&dev->mutex#3", "&dev->vq_mutex"])
    let a1 = try #require(a.blocked.first { $0.pid == 65 })
    #expect(a1.lock?.name == "vq->mutex")
    #expect(a1.holder?.pid == 66)
    #expect(a1.isInCycle)
    let b = try #require(a.blocked.first { $0.pid == 66 })
    #expect(b.lock?.name == "dev->mutex")
    #expect(b.holder?.pid == 65)
  }

  /// Recorded with `lab.sh ld-vhost-stall`: the real vhost_worker_killed() sleeps holding
  /// worker->mutex and vq->mutex; the owner process waits for a flush only the worker can run.
  @Test func vhostStallNamesTheWorkerAsCandidateNotAsHolder() throws {
    let a = try lockCorrelator().analyze(try fixtureEvents("logs/locks/ld-vhost-stall.log"))
    let killer = try #require(a.blocked.first { $0.pid == 67 })
    #expect(killer.primitive == "completion")
    #expect(killer.holder == nil)
    #expect(killer.confidence == .low)
    #expect(killer.holderCandidates.map(\.pid) == [68])
    let worker = try #require(a.blocked.first { $0.pid == 68 })
    #expect(worker.lock == nil)
    #expect(Set(worker.holds.compactMap(\.name)) == ["worker->mutex", "vq->mutex", "vtsk->exit_mutex"])
    // lockdep's &worker->mutex at trace address + 0x68 is the same lock as the trace's.
    let wm = try #require(worker.holds.first { $0.name == "worker->mutex" })
    #expect(wm.address == "ffff888000b24518")
    #expect(wm.lockdepAddress == "ffff888000b24580")
  }
}

@Suite("LockCorrelator on synthetic vhost logs")
struct LockCorrelatorSyntheticTests {
  /// The syzbot report shape: lockdep lists the vq->mutex the worker waits for; the only other
  /// hint is a task with "2 locks held" and no entries — a candidate, never a proven holder.
  @Test func unlistedLocksGiveACandidateOnly() throws {
    let a = try lockCorrelator().analyze(try fixtureEvents("logs/locks/syn-vhost-killed-candidate.log"))
    let w = try #require(a.blocked.first { $0.pid == 7618 })
    #expect(w.lock?.lockdepClass == "&vq->mutex")
    #expect(w.lock?.lockdepAddress == "ffff8880550c0258")
    #expect(w.waitSite == "vhost_worker_killed+0x12b/0x390")
    #expect(w.holder == nil)
    #expect(w.confidence == .low)
    #expect(w.holderCandidates.map(\.pid) == [7601])
    #expect(Set(w.holds.compactMap(\.lockdepClass)) == ["&vtsk->exit_mutex", "&worker->mutex"])
    #expect(w.evidence.contains(29))  // the #2 entry at the caller site
  }

  /// vhost_worker_killed waits for vq->mutex held by an ioctl that waits for dev->mutex held by
  /// a flush worker: a chain of three, holders found from lockdep lists read with stacks.
  @Test func chainFollowsHoldersToTheRoot() throws {
    let a = try lockCorrelator().analyze(try fixtureEvents("logs/locks/syn-vhost-chain.log"))
    let w = try #require(a.blocked.first { $0.pid == 4101 })
    #expect(w.lock?.name == "vq->mutex")
    #expect(w.holder?.pid == 4100)
    #expect(w.chain.map(\.pid) == [4101, 4100, 5120])
    #expect(w.chain.last?.waitsOn?.contains("completion") == true)
    let ioctl = try #require(a.blocked.first { $0.pid == 4100 })
    #expect(ioctl.lock?.lockdepClass == "&dev->mutex#2")
    #expect(ioctl.holder?.pid == 5120)
    #expect(a.cycles.isEmpty)
  }

  @Test func blockerLineIsADirectEdge() throws {
    let a = try lockCorrelator().analyze(try fixtureEvents("logs/locks/syn-blocker.log"))
    let w = try #require(a.blocked.first { $0.pid == 11 })
    #expect(w.holder?.pid == 615)
    #expect(w.holder?.comm == "dhcpcd")
    #expect(w.confidence >= .medium)
    #expect(w.evidence.contains(17))
  }

  @Test func stacksAloneNeverNameAHolder() throws {
    let a = try lockCorrelator().analyze(try fixtureEvents("logs/locks/syn-sysrq-nolockdep.log"))
    #expect(a.blocked.map(\.pid) == [2210])
    let w = a.blocked[0]
    #expect(w.primitive == "mutex")
    #expect(w.holder == nil)
    #expect(w.holderCandidates.isEmpty)
    #expect(w.confidence == Confidence.none)
    #expect(a.notes.contains { $0.contains("no lockdep") })
  }
}

@Suite("LockCorrelator on hand-built events")
struct LockCorrelatorEventTests {
  static let file = "mem.log"

  static func trace(_ line: Int, pid: Int, _ op: String, lock: String, _ fields: [(String, String)])
    -> Event
  {
    var r = FtraceRecord(
      comm: "t-\(pid)", pid: pid, cpu: 0, flags: nil, timestamp: Double(line) / 1000,
      event: "lockhog_lock", message: "", position: SourcePosition(file: file, line: line, offset: 0))
    r.vhostLock = VhostLockOp(
      operation: op, lock: lock, fields: fields.map { VhostField(key: $0.0, value: $0.1) })
    return .ftrace(r)
  }

  static func hung(_ line: Int, pid: Int, comm: String, frames: [String]) -> Event {
    var r = CrashReport(
      kind: .hungTask, headline: "INFO: task \(comm):\(pid) blocked for more than 143 seconds.",
      position: SourcePosition(file: file, line: line, offset: 0), prefix: LinePrefix())
    r.hungTask = HungTaskDetails(task: TaskRef(comm: comm, pid: pid), seconds: 143)
    r.frames = frames.enumerated().map { i, f in
      let parts = f.split(separator: "+")
      let offs = parts.count > 1 ? UInt64(parts[1].dropFirst(2), radix: 16) : nil
      return Frame(function: String(parts[0]), offset: offs, line: line + 2 + i)
    }
    return .report(r)
  }

  /// `owner=0` on the waiter's own wait line is stale, not "free"; it must not erase a holder.
  @Test func staleOwnerZeroIsIgnored() throws {
    let events: [Event] = [
      Self.trace(10, pid: 5, "acquire", lock: "worker->mutex", [("lock", "ffff888000aeac18"), ("owner", "5")]),
      Self.trace(11, pid: 6, "wait", lock: "worker->mutex", [("lock", "ffff888000aeac18"), ("pid", "6"), ("owner", "0")]),
      Self.hung(20, pid: 6, comm: "vhost-5", frames: ["__schedule+0x1", "schedule+0x1", "__mutex_lock+0x10", "vhost_worker_killed+0x57"]),
    ]
    let a = try lockCorrelator().analyze(events)
    let w = try #require(a.blocked.first)
    #expect(w.holder?.pid == 5)
    #expect(w.notes.contains { $0.contains("owner=0") })
    #expect(w.confidence == .medium)  // one source only: the trace
  }

  /// Two tasks each with an unreleased acquire of the same lock: contradictory, so no holder.
  @Test func contradictoryTraceHoldersAreNotResolved() throws {
    let events: [Event] = [
      Self.trace(10, pid: 5, "acquire", lock: "vq->mutex", [("lock", "ffff8880032001f0"), ("owner", "5")]),
      Self.trace(11, pid: 7, "wait", lock: "vq->mutex", [("lock", "ffff8880032001f0"), ("pid", "7"), ("owner", "9")]),
      Self.hung(20, pid: 7, comm: "syz", frames: ["schedule+0x1", "__mutex_lock+0x10", "vhost_vring_ioctl+0x20"]),
    ]
    let a = try lockCorrelator().analyze(events)
    let w = try #require(a.blocked.first)
    // Trace says pid 5 acquired (2 points); the wait line says owner 9 (1 point): 5 wins, but
    // only at medium confidence and with 9 not presented as holder.
    #expect(w.holder?.pid == 5)
    #expect(w.confidence == .medium)
  }

  @Test func lockdepClassNamesLoseSuffixes() {
    #expect(lockExpression("&dev->mutex#3") == "dev->mutex")
    #expect(lockExpression("&pool->lock/1") == "pool->lock")
    #expect(lockExpression("sb_writers#4") == "sb_writers")
    #expect(lockExpression("(wq_completion)netns") == "(wq_completion)netns")
    #expect(baseSymbol("__mutex_lock.constprop.0") == "__mutex_lock")
  }
}

@Suite("LockCorrelator on a syzbot log")
struct LockCorrelatorSyzbotTests {
  /// syzkaller report 432: the rtnl_mutex holder is the kworker sleeping in
  /// synchronize_rcu_expedited; the other six lockdep "holders" are waiters (at other sites).
  @Test func rtnlHolderAmongSevenListers() throws {
    let a = try lockCorrelator().analyze(try fixtureEvents("logs/locks/syzkaller-432.log"))
    let waiters = a.blocked.filter { $0.lock?.lockdepClass == "rtnl_mutex" }
    #expect(waiters.count == 7)
    for w in waiters {
      #expect(w.holder?.pid == 9381)
      #expect(w.holder?.comm == "kworker/u4:5")
      #expect(w.confidence >= .medium)
    }
    let holder = try #require(a.blocked.first { $0.pid == 9381 })
    #expect(holder.primitive == "rcu")
    #expect(holder.holds.contains { $0.lockdepClass == "rtnl_mutex" })
    #expect(a.holders.map(\.holder.pid) == [9381])
  }
}

@Suite("LockCorrelator: vhost flush deadlock")
struct LockCorrelatorFlushTests {
  /// The worker (killed) waits for vq->mutex held by the ioctl task (trace: acquire, no
  /// release), which waits for a flush only that worker can run: a possible deadlock, reported
  /// as such — the flush edge is a candidate, so it is not called a proven deadlock.
  @Test func workerAndFlushFormAPossibleCycle() throws {
    let a = try lockCorrelator().analyze(try fixtureEvents("logs/locks/syn-vhost-flush-deadlock.log"))
    let worker = try #require(a.blocked.first { $0.pid == 151 })
    #expect(worker.lock?.name == "vq->mutex")
    #expect(worker.holder?.pid == 150)
    #expect(worker.confidence == .high)  // trace acquire + owner=150 on the wait line + stack
    #expect(worker.holds.contains { $0.name == "worker->mutex" })
    let ioctl = try #require(a.blocked.first { $0.pid == 150 })
    #expect(ioctl.primitive == "completion")
    #expect(ioctl.holder == nil)
    #expect(ioctl.holderCandidates.map(\.pid) == [151])
    let c = try #require(a.cycles.first)
    #expect(c.kind == "possible")
    #expect(!c.isDeadlock)
    #expect(Set(c.tasks.map(\.pid)) == [150, 151])
    #expect(!a.cycles.contains { $0.kind == "wait_for" })
  }
}

@Suite("LockCorrelator on symbolized logs")
struct LockCorrelatorSymbolizedTests {
  /// Symbolized stacks carry inlined callees (`__schedule_loop`, `__mutex_lock_common`) before
  /// their containing frames; the diagnosis must be the same as on the raw log.
  @Test func inlineFramesDoNotChangeTheDiagnosis() throws {
    let raw = try lockCorrelator().analyze(try fixtureEvents("logs/locks/ld-hung.log"))
    let sym = try lockCorrelator().analyze(try fixtureEvents("logs/locks/ld-hung.symbolized.log"))
    let inline = try fixtureEvents("logs/locks/ld-hung.symbolized.log").contains { e in
      if case .report(let r) = e { return r.frames.contains(where: \.isInline) }
      return false
    }
    #expect(inline)  // the fixture really has inline frames
    #expect(sym.blocked.map(\.pid) == raw.blocked.map(\.pid))
    for (a, b) in zip(raw.blocked, sym.blocked) {
      #expect(a.holder?.pid == b.holder?.pid)
      #expect(a.lock?.address == b.lock?.address)
      #expect(a.primitive == b.primitive)
      #expect(a.waitSite == b.waitSite)
      #expect(a.confidence == b.confidence)
    }
  }
}

@Suite("LockCorrelator on a trace alone")
struct LockCorrelatorTraceOnlyTests {
  /// Without hung-task reports, a pending trace wait counts as blocked only when it is old
  /// relative to the end of the trace; a wait caught in flight is normal lock traffic.
  @Test func onlyLongPendingWaitsAreBlocked() throws {
    let a = try lockCorrelator().analyze(try fixtureEvents("logs/locks/syn-trace-only.log"))
    #expect(a.blocked.map(\.pid) == [105])
    let w = a.blocked[0]
    #expect(w.holder?.pid == 104)
    #expect(w.confidence == .medium)
    #expect(w.notes.contains { $0.contains("still waiting 7 s") })
  }
}
