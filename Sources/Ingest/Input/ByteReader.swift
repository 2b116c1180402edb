#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Owns a file descriptor open for reading; closes it in `deinit`. Retries `EINTR`.
final class ByteReader {
  let fd: Int32
  let path: String
  private let ownsFD: Bool

  init(path: String) throws(IngestError) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
      throw .cannotOpen(path: path, reason: String(cString: strerror(errno)))
    }
    self.fd = fd
    self.path = path
    self.ownsFD = true
  }

  init(fd: Int32, path: String, ownsFD: Bool = false) {
    self.fd = fd
    self.path = path
    self.ownsFD = ownsFD
  }

  deinit { if ownsFD { close(fd) } }

  func read(into buf: UnsafeMutablePointer<UInt8>, capacity: Int) throws(IngestError) -> Int {
    while true {
      let n = Glibc.read(fd, buf, capacity)
      if n >= 0 { return n }
      if errno == EINTR { continue }
      throw .readFailed(path: path, reason: String(cString: strerror(errno)))
    }
  }
}

/// Writes a file under a temporary name and renames it into place, so nothing is ever
/// half-written under its final name.
public final class FileWriter {
  let fd: Int32
  public let path: String
  private var closed = false

  public init(path: String, append: Bool = false) throws(IngestError) {
    let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC)
    let fd = open(path, flags, 0o644)
    guard fd >= 0 else {
      throw .cannotOpen(path: path, reason: String(cString: strerror(errno)))
    }
    self.fd = fd
    self.path = path
  }

  deinit { if !closed { Glibc.close(fd) } }

  public func write(_ buf: UnsafePointer<UInt8>, count: Int) throws(IngestError) {
    var done = 0
    while done < count {
      let n = Glibc.write(fd, buf + done, count - done)
      if n < 0 {
        if errno == EINTR { continue }
        throw .readFailed(path: path, reason: "write: " + String(cString: strerror(errno)))
      }
      done += n
    }
  }

  public func write(_ bytes: [UInt8]) throws(IngestError) {
    try bytes.withUnsafeBufferPointer { (b) throws(IngestError) in
      if let base = b.baseAddress { try write(base, count: b.count) }
    }
  }

  public func close() throws(IngestError) {
    guard !closed else { return }
    closed = true
    if fsync(fd) != 0 && errno != EINVAL {
      Glibc.close(fd)
      throw .readFailed(path: path, reason: "fsync: " + String(cString: strerror(errno)))
    }
    if Glibc.close(fd) != 0 {
      throw .readFailed(path: path, reason: "close: " + String(cString: strerror(errno)))
    }
  }

  public func rename(to final: String) throws(IngestError) {
    if Glibc.rename(path, final) != 0 {
      throw .readFailed(path: final, reason: "rename: " + String(cString: strerror(errno)))
    }
  }

  /// Closes and deletes the partial file (after an error).
  public func discard() {
    if !closed {
      closed = true
      Glibc.close(fd)
    }
    unlink(path)
  }
}
