#if canImport(Glibc)
  import Glibc
#endif

/// Starts child processes with posix_spawn: the one copy of the spawn set-up, shared by the
/// driver (QEMU, its tests' long-lived `run` children) and both benchmarks (`bench ingest`,
/// `bench symbolize`). It lives in Forensics because that is the lowest module that spawns
/// (the symbolize benchmark).
///
/// posix_spawn rather than Foundation's Process: Process loses the exit of a child whose
/// daemonized grandchild (QEMU -daemonize) keeps inherited descriptors, cannot bound its waits,
/// and gives no rusage (CPU time, peak RSS) for benchmarks.
public enum ChildProcess {
  /// Where the child's stdout or stderr goes.
  public enum Output: Sendable, Equatable {
    /// /dev/null.
    case discard
    /// A file, created or truncated.
    case file(String)
    /// A file, created or appended to.
    case appending(String)
    /// stderr only: the same open file as stdout.
    case sameAsStdout
  }

  /// posix_spawn failed; `code` is its errno value.
  public struct SpawnError: Error, Sendable {
    public var executable: String
    public var code: Int32
    public var message: String { String(cString: strerror(code)) }
  }

  /// Wall time, CPU time (user + system), peak RSS and exit status of one finished child.
  public struct Measurement: Sendable {
    public var wallSeconds: Double
    public var cpuSeconds: Double
    public var peakRSSKiB: Int
    /// The exit code, or 128 + signal when the child was killed.
    public var status: Int32
  }

  /// Starts `argv` (argv[0] found on PATH unless it contains a `/`) and returns its pid.
  /// `stdin` nil inherits ours; `environment` nil passes ours on. The child starts with an empty
  /// signal mask and default dispositions: the Swift runtime's threads may block or ignore
  /// signals, and QEMU must still stop on SIGTERM from `run --stop`.
  public static func spawn(
    _ argv: [String], stdin: String? = "/dev/null", stdout: Output, stderr: Output,
    environment: [String]? = nil
  ) throws(SpawnError) -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if let stdin { posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0) }
    redirect(&actions, 1, stdout)
    redirect(&actions, 2, stderr)
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
    let cArgs = argv.map { strdup($0) } + [nil]
    let cEnv = environment.map { $0.map { strdup($0) } + [nil] }
    defer {
      cArgs.forEach { free($0) }
      cEnv?.forEach { free($0) }
    }
    var pid: pid_t = 0
    let rc = cEnv.map { posix_spawnp(&pid, argv[0], &actions, &attr, cArgs, $0) }
      ?? posix_spawnp(&pid, argv[0], &actions, &attr, cArgs, environ)
    guard rc == 0 else { throw SpawnError(executable: argv[0], code: rc) }
    return pid
  }

  private static func redirect(_ actions: inout posix_spawn_file_actions_t, _ fd: Int32, _ output: Output) {
    switch output {
    case .discard: posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0)
    case .file(let path):
      posix_spawn_file_actions_addopen(&actions, fd, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    case .appending(let path):
      posix_spawn_file_actions_addopen(&actions, fd, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    case .sameAsStdout: posix_spawn_file_actions_adddup2(&actions, 1, fd)
    }
  }

  /// Runs `argv` to completion, measuring it (wait4 rusage covers the child alone).
  public static func run(
    _ argv: [String], stdin: String? = "/dev/null", stdout: Output = .discard, stderr: Output = .discard,
    environment: [String]? = nil
  ) throws(SpawnError) -> Measurement {
    let t0 = MonotonicClock.seconds()
    let pid = try spawn(argv, stdin: stdin, stdout: stdout, stderr: stderr, environment: environment)
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
    let wall = MonotonicClock.seconds() - t0
    let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
      + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    return Measurement(
      wallSeconds: wall, cpuSeconds: cpu, peakRSSKiB: Int(usage.ru_maxrss), status: exitStatus(waitStatus: status))
  }

  /// The fastest (by wall time) of `runs` runs of `argv`; runs at least once.
  public static func fastest(
    of runs: Int, _ argv: [String], stdin: String? = "/dev/null", stdout: Output = .discard,
    stderr: Output = .discard, environment: [String]? = nil
  ) throws(SpawnError) -> Measurement {
    var best = try run(argv, stdin: stdin, stdout: stdout, stderr: stderr, environment: environment)
    for _ in 1..<max(runs, 1) {
      let m = try run(argv, stdin: stdin, stdout: stdout, stderr: stderr, environment: environment)
      if m.wallSeconds < best.wallSeconds { best = m }
    }
    return best
  }

  /// Decodes a waitpid/wait4 status: the exit code, or 128 + signal number when killed.
  /// (WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot call.)
  public static func exitStatus(waitStatus status: Int32) -> Int32 {
    let signal = status & 0x7F
    return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
  }
}
