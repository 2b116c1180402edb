import ArgumentParser
import Driver
import Foundation

/// `repro-analyze run`: start, inspect, stop and poke a bundle's daemonized QEMU.
struct RunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract: "Start a bundle's QEMU daemonized; --status, --stop, --sysrq; optionally start the repro over SSH.",
    discussion: """
      Serial console goes to BUNDLE/qemu-serial.log, the pid to BUNDLE/qemu.pid, the QEMU monitor
      to BUNDLE/qemu-monitor.sock. Flags default to the original workflow's environment variables
      (MEM, SMP, APPEND_EXTRA, TRACE_BUF_SIZE_KB, FTRACE_DUMP_ON_OOPS, USE_LOCALIMAGE, PERSIST,
      SHARE_DIR, SSH_PORT, EXECPROG_PROCS, EXECPROG_REPEAT, CAPTURE_EXECPROG, EXECPROG_STREAM_MAX_BYTES).
        repro-analyze run repro/a9528028ab4ca83e8bac --mem 4096 --smp 4
        repro-analyze run --sysrq t repro/a9528028ab4ca83e8bac
      """
  )

  @Argument(help: "Bundle directory (default: the current directory).")
  var bundle: String = "."

  @Flag(name: .long, help: "Report whether QEMU runs, the serial log's size and growth, and SSH.")
  var status = false

  @Flag(name: .long, help: "Stop this bundle's QEMU (TERM, wait, KILL).")
  var stop = false

  @Option(name: .long, help: "Send magic-sysrq keys via the QEMU monitor (e.g. t, w, d, c; several: tw).")
  var sysrq: String?

  @Flag(name: .long, help: "With --status: print JSON.")
  var json = false

  @Option(name: .long, help: "Kernel image, or 'local' for BUNDLE/localimage/bzImage (default BUNDLE/bzImage).")
  var kernel: String?

  @Option(name: .long, help: "initramfs to boot (bundles without a disk image).")
  var initrd: String?

  @Option(name: .long, help: "Disk image (default BUNDLE/disk.raw when present).")
  var disk: String?

  @Flag(name: .customLong("no-disk"), help: "Boot without a disk image.")
  var noDisk = false

  @Option(name: .long, help: "Guest memory in MiB (env MEM, default 4096).")
  var mem: Int?

  @Option(name: .long, help: "Guest CPUs (env SMP, default 4).")
  var smp: Int?

  @Option(name: .long, help: "Extra kernel command-line arguments (env APPEND_EXTRA).")
  var append: String?

  @Option(name: .customLong("trace-buf-size-kb"), help: "ftrace buffer per CPU in KiB (env TRACE_BUF_SIZE_KB).")
  var traceBufSizeKB: Int?

  @Flag(name: .customLong("ftrace-dump-on-oops"), help: "Dump the ftrace buffer on an oops (env FTRACE_DUMP_ON_OOPS=1).")
  var ftraceDumpOnOops = false

  @Option(name: .long, help: "kvm, tcg or auto (kvm when /dev/kvm is usable; env ACCEL).")
  var accel: String?

  @Option(name: .customLong("ssh-port"), help: "Host port forwarded to guest port 22 (env SSH_PORT, default 10022).")
  var sshPort: Int?

  @Flag(name: .long, help: "Keep disk changes (no -snapshot; env PERSIST=1).")
  var persist = false

  @Option(name: .customLong("share-dir"), help: "Host directory shared over 9p as 'hostshare' (env SHARE_DIR).")
  var shareDir: String?

  @Option(name: .long, help: "Directory with syz-execprog and syz-executor: start the repro over SSH after boot.")
  var execprog: String?

  @Option(name: .long, help: "syz-execprog -procs (env EXECPROG_PROCS, default 6).")
  var procs: Int?

  @Option(name: .long, help: "syz-execprog -repeat, 0 = forever (env EXECPROG_REPEAT, default 0).")
  var `repeat`: Int?

  @Flag(name: .long, help: "Stream execprog.out back to BUNDLE/execprog_stream.log (env CAPTURE_EXECPROG=1).")
  var capture = false

  @Option(name: .customLong("capture-max-bytes"), help: "Keep at most this many bytes of the stream; 0 = unlimited (env EXECPROG_STREAM_MAX_BYTES, default 5 MiB).")
  var captureMaxBytes: Int?

  @Option(name: .customLong("ssh-wait"), help: "Seconds to wait for SSH to answer (default 120).")
  var sshWait: Double = 120

  @Option(name: .customLong("ssh-key"), help: "SSH identity file for the guest.")
  var sshKey: String?

  @Option(name: .customLong("ssh-user"), help: "Guest user (default root).")
  var sshUser: String = "root"

  func validate() throws {
    if [status, stop, sysrq != nil].filter({ $0 }).count > 1 {
      throw ValidationError("--status, --stop and --sysrq are exclusive")
    }
    if let accel, !["kvm", "tcg", "auto"].contains(accel) { throw ValidationError("--accel must be kvm, tcg or auto") }
    if let mem, mem < 64 { throw ValidationError("--mem is in MiB and must be at least 64") }
    if let smp, smp < 1 || smp > 256 { throw ValidationError("--smp must be between 1 and 256") }
    if let p = sshPort, p < 1 || p > 65535 { throw ValidationError("--ssh-port must be a TCP port") }
    if noDisk && disk != nil { throw ValidationError("--disk and --no-disk are exclusive") }
  }

  func run() throws {
    let reporter = Reporter()
    let env = ProcessInfo.processInfo.environment
    let instance = runOrFail { try QEMUInstance(bundle: bundle, reporter: reporter) }
    if status {
      let st = instance.status()
      if json {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        print(String(decoding: (try? enc.encode(st)) ?? Data(), as: UTF8.self))
      } else {
        print(Self.describe(st))
      }
      return
    }
    if stop {
      print("run: " + runOrFail { try instance.stop() })
      return
    }
    if let sysrq {
      let replies = runOrFail { try instance.sendSysrq(sysrq) }
      for (k, r) in zip(sysrq.filter { $0 != "," && $0 != " " }, replies) {
        let extra = r.split(separator: "\n").dropFirst().joined(separator: " ").trimmingCharacters(in: .whitespaces)
        print("run: sent sysrq-\(k)\(extra.isEmpty ? "" : " (monitor: \(extra))")")
      }
      print("run: the guest's answer goes to \(instance.bundle)/qemu-serial.log")
      return
    }
    // Start.
    let useLocal = kernel == "local" || (kernel == nil && env["USE_LOCALIMAGE"] == "1")
    let kernelPath = useLocal ? instance.bundle + "/localimage/bzImage" : (kernel ?? instance.bundle + "/bzImage")
    var launch = QEMULaunch(kernel: kernelPath)
    launch.initrd = initrd
    if !noDisk {
      if let disk { launch.disk = disk } else if FileManager.default.fileExists(atPath: instance.bundle + "/disk.raw") {
        launch.disk = instance.bundle + "/disk.raw"
      }
    }
    launch.memoryMiB = mem ?? env["MEM"].flatMap(Int.init) ?? 4096
    launch.cpuCount = smp ?? env["SMP"].flatMap(Int.init) ?? 4
    launch.appendExtra = append ?? env["APPEND_EXTRA"]
    launch.traceBufferKiB = traceBufSizeKB ?? env["TRACE_BUF_SIZE_KB"].flatMap(Int.init)
    launch.ftraceDumpOnOops = ftraceDumpOnOops || env["FTRACE_DUMP_ON_OOPS"] == "1"
    let accelChoice = accel ?? env["ACCEL"] ?? "auto"
    launch.accelerator = accelChoice == "auto" ? nil : accelChoice
    launch.sshPort = sshPort ?? env["SSH_PORT"].flatMap(Int.init) ?? 10022
    launch.persist = persist || env["PERSIST"] == "1"
    launch.shareDirectory = shareDir ?? env["SHARE_DIR"]
    let pid = runOrFail { try instance.start(launch) }
    print("run: QEMU started, pid \(pid); serial log \(instance.bundle)/qemu-serial.log; ssh port \(launch.sshPort)")
    if let share = launch.shareDirectory {
      print("run: 9p share \(share); in the guest: mount -t 9p -o trans=virtio,version=9p2000.L hostshare \(env["SHARE_MOUNT"] ?? "/mnt/host")")
    }
    print("run: next: repro-analyze watch \(instance.bundle)   |   repro-analyze run --stop \(instance.bundle)")
    guard let execprog else { return }
    var load = ReproLoadOptions(execprogDirectory: execprog)
    load.procs = procs ?? env["EXECPROG_PROCS"].flatMap(Int.init) ?? 6
    load.repeatCount = self.repeat ?? env["EXECPROG_REPEAT"].flatMap(Int.init) ?? 0
    load.capture = capture || env["CAPTURE_EXECPROG"] == "1"
    load.captureMaxBytes = captureMaxBytes ?? env["EXECPROG_STREAM_MAX_BYTES"].flatMap(Int.init) ?? (5 << 20)
    load.waitSeconds = sshWait
    var target = SSHTarget(port: launch.sshPort)
    target.identity = sshKey
    target.user = sshUser
    runOrFail { try ReproLoad(instance: instance, target: target, options: load, reporter: reporter).run() }
  }

  static func describe(_ st: QEMUStatus) -> String {
    var lines: [String] = []
    switch st.state {
    case .running: lines.append("qemu: running, pid \(st.pid ?? 0) (verified: its command line names this bundle's pid file)")
    case .notRunning: lines.append("qemu: not running")
    case .stalePidFile:
      lines.append("qemu: not running; stale pid file names pid \(st.pid ?? 0), which is \(st.pidOwner ?? "?"), not this bundle's QEMU")
    }
    if let size = st.serialLogByteCount {
      var s = "serial log: \(st.serialLog), \(size) bytes"
      if st.state == .running, let g = st.serialLogGrowth {
        s += g > 0 ? ", growing (+\(g) bytes in \(st.sampleSeconds) s)" : ", not growing in the last \(st.sampleSeconds) s"
      }
      lines.append(s)
    } else {
      lines.append("serial log: \(st.serialLog) does not exist")
    }
    if let port = st.sshPort, let ssh = st.ssh {
      switch ssh {
      case "answering": lines.append("ssh: 127.0.0.1:\(port) answering (\(st.sshBanner ?? "SSH"))")
      case "open": lines.append("ssh: 127.0.0.1:\(port) forwarded but no SSH banner within 2 s (sshd not up, or the guest is wedged)")
      default: lines.append("ssh: 127.0.0.1:\(port) closed")
      }
    }
    return lines.joined(separator: "\n")
  }
}
