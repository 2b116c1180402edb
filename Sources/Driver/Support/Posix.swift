import Forensics
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Thin, throwing wrappers over the POSIX calls the driver needs. Kept here so the rest of the
/// module reads as workflow logic, and every failure names its path.
enum Posix {
  static func errorString(_ code: Int32) -> String { String(cString: strerror(code)) }

  static func fileStat(_ path: String) -> Glibc.stat? {
    var st = Glibc.stat()
    // `stat` names both the struct and the function in Swift; fstatat has no such clash.
    return fstatat(AT_FDCWD, path, &st, 0) == 0 ? st : nil
  }

  static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

  static func isDirectory(_ path: String) -> Bool {
    guard let st = fileStat(path) else { return false }
    return (st.st_mode & S_IFMT) == S_IFDIR
  }

  static func isRegularFile(_ path: String) -> Bool {
    guard let st = fileStat(path) else { return false }
    return (st.st_mode & S_IFMT) == S_IFREG
  }

  /// Size of a regular file, nil when it does not exist.
  static func fileSize(_ path: String) -> Int? {
    guard let st = fileStat(path) else { return nil }
    return Int(st.st_size)
  }

  static func makeDirectories(_ path: String) throws(DriverError) {
    do {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
      throw DriverError("\(path): cannot create directory: \(error.localizedDescription)",
        hint: "check the parent directory's permissions")
    }
  }

  static func readFile(_ path: String, limit: Int = 256 << 20) throws(DriverError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw .io(path, "cannot open", errno: errno) }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while out.count < limit {
      let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 {
        if errno == EINTR { continue }
        throw .io(path, "read failed", errno: errno)
      }
      if n == 0 { break }
      out.append(contentsOf: buf[0..<n])
    }
    return out
  }

  static func readText(_ path: String) throws(DriverError) -> String {
    String(decoding: try readFile(path), as: UTF8.self)
  }

  /// Writes `bytes` to `path.part`, fsyncs, then renames over `path`: a reader sees the old
  /// file or the whole new one, never half of it.
  static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(DriverError) {
    let part = path + ".part"
    let fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw .io(part, "cannot create", errno: errno) }
    var off = 0
    while off < bytes.count {
      let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, bytes.count - off) }
      if n < 0 {
        if errno == EINTR { continue }
        let e = errno
        close(fd)
        unlink(part)
        throw .io(part, "write failed", errno: e)
      }
      off += n
    }
    fchmod(fd, mode)
    fsync(fd)
    close(fd)
    guard Glibc.rename(part, path) == 0 else {
      let e = errno
      unlink(part)
      throw .io(path, "rename from .part failed", errno: e)
    }
  }

  static func writeAtomically(_ path: String, text: String, mode: mode_t = 0o644) throws(DriverError) {
    try writeAtomically(path, Array(text.utf8), mode: mode)
  }

  static func renameFile(_ from: String, _ to: String) throws(DriverError) {
    guard Glibc.rename(from, to) == 0 else { throw .io(to, "rename from \(from) failed", errno: errno) }
  }

  static func remove(_ path: String) { unlink(path) }

  static func realPath(_ path: String) -> String? {
    guard let p = realpath(path, nil) else { return nil }
    defer { free(p) }
    return String(cString: p)
  }

  /// Absolute, normalised form of `path` (the file need not exist; its directory should).
  static func absolute(_ path: String) -> String {
    if let r = realPath(path) { return r }
    let url = URL(fileURLWithPath: path).standardizedFileURL
    if let dir = realPath(url.deletingLastPathComponent().path) {
      return dir + "/" + url.lastPathComponent
    }
    return url.path
  }

  static func monotonicSeconds() -> Double { MonotonicClock.seconds() }

  static func sleep(seconds: Double) {
    guard seconds > 0 else { return }
    var ts = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
    var rem = timespec()
    while nanosleep(&ts, &rem) != 0 && errno == EINTR { ts = rem }
  }

  static func environment(_ name: String) -> String? {
    guard let v = getenv(name) else { return nil }
    let s = String(cString: v)
    return s.isEmpty ? nil : s
  }

  /// `20261125T140512Z`: UTC, sortable, safe in file names.
  static func timestampForFileName(_ date: Date = Date()) -> String {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: "UTC")
    f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
    return f.string(from: date)
  }

  static func isoTimestamp(_ date: Date = Date()) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: date)
  }

  /// Finds an executable on `$PATH`.
  static func which(_ name: String) -> String? {
    if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
    let path = environment("PATH") ?? "/usr/local/bin:/usr/bin:/bin"
    for dir in path.split(separator: ":") {
      let candidate = "\(dir)/\(name)"
      if access(candidate, X_OK) == 0 && isRegularFile(candidate) { return candidate }
    }
    return nil
  }
}

extension Posix {
  /// Spawns `argv` (argv[0] an absolute path) with stdin from /dev/null and
  /// stdout+stderr appended to `outputPath`; returns the child's pid. posix_spawn + waitpid
  /// (`Forensics.ChildProcess`) rather than Foundation's Process: a daemonizing child
  /// (QEMU -daemonize) leaves a grandchild holding inherited descriptors, which confuses
  /// Process's termination tracking.
  static func spawn(_ argv: [String], outputPath: String) throws(DriverError) -> pid_t {
    try spawn(argv, stdout: .appending(outputPath), stderr: .sameAsStdout)
  }

  /// Spawns `argv` with stdin from /dev/null, stdout and stderr where given; returns the pid.
  static func spawn(_ argv: [String], stdout: ChildProcess.Output, stderr: ChildProcess.Output) throws(DriverError) -> pid_t {
    do {
      return try ChildProcess.spawn(argv, stdout: stdout, stderr: stderr)
    } catch {
      throw .io(argv[0], "cannot start", errno: error.code)
    }
  }

  /// Waits up to `seconds` for child `pid`; returns its exit status (128+signal when killed),
  /// or nil on timeout (the child is left running).
  static func waitChild(_ pid: pid_t, seconds: Double) -> Int32? {
    let deadline = monotonicSeconds() + seconds
    var status: Int32 = 0
    while true {
      let r = waitpid(pid, &status, WNOHANG)
      if r == pid { return ChildProcess.exitStatus(waitStatus: status) }
      if r < 0 && errno != EINTR { return -1 }
      if monotonicSeconds() > deadline { return nil }
      sleep(seconds: 0.02)
    }
  }
}
