import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// A real boot: the lab's Debian 6.1 kernel and initramfs (../shared/lab) under TCG, started by
/// `run`, poked with `run --sysrq` through the QEMU monitor, followed by `watch` until the
/// hung-task report is archived, then ended with `run --stop`. Every wait is bounded.
@Suite("lab boot through run/watch", .serialized)
struct LabBootTests {
  static let lab = TestPaths.shared("lab")
  static let kernel = lab + "/boot/vmlinuz-6.1.0-56-cloud-amd64"
  static let initrd = lab + "/build/initramfs.cpio.gz"

  /// A TCP port that is free right now (for the SSH forward, which must not collide with
  /// other test runs on this machine).
  static func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
  }

  func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
      if condition() { return true }
      usleep(100_000)
    }
    return condition()
  }

  @Test func labKernelHangsAndWatchArchivesTheReport() throws {
    try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-system-x86_64"),
      "qemu-system-x86_64 is missing: run `make deps` (qemu-system-x86)")
    try #require(fileExists(Self.kernel) && fileExists(Self.initrd), "lab kernel/initramfs missing under \(Self.lab)")
    let bundle = try makeTempDir("boot")
    defer { _ = try? BoundedProcess.run(["run", "--stop", bundle], seconds: 30) }
    // lab.sh's kernel arguments for the `hung` scenario, minus the lab's own sysrq (the test
    // sends one through the monitor) and with a 20 s hung-task timeout, so the monitor's sysrq
    // surely arrives before the panic.
    let append = "loglevel=8 printk.devkmsg=on panic=0 hung_task_panic=1 ftrace_dump_on_oops "
      + "nokaslr lab_mod=scenario=hung,nwaiters=2 lab_sysrq= lab_sysrq_delay=3 lab_hung_timeout=20"
    // With --execprog, `run` waits for SSH after starting QEMU. The lab has no sshd: the wait is
    // bounded and the error says the VM is alive (serial log growing) and what to use instead.
    let tools = try makeTempDir("execprog")
    for f in ["syz-execprog", "syz-executor"] { _ = FileManager.default.createFile(atPath: tools + "/" + f, contents: Data("#!/bin/sh\n".utf8)) }
    _ = FileManager.default.createFile(atPath: bundle + "/repro.syz", contents: Data("r0 = openat(0xffffffffffffff9c, 0x0, 0x0, 0x0)\n".utf8))
    let start = try BoundedProcess.run([
      "run", bundle, "--kernel", Self.kernel, "--initrd", Self.initrd, "--accel", "tcg", "--mem", "512", "--smp", "2",
      "--ssh-port", String(Self.freePort()), "--append", append, "--execprog", tools, "--ssh-wait", "3",
    ], seconds: 60)
    #expect(start.status == 2, "\(start.stderr)")
    #expect(start.stdout.contains("QEMU started"))
    #expect(start.stderr.contains("did not answer within 3 s") && start.stderr.contains("serial log"), "\(start.stderr)")
    let pid = try #require(Int32(readText(bundle + "/qemu.pid").trimmingCharacters(in: .whitespacesAndNewlines)))
    let cmdline = readText("/proc/\(pid)/cmdline")
    #expect(cmdline.contains("qemu-system-x86_64") && cmdline.contains(bundle + "/qemu.pid"))

    let status = try BoundedProcess.run(["run", "--status", "--json", bundle], seconds: 30)
    let st = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
    #expect(st?["state"] as? String == "running")

    // Watch in the background from the start; it exits after the first archive.
    let watch = try BoundedProcess(["watch", "--jsonl", "--once", "--timeout", "150", bundle])

    // sysrq through the monitor once userspace runs (the keyboard driver is up by then).
    let log = bundle + "/qemu-serial.log"
    #expect(waitFor(90) { readText(log).contains("LAB: init start") }, "the lab never reached /init")
    let sysrq = try BoundedProcess.run(["run", "--sysrq", "w", bundle], seconds: 30)
    #expect(sysrq.status == 0, "\(sysrq.stderr)")
    #expect(waitFor(30) { readText(log).contains("sysrq: Show Blocked State") }, "sysrq-w was not handled")

    #expect(watch.wait(seconds: 160) == 0, "watch did not finish: \(watch.stderr)")
    let events = watch.stdout.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
    #expect(events.contains { $0["pattern"] as? String == "hung-task" })
    let archive = try #require(events.last { $0["event"] as? String == "archive" }, "no archive event")
    #expect((archive["title"] as? String)?.hasPrefix("INFO: task ") == true)
    let files = archive["archives"] as? [String] ?? []
    #expect(files.count == 2)
    let serialArchive = try #require(files.first { $0.contains("qemu-serial.panic.") })
    #expect(readText(serialArchive).contains("blocked for more than 20 seconds"))
    #expect(readText(files.first { $0.contains("watch_patterns.panic.") } ?? "").contains("INFO: task"))

    let stop = try BoundedProcess.run(["run", "--stop", bundle], seconds: 30)
    #expect(stop.status == 0, "\(stop.stderr)")
    #expect(stop.stdout.contains("stopped QEMU pid \(pid)"))
    #expect(waitFor(5) { kill(pid, 0) != 0 || readText("/proc/\(pid)/stat").contains(") Z") })
    #expect(!fileExists(bundle + "/qemu.pid"))
  }

  @Test func stopNeverSignalsAForeignPid() throws {
    let bundle = try makeTempDir("stale")
    // Our own test process: alive, but not this bundle's QEMU.
    try "\(getpid())\n".write(toFile: bundle + "/qemu.pid", atomically: true, encoding: .utf8)
    let status = try runCommand(["run", "--status", bundle])
    #expect(status.stdout.contains("stale pid file"))
    let stop = try runCommand(["run", "--stop", bundle])
    #expect(stop.status == 0)
    #expect(stop.stdout.contains("nothing was signalled"))
    #expect(!fileExists(bundle + "/qemu.pid"))
  }
}
