import Foundation
import Testing
import TestSupport

@testable import Driver

/// run_qemu.sh is executed for real by bash, with a stand-in `qemu-system-x86_64` on PATH that
/// records its arguments (and writes the pid file like -daemonize would).
@Suite("run_qemu.sh")
struct RunnerScriptTests {
  func bundle(disk: Bool = true) throws -> (dir: String, bin: String) {
    let dir = try makeTempDir("runner")
    try RunnerScript(extid: "a9528028ab4ca83e8bac", title: "INFO: task hung in x\"; rm -rf / #", arch: "amd64").text
      .write(toFile: dir + "/run_qemu.sh", atomically: true, encoding: .utf8)
    chmod(dir + "/run_qemu.sh", 0o755)
    FileManager.default.createFile(atPath: dir + "/bzImage", contents: Data("k".utf8))
    if disk { FileManager.default.createFile(atPath: dir + "/disk.raw", contents: Data("d".utf8)) }
    let bin = dir + "/fakebin"
    try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
    let fake = """
      #!/bin/bash
      printf '%s\\n' "$@" > "$(dirname "$0")/args"
      prev=""; for a in "$@"; do [ "$prev" = -pidfile ] && echo 4242 > "$a"; prev=$a; done
      exit 0
      """
    try fake.write(toFile: bin + "/qemu-system-x86_64", atomically: true, encoding: .utf8)
    chmod(bin + "/qemu-system-x86_64", 0o755)
    return (dir, bin)
  }

  func runScript(_ b: (dir: String, bin: String), _ env: [String: String] = [:], withQEMU: Bool = true) throws -> (CommandResult, [String]) {
    var e = env
    if withQEMU {
      e["PATH"] = b.bin + ":/usr/bin:/bin"
    } else {
      // Only the tools the script needs, so a real QEMU on the machine cannot be found.
      let tools = b.dir + "/tools"
      try? FileManager.default.createDirectory(atPath: tools, withIntermediateDirectories: true)
      try? FileManager.default.createSymbolicLink(atPath: tools + "/dirname", withDestinationPath: "/usr/bin/dirname")
      e["PATH"] = tools
    }
    let r = try runCommand([b.dir + "/run_qemu.sh"], executable: "/bin/bash", environment: e)
    let args = readText(b.bin + "/args").split(separator: "\n").map(String.init)
    return (r, args)
  }

  @Test func defaultsMatchTheOriginalWorkflow() throws {
    let b = try bundle()
    let (r, args) = try runScript(b, ["ACCEL": "tcg"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(args.contains("-snapshot"))
    #expect(args.contains("-nographic"))
    #expect(args.contains("4096") && args.contains("4"))
    #expect(args.contains("user,id=net0,hostfwd=tcp:127.0.0.1:10022-:22"))
    #expect(args.contains("file=\(b.dir)/disk.raw,if=virtio,format=raw"))
    let append = try #require(args.firstIndex(of: "-append").map { args[$0 + 1] })
    #expect(append.hasPrefix("root=/dev/vda1 rootwait rw "))
    #expect(args.contains("unix:\(b.dir)/qemu-monitor.sock,server=on,wait=off"))
  }

  @Test func knobsChangeTheCommandLine() throws {
    let b = try bundle()
    let (r, args) = try runScript(b, [
      "ACCEL": "tcg", "PERSIST": "1", "MEM": "2048", "SMP": "2", "DAEMONIZE": "1", "SHARE_DIR": b.dir,
      "APPEND_EXTRA": "panic_on_warn=0 oops=continue", "TRACE_BUF_SIZE_KB": "8192", "FTRACE_DUMP_ON_OOPS": "1",
      "SSH_PORT": "10099",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(!args.contains("-snapshot"))
    #expect(args.contains("2048") && args.contains("2"))
    #expect(args.contains("-daemonize") && args.contains("\(b.dir)/qemu.pid") && args.contains("file:\(b.dir)/qemu-serial.log"))
    #expect(args.contains { $0.hasPrefix("local,path=\(b.dir),mount_tag=hostshare") })
    #expect(args.contains("user,id=net0,hostfwd=tcp:127.0.0.1:10099-:22"))
    let append = try #require(args.firstIndex(of: "-append").map { args[$0 + 1] })
    #expect(append.contains("trace_buf_size=8192K") && append.contains("ftrace_dump_on_oops") && append.hasSuffix("panic_on_warn=0 oops=continue"))
    #expect(r.stderr.contains("started, pid 4242"))
  }

  @Test func localImageAndInitrdWithoutDisk() throws {
    let b = try bundle(disk: false)
    try FileManager.default.createDirectory(atPath: b.dir + "/localimage", withIntermediateDirectories: true)
    FileManager.default.createFile(atPath: b.dir + "/localimage/bzImage", contents: Data("l".utf8))
    FileManager.default.createFile(atPath: b.dir + "/initrd.gz", contents: Data("i".utf8))
    let (r, args) = try runScript(b, ["ACCEL": "tcg", "USE_LOCALIMAGE": "1", "DISK": "", "INITRD": b.dir + "/initrd.gz"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(args.contains(b.dir + "/localimage/bzImage"))
    #expect(args.contains(b.dir + "/initrd.gz"))
    #expect(!args.contains { $0.hasPrefix("file=") })
  }

  @Test func refusesToStartWithoutQEMU() throws {
    let b = try bundle()
    let (r, _) = try runScript(b, [:], withQEMU: false)
    #expect(r.status == 2)
    #expect(r.stderr.contains("qemu-system-x86_64 not found"))
  }

  @Test func titleCannotInjectShell() throws {
    let text = RunnerScript(extid: "x", title: "a\n$(touch /tmp/pwned)\u{7}`id`", arch: nil).text
    let titleLine = try #require(text.split(separator: "\n").first { $0.hasPrefix("# Title:") })
    #expect(!text.contains("\n$(touch"))
    #expect(titleLine.contains("?$(touch"))
  }

  @Test func runCommandLineMatchesTheScriptsKnobs() {
    var l = QEMULaunch(kernel: "/b/bzImage")
    l.disk = "/b/disk,raw"
    l.appendExtra = "oops=continue"
    l.traceBufferKiB = 8192
    let a = l.arguments(bundle: "/b", accelerator: "tcg")
    #expect(a.contains("-snapshot"))
    #expect(a.contains("file=/b/disk,,raw,if=virtio,format=raw"))
    #expect(a.contains("-daemonize") && a.contains("/b/qemu.pid") && a.contains("file:/b/qemu-serial.log"))
    #expect(l.kernelCommandLine.hasPrefix("root=/dev/vda1 rootwait rw") && l.kernelCommandLine.hasSuffix("trace_buf_size=8192K oops=continue"))
    l.persist = true
    #expect(!l.arguments(bundle: "/b", accelerator: "kvm").contains("-snapshot"))
    #expect(l.arguments(bundle: "/b", accelerator: "kvm").contains("host"))
  }
}

@Suite("execprog capture trimming")
struct CaptureTrimTests {
  @Test func keepsTheNewestBytesOnceTheCapIsExceededByAQuarter() throws {
    let path = try makeTempDir("trim") + "/execprog_stream.log"
    let text = (0..<1000).map { "line \($0)\n" }.joined()
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    try trimCapture(path, maxBytes: 8000)  // 8890 bytes < 8000 * 1.25: left alone
    #expect(readText(path) == text)
    try trimCapture(path, maxBytes: 1000)
    let trimmed = readText(path)
    #expect(trimmed.utf8.count == 1000 && text.hasSuffix(trimmed))
    try trimCapture(path, maxBytes: 0)  // 0 = unlimited
    #expect(readText(path) == trimmed)
  }

  @Test func sshCommandLinesAreBoundedAndNonInteractive() {
    var t = SSHTarget(port: 10022)
    t.identity = "/k"
    let a = t.sshArguments("true")
    #expect(a.first == "ssh" && a.contains("BatchMode=yes") && a.contains("ConnectTimeout=5") && a.suffix(3) == ["10022", "root@127.0.0.1", "true"])
    #expect(t.scpArguments(["/a", "/b"], to: "/root/repro").suffix(3) == ["/a", "/b", "root@127.0.0.1:/root/repro/"])
    #expect(SSHTarget.panicSettingsCommand.contains("sysctl -w kernel.$k=0") && SSHTarget.panicSettingsCommand.contains("/proc/sys/kernel/$k"))
    let start = SSHTarget.execprogCommand(procs: 8, repeatCount: 1, remoteDir: "/root/repro")
    #expect(start.contains("-procs=8") && start.contains("-repeat=1") && start.contains("-sandbox=none") && start.contains("> execprog.out"))
  }

  @Test func commandsWithAHardTimeoutAreKilled() {
    let r = runWithTimeout(["sleep", "30"], seconds: 0.5)
    #expect(r.timedOut && r.status == 124)
    #expect(runWithTimeout(["true"], seconds: 5).status == 0)
  }
}
