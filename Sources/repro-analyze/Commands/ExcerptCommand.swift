import ArgumentParser
import Forensics
import Foundation
import Ingest

#if canImport(Glibc)
  import Glibc
#endif

/// `repro-analyze excerpt`: a redacted, size-capped excerpt that is safe to share.
struct ExcerptCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "excerpt",
    abstract: "Write a redacted, size-capped excerpt of a log that is safe to share.",
    discussion: """
      Keeps the crash reports, the lock evidence and a little context.
      Replaces IP and MAC addresses, host and user names, e-mails,
      UUIDs/serials, tokens, kernel pointers and the KASLR offset with
      consistent pseudonyms (rules/redact.toml). With --key FILE the
      pseudonyms are the same across excerpts; the file is created with a
      random key if missing (keep it private). A summary goes to stderr.

      Example:
        repro-analyze excerpt --key ~/.excerpt.key -o share.txt serial.log
      """)

  @Argument(help: "Log file, or - for stdin.") var file: String
  @Option(name: .shortAndLong, help: "Output file (default: stdout).") var output: String?
  @Option(name: .customLong("max-bytes"), help: "Cap on the excerpt's size in bytes.")
  var maxBytes: Int = 5 << 20
  @Option(name: .long, help: "Key file for keyed pseudonyms (created if missing).") var key: String?
  @Option(name: .long, help: "A literal string to redact everywhere (repeatable).")
  var keyword: [String] = []
  @Option(name: .long, help: "Lines of context kept before each report.") var context: Int = 3
  @OptionGroup var rulesOptions: RulesOptions

  func validate() throws {
    if maxBytes < 1024 { throw ValidationError("--max-bytes must be at least 1024") }
    if context < 0 { throw ValidationError("--context must be >= 0") }
  }

  func run() throws {
    runOrFail {
      let dir = try RulesDirectory.locate(explicit: rulesOptions.rules)
      let redactor = Redactor(
        rules: try RedactionRules.load(rulesDirectory: dir), key: try loadKey(), keywords: keyword)
      // stdin can be read only once; the excerpt needs three passes.
      let stdinBytes: [UInt8]? = file == "-" ? try readAll(fd: 0) : nil
      let open: () throws -> LogSource = {
        if let stdinBytes { return LogSource.bytes(stdinBytes, name: "-") }
        return try LogSource.open(file)
      }
      // Events are consumed as they are parsed (ranges + compact lock evidence), not kept.
      var acc = LockEvidenceAccumulator(rules: try ForensicsInput.lockRules(dir))
      var ranges: [LineRange] = []
      let context = self.context
      try ForensicsInput.stream(try open(), file: file, rulesDirectory: dir) { e in
        acc.add(e)
        ranges += ExcerptPlanner.ranges(for: e, context: context)
      }
      let locks = acc.finish()
      let evidence = locks.blocked.flatMap(\.evidence) + locks.cycles.flatMap(\.evidence)
      let plan = ExcerptPlanner.merge(ranges + evidence.map { LineRange(first: $0, last: $0, tier: 1) })
      let name = redactor.redact(String(file.split(separator: "/").last ?? "-"))
      let header =
        "# repro-analyze excerpt of \(name): redacted with keyed pseudonyms (mapping not included)\n"

      var sink = try OutputSink(path: output)
      let result = try ExcerptWriter.write(
        open: open, plan: plan, maxBytes: maxBytes, redactor: redactor, header: header
      ) { sink.write($0) }
      try sink.finish()

      var msg =
        "excerpt: kept \(result.keptLines) of \(result.totalLines) lines, \(result.byteCount) bytes"
        + (result.isCapped ? " (capped at --max-bytes \(maxBytes))" : "") + "\n"
      if result.redactions.isEmpty {
        msg += "redacted: nothing matched the rules\n"
      } else {
        msg += "redacted:\n"
        for r in result.redactions {
          msg += "  \(r.kind.padding(toLength: 16, withPad: " ", startingAt: 0)) \(r.count) (\(r.distinct) distinct)\n"
        }
      }
      Terminal.writeStderr(msg)
    }
  }

  /// The key: from --key FILE (created with 32 random bytes, mode 0600, if missing), else a
  /// random per-run key (pseudonyms consistent within this excerpt only).
  func loadKey() throws -> [UInt8] {
    guard let key else { return try randomBytes(32) }
    if FileManager.default.fileExists(atPath: key) {
      let fd = open(key, O_RDONLY | O_CLOEXEC)
      guard fd >= 0 else { throw ExcerptError("\(key): cannot read key file: \(String(cString: strerror(errno)))") }
      defer { close(fd) }
      let bytes = try readAll(fd: fd)
      guard bytes.count >= 16 else {
        throw ExcerptError("\(key): key file holds \(bytes.count) bytes, need at least 16\n  hint: delete it to have a new random key created")
      }
      return bytes
    }
    let bytes = try randomBytes(32)
    let fd = open(key, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw ExcerptError("\(key): cannot create key file: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
      throw ExcerptError("\(key): cannot write key file")
    }
    Terminal.writeStderr("excerpt: created key file \(key) (keep it private; reuse it for consistent pseudonyms)\n")
    return bytes
  }

  func randomBytes(_ n: Int) throws -> [UInt8] {
    // SystemRandomNumberGenerator is the OS CSPRNG (getrandom(2) on Linux).
    var g = SystemRandomNumberGenerator()
    return (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) }
  }
}

struct ExcerptError: Error, CustomStringConvertible {
  var description: String
  init(_ d: String) { description = d }
}

/// Reads a file descriptor to its end.
func readAll(fd: Int32) throws -> [UInt8] {
  var out: [UInt8] = []
  var buf = [UInt8](repeating: 0, count: 1 << 16)
  while true {
    let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    if n < 0 { throw ExcerptError("read failed: \(String(cString: strerror(errno)))") }
    if n == 0 { return out }
    out += buf[0..<n]
  }
}

/// Stdout, or a file written as `FILE.part` and renamed when complete (no half-written excerpt).
struct OutputSink {
  let path: String?
  let fd: Int32
  var failed = false

  init(path: String?) throws {
    self.path = path
    if let path, path != "-" {
      fd = open(path + ".part", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
      guard fd >= 0 else { throw ExcerptError("\(path): cannot create: \(String(cString: strerror(errno)))") }
    } else {
      fd = 1
    }
  }

  mutating func write(_ bytes: [UInt8]) {
    var done = 0
    bytes.withUnsafeBytes { b in
      while done < b.count {
        let n = Glibc.write(fd, b.baseAddress! + done, b.count - done)
        if n <= 0 { failed = true; return }
        done += n
      }
    }
  }

  func finish() throws {
    guard let path, path != "-" else { return }
    close(fd)
    if failed {
      unlink(path + ".part")
      throw ExcerptError("\(path): write failed (disk full?)")
    }
    guard rename(path + ".part", path) == 0 else {
      throw ExcerptError("\(path): cannot rename from \(path).part: \(String(cString: strerror(errno)))")
    }
  }
}
