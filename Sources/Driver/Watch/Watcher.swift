import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// One thing `watch` saw. Streamed as JSON Lines with `--jsonl` (snake_case keys, sorted).
public struct WatchEvent: Sendable, Codable, Equatable {
  /// `match`, `report`, `archive`, `truncated`, `recreated`, `waiting`.
  public var event: String
  public var file: String
  public var line: Int?
  public var offset: Int?
  public var pattern: String?
  public var text: String?
  public var kind: String?
  public var title: String?
  public var archives: [String]?
  public var time: String

  init(_ event: String, file: String) {
    self.event = event
    self.file = file
    time = Posix.isoTimestamp()
  }
}

/// Turns a crash report's text into its syzbot-style title.
///
/// TODO(lead): the title engine (Sources/Forensics/Title) is not on main yet. Once it lands,
/// conform an adapter to this protocol and pass it to `Watcher` in WatchCommand; until then
/// `watch` prints the report's headline line as it appears in the log.
public protocol ReportTitling: Sendable {
  func title(reportText: String) -> String?
}

public struct WatchOptions: Sendable {
  public var logPath: String
  /// Where watch_patterns.log and the archives go (the bundle, or the log's directory).
  public var outputDirectory: String
  /// Start at the current end of the log (like `tail -n 0 -F`) instead of its beginning.
  public var fromEnd = false
  /// Exit after the first archive has been written.
  public var exitAfterArchive = false
  /// Exit after this many seconds (nil = run until interrupted).
  public var timeout: Double?

  public init(logPath: String, outputDirectory: String) {
    self.logPath = logPath
    self.outputDirectory = outputDirectory
  }

  /// `watch BUNDLE` reads BUNDLE/qemu-serial.log; `watch LOG` writes next to LOG.
  public static func resolve(_ target: String) -> WatchOptions {
    if Posix.isDirectory(target) {
      let dir = Posix.absolute(target)
      return WatchOptions(logPath: dir + "/" + BundleFiles.serialLog, outputDirectory: dir)
    }
    let abs = Posix.absolute(target)
    return WatchOptions(logPath: abs, outputDirectory: (abs as NSString).deletingLastPathComponent)
  }
}

/// Follows a growing serial log the way `tail -F | egrep --line-buffered | tee -a` did, but
/// survives truncation and recreation, reports in JSON, and archives each crash report.
///
/// The log is polled every few milliseconds (rules: `poll_milliseconds`): a poll is a `stat`
/// plus a `read` of whatever is new, which costs nothing measurable and works on every file
/// system (inotify misses writes on 9p and NFS mounts). New bytes are searched as one block
/// with the combined pattern, so lines that match nothing are never decoded or copied.
public final class Watcher {
  let options: WatchOptions
  let rules: WatchRules
  let titler: ReportTitling?
  let sink: (WatchEvent) -> Void

  private var fd: Int32 = -1
  private var identity: (dev: UInt64, ino: UInt64)?
  private var offset = 0
  /// Number of the next complete line to be processed (1-based).
  private var lineNumber = 1
  /// Bytes of a line whose newline has not arrived yet.
  private var partial: [UInt8] = []
  private var partialOffset = 0
  private var watchLogFD: Int32 = -1
  /// This session's matched lines, for watch_patterns.panic.<ts>.log (capped).
  private var sessionMatches: [UInt8] = []
  private var incident: Incident?
  private var lastGrowth = 0.0
  /// Read buffer, reused: the log is polled 50 times a second.
  private var chunk = [UInt8](repeating: 0, count: 1 << 20)
  public private(set) var archivesWritten: [[String]] = []

  struct Incident {
    var kind: String
    var headline: String
    var line: Int
    var offset: Int
    var started: Double
    var settled = false
  }

  static let maxLineByteCount = 1 << 20
  static let sessionMatchCap = 4 << 20

  public init(options: WatchOptions, rules: WatchRules, titler: ReportTitling? = nil, sink: @escaping (WatchEvent) -> Void) {
    self.options = options
    self.rules = rules
    self.titler = titler
    self.sink = sink
  }

  deinit {
    if fd >= 0 { close(fd) }
    if watchLogFD >= 0 { close(watchLogFD) }
  }

  public func run() throws(DriverError) {
    let started = Posix.monotonicSeconds()
    guard Posix.isDirectory(options.outputDirectory) else {
      throw DriverError("\(options.outputDirectory): no such directory (watching \(options.logPath))",
        hint: "pass a bundle directory or the path of a serial log in an existing directory")
    }
    if Posix.isDirectory(options.logPath) {
      throw DriverError("\(options.logPath): is a directory, not a log", hint: "pass the bundle directory itself or a log file")
    }
    let watchLog = options.outputDirectory + "/" + BundleFiles.watchLog
    watchLogFD = open(watchLog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    guard watchLogFD >= 0 else { throw .io(watchLog, "cannot open for appending", errno: errno) }
    var announcedWaiting = false
    var first = true
    while true {
      if fd < 0 {
        if openLog(atEnd: first && options.fromEnd) {
          first = false
        } else if !announcedWaiting {
          sink(WatchEvent("waiting", file: options.logPath))
          announcedWaiting = true
        }
      }
      if fd >= 0 {
        try checkIdentity()
        try readNewBytes()
      }
      try maybeArchive()
      if options.exitAfterArchive && !archivesWritten.isEmpty { return }
      if let t = options.timeout, Posix.monotonicSeconds() - started >= t {
        if incident != nil { try archive() }
        return
      }
      Posix.sleep(seconds: Double(rules.pollMilliseconds) / 1000)
    }
  }

  /// Opens the log if it exists; remembers its identity to notice recreation.
  private func openLog(atEnd: Bool) -> Bool {
    let f = open(options.logPath, O_RDONLY | O_CLOEXEC)
    guard f >= 0 else { return false }
    var st = stat()
    fstat(f, &st)
    fd = f
    identity = (UInt64(st.st_dev), UInt64(st.st_ino))
    offset = 0
    lineNumber = 1
    partial.removeAll(keepingCapacity: true)
    partialOffset = 0
    if atEnd {
      // Like `tail -n 0`: skip what is there, but keep counting lines for correct numbers.
      let size = Int(st.st_size)
      var buf = [UInt8](repeating: 0, count: 1 << 16)
      while offset < size {
        let n = buf.withUnsafeMutableBytes { read(f, $0.baseAddress, min($0.count, size - offset)) }
        guard n > 0 else { break }
        buf.withUnsafeBufferPointer { b in
          for i in 0..<n where b[i] == 0x0A {
            lineNumber += 1
            partialOffset = offset + i + 1
          }
        }
        offset += n
      }
      // An unterminated last line is skipped too.
      partialOffset = offset
    }
    return true
  }

  /// Detects truncation (size below our offset) and recreation (a new inode at the path).
  private func checkIdentity() throws(DriverError) {
    guard let st = Posix.fileStat(options.logPath) else {
      // Deleted: finish reading the old file; a new one will be picked up when it appears.
      return
    }
    if let id = identity, id.dev != UInt64(st.st_dev) || id.ino != UInt64(st.st_ino) {
      try readNewBytes()
      flushPartial()
      close(fd)
      fd = -1
      var e = WatchEvent("recreated", file: options.logPath)
      e.text = "the log was replaced by a new file; reading it from the start"
      sink(e)
      _ = openLog(atEnd: false)
      return
    }
    if Int(st.st_size) < offset {
      var e = WatchEvent("truncated", file: options.logPath)
      e.offset = Int(st.st_size)
      e.text = "the log shrank from \(offset) to \(st.st_size) bytes; reading from the start"
      sink(e)
      lseek(fd, 0, SEEK_SET)
      offset = 0
      lineNumber = 1
      partial.removeAll(keepingCapacity: true)
      partialOffset = 0
    }
  }

  private func readNewBytes() throws(DriverError) {
    while true {
      let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 {
        if errno == EINTR { continue }
        throw .io(options.logPath, "read failed", errno: errno)
      }
      if n == 0 { return }
      lastGrowth = Posix.monotonicSeconds()
      offset += n
      process(chunk[0..<n])
    }
  }

  /// Appends new bytes to the partial line and scans every complete line in one pass.
  private func process(_ bytes: ArraySlice<UInt8>) {
    partial.append(contentsOf: bytes)
    guard let lastNL = partial.lastIndex(of: 0x0A) else {
      if partial.count > Self.maxLineByteCount { flushPartial() }
      return
    }
    let complete = lastNL + 1
    scan(count: complete)
    partialOffset += complete
    partial.removeFirst(complete)
  }

  /// A line without a newline that grew past the cap (or ends the file being replaced) is
  /// scanned as if terminated.
  private func flushPartial() {
    guard !partial.isEmpty else { return }
    partial.append(0x0A)
    scan(count: partial.count)
    partialOffset += partial.count - 1
    partial.removeAll(keepingCapacity: true)
  }

  /// Scans `partial[0..<count]` (whole lines): the combined regex finds candidates, then the
  /// line around each hit is classified by the first pattern that matches it alone.
  private func scan(count: Int) {
    var hits: [(line: Int, start: Int, end: Int, pattern: WatchPattern)] = []
    partial.withUnsafeBufferPointer { all in
      let buf = UnsafeBufferPointer(rebasing: all[0..<count])
      var pos = 0
      var counted = 0
      var line = lineNumber
      while pos < count, let m = rules.combined.match(buf, from: pos), let r = m[0] {
        var start = r.lowerBound
        while start > 0 && buf[start - 1] != 0x0A { start -= 1 }
        var end = r.lowerBound
        while end < count && buf[end] != 0x0A { end += 1 }
        // Count newlines up to this line for its number (only between hits).
        for i in counted..<start where buf[i] == 0x0A { line += 1 }
        counted = start
        let lineBuf = UnsafeBufferPointer(rebasing: buf[start..<end])
        if let p = rules.classify(lineBuf) { hits.append((line, start, end, p)) }
        pos = end + 1
      }
      for i in counted..<count where buf[i] == 0x0A { line += 1 }
      lineNumber = line
    }
    for h in hits { emitMatch(line: h.line, start: h.start, end: h.end, pattern: h.pattern) }
  }

  private func emitMatch(line: Int, start: Int, end: Int, pattern: WatchPattern) {
    var e = end
    if e > start && partial[e - 1] == 0x0D { e -= 1 }
    let raw = Array(partial[start..<e])
    // tee -a watch_patterns.log: the raw line, as egrep printed it.
    var out = raw
    out.append(0x0A)
    out.withUnsafeBytes { _ = write(watchLogFD, $0.baseAddress, $0.count) }
    if sessionMatches.count + out.count <= Self.sessionMatchCap { sessionMatches.append(contentsOf: out) }
    let text = String(decoding: raw, as: UTF8.self)
    var ev = WatchEvent("match", file: options.logPath)
    ev.line = line
    ev.offset = partialOffset + start
    ev.pattern = pattern.name
    ev.text = text
    sink(ev)
    if let kind = pattern.report {
      var r = WatchEvent("report", file: options.logPath)
      r.line = line
      r.offset = partialOffset + start
      r.kind = kind
      r.title = Self.headline(text)
      sink(r)
    }
    if pattern.archives {
      if incident == nil {
        incident = Incident(kind: pattern.report ?? pattern.name, headline: Self.headline(text), line: line,
          offset: partialOffset + start, started: Posix.monotonicSeconds())
      } else if pattern.report == "panic" {
        incident!.kind = "panic"
      }
    }
    if pattern.settles { incident?.settled = true }
  }

  /// The report line without its printk prefix (`[  10.93] `, `[ T123] `, `<4>`).
  static func headline(_ line: String) -> String {
    var s = Substring(line)
    while true {
      let t = s.drop { $0 == " " }
      if t.hasPrefix("["), let close = t.firstIndex(of: "]") {
        let inner = t[t.index(after: t.startIndex)..<close].trimmingCharacters(in: .whitespaces)
        if !inner.isEmpty && inner.allSatisfy({ $0.isNumber || $0 == "." || $0 == "T" || $0 == "C" }) {
          s = t[t.index(after: close)...]
          continue
        }
      }
      if t.hasPrefix("<"), let close = t.firstIndex(of: ">"), t.distance(from: t.startIndex, to: close) <= 4 {
        s = t[t.index(after: close)...]
        continue
      }
      return String(t).trimmingCharacters(in: .whitespaces)
    }
  }

  // MARK: archives

  private func maybeArchive() throws(DriverError) {
    guard let inc = incident else { return }
    let now = Posix.monotonicSeconds()
    let quiet = now - max(lastGrowth, inc.started) >= rules.settleSeconds
    if inc.settled || quiet || now - inc.started >= rules.maxDelaySeconds {
      try archive()
    }
  }

  /// Writes qemu-serial.panic.<ts>.log (the log so far), watch_patterns.panic.<ts>.log (this
  /// session's matches) and execprog_stream.tail.<ts>.log (a small tail, when a stream exists).
  private func archive() throws(DriverError) {
    guard let inc = incident else { return }
    incident = nil
    let dir = options.outputDirectory
    var ts = Posix.timestampForFileName()
    var n = 2
    while Posix.exists("\(dir)/qemu-serial.panic.\(ts).log") {
      ts = Posix.timestampForFileName() + "-\(n)"
      n += 1
    }
    var written: [String] = []
    let serialArchive = "\(dir)/qemu-serial.panic.\(ts).log"
    let logBytes = try Posix.readFile(options.logPath, limit: Int.max)
    try Posix.writeAtomically(serialArchive, logBytes)
    written.append(serialArchive)
    let matchesArchive = "\(dir)/watch_patterns.panic.\(ts).log"
    try Posix.writeAtomically(matchesArchive, sessionMatches)
    written.append(matchesArchive)
    let stream = dir + "/" + BundleFiles.execprogStream
    if Posix.isRegularFile(stream) {
      var tail = Array(try Posix.readFile(stream, limit: Int.max).suffix(rules.execprogTailByteCount))
      // Start at a line boundary so the tail reads cleanly.
      if tail.count == rules.execprogTailByteCount, let nl = tail.firstIndex(of: 0x0A) { tail.removeFirst(nl + 1) }
      let tailArchive = "\(dir)/execprog_stream.tail.\(ts).log"
      try Posix.writeAtomically(tailArchive, tail)
      written.append(tailArchive)
    }
    var title = inc.headline
    if let titler, inc.offset < logBytes.count {
      let text = String(decoding: logBytes[inc.offset..<min(logBytes.count, inc.offset + (256 << 10))], as: UTF8.self)
      title = titler.title(reportText: text) ?? inc.headline
    }
    var e = WatchEvent("archive", file: options.logPath)
    e.kind = inc.kind
    e.line = inc.line
    e.offset = inc.offset
    e.title = title
    e.archives = written
    sink(e)
    archivesWritten.append(written)
  }
}
