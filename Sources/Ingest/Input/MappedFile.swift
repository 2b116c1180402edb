#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Owns one read-only `mmap` of a whole regular file; unmaps it in `deinit`.
///
/// Threading: immutable after init, so it can be read from several threads.
public final class MappedFile: @unchecked Sendable {
  // SAFETY: the mapping is read-only and never changes after init; @unchecked is needed only
  // because of the raw pointer.
  public let base: UnsafePointer<UInt8>?
  public let byteCount: Int

  public init(fd: Int32, byteCount: Int, path: String) throws(IngestError) {
    self.byteCount = byteCount
    if byteCount == 0 {
      base = nil
      return
    }
    let p = mmap(nil, byteCount, PROT_READ, MAP_PRIVATE, fd, 0)
    guard let p, p != MAP_FAILED else {
      throw .readFailed(path: path, reason: "mmap: " + String(cString: strerror(errno)))
    }
    _ = madvise(p, byteCount, MADV_SEQUENTIAL)
    base = UnsafePointer(p.assumingMemoryBound(to: UInt8.self))
  }

  /// Lend the mapped bytes to `body`; the pointer must not escape it.
  public func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
    try body(UnsafeBufferPointer(start: base, count: byteCount))
  }

  deinit {
    if let base { munmap(UnsafeMutableRawPointer(mutating: base), byteCount) }
  }
}
