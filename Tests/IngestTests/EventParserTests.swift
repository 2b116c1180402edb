import Foundation
import TestSupport
import Testing

@testable import Ingest

/// Shared rules for the tests (compiled once).
let testRules: IngestRules = {
  do { return try IngestRules.load(directory: TestPaths.root + "/rules") } catch { fatalError("\(error)") }
}()

func events(_ text: String, file: String = "t.log") throws -> [Event] {
  try EventParser.parse(source: LogSource.bytes(Array(text.utf8), name: file), rules: testRules)
}

func events(path: String) throws -> [Event] {
  try EventParser.parse(source: LogSource.open(path), rules: testRules)
}

extension Array where Element == Event {
  var reports: [CrashReport] { compactMap { if case .report(let r) = $0 { r } else { nil } } }
  var lockLists: [HeldLockList] { compactMap { if case .heldLocks(let l) = $0 { l } else { nil } } }
  var ftrace: [FtraceRecord] { compactMap { if case .ftrace(let f) = $0 { f } else { nil } } }
  var dumps: [TaskDump] { compactMap { if case .taskDump(let d) = $0 { d } else { nil } } }
  var blockers: [BlockerNote] { compactMap { if case .blocker(let b) = $0 { b } else { nil } } }
  var markers: [Marker] { compactMap { if case .marker(let m) = $0 { m } else { nil } } }
}

@Suite struct EventParserLabTests {
  @Test func debian61HungLogHasThreeHungTasksAPanicAndTheVhostTrace() throws {
    let ev = try events(path: TestPaths.fixture("logs/lab/hung.log"))
    let hung = ev.reports.filter { $0.kind == .hungTask }
    #expect(hung.map { $0.hungTask!.task } == [
      TaskRef(comm: "vhost-1234", pid: 104), TaskRef(comm: "lockhog-waiter1", pid: 105),
      TaskRef(comm: "lockhog-waiter2", pid: 106),
    ])
    #expect(hung.allSatisfy { $0.hungTask?.seconds == 5 && $0.hungTask?.info?.state == "D" })
    #expect(hung.allSatisfy { !$0.isTruncated })
    // The waiter sleeps in __mutex_lock called from the module.
    let w = hung[1].frames.filter(\.isReliable).map { $0.function ?? "" }
    #expect(w.starts(with: ["__schedule", "schedule", "schedule_preempt_disabled", "__mutex_lock.constprop.0", "lockhog_lock"]))
    #expect(hung[1].frames.first { $0.function == "lockhog_lock" }?.module == "lockhog")
    let panic = try #require(ev.reports.first { $0.kind == .panic })
    #expect(panic.headline == "Kernel panic - not syncing: hung_task: blocked tasks")
    #expect(panic.endMarker?.contains("end Kernel panic") == true)
    #expect(panic.task == TaskRef(comm: "khungtaskd", pid: 30))
    let vhost = ev.ftrace.compactMap(\.vhostLock)
    #expect(vhost.count == 13)
    #expect(vhost.filter { $0.operation == "acquire" }.count == 4)
    #expect(Set(vhost.compactMap { $0.field("lock") }) == ["ffffffffc0203440"])
    #expect(ev.markers.contains { $0.kind == .kernelOffset && $0.value == "disabled" })
    #expect(ev.dumps.count == 3)  // the sysrq-w dump
  }

  @Test func kaslrLogCarriesTheOffset() throws {
    let ev = try events(path: TestPaths.fixture("logs/lab/hung-kaslr.log"))
    #expect(ev.markers.first { $0.kind == .kernelOffset }?.value == "0x24e00000")
  }

  @Test func rawAddressFramesFromFtraceStacks() throws {
    let ev = try events(path: TestPaths.fixture("logs/lab/hung-stack.log"))
    let stacks = ev.ftrace.compactMap(\.stack)
    #expect(!stacks.isEmpty)
    #expect(stacks.contains { $0.contains("ret_from_fork") })
  }

  @Test func lockdepHeldLocksOnLinux612() throws {
    let ev = try events(path: TestPaths.fixture("logs/lab-6.12/ld-vhost-hung.log"))
    let lists = ev.lockLists.filter(\.isSystemDump)
    #expect(!lists.isEmpty)
    let devMutex = lists.flatMap(\.locks).filter { $0.name == "&dev->mutex#4" }
    #expect(!devMutex.isEmpty || lists.flatMap(\.locks).contains { $0.name.contains("->mutex") })
    let hung = ev.reports.filter { $0.kind == .hungTask }
    #expect(hung.count == 3)
    // PRINTK_CALLER lines: reports know their context.
    #expect(hung.allSatisfy { $0.prefix.caller != nil })
    let vhost = ev.ftrace.compactMap(\.vhostLock)
    #expect(vhost.count == 469)
    #expect(Set(vhost.compactMap(\.lock)).isSuperset(of: ["worker->mutex"]))
  }
}

@Suite struct EventParserFormatTests {
  @Test func interleavedReportsAreSeparatedByCallerId() throws {
    let log = """
      [  161.01][  T41] INFO: task a:41 blocked for more than 143 seconds.
      [  161.01][    C1] BUG: soft lockup - CPU#1 stuck for 22s! [x:7]
      [  161.01][  T41] task:a               state:D stack:0 pid:41 ppid:2 flags:0x00004000
      [  161.02][    C1] Call Trace:
      [  161.02][  T41] Call Trace:
      [  161.02][    C1]  <IRQ>
      [  161.02][  T41]  <TASK>
      [  161.02][    C1]  foo_irq+0x10/0x20
      [  161.02][  T41]  __schedule+0x10e9/0x6820
      [  161.02][  T41]  a_waits+0x1/0x2
      [  161.02][  T41]  </TASK>
      [  161.03][    C1]  </IRQ>

      """
    let r = try events(log).reports
    #expect(r.count == 2)
    let hung = try #require(r.first { $0.kind == .hungTask })
    #expect(hung.frames.map(\.function) == ["__schedule", "a_waits"])
    let soft = try #require(r.first { $0.kind == .softLockup })
    #expect(soft.frames.map(\.function) == ["foo_irq"])
    #expect(soft.frames.first?.context == .irq)
  }

  @Test func blockerLinesNameTheOwner() throws {
    let log = """
      INFO: task kworker/0:1:11 is blocked on a mutex likely owned by task dhcpcd:615.
      INFO: task zsh:470 blocked on a semaphore likely last held by task zsh:471
      INFO: task a:1 reader blocked on an rw-semaphore likely owned by task b:2 writer
      INFO: task q:9 is blocked on a mutex, but the owner is not found.

      """
    let b = try events(log).blockers
    #expect(b.count == 4)
    #expect(b[0].waiter == TaskRef(comm: "kworker/0:1", pid: 11))
    #expect(b[0].owner == TaskRef(comm: "dhcpcd", pid: 615))
    #expect(b[0].primitive == "mutex")
    #expect(b[1].primitive == "semaphore")
    #expect(b[2].waiterRole == "reader" && b[2].ownerRole == "writer")
    #expect(b[3].owner == nil)
  }

  @Test func circularLockdepReportKeepsChainAndDeadlockFlag() throws {
    let log = """
      ======================================================
      WARNING: possible circular locking dependency detected
      6.19.0-rc4-syzkaller #0 Not tainted
      ------------------------------------------------------
      syz-executor/123 is trying to acquire lock:
      ffff888012345678 (&vq->mutex){+.+.}-{4:4}, at: vhost_worker_killed+0x12b/0x390

      but task is already holding lock:
      ffff888087654321 (&worker->mutex){+.+.}-{4:4}, at: vhost_worker_killed+0x57/0x390

      which lock already depends on the new lock.

      the existing dependency chain (in reverse order) is:

      -> #1 (&worker->mutex){+.+.}-{4:4}:
             __mutex_lock+0x1/0x2
             vhost_worker_flush+0x3/0x4
      -> #0 (&vq->mutex){+.+.}-{4:4}:
             __mutex_lock+0x1/0x2
             vhost_worker_killed+0x12b/0x390

      other info that might help us debug this:

       *** DEADLOCK ***

      2 locks held by syz-executor/123:
       #0: ffff888054cc68e8 (&vtsk->exit_mutex){+.+.}-{4:4}, at: vhost_task_fn+0x322/0x430
       #1: ffff888087654321 (&worker->mutex){+.+.}-{4:4}, at: vhost_worker_killed+0x57/0x390

      stack backtrace:
      CPU: 1 UID: 0 PID: 123 Comm: syz-executor Not tainted 6.19.0-rc4 #0 PREEMPT(full)
      Call Trace:
       <TASK>
       dump_stack_lvl+0x1/0x2
       vhost_worker_killed+0x12b/0x390
       </TASK>
      next line outside

      """
    let ev = try events(log)
    let r = try #require(ev.reports.first)
    #expect(r.kind == .lockdep)
    let l = try #require(r.lockdep)
    #expect(l.task == TaskRef(comm: "syz-executor", pid: 123))
    #expect(l.acquiring?.name == "&vq->mutex")
    #expect(l.holding.map(\.name) == ["&worker->mutex"])
    #expect(l.chain.map(\.name) == ["&worker->mutex", "&vq->mutex"])
    #expect(l.chain[0].frames.map(\.function) == ["__mutex_lock", "vhost_worker_flush"])
    #expect(l.isDeadlock)
    #expect(r.frames.map(\.function) == ["dump_stack_lvl", "vhost_worker_killed"])
    #expect(r.endLine == 36)
    let list = try #require(ev.lockLists.first)
    #expect(list.task == TaskRef(comm: "syz-executor", pid: 123))
    #expect(list.locks.count == 2)
  }

  @Test func symbolizedDuplicateLockEntriesAreMerged() throws {
    let log = """
      Showing all locks held in the system:
      3 locks held by vhost-7617/7618:
       #0: ffff888054cc68e8 (&vtsk->exit_mutex){+.+.}-{4:4}, at: vhost_task_fn+0x322/0x430 kernel/vhost_task.c:54
       #0: ffff888054cc68e8 (&vtsk->exit_mutex){+.+.}-{4:4}, at: vhost_task_fn+0x322/0x430 kernel/vhost_task.c:54
       #1: ffff888024646a80 (&worker->mutex){+.+.}-{4:4}, at: vhost_worker_killed+0x57/0x390 drivers/vhost/vhost.c:470
       #2: ffff8880550c0258 (&vq->mutex){+.+.}-{4:4}, at: vhost_worker_killed+0x12b/0x390 drivers/vhost/vhost.c:476
      2 locks held by syz.5.259/7601:
      =============================================

      """
    let lists = try events(log).lockLists
    #expect(lists.count == 2)
    #expect(lists[0].locks.map(\.index) == [0, 1, 2])
    #expect(lists[0].isSystemDump)
    #expect(lists[1].count == 2 && lists[1].locks.isEmpty)
  }

  @Test func sysrqDumpKeepsFramesAcrossWorkqueueAndRegisterLines() throws {
    let log = """
      task:kworker/0:1     state:D stack:0 pid:11 ppid:2 flags:0x00004000
      Workqueue: events vhost_flush_work
      Call Trace:
       <TASK>
       __schedule+0x1/0x2
       vhost_worker_flush+0x3/0x4
       </TASK>
      task:syz-executor    state:S stack:0 pid:12 ppid:1 flags:0x00000000
      Call Trace:
       <TASK>
       __schedule+0x1/0x2
       do_syscall_64+0x5/0x6
      RIP: 0033:0x7efe38790a77
      RSP: 002b:00007ffd7b1b5a48 EFLAGS: 00000246
       </TASK>
      after

      """
    let d = try events(log).dumps
    #expect(d.count == 2)
    #expect(d[0].frames.map(\.function) == ["__schedule", "vhost_worker_flush"])
    #expect(d[1].frames.map(\.function) == ["__schedule", "do_syscall_64"])
    #expect(d[1].endLine == 15)
  }

  @Test func reportCutAtEndOfLogIsMarkedTruncated() throws {
    let log = """
      [ 1052.1][   T41] INFO: task p9:41 blocked for more than 143 seconds.
      [ 1052.1][   T41] Call Trace:
      [ 1052.1][   T41]  <TASK>
      [ 1052.4][   T41]  p9_fd_cl
      """
    let r = try #require(try events(log).reports.first)
    #expect(r.isTruncated)
  }
}

@Suite struct EventJSONTests {
  /// The hand-written JSON Lines encoder and Codable agree: every event round-trips.
  @Test(arguments: ["logs/lab/hung.log", "logs/lab/hung-stack.log", "logs/lab-6.12/ld-vhost-hung.log"])
  func jsonBufferMatchesCodable(_ fixture: String) throws {
    let ev = try events(path: TestPaths.fixture(fixture))
    let dec = JSONDecoder()
    dec.keyDecodingStrategy = .convertFromSnakeCase
    for e in ev {
      let b = JSONBuffer()
      b.event(e)
      let back = try dec.decode(Event.self, from: Data(b.bytes))
      #expect(back == e)
    }
  }
}
