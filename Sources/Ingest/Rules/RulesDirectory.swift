#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Finds the `rules/` directory: `--rules`, then `$REPRO_ANALYZE_RULES`, then next to the
/// installed binary (`../share/repro-analyze/rules`), then the nearest ancestor of the binary
/// or the working directory that has `rules/ingest.toml` (a source checkout).
public enum RulesDirectory {
  public static func locate(explicit: String? = nil) throws(IngestError) -> String {
    if let explicit { return try check(explicit) }
    if let env = getenv("REPRO_ANALYZE_RULES") { return try check(String(cString: env)) }
    var candidates: [String] = []
    if let exe = executableDirectory() {
      candidates.append(exe + "/../share/repro-analyze/rules")
      candidates.append(exe + "/rules")
      var dir = exe
      for _ in 0..<6 {
        candidates.append(dir + "/rules")
        dir += "/.."
      }
    }
    var cwd = "."
    for _ in 0..<4 {
      candidates.append(cwd + "/rules")
      cwd += "/.."
    }
    for c in candidates where isFile(c + "/ingest.toml") { return normalize(c) }
    throw .cannotOpen(
      path: "rules/", reason: "no rules directory found near the binary or the working directory")
  }

  /// Reads one file of the rules directory as text.
  public static func read(_ dir: String, _ name: String) throws(IngestError) -> String {
    let path = dir + "/" + name
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = buf.withUnsafeMutableBufferPointer { Glibc.read(fd, $0.baseAddress, 65536) }
      if n < 0 { throw .readFailed(path: path, reason: String(cString: strerror(errno))) }
      if n == 0 { break }
      out.append(contentsOf: buf[0..<n])
    }
    return String(decoding: out, as: UTF8.self)
  }

  static func check(_ dir: String) throws(IngestError) -> String {
    guard isFile(dir + "/ingest.toml") else {
      throw .cannotOpen(path: dir, reason: "not a rules directory (no ingest.toml)")
    }
    return dir
  }

  static func isFile(_ p: String) -> Bool {
    var st = stat()
    return stat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
  }

  static func executableDirectory() -> String? {
    var buf = [Int8](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, 4095)
    guard n > 0 else { return nil }
    let path = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    guard let slash = path.lastIndex(of: "/") else { return nil }
    return String(path[..<slash])
  }

  static func normalize(_ p: String) -> String {
    var buf = [Int8](repeating: 0, count: 4096)
    guard realpath(p, &buf) != nil else { return p }
    return String(cString: buf)
  }
}
