import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// MD5 (RFC 1321), only to check downloads against the `x-goog-hash: md5=…` header that the
/// syzbot-assets bucket (Google Cloud Storage) sends. Not for security: the value guards against
/// truncated or mixed-up transfers, which is all the header promises. Streaming, so a multi-GiB
/// disk image is hashed in constant memory.
struct MD5 {
  private var state: (UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476)
  private var buffer: [UInt8] = []
  private var byteCount: UInt64 = 0

  private static let shifts: [UInt32] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
  ]
  /// floor(abs(sin(i + 1)) * 2^32), as in the RFC.
  private static let table: [UInt32] = (0..<64).map { i in
    UInt32(truncatingIfNeeded: Int64((abs(sin(Double(i + 1))) * 4_294_967_296.0).rounded(.down)))
  }

  mutating func update(_ bytes: UnsafeRawBufferPointer) {
    byteCount += UInt64(bytes.count)
    var i = 0
    if !buffer.isEmpty {
      let take = min(64 - buffer.count, bytes.count)
      buffer.append(contentsOf: bytes[0..<take])
      i = take
      if buffer.count == 64 {
        buffer.withUnsafeBytes { block($0) }
        buffer.removeAll(keepingCapacity: true)
      }
    }
    while i + 64 <= bytes.count {
      block(UnsafeRawBufferPointer(rebasing: bytes[i..<i + 64]))
      i += 64
    }
    if i < bytes.count { buffer.append(contentsOf: bytes[i...]) }
  }

  mutating func finish() -> [UInt8] {
    let bits = byteCount &* 8
    var pad: [UInt8] = [0x80]
    let rem = (buffer.count + 1) % 64
    pad += [UInt8](repeating: 0, count: rem <= 56 ? 56 - rem : 120 - rem)
    for k in 0..<8 { pad.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(k)))) }
    let saved = byteCount
    pad.withUnsafeBytes { update($0) }
    byteCount = saved
    var out: [UInt8] = []
    for w in [state.0, state.1, state.2, state.3] {
      for k in 0..<4 { out.append(UInt8(truncatingIfNeeded: w >> (8 * UInt32(k)))) }
    }
    return out
  }

  private mutating func block(_ p: UnsafeRawBufferPointer) {
    var m = [UInt32](repeating: 0, count: 16)
    for j in 0..<16 {
      m[j] = UInt32(p[4 * j]) | UInt32(p[4 * j + 1]) << 8 | UInt32(p[4 * j + 2]) << 16 | UInt32(p[4 * j + 3]) << 24
    }
    var (a, b, c, d) = state
    for i in 0..<64 {
      var f: UInt32
      let g: Int
      switch i {
      case 0..<16:
        f = (b & c) | (~b & d)
        g = i
      case 16..<32:
        f = (d & b) | (~d & c)
        g = (5 * i + 1) % 16
      case 32..<48:
        f = b ^ c ^ d
        g = (3 * i + 5) % 16
      default:
        f = c ^ (b | ~d)
        g = (7 * i) % 16
      }
      f = f &+ a &+ Self.table[i] &+ m[g]
      a = d
      d = c
      c = b
      let s = Self.shifts[i]
      b = b &+ ((f << s) | (f >> (32 - s)))
    }
    state = (state.0 &+ a, state.1 &+ b, state.2 &+ c, state.3 &+ d)
  }

  /// MD5 of a whole file, read in 1 MiB blocks.
  static func file(_ path: String) throws(DriverError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw .io(path, "cannot open", errno: errno) }
    defer { close(fd) }
    var md5 = MD5()
    let cap = 1 << 20
    let buf = UnsafeMutableRawPointer.allocate(byteCount: cap, alignment: 16)
    defer { buf.deallocate() }
    while true {
      let n = read(fd, buf, cap)
      if n < 0 {
        if errno == EINTR { continue }
        throw .io(path, "read failed", errno: errno)
      }
      if n == 0 { break }
      md5.update(UnsafeRawBufferPointer(start: buf, count: n))
    }
    return md5.finish()
  }

  /// The md5 from an `x-goog-hash` header (`crc32c=…,md5=<base64>`), if present.
  static func expected(fromGoogHash header: String?) -> [UInt8]? {
    guard let header else { return nil }
    for part in header.split(separator: ",") {
      let t = part.trimmingCharacters(in: .whitespaces)
      if t.hasPrefix("md5="), let data = Data(base64Encoded: String(t.dropFirst(4))), data.count == 16 {
        return Array(data)
      }
    }
    return nil
  }
}
