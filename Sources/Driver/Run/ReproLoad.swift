import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The SSH half of a run: wait for sshd, relax the panic sysctls, stage syz-execprog,
/// syz-executor and repro.syz into the guest, start the load in the background and optionally
/// stream its output back. Every remote call has a hard timeout; when SSH is dead the serial
/// log (`watch`) and `run --sysrq` remain.
public struct ReproLoadOptions: Sendable {
  public var execprogDirectory: String
  public var procs = 6
  public var repeatCount = 0
  public var waitSeconds = 120.0
  public var capture = false
  public var captureMaxBytes = 5 << 20
  public var remoteDirectory = "/root/repro"
  public init(execprogDirectory: String) { self.execprogDirectory = execprogDirectory }
}

public struct ReproLoad {
  let instance: QEMUInstance
  let target: SSHTarget
  let options: ReproLoadOptions
  let reporter: Reporter

  public init(instance: QEMUInstance, target: SSHTarget, options: ReproLoadOptions, reporter: Reporter) {
    self.instance = instance
    self.target = target
    self.options = options
    self.reporter = reporter
  }

  public func run() throws(DriverError) {
    let exe = options.execprogDirectory + "/syz-execprog"
    let executor = options.execprogDirectory + "/syz-executor"
    let repro = instance.bundle + "/repro.syz"
    for f in [exe, executor, repro] where !Posix.isRegularFile(f) {
      throw DriverError("\(f): not found",
        hint: f == repro ? "the bundle has no repro.syz" : "build syzkaller (make execprog executor) and pass --execprog DIR")
    }
    reporter.note("run: waiting up to \(Int(options.waitSeconds)) s for SSH on 127.0.0.1:\(target.port)")
    guard target.waitUntilUp(seconds: options.waitSeconds, reporter: reporter) else {
      let st = instance.status(sampleSeconds: 1)
      let alive = (st.serialLogGrowth ?? 0) > 0 ? "the serial log is still growing, so the VM is alive" : "the serial log is not growing"
      throw DriverError("ssh to 127.0.0.1:\(target.port) did not answer within \(Int(options.waitSeconds)) s; \(alive)",
        hint: "follow the console with `repro-analyze watch \(instance.bundle)`; capture dumps with `run --sysrq t`")
    }
    let sysctl = target.run(SSHTarget.panicSettingsCommand)
    guard sysctl.status == 0 else {
      throw DriverError("ssh: setting kernel.panic_on_oops=0/panic_on_warn=0 failed (\(sysctl.timedOut ? "timed out" : "status \(sysctl.status)")): \(sysctl.output.prefix(300))")
    }
    reporter.note("run: guest panic_on_oops/panic_on_warn now \(sysctl.output.split(separator: "\n").joined(separator: "/"))")
    let mk = target.run("mkdir -p \(options.remoteDirectory)")
    guard mk.status == 0 else { throw DriverError("ssh: mkdir \(options.remoteDirectory) failed: \(mk.output.prefix(300))") }
    let copy = runWithTimeout(target.scpArguments([exe, executor, repro], to: options.remoteDirectory), seconds: 120)
    guard copy.status == 0 else {
      throw DriverError("scp of syz-execprog, syz-executor and repro.syz failed (\(copy.timedOut ? "timed out" : "status \(copy.status)")): \(copy.output.prefix(300))")
    }
    let start = target.run(SSHTarget.execprogCommand(procs: options.procs, repeatCount: options.repeatCount, remoteDir: options.remoteDirectory))
    guard start.status == 0 else { throw DriverError("ssh: starting syz-execprog failed: \(start.output.prefix(300))") }
    reporter.note("run: syz-execprog started in the guest (procs=\(options.procs) repeat=\(options.repeatCount)), output in \(options.remoteDirectory)/execprog.out")
    if options.capture { try capture() }
  }

  /// Streams `execprog.out` into the bundle's `execprog_stream.log`, trimmed to the cap, until
  /// QEMU exits or the stream cannot be re-established.
  func capture() throws(DriverError) {
    let path = instance.bundle + "/" + BundleFiles.execprogStream
    FileManager.default.createFile(atPath: path, contents: nil)
    reporter.note("run: capturing the execprog stream to \(path) (cap \(options.captureMaxBytes) bytes; Ctrl-C stops)")
    var failures = 0
    while instance.verifiedPid() != nil && failures < 5 {
      let p = Process()
      p.executableURL = URL(fileURLWithPath: Posix.which("ssh") ?? "/usr/bin/ssh")
      p.arguments = Array(target.sshArguments("tail -c +1 -F \(options.remoteDirectory)/execprog.out").dropFirst())
      let pipe = Pipe()
      p.standardOutput = pipe
      p.standardError = FileHandle.nullDevice
      p.standardInput = FileHandle.nullDevice
      do { try p.run() } catch { throw DriverError("ssh: cannot start: \(error)") }
      let reader = pipe.fileHandleForReading
      var lastTrim = Posix.monotonicSeconds()
      var got = 0
      while true {
        let data = reader.availableData
        if data.isEmpty { break }
        got += data.count
        if let h = FileHandle(forWritingAtPath: path) {
          h.seekToEndOfFile()
          h.write(data)
          try? h.close()
        }
        if Posix.monotonicSeconds() - lastTrim > 5 {
          try trimCapture(path, maxBytes: options.captureMaxBytes)
          lastTrim = Posix.monotonicSeconds()
        }
      }
      p.waitUntilExit()
      try trimCapture(path, maxBytes: options.captureMaxBytes)
      failures = got > 0 ? 0 : failures + 1
      Posix.sleep(seconds: 2)
    }
    reporter.note("run: capture ended (QEMU gone or SSH unreachable); the serial log has the rest")
  }
}
