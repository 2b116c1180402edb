import Foundation
import Forensics
import Ingest
import Testing
import TestSupport

/// Table-driven checks of tricky report formats on small hand-written logs (shapes taken from
/// real kernels), each asserting title, type, frame and corruption.
@Suite("Title formats")
struct TitleFormatTests {
  static let titler: Titler = {
    do { return try Titler(rulesDirectory: TestPaths.root + "/rules") } catch {
      fatalError("rules do not load: \(error)")
    }
  }()

  struct Case: CustomTestStringConvertible, Sendable {
    var name: String
    var log: String
    var title: String?
    var type: String? = nil
    var frame: String? = nil
    var corrupted = false
    var alts: [String] = []
    var testDescription: String { name }
  }

  static let cases: [Case] = [
    Case(
      name: "syscall prefix stripped, raw name kept as alt title",
      log: """
        [  246.173515] rcu: INFO: rcu_sched self-detected stall on CPU
        [  246.518010] Call Trace:
        [  246.520578]  <IRQ>
        [  246.522762]  dump_stack+0x1c9/0x2b4
        [  246.807990]  apic_timer_interrupt+0xf/0x20
        [  246.812208]  </IRQ>
        [  246.814441] RIP: 0010:_raw_spin_unlock_irq+0x56/0x70
        [  246.886921]  finish_task_switch+0x1d3/0x870
        [  247.100651]  futex_wait+0x45b/0xa20
        [  247.229783]  __x64_sys_futex+0x472/0x6a0
        [  247.247689]  do_syscall_64+0x1b9/0x820
        [  247.280793]  entry_SYSCALL_64_after_hwframe+0x49/0xbe
        """,
      title: "INFO: rcu detected stall in sys_futex", type: "HANG", frame: "sys_futex",
      alts: ["INFO: rcu detected stall in __x64_sys_futex", "stall in __x64_sys_futex", "stall in sys_futex"]),
    Case(
      name: "hung task names rtnl_lock, not the mutex primitives",
      log: """
        [ 1686.864788][ T1064] INFO: task syz-executor.3:1217 blocked for more than 143 seconds.
        [ 1686.873562][ T1064]       Not tainted 5.4.0-rc2+ #0
        [ 1686.894324][ T1064] Call Trace:
        [ 1686.897637][ T1064]  __schedule+0x94f/0x1e70
        [ 1686.917150][ T1064]  schedule+0xd9/0x260
        [ 1686.926726][ T1064]  __mutex_lock+0x7b0/0x13c0
        [ 1686.957852][ T1064]  mutex_lock_nested+0x16/0x20
        [ 1686.971924][ T1064]  rtnl_lock+0x17/0x20
        [ 1686.975987][ T1064]  dev_ioctl+0x1a4/0xc60
        [ 1687.082896][ T1064]  do_syscall_64+0xfa/0x760
        """,
      title: "INFO: task hung in rtnl_lock", type: "HANG", frame: "rtnl_lock", alts: ["hang in rtnl_lock"]),
    Case(
      name: "other tasks' interleaved lines and unreliable frames are dropped",
      log: """
        [   10.000001][ T100] BUG: KASAN: use-after-free in memcpy+0x1f/0x50
        [   10.000002][ T200] BUG: noise from another task that is not a report
        [   10.000003][ T100] Read of size 8 at addr ffff88801234abcd by task syz/100
        [   10.000004][ T100] Call Trace:
        [   10.000005][ T100]  dump_stack+0x10/0x20
        [   10.000006][ T100]  ? fake_frame+0x1/0x2
        [   10.000007][ T100]  kasan_report+0x10/0x20
        [   10.000008][ T100]  tty_release+0x10/0x20
        [   10.000009][ T100]  __fput+0x10/0x20
        [   10.000010][ T100]  task_work_run+0x10/0x20
        """,
      title: "KASAN: use-after-free Read in tty_release", type: "KASAN-USE-AFTER-FREE-READ",
      frame: "tty_release", alts: ["bad-access in tty_release"]),
    Case(
      name: "6.15+ WARNING layout names the caller of the warning function",
      log: """
        [   50.1][ T5] ------------[ cut here ]------------
        [   50.2][ T5] WARNING: fs/buffer.c:1186 at mark_buffer_dirty+0x2c4/0x3a0, CPU#0: syz.0.1/5
        [   50.3][ T5] Modules linked in:
        [   50.4][ T5] RIP: 0010:mark_buffer_dirty+0x2c4/0x3a0
        [   50.5][ T5] Call Trace:
        [   50.6][ T5]  <TASK>
        [   50.7][ T5]  bfs_get_block+0x10/0x20
        [   50.8][ T5]  __block_write_begin_int+0x10/0x20
        """,
      title: "WARNING in bfs_get_block", type: "WARNING", frame: "bfs_get_block"),
    Case(
      name: "refcount warnings get their own title from the stack",
      log: """
        [   50.2] WARNING: CPU: 0 PID: 5 at lib/refcount.c:28 refcount_warn_saturate+0x1/0x2
        [   50.4] RIP: 0010:refcount_warn_saturate+0x1/0x2
        [   50.5] Call Trace:
        [   50.7]  __refcount_add+0x10/0x20
        [   50.7]  hci_register_dev+0x10/0x20
        """,
      title: "WARNING: refcount bug in hci_register_dev", type: "REFCOUNT_WARNING", frame: "hci_register_dev"),
    Case(
      name: "WARNING without any stack is corrupted",
      log: """
        [   50.583499] WARNING: CPU: 2 PID: 2636 at ipc/shm.c:162 shm_open.isra.5.part.6+0x74/0x80
        [   50.583499] Modules linked in:
        """,
      title: "WARNING in corrupted", type: "WARNING", frame: "corrupted", corrupted: true),
    Case(
      name: "volatile parts of titles are normalised",
      log: """
        [   72.159680] BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 32s!
        """,
      title: "BUG: workqueue lockup", type: nil),
    Case(
      name: "panic message titles keep their text",
      log: """
        [    0.000000][    C0] Kernel panic - not syncing: bad mode
        """,
      title: "kernel panic: bad mode", type: "DoS"),
    Case(
      name: "lockdep circular dependency names the lock being acquired",
      log: """
        [  100.1] ======================================================
        [  100.2] WARNING: possible circular locking dependency detected
        [  100.3] 6.1.0 #1 Not tainted
        [  100.4] ------------------------------------------------------
        [  100.5] syz/123 is trying to acquire lock:
        [  100.6] ffff888012345678 (rtnl_mutex){+.+.}-{3:3}, at: rtnl_lock+0x17/0x20
        [  100.7]
        [  100.8] but task is already holding lock:
        [  100.9] ffff888012345679 (&dev->mutex){+.+.}-{3:3}, at: device_lock+0x1/0x2
        [  101.0] stack backtrace:
        [  101.1] Call Trace:
        [  101.2]  dump_stack+0x1/0x2
        [  101.3]  lock_acquire+0x1/0x2
        """,
      title: "possible deadlock in rtnl_lock", type: "LOCKDEP", frame: "rtnl_lock"),
    Case(
      name: "benign WARNING lines are not reports",
      log: """
        [    1.0] WARNING: See https://kernel.org/doc/html/latest/admin-guide/hw-vuln/srso.html
        [    1.1] ODEBUG: Out of memory. ODEBUG disabled
        """,
      title: nil),
    Case(
      name: "Rust panics name the demangled function",
      log: """
        [   23.1][  T298] rust_kernel: panicked at drivers/android/binder/node.rs:877:13:
        [   23.2][  T298] attempt to subtract with overflow
        [   23.3][   T36] audit: type=1400 audit(1750305980.320:67): avc:  denied
        [   23.4][  T298] kernel BUG at rust/helpers/bug.c:7!
        [   23.5][  T298] Call Trace:
        [   23.6][  T298]  <TASK>
        [   23.7][  T298]  _RNvCscSpY9Juk0HT_7___rustc17rust_begin_unwind+0x15b/0x160
        [   23.8][  T298]  _RNvNtCs9jEwPDbx20M_4core9panicking9panic_fmt+0x84/0x90
        [   23.9][  T298]  _RNvMs3_NtCshgDM7dBCdno_11rust_binder7processNtB5_7Process10update_ref+0x17e5/0x1860
        """,
      title: "attempt to subtract with overflow in <rust_binder::process::Process>::update_ref",
      frame: "<rust_binder::process::Process>::update_ref"),
    Case(name: "empty input", log: "", title: nil),
  ]

  @Test(arguments: cases)
  func titles(_ c: Case) {
    let r = Self.titler.primaryReport(in: Array(c.log.utf8))
    #expect(r?.title == c.title)
    guard let r else { return }
    #expect(r.type == c.type)
    if let f = c.frame { #expect(r.frame == f) }
    #expect(r.isCorrupted == c.corrupted, "reason: \(r.corruptionReason ?? "-")")
    if !c.alts.isEmpty { #expect(r.altTitles == c.alts) }
  }

  @Test func crlfAndBinaryNoiseDoNotChangeTheTitle() {
    let base = """
      [   10.1] BUG: unable to handle kernel NULL pointer dereference at 0000000000000010
      [   10.2] IP: sock_poll+0x10/0x20
      [   10.3] Call Trace:
      [   10.4]  do_select+0x10/0x20
      """
    var crlf = Array(base.replacingOccurrences(of: "\n", with: "\r\n").utf8)
    crlf.insert(contentsOf: [0x00, 0xFF, 0xFE, 0x0A], at: 0)
    let a = Self.titler.primaryReport(in: Array(base.utf8))
    let b = Self.titler.primaryReport(in: crlf)
    #expect(a?.title == "BUG: unable to handle kernel NULL pointer dereference in sock_poll")
    #expect(a?.title == b?.title)
    #expect(b?.startLine == 2)
  }

  @Test func allReportsAreFoundInOrderWithLineNumbers() {
    let log = """
      boot noise
      [   10.1] BUG: workqueue lockup - pool cpus=0 stuck for 32s!
      [   11.0] some unrelated line
      [   12.0] BUG: Bad rss-counter state mm:ffff888012345678 type:MM_ANONPAGES val:1
      """
    let reports = Self.titler.reports(in: Array(log.utf8))
    #expect(reports.map(\.title) == ["BUG: workqueue lockup", "BUG: Bad rss-counter state"])
    #expect(reports.map(\.startLine) == [2, 4])
    #expect(reports.first?.endLine == 3)
  }

  @Test func backToBackReportsStayBounded() {
    // 300 one-line hung-task headers of one task: every line is a report; each report's own
    // text must stay its own line (not the rest of the log).
    let line = "[    2.0][    T1] INFO: task a:1 blocked for more than 1 seconds.\n"
    let log = Array(String(repeating: line, count: 300).utf8)
    let reports = Self.titler.reports(in: log)
    #expect(reports.count == 300)
    #expect(reports.allSatisfy { $0.text.utf8.count < 200 && $0.endLine == $0.startLine })
    #expect(reports.first?.title == "INFO: task hung in corrupted")
  }

  @Test func titlingIsDeterministic() {
    let log = Array(TitleFormatTests.cases[0].log.utf8)
    #expect(Self.titler.reports(in: log) == Self.titler.reports(in: log))
  }

  @Test func sourceResolverSuppliesTheGuiltyFile() {
    var t = Self.titler
    t.sourceResolver = { frame in frame.function == "tty_release" ? "drivers/tty/tty_io.c:1789" : nil }
    let r = t.primaryReport(in: Array(TitleFormatTests.cases[2].log.utf8))
    #expect(r?.guiltyFile == "drivers/tty/tty_io.c")
  }

  @Test func brokenRulesAreReportedWithFileAndLine() throws {
    let dir = FileManagerShim.temporaryDirectory()
    defer { FileManagerShim.remove(dir) }
    try FileManagerShim.copyTree(TestPaths.root + "/rules", to: dir)
    try FileManagerShim.write(dir + "/oops/faults.toml", "[[oops]]\nheader = \"X\"\n[[oops.format]]\ntitle = '(unclosed'\nfmt = \"x\"\n")
    #expect(throws: IngestError.self) { _ = try Titler(rulesDirectory: dir) }
    do {
      _ = try Titler(rulesDirectory: dir)
    } catch {
      #expect(String(describing: error).contains("oops/faults.toml:3"))
    }
  }
}
