import Ingest

/// A stable identity for a crash report, for grouping thousands of runs downstream: the title
/// plus the normalised guilty stack (function names of the first reliable frames, with offsets,
/// addresses, compiler suffixes and scheduler/locking/sanitizer/entry noise dropped).
///
/// The same bug on another build, KASLR slide, CPU or task gets the same signature; the hash is
/// FNV-1a 64 over the UTF-8 of `title` and the frames joined by newlines, printed as 16 hex digits.
public struct ReportSignature: Sendable, Hashable, Codable {
  /// The title used in the signature (the title engine's, else the normalised headline).
  public var title: String
  /// Where the title came from: `"title_engine"` or `"headline"`.
  public var titleSource: String
  /// The normalised guilty stack, innermost first.
  public var frames: [String]
  /// 16 hex digits; equal signatures mean "same bug" for grouping.
  public var hash: String
}

/// Skip lists and the frame count, from `rules/signature.toml`.
public struct SignatureRules: Sendable {
  public var frameCount: Int
  public var skipPrefixes: [String]
  public var skip: Set<String>

  public init(frameCount: Int = 5, skipPrefixes: [String] = [], skip: Set<String> = []) {
    self.frameCount = frameCount
    self.skipPrefixes = skipPrefixes
    self.skip = skip
  }

  /// Reads `rules/signature.toml`; errors name the file and line.
  public static func load(directory: String) throws(IngestError) -> SignatureRules {
    let file = directory + "/signature.toml"
    let doc = try TOMLParser.parse(try RulesDirectory.read(directory, "signature.toml"), file: file)
    guard let t = doc["signature"]?.table else {
      throw .rule(file: file, line: 1, message: "missing [signature] table")
    }
    let count = t["frames"]?.int ?? 5
    guard count > 0 && count <= 64 else {
      throw .rule(file: file, line: t["frames"]?.line ?? t.line, message: "frames must be 1...64")
    }
    return SignatureRules(
      frameCount: count, skipPrefixes: t["skip_prefix"]?.strings ?? [],
      skip: Set(t["skip"]?.strings ?? []))
  }

  /// Builds the signature of `report`. `title` is the title engine's syzbot-style title for it
  /// (Forensics/Title); without one the normalised headline stands in.
  public func signature(of report: CrashReport, title engineTitle: String? = nil) -> ReportSignature {
    let title = engineTitle ?? Self.normalizedHeadline(report.headline)
    let frames = guiltyStack(report)
    var h = FNV1a64()
    h.add(title)
    for f in frames {
      h.add("\n")
      h.add(f)
    }
    return ReportSignature(
      title: title, titleSource: engineTitle == nil ? "headline" : "title_engine", frames: frames,
      hash: h.hex)
  }

  /// The first `frameCount` reliable, non-inline, non-noise frames, as bare function names.
  /// Falls back to the `RIP:` function when the report printed no usable stack.
  public func guiltyStack(_ report: CrashReport) -> [String] {
    var out: [String] = []
    for f in report.frames where f.isReliable && !f.isInline {
      guard let fn = f.function.map(Self.normalizedFunction), !fn.isEmpty, !isNoise(fn) else { continue }
      // Recursion and repeated inline expansion print the same name back to back.
      if out.last == fn { continue }
      out.append(fn)
      if out.count == frameCount { break }
    }
    if out.isEmpty, let fn = report.rip?.frame?.function.map(Self.normalizedFunction), !fn.isEmpty {
      out.append(fn)
    }
    return out
  }

  public func isNoise(_ function: String) -> Bool {
    if skip.contains(function) { return true }
    for p in skipPrefixes where function.hasPrefix(p) { return true }
    return false
  }

  /// Drops compiler suffixes: `foo.cold`, `foo.isra.0`, `foo.constprop.0.cold` → `foo`.
  public static func normalizedFunction(_ name: String) -> String {
    guard let dot = name.firstIndex(of: "."), dot != name.startIndex else { return name }
    return String(name[..<dot])
  }

  /// The headline with run-specific numbers replaced: hex (`0x…`, 8+ hex digits) by `ADDR`,
  /// decimal runs by `N` (pids, seconds, CPU numbers, comm suffixes such as `syz-executor.3`).
  /// Digits inside identifiers (`ext4_`, `vhost_worker`) are kept.
  public static func normalizedHeadline(_ headline: String) -> String {
    let b = Array(headline.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(b.count)
    var i = 0
    func isHex(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66) }
    func isWordByte(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A || c == 0x5F }
    while i < b.count {
      let c = b[i]
      let prevIsWord = i > 0 && isWordByte(b[i - 1])
      if !prevIsWord, c == 0x30, i + 2 < b.count, b[i + 1] | 0x20 == 0x78, isHex(b[i + 2]) {
        var j = i + 2
        while j < b.count, isHex(b[j]) { j += 1 }
        out += Array("ADDR".utf8)
        i = j
        continue
      }
      if !prevIsWord, isHex(c) {
        var j = i
        while j < b.count, isHex(b[j]) { j += 1 }
        let boundary = j == b.count || !isWordByte(b[j])
        if j - i >= 8, boundary, b[i..<j].contains(where: { $0 >= 0x30 && $0 <= 0x39 }) {
          out += Array("ADDR".utf8)
          i = j
          continue
        }
      }
      if c >= 0x30 && c <= 0x39, !prevIsWord {
        var j = i
        while j < b.count, b[j] >= 0x30 && b[j] <= 0x39 { j += 1 }
        out.append(0x4E)  // N
        i = j
        continue
      }
      out.append(c)
      i += 1
    }
    return String(decoding: out, as: UTF8.self)
  }
}

/// FNV-1a, 64 bit: tiny, stable across platforms and releases (unlike `Hasher`, which is seeded
/// per process), which is what a signature stored by other tools needs.
struct FNV1a64 {
  var state: UInt64 = 0xcbf2_9ce4_8422_2325
  mutating func add(_ s: String) {
    for c in s.utf8 {
      state ^= UInt64(c)
      state = state &* 0x0000_0100_0000_01b3
    }
  }
  var hex: String {
    let s = String(state, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
  }
}
