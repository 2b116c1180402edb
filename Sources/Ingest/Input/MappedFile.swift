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

  static let pageSize = 1 << 12

  /// Maps the pages of `from..<to` in one call (MADV_POPULATE_READ, Linux 5.14+) instead of one
  /// fault per 64 KiB; older kernels return EINVAL and the pages fault in as before.
  func populate(from: Int, to: Int) {
    guard let base, from < to else { return }
    let start = from / Self.pageSize * Self.pageSize
    _ = madvise(UnsafeMutableRawPointer(mutating: base + start), to - start, 22)
  }

  /// Drops the whole pages of `from..<to` from our resident set (MADV_DONTNEED); the page cache
  /// keeps them, so a later read faults them back in. Returns the end of what was dropped.
  @discardableResult
  func release(from: Int, to: Int) -> Int {
    let start = from / Self.pageSize * Self.pageSize
    let end = to / Self.pageSize * Self.pageSize
    guard let base, start < end else { return start }
    _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    return end
  }

  deinit {
    if let base { munmap(UnsafeMutableRawPointer(mutating: base), byteCount) }
  }
}
