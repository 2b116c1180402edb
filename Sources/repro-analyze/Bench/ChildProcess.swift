import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Runs a command with stdout to a file, measuring wall time and the child's peak RSS
/// (`wait4` rusage), for benchmarks that compare against other tools in the same run.
struct Measured {
  var seconds: Double
  var maxRSSKiB: Int
  var status: Int32
}

enum ChildProcess {
  static func run(_ argv: [String], stdout: String = "/dev/null", stdin: String? = nil) throws -> Measured {
    var fa = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&fa)
    defer { posix_spawn_file_actions_destroy(&fa) }
    posix_spawn_file_actions_addopen(&fa, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0)
    if let stdin { posix_spawn_file_actions_addopen(&fa, 0, stdin, O_RDONLY, 0) }
    var pid: pid_t = 0
    let cargs = argv.map { strdup($0) } + [nil]
    defer { cargs.forEach { free($0) } }
    let start = Date()
    let rc = posix_spawnp(&pid, argv[0], &fa, nil, cargs, environ)
    guard rc == 0 else {
      throw CLIError("cannot start '\(argv[0])': \(String(cString: strerror(rc)))")
    }
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
    let elapsed = Date().timeIntervalSince(start)
    let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return Measured(seconds: elapsed, maxRSSKiB: Int(usage.ru_maxrss), status: exitStatus)
  }

  /// True when `name` is on PATH.
  static func available(_ name: String) -> Bool {
    let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
    return paths.contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
  }
}

/// A runtime failure with a message (no usage text), exit status 2.
struct CLIError: Error, CustomStringConvertible {
  var description: String
  init(_ d: String) { description = d }
}
