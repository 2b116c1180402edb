import Foundation
import TestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// A child process with bounded waits, for tests that start long-lived things (QEMU).
/// posix_spawn + waitpid directly: Foundation's Process missed the exit of a `run` child whose
/// grandchild (QEMU -daemonize) stayed alive, and its waits cannot be bounded.
final class BoundedProcess {
  let pid: pid_t
  let stdoutPath: String
  let stderrPath: String
  private(set) var exitStatus: Int32?

  init(_ arguments: [String], executable: String = TestPaths.binary) throws {
    let base = NSTemporaryDirectory() + "ra-proc-\(UUID().uuidString.prefix(8))"
    stdoutPath = base + ".out"
    stderrPath = base + ".err"
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var empty = sigset_t()
    sigemptyset(&empty)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attr, &empty)
    posix_spawnattr_setsigdefault(&attr, &all)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) }
    argv.append(nil)
    defer { for p in argv { free(p) } }
    var child: pid_t = 0
    let rc = posix_spawn(&child, executable, &actions, &attr, argv, environ)
    guard rc == 0 else { throw FixtureError("posix_spawn \(executable): \(String(cString: strerror(rc)))") }
    pid = child
  }

  /// Waits at most `seconds`; kills the child on timeout and returns nil.
  @discardableResult
  func wait(seconds: Double) -> Int32? {
    if let exitStatus { return exitStatus }
    let deadline = Date().addingTimeInterval(seconds)
    var status: Int32 = 0
    while Date() < deadline {
      if waitpid(pid, &status, WNOHANG) == pid {
        let low = status & 0x7f
        exitStatus = low == 0 ? (status >> 8) & 0xff : 128 + low
        return exitStatus
      }
      usleep(20_000)
    }
    kill(pid, SIGKILL)
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
