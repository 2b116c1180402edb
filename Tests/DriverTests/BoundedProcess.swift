import Foundation
import TestSupport

@testable import Driver

#if canImport(Glibc)
  import Glibc
#endif

/// A child process with bounded waits, for tests that start long-lived things (QEMU). Started
/// and waited for by the driver's own `Posix.spawn` / `Posix.waitChild` (posix_spawn + waitpid):
/// Foundation's Process missed the exit of a `run` child whose grandchild (QEMU -daemonize)
/// stayed alive, and its waits cannot be bounded.
final class BoundedProcess {
  let pid: pid_t
  let stdoutPath: String
  let stderrPath: String
  private(set) var exitStatus: Int32?

  init(_ arguments: [String], executable: String = TestPaths.binary) throws {
    let base = NSTemporaryDirectory() + "ra-proc-\(UUID().uuidString.prefix(8))"
    stdoutPath = base + ".out"
    stderrPath = base + ".err"
    pid = try Posix.spawn([executable] + arguments, stdout: .file(stdoutPath), stderr: .file(stderrPath))
  }

  /// Waits at most `seconds`; kills the child on timeout and returns nil.
  @discardableResult
  func wait(seconds: Double) -> Int32? {
    if let exitStatus { return exitStatus }
    if let status = Posix.waitChild(pid, seconds: seconds) {
      exitStatus = status
      return status
    }
    kill(pid, SIGKILL)
    var status: Int32 = 0
    _ = waitpid(pid, &status, 0)
    return nil
  }

  var stdout: String { readText(stdoutPath) }
  var stderr: String { readText(stderrPath) }

  /// Runs to completion within `seconds` (nil status = timed out and killed).
  static func run(_ arguments: [String], seconds: Double = 60) throws -> (status: Int32?, stdout: String, stderr: String) {
    let p = try BoundedProcess(arguments)
    let s = p.wait(seconds: seconds)
    return (s, p.stdout, p.stderr)
  }
}
