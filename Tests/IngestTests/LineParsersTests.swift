import Testing

@testable import Ingest

@Suite struct LineParsersTests {
  func with<T>(_ s: String, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
    var s = s
    return s.withUTF8(body)
  }

  /// x86 `__show_regs()` lines (and what is not one): names are upper case, digits and `_`, 2-8
  /// bytes from a letter, each followed by `:` and a value starting with a hex digit.
  @Test(arguments: [
    ("RSP: 0018:ffffc90000a3fd38 EFLAGS: 00010246 ORIG_RAX: 0000000000000010", ["RSP=0018:ffffc90000a3fd38", "EFLAGS=00010246", "ORIG_RAX=0000000000000010"]),
    ("RAX: ffffffffffffffda RBX: 0000000000000003 RCX: 00007f4f12345678", ["RAX=ffffffffffffffda", "RBX=0000000000000003", "RCX=00007f4f12345678"]),
    ("FS:  00007f4f0c3b6700(0000) GS:ffff88802c800000(0000) knlGS:0000000000000000", ["FS=00007f4f0c3b6700(0000)", "GS=ffff88802c800000(0000)"]),
    ("CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033", ["CS=0010", "DS=0000", "ES=0000", "CR0=0000000080050033"]),
    ("R13: 0000000000000000 R14: 00000000004c2e60 R15: 0000000000000000", ["R13=0000000000000000", "R14=00000000004c2e60", "R15=0000000000000000"]),
    ("RIP: 0033:0x7f4f12345678", ["RIP=0033:0x7f4f12345678"]),
    ("ORIG_RAXX: 0000000000000010", []),  // nine bytes: not a register name
    ("R8 : 0000000000000000", []),
    ("Rip: 0000", []),
    ("8X: 0000", []),
    ("RAX: zzzz", []),
    ("A: 0000", []),
  ])
  func registerLine(line: String, expected: [String]) {
    var regs: [Register] = []
    let any = with(line) { LineParsers.registers($0, into: &regs) }
    #expect(regs.map { "\($0.name)=\($0.value)" } == expected)
    #expect(any == !expected.isEmpty)
    // Where a stack ends on old kernels: any name then `:` (the value is not looked at).
    #expect(with(line) { LineParsers.looksLikeRegisters($0) } == (!expected.isEmpty || line.hasPrefix("RAX: zz")))
  }

  @Test(arguments: [
    ("3 locks held by vhost-7617/7618:", 3, "vhost-7617", 7618),
    ("1 lock held by khungtaskd/32:", 1, "khungtaskd", 32),
    ("no locks held by ksoftirqd/3/32.", 0, "ksoftirqd/3", 32),
    ("2 locks held by kworker/0:1/123:", 2, "kworker/0:1", 123),
  ])
  func heldLocksHeader(line: String, count: Int, comm: String, pid: Int) throws {
    let h = try #require(with(line) { LineParsers.heldLocksHeader($0) })
    #expect(h.count == count)
    #expect(h.task == TaskRef(comm: comm, pid: pid))
  }

  @Test func heldLockEntryWithWaitTypeAndSource() throws {
    let l = try #require(with(" #2: ffff8880550c0258 (&vq->mutex){+.+.}-{4:4}, at: vhost_worker_killed+0x12b/0x390 drivers/vhost/vhost.c:476") {
      LineParsers.heldLockEntry($0, line: 9)
    })
    #expect(l.index == 2)
    #expect(l.address == 0xffff8880550c0258)
    #expect(l.name == "&vq->mutex")
    #expect(l.usage == "+.+.")
    #expect(l.waitType == "4:4")
    #expect(l.site?.function == "vhost_worker_killed")
    #expect(l.site?.offset == 0x12b)
    #expect(l.line == 9)
  }

  @Test func heldLockEntryNestedParensAndModule() throws {
    let l = try #require(with(" #1: ffffc90000f4fd80 ((work_completion)(&strp->work)){+.+.}-{0:0}, at: process_one_work+0x8ac/0x1520") {
      LineParsers.heldLockEntry($0, line: 1)
    })
    #expect(l.name == "(work_completion)(&strp->work)")
    let m = try #require(with(" #0: ffffffffc0002688 (&dev->mutex#4){+.+.}-{3:3}, at: lockhog_lock+0x64/0xa0 [lockhog]") {
      LineParsers.heldLockEntry($0, line: 1)
    })
    #expect(m.name == "&dev->mutex#4")
    #expect(m.site?.module == "lockhog")
  }

  @Test func oldKernelHeldLockEntryWithoutAddress() throws {
    let l = try #require(with(" #0:  (&mm->mmap_sem){++++}, at: [<ffffffff8112e0c8>] __do_page_fault+0x1a8/0x4c0") {
      LineParsers.heldLockEntry($0, line: 1)
    })
    #expect(l.address == nil)
    #expect(l.name == "&mm->mmap_sem")
    #expect(l.waitType == nil)
    #expect(l.site?.function == "__do_page_fault")
  }

  @Test(arguments: [
    ("task:vhost-7617      state:D stack:29600 pid:7618  tgid:7593  ppid:5977   task_flags:0x404440 flags:0x00080000", "vhost-7617", "D", 7618, 7593, 5977),
    ("task:lockhog-waiter1 state:D stack:0     pid:92    tgid:92    ppid:2      flags:0x00004000", "lockhog-waiter1", "D", 92, 92, 2),
    ("task:kworker/0:1 x   state:I stack:0 pid:11 ppid:2 flags:0x00004000", "kworker/0:1 x", "I", 11, nil, 2),
  ])
  func taskLine(line: String, comm: String, state: String, pid: Int, tgid: Int?, ppid: Int) throws {
    let t = try #require(with(line) { LineParsers.taskLine($0) })
    #expect(t.comm == comm)
    #expect(t.state == state)
    #expect(t.pid == pid)
    #expect(t.tgid == tgid)
    #expect(t.ppid == ppid)
  }

  @Test func ftraceLatencyLineWithVhostLock() throws {
    let pos = SourcePosition(file: "f", line: 1, offset: 0)
    let r = try #require(with("vhost-12-104       1..... 2123127us : lockhog_lock: vhost_lock: wait dev->mutex lock=ffffffffc0203440 pid=104 comm=vhost-1234 owner=0") {
      LineParsers.ftraceLine($0, position: pos)
    })
    #expect(r.comm == "vhost-12")
    #expect(r.pid == 104)
    #expect(r.cpu == 1)
    #expect(r.flags == ".....")
    #expect(abs(r.timestamp - 2.123127) < 1e-9)
    #expect(r.event == "lockhog_lock")
    let v = try #require(r.vhostLock)
    #expect(v.operation == "wait")
    #expect(v.lock == "dev->mutex")
    #expect(v.field("lock") == "ffffffffc0203440")
    #expect(v.field("owner") == "0")
    #expect(v.field("comm") == "vhost-1234")
  }

  @Test func ftraceSymAddrAndDefaultFormat() throws {
    let pos = SourcePosition(file: "f", line: 1, offset: 0)
    let a = try #require(with("vhost-12-103       0..... 2190941us : lockhog_lock <ffffffffc0201053>: vhost_lock: acquire dev->mutex lock=ffffffffc0203440 owner=103") {
      LineParsers.ftraceLine($0, position: pos)
    })
    #expect(a.event == "lockhog_lock")
    #expect(a.vhostLock?.operation == "acquire")
    let b = try #require(with("          <idle>-0       [001] d.h1.  1234.567890: sched_switch: prev_comm=swapper") {
      LineParsers.ftraceLine($0, position: pos)
    })
    #expect(b.comm == "<idle>")
    #expect(b.cpu == 1)
    #expect(b.flags == "d.h1.")
    #expect(b.event == "sched_switch")
    #expect(abs(b.timestamp - 1234.56789) < 1e-9)
  }

  @Test func cpuLineWithUID() throws {
    let c = try #require(with("CPU: 1 UID: 0 PID: 5961 Comm: syz-executor Not tainted 6.12.0-syzkaller #0 PREEMPT(full)") {
      LineParsers.cpuLine($0)
    })
    #expect(c.cpu == 1)
    #expect(c.task == TaskRef(comm: "syz-executor", pid: 5961))
    #expect(c.taint?.hasPrefix("Not tainted") == true)
  }

  @Test func chainHeader() throws {
    let l = try #require(with("-> #1 (&worker->mutex){+.+.}-{4:4}:") { LineParsers.chainHeader($0, line: 4) })
    #expect(l.index == 1)
    #expect(l.name == "&worker->mutex")
  }
}
