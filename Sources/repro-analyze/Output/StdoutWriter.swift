#if canImport(Glibc)
  import Glibc
#endif

/// Buffered writes to stdout (fd 1), retrying short writes; a closed pipe ends quietly.
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
    var done = 0
    while done < bytes.count {
      let n = Glibc.write(1, bytes.baseAddress! + done, bytes.count - done)
      if n < 0 {
        if errno == EINTR { continue }
        exit(0)  // EPIPE: the reader is gone
      }
      done += n
    }
  }

  func flush() {
    var done = 0
    while done < buffer.count {
      let n = buffer.withUnsafeBytes { Glibc.write(1, $0.baseAddress! + done, $0.count - done) }
      if n < 0 {
        if errno == EINTR { continue }
        // EPIPE (e.g. `| head`): the reader is gone; stop quietly.
        exit(0)
      }
      done += n
    }
    buffer.removeAll(keepingCapacity: true)
  }

  deinit { flush() }
}
