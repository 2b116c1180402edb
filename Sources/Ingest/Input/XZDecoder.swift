internal import CLZMA

/// Streams an `.xz` file (all concatenated streams) through liblzma into caller buffers; no
/// temporary file. Owns its `lzma_stream` and ends it in `deinit`.
///
/// Threading: one decoder per thread.
public final class XZDecoder {
  private var stream: lzma_stream
  private let path: String
  private let input: ByteReader
  private var inBuffer: UnsafeMutablePointer<UInt8>
  private let inCapacity = 1 << 20
  private var finished = false
  private var inputEOF = false
  /// Decompressed bytes produced so far (for error messages).
  public private(set) var producedByteCount = 0

  init(input: ByteReader, path: String) throws(IngestError) {
    self.input = input
    self.path = path
    stream = ra_lzma_stream_init()
    inBuffer = .allocate(capacity: inCapacity)
    // LZMA_CONCATENATED: `xz` itself accepts concatenated streams, so must we.
    let rc = lzma_stream_decoder(&stream, UInt64.max, ra_lzma_concatenated())
    guard rc == LZMA_OK else {
      inBuffer.deallocate()
      throw .xz(path: path, function: "lzma_stream_decoder", code: Self.name(rc), offset: 0)
    }
  }

  deinit {
    lzma_end(&stream)
    inBuffer.deallocate()
  }

  /// Fills `out` with up to `capacity` decompressed bytes; returns 0 at the end of the data.
  func read(into out: UnsafeMutablePointer<UInt8>, capacity: Int) throws(IngestError) -> Int {
    if finished { return 0 }
    stream.next_out = out
    stream.avail_out = capacity
    while stream.avail_out > 0 {
      if stream.avail_in == 0 && !inputEOF {
        let n = try input.read(into: inBuffer, capacity: inCapacity)
        if n == 0 { inputEOF = true }
        stream.next_in = UnsafePointer(inBuffer)
        stream.avail_in = n
      }
      let rc = lzma_code(&stream, inputEOF ? LZMA_FINISH : LZMA_RUN)
      if rc == LZMA_STREAM_END {
        finished = true
        break
      }
      guard rc == LZMA_OK else {
        let produced = capacity - stream.avail_out
        throw .xz(
          path: path, function: "lzma_code", code: Self.name(rc),
          offset: producedByteCount + produced)
      }
      if inputEOF && stream.avail_in == 0 && stream.avail_out > 0 {
        // LZMA_FINISH with no more input and no STREAM_END means truncation; lzma_code reports
        // LZMA_BUF_ERROR on the next call, so loop once more to surface it.
        continue
      }
    }
    let n = capacity - stream.avail_out
    producedByteCount += n
    return n
  }

  static func name(_ rc: lzma_ret) -> String {
    switch rc {
    case LZMA_OK: "LZMA_OK"
    case LZMA_STREAM_END: "LZMA_STREAM_END"
    case LZMA_MEM_ERROR: "LZMA_MEM_ERROR"
    case LZMA_MEMLIMIT_ERROR: "LZMA_MEMLIMIT_ERROR"
    case LZMA_FORMAT_ERROR: "LZMA_FORMAT_ERROR (not an xz file)"
    case LZMA_OPTIONS_ERROR: "LZMA_OPTIONS_ERROR"
    case LZMA_DATA_ERROR: "LZMA_DATA_ERROR (corrupt data)"
    case LZMA_BUF_ERROR: "LZMA_BUF_ERROR (truncated input)"
    case LZMA_PROG_ERROR: "LZMA_PROG_ERROR"
    default: "lzma_ret(\(rc.rawValue))"
    }
  }
}

/// Decompresses a whole `.xz` file to `destination` via `destination.part`, renaming only on
/// success. Used by `prepare` for disk images, bzImage and vmlinux.
public func decompressXZFile(from source: String, to destination: String) throws(IngestError) {
  let reader = try ByteReader(path: source)
  let decoder = try XZDecoder(input: reader, path: source)
  let part = destination + ".part"
  let out = try FileWriter(path: part)
  let cap = 1 << 20
  let buf = UnsafeMutablePointer<UInt8>.allocate(capacity: cap)
  defer { buf.deallocate() }
  do {
    while true {
      let n = try decoder.read(into: buf, capacity: cap)
      if n == 0 { break }
      try out.write(buf, count: n)
    }
    try out.close()
    try out.rename(to: destination)
  } catch {
    out.discard()
    throw error
  }
}
