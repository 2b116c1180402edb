internal import CPCRE2

/// A compiled PCRE2 pattern (JIT-compiled when the platform supports it). The only file that
/// imports CPCRE2.
///
/// Threading: the compiled code is read-only after init and can be shared; `match` allocates
/// match data per call unless a `PCRE2Matcher` (one per thread) is used.
public final class PCRE2Pattern: @unchecked Sendable {
  // SAFETY: pcre2_code is immutable after compile + JIT; PCRE2 documents it as shareable.
  private let code: OpaquePointer
  public let pattern: String
  public let groupNames: [String: Int]
  public let captureCount: Int

  /// Compiles `pattern`; `origin` (e.g. `rules/ingest.toml:12`) is named in errors.
  /// `bytes`: match raw bytes (no UTF mode), so `.` and `\S` also match bytes that are not valid
  /// UTF-8. Console lines carry such bytes in task names; in UTF mode they act as barriers and
  /// a hung-task header with a binary comm would not match at all (fuzz finding).
  public init(_ pattern: String, caseless: Bool = false, bytes: Bool = false, origin: String = "pattern") throws(IngestError) {
    self.pattern = pattern
    var errorCode: Int32 = 0
    var errorOffset: Int = 0
    var options = bytes ? 0 : UInt32(PCRE2_UTF | PCRE2_MATCH_INVALID_UTF)
    if caseless { options |= UInt32(PCRE2_CASELESS) }
    let compiled = pattern.withCString { p in
      pcre2_compile_8(
        UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), ra_pcre2_zero_terminated(),
        options, &errorCode, &errorOffset, nil)
    }
    guard let compiled else {
      throw .pcre2(
        pattern: pattern, offset: errorOffset, message: PCRE2Pattern.message(errorCode),
        origin: origin)
    }
    code = compiled
    // JIT is an optimisation: if it is unavailable the interpreter still gives the same answers.
    _ = pcre2_jit_compile_8(code, UInt32(PCRE2_JIT_COMPLETE))
    var count: UInt32 = 0
    pcre2_pattern_info_8(code, UInt32(PCRE2_INFO_CAPTURECOUNT), &count)
    captureCount = Int(count)
    var names: [String: Int] = [:]
    var nameCount: UInt32 = 0
    var entrySize: UInt32 = 0
    var table: UnsafePointer<UInt8>? = nil
    pcre2_pattern_info_8(code, UInt32(PCRE2_INFO_NAMECOUNT), &nameCount)
    pcre2_pattern_info_8(code, UInt32(PCRE2_INFO_NAMEENTRYSIZE), &entrySize)
    pcre2_pattern_info_8(code, UInt32(PCRE2_INFO_NAMETABLE), &table)
    if let table, nameCount > 0 {
      for i in 0..<Int(nameCount) {
        let entry = table + i * Int(entrySize)
        let group = Int(entry[0]) << 8 | Int(entry[1])
        let name = String(cString: entry + 2)
        names[name] = group
      }
    }
    groupNames = names
  }

  deinit { pcre2_code_free_8(code) }

  /// Matches against `bytes` starting at `start`; returns capture ranges (index 0 = whole match)
  /// or nil. Unset groups are nil.
  public func match(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int = 0) -> PCRE2Match? {
    guard let md = pcre2_match_data_create_from_pattern_8(code, nil) else { return nil }
    defer { pcre2_match_data_free_8(md) }
    return match(bytes, from: start, data: md)
  }

  /// Like `match`, reusing `scratch` (one per thread) instead of allocating match data.
  public func match(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int = 0, scratch: PCRE2Scratch) -> PCRE2Match? {
    match(bytes, from: start, data: scratch.data)
  }

  private func match(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, data md: OpaquePointer) -> PCRE2Match? {
    let base = bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!
    let rc = pcre2_match_8(code, base, bytes.count, start, 0, md, nil)
    guard rc > 0 else { return nil }
    let ov = pcre2_get_ovector_pointer_8(md)!
    var ranges: [Range<Int>?] = []
    ranges.reserveCapacity(captureCount + 1)
    let unset = ra_pcre2_unset()
    for i in 0...captureCount {
      let s = ov[2 * i]
      let e = ov[2 * i + 1]
      ranges.append(s == unset ? nil : s..<e)
    }
    return PCRE2Match(ranges: ranges, names: groupNames)
  }

  /// Convenience for tests and cold paths: match a `String`, return captured substrings.
  public func match(_ text: String, from start: Int = 0) -> [String?]? {
    var copy = text
    return copy.withUTF8 { buf in
      guard let m = match(buf, from: start) else { return nil }
      return m.ranges.map { r in r.map { String(decoding: UnsafeBufferPointer(rebasing: buf[$0]), as: UTF8.self) } }
    }
  }

  public func matches(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool { match(bytes) != nil }

  public func matches(_ text: String) -> Bool { match(text) != nil }

  static func message(_ code: Int32) -> String {
    var buf = [UInt8](repeating: 0, count: 256)
    let n = buf.withUnsafeMutableBufferPointer { pcre2_get_error_message_8(code, $0.baseAddress, 256) }
    return n > 0 ? String(decoding: buf[0..<Int(n)], as: UTF8.self) : "PCRE2 error \(code)"
  }
}

/// Reusable PCRE2 match data, big enough for any pattern (one per thread; not Sendable).
public final class PCRE2Scratch {
  let data: OpaquePointer
  public init(pairs: Int = 64) {
    data = pcre2_match_data_create_8(UInt32(pairs), nil)!
  }
  deinit { pcre2_match_data_free_8(data) }
}

/// Capture ranges of one match, as byte ranges into the subject.
public struct PCRE2Match: Sendable {
  public var ranges: [Range<Int>?]
  public var names: [String: Int]
  public subscript(_ i: Int) -> Range<Int>? { i < ranges.count ? ranges[i] : nil }
  public subscript(_ name: String) -> Range<Int>? { names[name].flatMap { self[$0] } }
}
