#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
import CSupport

/// One physical line of input, lent to a callback. `bytes` is valid only during the callback.
public struct Line {
  /// Line content without the terminating `\n` and without one trailing `\r`.
  public var bytes: UnsafeBufferPointer<UInt8>
  /// 1-based line number.
  public var number: Int
  /// Byte offset of the first byte in the (decompressed) input.
  public var offset: Int
  /// True when the line was longer than the cap and was cut.
  public var isTruncated: Bool
}

/// An input log: a regular file (mapped), a pipe or stdin (buffered), or an `.xz` file
/// (streamed through liblzma). Picks the strategy; callers only see lines.
public final class LogSource {
  enum Backing {
    case mapped(MappedFile)
    case stream(ByteReader)
    case xz(XZDecoder)
    case gzip(GzipDecoder)
  }

  /// Display name: the path, or `-` for stdin.
  public let name: String
  let backing: Backing
  /// Size in bytes for regular files (compressed size for `.xz`), nil for pipes.
  public let byteCount: Int?
  /// Longest line kept; longer lines are cut and marked truncated.
  public var maxLineByteCount = 1 << 20

  /// Opens `path`, or stdin for `-`. Directories, devices and unreadable files are errors that
  /// name the path.
  public static func open(_ path: String) throws(IngestError) -> LogSource {
    if path == "-" {
      return LogSource(name: "-", backing: .stream(ByteReader(fd: 0, path: "-")), byteCount: nil)
    }
    var st = stat()
    guard stat(path, &st) == 0 else {
      throw .cannotOpen(path: path, reason: String(cString: strerror(errno)))
    }
    let type = st.st_mode & S_IFMT
    if type == S_IFDIR { throw .notAFile(path: path, what: "a directory") }
    if type != S_IFREG && type != S_IFIFO && type != S_IFCHR {
      throw .notAFile(path: path, what: "a special file")
    }
    let reader = try ByteReader(path: path)
    if type == S_IFREG && Self.hasXZMagic(reader) {
      return LogSource(
        name: path, backing: .xz(try XZDecoder(input: reader, path: path)), byteCount: Int(st.st_size))
    }
    if type == S_IFREG && Self.hasGzipMagic(reader) {
      return LogSource(
        name: path, backing: .gzip(try GzipDecoder(input: reader, path: path)), byteCount: Int(st.st_size))
    }
    if type == S_IFREG && st.st_size > 0 {
      let mapped = try MappedFile(fd: reader.fd, byteCount: Int(st.st_size), path: path)
      return LogSource(name: path, backing: .mapped(mapped), byteCount: Int(st.st_size))
    }
    return LogSource(name: path, backing: .stream(reader), byteCount: type == S_IFREG ? 0 : nil)
  }

  /// Wraps an in-memory buffer (tests, fuzzing).
  public static func bytes(_ bytes: [UInt8], name: String = "<memory>") -> LogSource {
    LogSource(name: name, backing: .stream(MemoryReader.make(bytes)), byteCount: bytes.count)
  }

  init(name: String, backing: Backing, byteCount: Int?) {
    self.name = name
    self.backing = backing
    self.byteCount = byteCount
  }

  /// True for `.xz` input (checked by magic bytes, not by name).
  public var isCompressed: Bool {
    switch backing {
    case .xz, .gzip: return true
    default: return false
    }
  }

  private static func hasGzipMagic(_ r: ByteReader) -> Bool {
    var magic = [UInt8](repeating: 0, count: 2)
    let n = magic.withUnsafeMutableBufferPointer { pread(r.fd, $0.baseAddress, 2, 0) }
    return n == 2 && magic == [0x1F, 0x8B]
  }

  private static func hasXZMagic(_ r: ByteReader) -> Bool {
    var magic = [UInt8](repeating: 0, count: 6)
    let n = magic.withUnsafeMutableBufferPointer { pread(r.fd, $0.baseAddress, 6, 0) }
    return n == 6 && magic == [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]
  }

  /// Calls `body` for every line, in order. `progress` (if given) receives the number of input
  /// bytes consumed so far, about every few MiB.
  public func forEachLine(
    progress: ((Int) -> Void)? = nil,
    _ body: (borrowing Line) throws -> Void
  ) throws {
    switch backing {
    case .mapped(let file):
      _ = try mappedLines(file, from: 0, to: file.byteCount, firstLine: 1, progress: progress) { line in
        try body(line)
        return true
      }
    case .stream(let reader):
      try streamLines(read: { (p, c) throws(IngestError) in try reader.read(into: p, capacity: c) }, progress: progress, body)
    case .xz(let decoder):
      try decompressedLines(read: { (p, c) throws(IngestError) in try decoder.read(into: p, capacity: c) }, progress: progress, body)
    case .gzip(let decoder):
      try decompressedLines(read: { (p, c) throws(IngestError) in try decoder.read(into: p, capacity: c) }, progress: progress, body)
    }
  }

  /// Compressed input: decoded on a second core ahead of the parse when there is one.
  private func decompressedLines(
    read: @escaping Prefetcher.Read, progress: ((Int) -> Void)?, _ body: (borrowing Line) throws -> Void
  ) throws {
    guard sysconf(Int32(_SC_NPROCESSORS_ONLN)) > 1, let ahead = Prefetcher.start(read) else {
      try streamLines(read: read, progress: progress, body)
      return
    }
    try withExtendedLifetime(ahead) {
      try streamLines(read: { (p, c) throws(IngestError) in try ahead.read(into: p, capacity: c) }, progress: progress, body)
    }
  }

  /// The mapped file, when the source is one (the two-core split needs random access).
  public var mappedFile: MappedFile? {
    if case .mapped(let f) = backing { return f }
    return nil
  }

  /// Mapped files only: the lines from byte `start` (a line start, numbered `firstLine`) up to
  /// byte `end` (a line start, or the end of the file), until `body` returns false. Returns the
  /// offset and number of the first line not consumed.
  public func forEachLine(
    from start: Int, to end: Int, firstLine: Int, progress: ((Int) -> Void)? = nil,
    _ body: (borrowing Line) throws -> Bool
  ) throws -> (offset: Int, line: Int) {
    guard let file = mappedFile else { throw IngestError.readFailed(path: name, reason: "not a mapped file") }
    return try mappedLines(file, from: start, to: end, firstLine: firstLine, progress: progress, body)
  }

  private struct StopScan: Error {}

  private func mappedLines(
    _ file: MappedFile, from start: Int, to limit: Int, firstLine: Int, progress: ((Int) -> Void)?,
    _ body: (borrowing Line) throws -> Bool
  ) throws -> (offset: Int, line: Int) {
    try file.withBytes { whole in
      // Walk the mapping in windows and drop consumed pages from our resident set: the page
      // cache keeps them, but peak RSS stays flat however large the file is.
      let buf = UnsafeBufferPointer(rebasing: whole[..<min(limit, whole.count)])
      let window = 4 << 20  // per reader; two readers run at once on a split file
      var pos = start
      var line = firstLine
      var released = start / MappedFile.pageSize * MappedFile.pageSize
      var stoppedAt: (offset: Int, line: Int)?
      // The line after `l` starts after its newline (its bytes may have been cut at the cap).
      func after(_ l: borrowing Line) -> (offset: Int, line: Int) {
        let nl = buf.find(byte: 0x0A, from: l.offset + l.bytes.count) ?? buf.count
        return (min(nl + 1, buf.count), l.number + 1)
      }
      func scan(_ l: borrowing Line) throws {
        if try !body(l) {
          stoppedAt = after(l)
          throw StopScan()
        }
      }
      do {
        while pos < buf.count {
          let end = min(buf.count, pos + window)
          let isFinal = end == buf.count
          file.populate(from: pos, to: end)
          let view = UnsafeBufferPointer(rebasing: buf[pos..<end])
          var used = try LineSplitter.split(
            view, baseOffset: pos, firstLine: line, isFinal: isFinal, cap: maxLineByteCount,
            progress: nil, scan, lineCounter: &line)
          if used == 0 && !isFinal {
            // One line longer than the window: emit it (cut at the cap) and skip to its end.
            let nl = buf.find(byte: 0x0A, from: end) ?? buf.count
            let len = min(nl - pos, maxLineByteCount)
            try scan(Line(bytes: UnsafeBufferPointer(rebasing: buf[pos..<pos + len]), number: line, offset: pos, isTruncated: nl - pos > maxLineByteCount))
            line += 1
            used = min(nl + 1, buf.count) - pos
          }
          pos += used
          progress?(pos)
          if pos / MappedFile.pageSize * MappedFile.pageSize - released >= window {
            released = file.release(from: released, to: pos)
          }
        }
      } catch is StopScan {
        return stoppedAt ?? (pos, line)
      }
      return (pos, line)
    }
  }

  private func streamLines(
    read: (UnsafeMutablePointer<UInt8>, Int) throws(IngestError) -> Int,
    progress: ((Int) -> Void)?,
    _ body: (borrowing Line) throws -> Void
  ) throws {
    let chunk = 1 << 20
    let capacity = chunk + maxLineByteCount + 1
    let buf = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
    defer { buf.deallocate() }
    var filled = 0  // bytes in buf
    var bufOffset = 0  // stream offset of buf[0]
    var lineNo = 1
    var skippingLongLine = false  // inside the tail of a line already emitted as truncated
    var eof = false
    while !eof {
      let n = try read(buf + filled, min(chunk, capacity - filled))
      if n == 0 { eof = true }
      filled += n
      var start = 0
      if skippingLongLine {
        // Drop bytes up to the end of the over-long line.
        if let nl = memchr(buf, 0x0A, filled) {
          let idx = UnsafeMutablePointer<UInt8>(nl.assumingMemoryBound(to: UInt8.self)) - buf
          start = idx + 1
          skippingLongLine = false
        } else {
          bufOffset += filled
          filled = 0
          continue
        }
      }
      let view = UnsafeBufferPointer(start: UnsafePointer(buf) + start, count: filled - start)
      let consumed = try LineSplitter.split(
        view, baseOffset: bufOffset + start, firstLine: lineNo, isFinal: eof,
        cap: maxLineByteCount, progress: nil, body, lineCounter: &lineNo)
      var used = start + consumed
      let rest = filled - used
      if !eof && rest >= maxLineByteCount {
        // A line longer than the cap with no newline yet: emit its head, skip the rest.
        let line = Line(
          bytes: UnsafeBufferPointer(start: UnsafePointer(buf) + used, count: maxLineByteCount),
          number: lineNo, offset: bufOffset + used, isTruncated: true)
        try body(line)
        lineNo += 1
        used = filled
        skippingLongLine = true
      }
      let remaining = filled - used
      if remaining > 0 && used > 0 { memmove(buf, buf + used, remaining) }
      bufOffset += used
      filled = remaining
      progress?(bufOffset)
    }
  }
}

/// Byte-level splitting of a buffer into lines (memchr for `\n`, strip one `\r`).
enum LineSplitter {
  /// Splits `buf`; returns the number of bytes consumed (complete lines, or everything when
  /// `isFinal`).
  @discardableResult
  static func split(
    _ buf: UnsafeBufferPointer<UInt8>, baseOffset: Int, firstLine: Int, isFinal: Bool, cap: Int,
    progress: ((Int) -> Void)?, _ body: (borrowing Line) throws -> Void
  ) throws -> Int {
    var n = firstLine
    return try split(
      buf, baseOffset: baseOffset, firstLine: firstLine, isFinal: isFinal, cap: cap,
      progress: progress, body, lineCounter: &n)
  }

  static func split(
    _ buf: UnsafeBufferPointer<UInt8>, baseOffset: Int, firstLine: Int, isFinal: Bool, cap: Int,
    progress: ((Int) -> Void)?, _ body: (borrowing Line) throws -> Void, lineCounter: inout Int
  ) throws -> Int {
    guard let base = buf.baseAddress, buf.count > 0 else { return 0 }
    let count = buf.count
    var pos = 0  // where the next line starts
    var scanned = 0  // bytes searched for newlines so far
    var lineNo = firstLine
    var nextProgress = 8 << 20
    // Line ends are found a batch at a time (`ra_find_newlines`), then walked.
    let capacity = 1024
    let ends = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
    defer { ends.deallocate() }
    @inline(__always) func emit(_ end: Int) throws {
      var len = end - pos
      while len > 0 && base[pos + len - 1] == 0x0D { len -= 1 }  // QEMU consoles emit "\r\r\n"
      var truncated = false
      if len > cap {
        len = cap
        truncated = true
      }
      try body(
        Line(
          bytes: UnsafeBufferPointer(start: base + pos, count: len), number: lineNo,
          offset: baseOffset + pos, isTruncated: truncated))
      lineNo += 1
      pos = end + 1
    }
    while scanned < count {
      var looked = 0
      let found = ra_find_newlines(base + scanned, count - scanned, ends, capacity, &looked)
      for k in 0..<found {
        try emit(scanned + Int(ends[k]))
      }
      scanned += looked
      if let progress, pos >= nextProgress {
        progress(baseOffset + pos)
        nextProgress = pos + (8 << 20)
      }
    }
    if pos < count && isFinal { try emit(count) }
    lineCounter = lineNo
    return min(pos, count)
  }
}

/// An in-memory byte stream behind a pipe-like reader (tests and fuzzing use it).
enum MemoryReader {
  static func make(_ bytes: [UInt8]) -> ByteReader {
    // A pipe would block on large inputs; an unlinked temp file keeps it simple and unbounded.
    var template = Array("/tmp/repro-analyze-input.XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    if fd >= 0 { template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) } }
    if fd >= 0 {
      var done = 0
      bytes.withUnsafeBufferPointer { b in
        while done < b.count {
          let n = write(fd, b.baseAddress! + done, b.count - done)
          if n <= 0 { break }
          done += n
        }
      }
      lseek(fd, 0, SEEK_SET)
      return ByteReader(fd: fd, path: "<memory>", ownsFD: true)
    }
    return ByteReader(fd: -1, path: "<memory>")
  }
}

