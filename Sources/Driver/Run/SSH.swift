import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// A raw TCP look at the forwarded SSH port: QEMU's user-net always accepts on the host side,
/// so "open" is not "up"; only an `SSH-` banner means sshd in the guest answers.
enum SSHProbe {
  static func banner(port: Int, timeout: Double) -> (state: String, banner: String?) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return ("closed", nil) }
    defer { close(fd) }
    var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else { return ("closed", nil) }
    var buf = [UInt8](repeating: 0, count: 256)
    let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return ("open", nil) }
    let text = String(decoding: buf[0..<n], as: UTF8.self)
    guard text.hasPrefix("SSH-") else { return ("open", nil) }
    return ("answering", text.split(whereSeparator: { $0 == "\r" || $0 == "\n" }).first.map(String.init))
  }
}

/// The result of a command run with a hard timeout.
struct TimedResult {
  var status: Int32
  var timedOut: Bool
  var output: String
}

/// Runs a program with a hard deadline (the original workflow's `timeout 8s ssh …`): on expiry
/// it is sent SIGTERM, then SIGKILL. Output is captured to a temp file (no pipe deadlocks).
func runWithTimeout(_ argv: [String], seconds: Double, stdinPath: String? = nil) -> TimedResult {
  guard let exe = Posix.which(argv[0]) else { return TimedResult(status: 127, timedOut: false, output: "\(argv[0]): not found") }
  let outPath = NSTemporaryDirectory() + "repro-analyze-\(getpid())-\(UUID().uuidString).out"
  FileManager.default.createFile(atPath: outPath, contents: nil)
  defer { Posix.remove(outPath) }
  let p = Process()
  p.executableURL = URL(fileURLWithPath: exe)
  p.arguments = Array(argv.dropFirst())
  let h = FileHandle(forWritingAtPath: outPath)
  p.standardOutput = h
  p.standardError = h
  p.standardInput = stdinPath.flatMap { FileHandle(forReadingAtPath: $0) } ?? FileHandle.nullDevice
  do { try p.run() } catch { return TimedResult(status: 127, timedOut: false, output: "\(exe): \(error)") }
  let deadline = Posix.monotonicSeconds() + seconds
  var timedOut = false
  while p.isRunning {
    if Posix.monotonicSeconds() > deadline {
      timedOut = true
      p.terminate()
      let killAt = Posix.monotonicSeconds() + 2
      while p.isRunning && Posix.monotonicSeconds() < killAt { Posix.sleep(seconds: 0.02) }
      if p.isRunning { kill(p.processIdentifier, SIGKILL) }
      break
    }
    Posix.sleep(seconds: 0.02)
  }
  p.waitUntilExit()
  try? h?.close()
  let out = (try? Posix.readText(outPath)) ?? ""
  return TimedResult(status: timedOut ? 124 : p.terminationStatus, timedOut: timedOut, output: out)
}

/// SSH into the guest through the forwarded port, every call bounded by a hard timeout.
public struct SSHTarget: Sendable {
  public var port: Int
  public var user = "root"
  public var identity: String?
  public var commandTimeout = 8.0

  public init(port: Int) { self.port = port }

  var commonOptions: [String] {
    var o = [
      "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "StrictHostKeyChecking=no",
      "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
      "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2",
    ]
    if let identity { o += ["-i", identity, "-o", "IdentitiesOnly=yes"] }
    return o
  }

  /// The ssh argv for `command` (exposed for tests and `--dry-run` style messages).
  func sshArguments(_ command: String) -> [String] {
    ["ssh"] + commonOptions + ["-p", String(port), "\(user)@127.0.0.1", command]
  }

  func scpArguments(_ files: [String], to remoteDir: String) -> [String] {
    ["scp"] + commonOptions + ["-P", String(port)] + files + ["\(user)@127.0.0.1:\(remoteDir)/"]
  }

  func run(_ command: String, timeout: Double? = nil) -> TimedResult {
    runWithTimeout(sshArguments(command), seconds: timeout ?? commandTimeout)
  }

  /// Polls `ssh … true` until it succeeds or `seconds` pass.
  func waitUntilUp(seconds: Double, reporter: Reporter) -> Bool {
    let deadline = Posix.monotonicSeconds() + seconds
    while Posix.monotonicSeconds() < deadline {
      if run("true").status == 0 { return true }
      Posix.sleep(seconds: 2)
    }
    return false
  }

  /// `sysctl -w`, falling back to /proc (panic_on_oops=0 is not a kernel command-line option).
  static let panicSettingsCommand =
    "for k in panic_on_oops panic_on_warn; do sysctl -w kernel.$k=0 >/dev/null 2>&1 || echo 0 > /proc/sys/kernel/$k; done; cat /proc/sys/kernel/panic_on_oops /proc/sys/kernel/panic_on_warn"

  static func execprogCommand(procs: Int, repeatCount: Int, remoteDir: String) -> String {
    "cd \(remoteDir) && chmod +x syz-execprog syz-executor && (nohup ./syz-execprog -executor=./syz-executor -sandbox=none -procs=\(procs) -threaded=1 -repeat=\(repeatCount) repro.syz > execprog.out 2>&1 < /dev/null &) && echo started"
  }
}

/// Keeps only the newest `maxBytes` of a growing capture file (0 = unlimited): when the file
/// exceeds the cap by a quarter, its tail is copied to `.part` and renamed over it.
func trimCapture(_ path: String, maxBytes: Int) throws(DriverError) {
  guard maxBytes > 0, let size = Posix.fileSize(path), size > maxBytes + maxBytes / 4 else { return }
  let bytes = try Posix.readFile(path, limit: Int.max)
  try Posix.writeAtomically(path, Array(bytes.suffix(maxBytes)))
}
