#if canImport(Glibc)
  import Glibc
#endif
import CSupport

/// Buffered writes to stdout (fd 1), retrying short writes. A closed pipe (`| head`) ends the
/// run quietly; any other write error (a full disk) ends it with a message and status 2, so
/// a truncated output never looks like success.
final class StdoutWriter {
  private var buffer: [UInt8] = []

  init() { buffer.reserveCapacity(1 << 17) }

  func write(_ bytes: [UInt8]) {
    buffer.append(contentsOf: bytes)
    if buffer.count >= 1 << 16 { flush() }
  }

  func write(_ s: String) { write(Array(s.utf8)) }

  /// Writes borrowed bytes (large JSON Lines batches) without copying them into the buffer.
  func write(_ bytes: UnsafeBufferPointer<UInt8>) {
    flush()
    if let base = bytes.baseAddress { Self.writeAll(base, bytes.count) }
  }

  func flush() {
    buffer.withUnsafeBufferPointer { if let base = $0.baseAddress { Self.writeAll(base, $0.count) } }
    buffer.removeAll(keepingCapacity: true)
  }

  deinit { flush() }

  /// Writes all of `p[0..<n]` to fd 1 or ends the process (see the type's comment). A
  /// non-blocking stdout that is full is waited for.
  static func writeAll(_ p: UnsafePointer<UInt8>, _ n: Int) {
    var done = 0
    while done < n {
      let w = Glibc.write(1, p + done, n - done)
      if w > 0 {
        done += w
        continue
      }
      if w < 0 && errno == EINTR { continue }
      if w < 0 && errno == EAGAIN {
        waitUntilWritable()
        continue
      }
      failed(w < 0 ? errno : EIO)
    }
  }

  /// A non-blocking stdout that is full (EAGAIN): waits until its reader has made room.
  static func waitUntilWritable() {
    var pfd = pollfd(fd: 1, events: Int16(POLLOUT), revents: 0)
    _ = poll(&pfd, 1, -1)
  }

  /// Flushes what `print` wrote (C stdout) and ends the run as `failed` does when any of it
  /// could not be written: a full disk is an error, not success.
  static func checkPrinted() {
    let failure = ra_flush_stdout()
    if failure != 0 { failed(failure) }
  }

  /// Ends the run after a failed write to stdout: quietly for a reader that went away.
  static func failed(_ code: Int32) -> Never {
    if code == EPIPE { exit(0) }
    fail("cannot write to standard output: \(String(cString: strerror(code)))")
  }
}
