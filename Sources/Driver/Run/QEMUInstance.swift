import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// What `run --status` reports.
public struct QEMUStatus: Sendable, Codable {
  public enum State: String, Sendable, Codable {
    case running, notRunning = "not-running", stalePidFile = "stale-pid-file"
  }
  public var state: State
  public var pid: Int32?
  /// For a stale pid file: what the pid is now (`bash`, `gone`), to show why it was not trusted.
  public var pidOwner: String?
  public var serialLog: String
  public var serialLogByteCount: Int?
  /// Bytes the serial log grew by during the sampling interval.
  public var serialLogGrowth: Int?
  public var sampleSeconds: Double
  public var sshPort: Int?
  /// `closed`, `open` (QEMU forwards the port but no SSH banner came), or `answering`.
  public var ssh: String?
  public var sshBanner: String?
}

/// One bundle's QEMU: start (daemonized), status, stop and sysrq through the monitor socket.
/// A pid from `qemu.pid` is trusted only when `/proc/<pid>/cmdline` is a qemu-system binary
/// started with this bundle's pid file, so a stale pid file never gets another process killed.
public final class QEMUInstance {
  public let bundle: String
  let reporter: Reporter

  public init(bundle: String, reporter: Reporter) throws(DriverError) {
    guard Posix.isDirectory(bundle) else {
      throw DriverError("\(bundle): no such bundle directory",
        hint: "run `repro-analyze prepare --extid ID` first, or pass the bundle directory")
    }
    self.bundle = Posix.absolute(bundle)
    self.reporter = reporter
  }

  var pidFile: String { bundle + "/" + BundleFiles.pidFile }
  var serialLog: String { bundle + "/" + BundleFiles.serialLog }
  var monitorSocket: String { bundle + "/" + BundleFiles.monitorSocket }
  var stateFile: String { bundle + "/" + BundleFiles.runState }

  // MARK: start

  /// Starts QEMU daemonized; returns its pid once the pid file is written and verified.
  @discardableResult
  public func start(_ launch: QEMULaunch) throws(DriverError) -> Int32 {
    guard let qemu = Posix.which(launch.qemuBinary) else {
      throw DriverError("\(launch.qemuBinary): not found on PATH",
        hint: "install QEMU (Debian: apt-get install qemu-system-x86)")
    }
    for (what, path) in [("kernel", launch.kernel), ("initrd", launch.initrd), ("disk", launch.disk)] {
      if let path, !Posix.isRegularFile(path) {
        throw DriverError("\(path): \(what) image not found",
          hint: what == "kernel" ? "pass --kernel PATH (or --kernel local for localimage/bzImage)" : "check the path")
      }
    }
    if let pid = verifiedPid() {
      throw DriverError("\(bundle): QEMU is already running (pid \(pid))",
        hint: "repro-analyze run --stop \(bundle) first")
    }
    if Posix.exists(pidFile) {
      reporter.note("run: removing stale pid file \(pidFile)")
      Posix.remove(pidFile)
    }
    guard monitorSocket.utf8.count < 100 else {
      throw DriverError("\(monitorSocket): path too long for a unix socket (\(monitorSocket.utf8.count) bytes)",
        hint: "use a bundle directory with a shorter path")
    }
    Posix.remove(monitorSocket)
    // Keep the previous console log: it is evidence, not scratch.
    if let size = Posix.fileSize(serialLog), size > 0 {
      try Posix.renameFile(serialLog, bundle + "/" + BundleFiles.previousSerialLog)
    }
    let accel = launch.accelerator ?? (Self.kvmUsable() ? "kvm" : "tcg")
    var args = launch.arguments(bundle: bundle, accelerator: accel)
    args[0] = qemu
    let stderrPath = bundle + "/" + BundleFiles.qemuStderr
    Posix.remove(stderrPath)
    let child = try Posix.spawn(args, outputPath: stderrPath)
    // With -daemonize the parent exits once the VM is set up; bound the wait anyway.
    guard let exitStatus = Posix.waitChild(child, seconds: 60) else {
      kill(child, SIGKILL)
      _ = Posix.waitChild(child, seconds: 5)
      throw DriverError("\(qemu): did not daemonize within 60 s", hint: "see \(stderrPath)")
    }
    guard exitStatus == 0 else {
      let tail = (try? Posix.readText(stderrPath)).map { String($0.suffix(2000)) } ?? ""
      throw DriverError("\(qemu) exited with status \(exitStatus): \(tail.trimmingCharacters(in: .whitespacesAndNewlines))",
        hint: "full output in \(stderrPath)")
    }
    var pid: Int32?
    let pidDeadline = Posix.monotonicSeconds() + 10
    while pid == nil && Posix.monotonicSeconds() < pidDeadline {
      pid = verifiedPid()
      if pid == nil { Posix.sleep(seconds: 0.05) }
    }
    guard let pid else {
      throw DriverError("\(pidFile): QEMU started but no verified pid appeared", hint: "see \(stderrPath)")
    }
    var state = "pid \(pid)\nssh_port \(launch.sshPort)\naccel \(accel)\nstarted_at \(Posix.isoTimestamp())\n"
    state += "cmdline " + args.map(Self.shellQuote).joined(separator: " ") + "\n"
    try Posix.writeAtomically(stateFile, text: state)
    return pid
  }

  // MARK: pid checks

  /// The pid in `qemu.pid` if it is alive and really this bundle's QEMU.
  public func verifiedPid() -> Int32? {
    guard let pid = readPidFile(), Self.isOurQEMU(pid: pid, pidFile: pidFile) else { return nil }
    return pid
  }

  func readPidFile() -> Int32? {
    guard let text = try? Posix.readText(pidFile) else { return nil }
    return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
  }

  /// True when `pid` runs a qemu-system binary whose `-pidfile` is `pidFile` (and is not a zombie).
  static func isOurQEMU(pid: Int32, pidFile: String) -> Bool {
    guard pid > 1, let args = commandLine(pid: pid), let argv0 = args.first else { return false }
    guard (argv0 as NSString).lastPathComponent.hasPrefix("qemu-system") else { return false }
    guard let i = args.firstIndex(of: "-pidfile"), i + 1 < args.count else { return false }
    guard Posix.absolute(args[i + 1]) == Posix.absolute(pidFile) else { return false }
    return !isZombie(pid: pid)
  }

  static func commandLine(pid: Int32) -> [String]? {
    guard let bytes = try? Posix.readFile("/proc/\(pid)/cmdline", limit: 1 << 20), !bytes.isEmpty else { return nil }
    return bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast(bytes.last == 0 ? 1 : 0)
      .map { String(decoding: $0, as: UTF8.self) }
  }

  static func isZombie(pid: Int32) -> Bool {
    guard let stat = try? Posix.readText("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else {
      return true
    }
    let rest = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces)
    return rest.hasPrefix("Z") || rest.hasPrefix("X")
  }

  static func describe(pid: Int32) -> String {
    guard let args = commandLine(pid: pid) else { return "no such process" }
    return args.prefix(3).joined(separator: " ")
  }

  static func kvmUsable() -> Bool {
    let fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)
    guard fd >= 0 else { return false }
    close(fd)
    return true
  }

  static func shellQuote(_ s: String) -> String {
    if !s.isEmpty && s.utf8.allSatisfy({ c in
      (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || "-_./=:,@+".utf8.contains(c)
    }) {
      return s
    }
    return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }

  // MARK: status

  public func status(sampleSeconds: Double = 1.0) -> QEMUStatus {
    var st = QEMUStatus(state: .notRunning, serialLog: serialLog, sampleSeconds: sampleSeconds)
    if let pid = readPidFile() {
      st.pid = pid
      if Self.isOurQEMU(pid: pid, pidFile: pidFile) {
        st.state = .running
      } else {
        st.state = .stalePidFile
        st.pidOwner = Self.describe(pid: pid)
      }
    }
    let before = Posix.fileSize(serialLog)
    if st.state == .running && sampleSeconds > 0 { Posix.sleep(seconds: sampleSeconds) }
    let after = Posix.fileSize(serialLog)
    st.serialLogByteCount = after
    if let before, let after { st.serialLogGrowth = after - before }
    if let text = try? Posix.readText(stateFile) {
      for line in text.split(separator: "\n") where line.hasPrefix("ssh_port ") {
        st.sshPort = Int(line.dropFirst(9))
      }
    }
    if let port = st.sshPort, st.state == .running {
      let probe = SSHProbe.banner(port: port, timeout: 2)
      st.ssh = probe.state
      st.sshBanner = probe.banner
    }
    return st
  }

  // MARK: stop

  /// TERM, wait up to `grace` seconds, then KILL. Returns a one-line description of what happened.
  public func stop(grace: Double = 10) throws(DriverError) -> String {
    guard let pid = readPidFile() else {
      return "not running (no \(BundleFiles.pidFile))"
    }
    guard Self.isOurQEMU(pid: pid, pidFile: pidFile) else {
      Posix.remove(pidFile)
      Posix.remove(monitorSocket)
      return "not running: stale pid file named pid \(pid) (\(Self.describe(pid: pid))), which is not this bundle's QEMU; nothing was signalled, the pid file was removed"
    }
    kill(pid, SIGTERM)
    if waitForExit(pid: pid, seconds: grace) {
      cleanUp()
      return "stopped QEMU pid \(pid) (SIGTERM)"
    }
    // Re-check identity before escalating: the pid could have been reused meanwhile.
    if Self.isOurQEMU(pid: pid, pidFile: pidFile) { kill(pid, SIGKILL) }
    guard waitForExit(pid: pid, seconds: 5) else {
      throw DriverError("QEMU pid \(pid) survived SIGKILL for 5 s", hint: "check `ps -p \(pid)`")
    }
    cleanUp()
    return "stopped QEMU pid \(pid) (SIGKILL after \(Int(grace)) s)"
  }

  func waitForExit(pid: Int32, seconds: Double) -> Bool {
    let deadline = Posix.monotonicSeconds() + seconds
    repeat {
      if !Self.isOurQEMU(pid: pid, pidFile: pidFile) { return true }
      Posix.sleep(seconds: 0.05)
    } while Posix.monotonicSeconds() < deadline
    return !Self.isOurQEMU(pid: pid, pidFile: pidFile)
  }

  func cleanUp() {
    Posix.remove(pidFile)
    Posix.remove(monitorSocket)
  }

  // MARK: sysrq

  /// Sends magic-sysrq keys through the QEMU monitor (`sendkey alt-sysrq-<k>`): works even when
  /// the guest's network and SSH are dead.
  public func sendSysrq(_ keys: String) throws(DriverError) -> [String] {
    guard let pid = verifiedPid() else {
      throw DriverError("\(bundle): QEMU is not running", hint: "start it with `repro-analyze run \(bundle)`")
    }
    _ = pid
    let valid = keys.filter { $0 != "," && $0 != " " }
    guard !valid.isEmpty, valid.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
      throw DriverError("'\(keys)' is not a list of sysrq keys", hint: "e.g. --sysrq t, --sysrq w, --sysrq tw")
    }
    let monitor = try MonitorConnection(path: monitorSocket)
    var replies: [String] = []
    for k in valid {
      replies.append(try monitor.command("sendkey alt-sysrq-\(k.lowercased())"))
      // The guest handles one key chord at a time; give it a moment between dumps.
      Posix.sleep(seconds: 0.3)
    }
    return replies
  }
}

/// The QEMU human monitor (HMP) over its unix socket, with timeouts on every read and write.
final class MonitorConnection {
  let fd: Int32
  let path: String

  init(path: String, timeout: Double = 5) throws(DriverError) {
    self.path = path
    fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw .io(path, "socket", errno: errno) }
    var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
      close(fd)
      throw DriverError("\(path): socket path too long")
    }
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
      for (i, b) in bytes.enumerated() { raw[i] = b }
      raw[bytes.count] = 0
    }
    let rc = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard rc == 0 else {
      let e = errno
      close(fd)
      throw DriverError("\(path): cannot connect to the QEMU monitor: \(Posix.errorString(e))",
        hint: "was this QEMU started by `repro-analyze run` or run_qemu.sh (they open the monitor socket)?")
    }
    _ = try readUntilPrompt()
  }

  deinit { close(fd) }

  func command(_ line: String) throws(DriverError) -> String {
    let bytes = Array((line + "\n").utf8)
    let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard n == bytes.count else { throw .io(path, "monitor write failed", errno: errno) }
    return try readUntilPrompt()
  }

  /// Reads until HMP's `(qemu) ` prompt; returns what came before it (command echo included).
  func readUntilPrompt() throws(DriverError) -> String {
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    let prompt = Array("(qemu) ".utf8)
    while !(out.count >= prompt.count && Array(out.suffix(prompt.count)) == prompt) {
      let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else {
        throw DriverError("\(path): QEMU monitor did not answer (\(n == 0 ? "closed" : Posix.errorString(errno)))",
          hint: "the VM may be wedged; `repro-analyze run --stop` and start it again")
      }
      out.append(contentsOf: buf[0..<n])
      if out.count > 1 << 20 { break }
    }
    return String(decoding: out.dropLast(min(prompt.count, out.count)), as: UTF8.self)
  }
}
