internal import CZlib

/// Streams a `.gz` file (concatenated members too, like `gzip -dc`) through zlib into caller
/// buffers. Owns its `z_stream` and ends it in `deinit`.
///
/// Threading: one decoder per thread.
public final class GzipDecoder {
  private var stream = z_stream()
  private let path: String
  private let input: ByteReader
  private let inBuffer: UnsafeMutablePointer<UInt8>
  private let inCapacity = 1 << 20
  private var inputEOF = false
  private var finished = false
  public private(set) var producedByteCount = 0

  init(input: ByteReader, path: String) throws(IngestError) {
    self.input = input
    self.path = path
    inBuffer = .allocate(capacity: inCapacity)
    guard ra_inflate_init_gzip(&stream) == Z_OK else {
      inBuffer.deallocate()
      throw .gzip(path: path, message: "inflateInit2 failed", offset: 0)
    }
  }

  deinit {
    inflateEnd(&stream)
    inBuffer.deallocate()
  }

  func read(into out: UnsafeMutablePointer<UInt8>, capacity: Int) throws(IngestError) -> Int {
    if finished { return 0 }
    stream.next_out = out
    stream.avail_out = UInt32(capacity)
    while stream.avail_out > 0 {
      if stream.avail_in == 0 && !inputEOF {
        let n = try input.read(into: inBuffer, capacity: inCapacity)
        if n == 0 { inputEOF = true }
        stream.next_in = inBuffer
        stream.avail_in = UInt32(n)
      }
      if stream.avail_in == 0 && inputEOF {
        // Input over: fine at a member boundary, truncation inside one.
        if memberDone {
          finished = true
          break
        }
        throw .gzip(path: path, message: "unexpected end of file (truncated)", offset: producedByteCount + capacity - Int(stream.avail_out))
      }
      let rc = inflate(&stream, Z_NO_FLUSH)
      if rc == Z_STREAM_END {
        memberDone = true
        // Another member may follow (`cat a.gz b.gz`).
        if stream.avail_in > 0 || !inputEOF {
          inflateReset(&stream)
          memberDone = stream.avail_in == 0
        }
        continue
      }
      memberDone = false
      guard rc == Z_OK || rc == Z_BUF_ERROR else {
        let msg = stream.msg.map { String(cString: $0) } ?? "zlib error \(rc)"
        throw .gzip(path: path, message: msg, offset: producedByteCount + capacity - Int(stream.avail_out))
      }
    }
    let n = capacity - Int(stream.avail_out)
    producedByteCount += n
    return n
  }

  private var memberDone = false
}
