/// The knobs of a QEMU run (flags of `repro-analyze run`, or the original workflow's env vars).
public struct QEMULaunch: Sendable {
  public var kernel: String
  public var initrd: String?
  public var disk: String?
  public var memoryMiB = 4096
  public var cpuCount = 4
  public var appendExtra: String?
  public var traceBufferKiB: Int?
  public var ftraceDumpOnOops = false
  /// `kvm`, `tcg`, or nil for "kvm when /dev/kvm is usable".
  public var accelerator: String?
  public var sshPort = 10022
  public var persist = false
  public var shareDirectory: String?
  public var qemuBinary = "qemu-system-x86_64"

  public init(kernel: String) { self.kernel = kernel }

  /// The kernel command line. `root=/dev/vda1` because syzbot images are partitioned (plain
  /// `/dev/vda` gives "VFS: Unable to mount root fs"); `sysrq_always_enabled` so that
  /// `run --sysrq` works whatever the image's sysrq mask (Debian's default refuses `t`).
  public var kernelCommandLine: String {
    var parts: [String] = []
    if disk != nil { parts.append("root=/dev/vda1 rootwait rw") }
    parts.append("console=ttyS0,115200 earlyprintk=serial net.ifnames=0 sysrq_always_enabled=1")
    if let kib = traceBufferKiB { parts.append("trace_buf_size=\(kib)K") }
    if ftraceDumpOnOops { parts.append("ftrace_dump_on_oops") }
    if let extra = appendExtra, !extra.isEmpty { parts.append(extra) }
    return parts.joined(separator: " ")
  }

  /// Arguments for a daemonized QEMU whose files live in `bundle` (an absolute path).
  public func arguments(bundle: String, accelerator resolved: String) -> [String] {
    var a = [
      qemuBinary, "-name", "repro-" + (bundle.split(separator: "/").last.map(String.init) ?? "bundle"),
      "-machine", "q35", "-accel", resolved, "-m", String(memoryMiB), "-smp", String(cpuCount), "-no-reboot",
    ]
    if resolved == "kvm" { a += ["-cpu", "host"] }
    a += ["-kernel", kernel, "-append", kernelCommandLine]
    if let initrd { a += ["-initrd", initrd] }
    if let disk {
      // Commas in file names must be doubled inside a -drive option string.
      a += ["-drive", "file=\(disk.replacingOccurrences(of: ",", with: ",,")),if=virtio,format=raw"]
      if !persist { a.append("-snapshot") }
    }
    a += [
      "-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:\(sshPort)-:22", "-device", "virtio-net-pci,netdev=net0",
    ]
    if let share = shareDirectory {
      a += ["-virtfs", "local,path=\(share),mount_tag=hostshare,security_model=none,id=hostshare"]
    }
    a += [
      "-monitor", "unix:\(bundle)/\(BundleFiles.monitorSocket),server=on,wait=off",
      "-display", "none", "-daemonize",
      "-pidfile", "\(bundle)/\(BundleFiles.pidFile)",
      "-serial", "file:\(bundle)/\(BundleFiles.serialLog)",
    ]
    return a
  }
}

/// Names of the files a run keeps in its bundle directory (the original workflow's names).
public enum BundleFiles {
  public static let pidFile = "qemu.pid"
  public static let serialLog = "qemu-serial.log"
  public static let previousSerialLog = "qemu-serial.prev.log"
  public static let monitorSocket = "qemu-monitor.sock"
  public static let qemuStderr = "qemu-stderr.log"
  public static let runState = "run.state"
  public static let watchLog = "watch_patterns.log"
  public static let execprogStream = "execprog_stream.log"
}
