import Forensics
import Ingest
import TestSupport
import Testing

@Suite struct SignatureTests {
  let rules: SignatureRules = {
    do { return try SignatureRules.load(directory: TestPaths.root + "/rules") } catch { fatalError("\(error)") }
  }()

  func report(_ headline: String, _ frames: [Frame]) -> CrashReport {
    var r = CrashReport(kind: .hungTask, headline: headline, position: SourcePosition(file: "t", line: 1, offset: 0), prefix: LinePrefix(timestamp: nil, caller: nil, level: nil))
    r.frames = frames
    return r
  }

  @Test(arguments: [
    ("INFO: task syz-executor.3:5961 blocked for more than 143 seconds.", "INFO: task syz-executor.N:N blocked for more than N seconds."),
    ("BUG: unable to handle page fault for address: ffff888012345678", "BUG: unable to handle page fault for address: ADDR"),
    ("general protection fault, probably for non-canonical address 0xdffffc0000000001: 0000 [#1]", "general protection fault, probably for non-canonical address ADDR: N [#N]"),
    ("KASAN: use-after-free in ext4_fill_super", "KASAN: use-after-free in ext4_fill_super"),
    ("WARNING: CPU: 1 PID: 42 at fs/ext4/inode.c:1234 ext4_foo+0x1/0x2", "WARNING: CPU: N PID: N at fs/ext4/inode.c:N ext4_foo+ADDR/ADDR"),
  ])
  func headlineNumbersAndAddressesAreNormalised(_ raw: String, _ expected: String) {
    #expect(SignatureRules.normalizedHeadline(raw) == expected)
  }

  @Test func noiseUnreliableInlineFramesAndSuffixesAreDropped() {
    let frames = [
      Frame(function: "__schedule", offset: 1, size: 2),
      Frame(function: "schedule", offset: 1, size: 2),
      Frame(function: "__mutex_lock.constprop.0", offset: 1, size: 2),
      Frame(function: "stale_guess", offset: 1, size: 2, isReliable: false),
      Frame(function: "vhost_dev_flush.isra.0", offset: 0x33, size: 0x90),
      Frame(function: "helper", isInline: true, source: "x.c:1"),
      Frame(function: "vhost_worker_killed", offset: 0x10, size: 0x200),
      Frame(function: "vhost_worker_killed", offset: 0x10, size: 0x200),
      Frame(function: "kthread", offset: 1, size: 2),
    ]
    #expect(rules.guiltyStack(report("INFO: task a:1 blocked", frames)) == ["vhost_dev_flush", "vhost_worker_killed"])
  }

  @Test func offsetsAddressesAndTasksDoNotChangeTheSignature() {
    let a = report("INFO: task vhost-1234:104 blocked for more than 5 seconds.", [Frame(function: "foo", offset: 0x10, size: 0x20), Frame(function: "bar", offset: 1, size: 2, address: 0xffff_ffff_8100_0000)])
    let b = report("INFO: task vhost-99:7 blocked for more than 120 seconds.", [Frame(function: "foo.cold", offset: 0x99, size: 0x100), Frame(function: "bar", offset: 5, size: 9)])
    let c = report("INFO: task vhost-99:7 blocked for more than 120 seconds.", [Frame(function: "baz", offset: 1, size: 2)])
    #expect(rules.signature(of: a).hash == rules.signature(of: b).hash)
    #expect(rules.signature(of: a).hash != rules.signature(of: c).hash)
  }

  /// The hash is part of the output format (stored by downstream tools): pin one value.
  @Test func hashIsFNV1aOverTitleAndFrames() {
    let s = rules.signature(of: report("BUG: x", [Frame(function: "foo", offset: 1, size: 2)]))
    #expect(s.title == "BUG: x")
    #expect(s.frames == ["foo"])
    #expect(s.hash == "bcafa0ad629448b7")  // FNV-1a 64 of "BUG: x\nfoo"
    #expect(rules.signature(of: report("BUG: x", [Frame(function: "foo", offset: 1, size: 2)])).hash == s.hash)
  }

  @Test func titleEngineHookOverridesTheHeadline() {
    let s = rules.signature(of: report("INFO: task a:1 blocked", []), title: "INFO: task hung in foo")
    #expect(s.title == "INFO: task hung in foo")
    #expect(s.titleSource == "title_engine")
  }

  @Test func ripFunctionIsTheStackWhenNoFrameIsUsable() {
    var r = report("BUG: oops", [Frame(function: "kasan_report", offset: 1, size: 2)])
    r.rip = InstructionPointer(segment: "0010", frame: Frame(function: "bad_fn.cold", offset: 1, size: 2))
    #expect(rules.guiltyStack(r) == ["bad_fn"])
  }
}
