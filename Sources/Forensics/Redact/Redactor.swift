#if canImport(Glibc)
  import Glibc
#endif
import Ingest

/// One redaction rule from `rules/redact.toml`.
public struct RedactionRule: Sendable {
  public var kind: String
  public var pattern: PCRE2Pattern
  public var needs: [[UInt8]]
  /// Compare `needs` against the lower-cased line.
  public var needsIgnoreCase: Bool
  public var pseudonym: String
  public var text: String
  public var keepPrefix: [String]
  public var keepSuffix: [String]
  public var keepExact: Set<String>
  public var origin: String
}

/// The redaction rule set, loaded once.
public struct RedactionRules: Sendable {
  public var rules: [RedactionRule]
  public var keywords: [String]

  static let generators: Set<String> = [
    "ipv4", "ipv6", "mac", "mac64", "email", "host", "user", "userhost", "uuid", "serial", "token",
    "pointer", "fixed",
  ]

  public static func load(rulesDirectory dir: String) throws(IngestError) -> RedactionRules {
    try parse(try RulesDirectory.read(dir, "redact.toml"), file: dir + "/redact.toml")
  }

  public static func parse(_ text: String, file: String) throws(IngestError) -> RedactionRules {
    let doc = try TOMLParser.parse(text, file: file)
    var rules: [RedactionRule] = []
    for t in doc.tables("rule") {
      let origin = "\(file):\(t.line)"
      guard let kind = t["kind"]?.string, let regex = t["regex"]?.string else {
        throw .rule(file: file, line: t.line, message: "[[rule]] needs 'kind' and 'regex'")
      }
      let gen = t["pseudonym"]?.string ?? "fixed"
      let ignoreCase = t["needs_ignore_case"]?.bool ?? false
      guard generators.contains(gen) else {
        throw .rule(
          file: file, line: t.line,
          message: "unknown pseudonym '\(gen)' (one of \(generators.sorted().joined(separator: ", ")))")
      }
      rules.append(
        RedactionRule(
          kind: kind, pattern: try PCRE2Pattern(regex, origin: origin),
          needs: (t["needs"]?.strings ?? []).map { Array((ignoreCase ? $0.lowercased() : $0).utf8) },
          needsIgnoreCase: ignoreCase, pseudonym: gen,
          text: t["text"]?.string ?? "<redacted>", keepPrefix: t["keep_prefix"]?.strings ?? [],
          keepSuffix: t["keep_suffix"]?.strings ?? [], keepExact: Set(t["keep_exact"]?.strings ?? []),
          origin: origin))
    }
    return RedactionRules(rules: rules, keywords: doc["keywords"]?.strings ?? [])
  }
}

/// Counts of what was replaced, per kind.
public struct RedactionCount: Sendable, Hashable, Codable {
  public var kind: String
  /// Replaced occurrences.
  public var count: Int
  /// Distinct secret values.
  public var distinct: Int
}

/// Byte-level, rule-driven redaction with keyed, format-preserving pseudonyms.
///
/// Same value → same pseudonym: the pseudonym is derived from HMAC-SHA256(key, kind ‖ value),
/// so it is stable within a run and across runs with the same key, and unlinkable without it.
/// Pseudonyms fall in ranges the rules skip (TEST-NET addresses, `2001:db8::`, `02:00:00:…`
/// MACs, non-canonical `ffff0…`–`ffff7…` pointers), so redacting twice changes nothing.
/// Not thread-safe: one Redactor per excerpt.
public final class Redactor {
  public let rules: RedactionRules
  private let key: SHA256.HMACKey
  private let keywords: [[UInt8]]
  private var mapping: [String: [UInt8]] = [:]  // "kind\0value" → pseudonym; never written out
  private var taken: [String: String] = [:]  // pseudonym → value, to resolve hash collisions
  private var counts: [String: Int] = [:]
  private var distinct: [String: Int] = [:]
  private var testNetFull = false  // see `testNetAttempts`

  public init(rules: RedactionRules, key: [UInt8], keywords: [String] = []) {
    self.rules = rules
    self.key = SHA256.HMACKey(key)
    self.keywords = (rules.keywords + keywords).filter { !$0.isEmpty }.map { Array($0.utf8) }
  }

  /// What was replaced so far, sorted by kind.
  public var summary: [RedactionCount] {
    counts.keys.sorted().map { RedactionCount(kind: $0, count: counts[$0]!, distinct: distinct[$0] ?? 0) }
  }

  public func redact(_ text: String) -> String {
    var copy = text
    return copy.withUTF8 { String(decoding: redact(line: $0), as: UTF8.self) }
  }

  /// Redacts one line (without its newline).
  public func redact(line: UnsafeBufferPointer<UInt8>) -> [UInt8] {
    var cur = Array(line)
    for k in keywords where contains(cur, k) { cur = replaceLiteral(cur, k) }
    // Literal prefilters first (memchr), the regex only on candidate lines; the lower-cased
    // copy is made once per line, and only when a rule asks for it.
    var lower: [UInt8]?
    for rule in rules.rules {
      if !rule.needs.isEmpty {
        if rule.needsIgnoreCase {
          if lower == nil { lower = cur.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 } }
          if !rule.needs.contains(where: { contains(lower!, $0) }) { continue }
        } else if !rule.needs.contains(where: { contains(cur, $0) }) {
          continue
        }
      }
      // The lower-cased copy stays valid until a rule changes the line (it was rebuilt for
      // every ignore-case rule: seven passes over every long line).
      if let changed = apply(rule, to: cur) {
        cur = changed
        lower = nil
      }
    }
    return cur
  }

  /// The line with `rule` applied, or nil when nothing was replaced.
  private func apply(_ rule: RedactionRule, to line: [UInt8]) -> [UInt8]? {
    var out: [UInt8] = []
    var copied = 0
    var start = 0
    var changed = false
    line.withUnsafeBufferPointer { buf in
      while start <= buf.count, let m = rule.pattern.match(buf, from: start), let whole = m[0] {
        let r = m["v"] ?? whole
        start = whole.upperBound > whole.lowerBound ? whole.upperBound : whole.upperBound + 1
        let value = String(decoding: UnsafeBufferPointer(rebasing: buf[r]), as: UTF8.self)
        guard !keeps(rule, value), let p = pseudonym(rule, value) else { continue }
        out.append(contentsOf: buf[copied..<r.lowerBound])
        out.append(contentsOf: p)
        copied = r.upperBound
        changed = true
      }
      if changed { out.append(contentsOf: buf[copied...]) }
    }
    return changed ? out : nil
  }

  private func keeps(_ rule: RedactionRule, _ value: String) -> Bool {
    rule.keepExact.contains(value) || rule.keepPrefix.contains { value.hasPrefix($0) }
      || rule.keepSuffix.contains { value.hasSuffix($0) }
  }

  private func pseudonym(_ rule: RedactionRule, _ value: String) -> [UInt8]? {
    if rule.pseudonym == "pointer", let v = UInt64(value, radix: 16), v >= 0xffff_ffff_ffff_f000 {
      return nil  // ERR_PTR / errno values (RAX: ffffffffffffffda), not addresses
    }
    let id = rule.pseudonym + "\u{0}" + value
    counts[rule.kind, default: 0] += 1
    if let p = mapping[id] { return p }
    distinct[rule.kind, default: 0] += 1
    // Pointers are keyed on their page number only, so offsets within a page survive.
    var message = Array(id.utf8)
    if rule.pseudonym == "pointer", let v = UInt64(value, radix: 16) {
      message = Array(("pointer\u{0}" + String(v >> 12, radix: 16)).utf8)
    }
    // Once TEST-NET was found full, later IPv4 values go straight to the spill block.
    var attempt = rule.pseudonym == "ipv4" && testNetFull ? Self.testNetAttempts : 0
    while true {
      if rule.pseudonym == "ipv4" && attempt == Self.testNetAttempts { testNetFull = true }
      let h = SHA256.hmac(key, message: message + (attempt == 0 ? [] : [UInt8(attempt)]))
      let p = Self.generate(rule, value, h, attempt: attempt)
      let owner = rule.pseudonym == "pointer" ? String(value.dropLast(3)) : value
      // Few attempts suffice: every space but TEST-NET has ≥ 2^24 pseudonyms, and IPv4 moves to
      // a 2^24 space after `testNetAttempts`. (Up to 255 rehashes per value once the 762
      // TEST-NET addresses were taken made a log with 2,000 distinct IPv4s take minutes.)
      if let other = taken[rule.pseudonym + String(p.dropLast(rule.pseudonym == "pointer" ? 3 : 0))],
        other != owner, attempt < Self.maxAttempts
      {
        attempt += 1  // two secrets on one pseudonym would merge them: rehash
        continue
      }
      taken[rule.pseudonym + String(p.dropLast(rule.pseudonym == "pointer" ? 3 : 0))] = owner
      let bytes = Array(p.utf8)
      mapping[id] = bytes
      return bytes
    }
  }

  static func hexDigits(_ h: [UInt8], _ count: Int, from: Int = 0) -> String {
    var s = ""
    for b in h[from...] {
      s += String(b >> 4, radix: 16) + String(b & 15, radix: 16)
      if s.count >= count { break }
    }
    return String(s.prefix(count))
  }

  /// Rehashes of a colliding pseudonym before two values share one (then unavoidable).
  static let maxAttempts = 16
  /// IPv4 pseudonyms come from TEST-NET-1/2/3 (RFC 5737), only 762 addresses; when the first
  /// attempts all collide there, the space is nearly full and the class-E block 240.0.0.0/8
  /// (reserved, never a host address; kept by the rule) takes the rest.
  static let testNetAttempts = 8

  static func generate(_ rule: RedactionRule, _ value: String, _ h: [UInt8], attempt: Int = 0) -> String {
    switch rule.pseudonym {
    case "ipv4":
      if attempt >= testNetAttempts { return "240." + h[0..<3].map { String($0) }.joined(separator: ".") }
      let nets = ["192.0.2.", "198.51.100.", "203.0.113."]
      return nets[Int(h[0]) % 3] + String(1 + Int(h[1]) % 254)
    case "ipv6":
      return "2001:db8:" + (0..<6).map { i in String(UInt16(h[2 * i]) << 8 | UInt16(h[2 * i + 1]), radix: 16) }.joined(separator: ":")
    case "mac", "mac64":
      let sep = value.contains("-") ? "-" : ":"
      let lead = rule.pseudonym == "mac64" ? ["02", "00", "00", "00", "00"] : ["02", "00", "00"]
      return (lead + (0..<3).map { hexDigits(Array(h[$0...]), 2) }).joined(separator: sep)
    case "email": return "user-" + hexDigits(h, 6) + "@example.invalid"
    case "host": return "host-" + hexDigits(h, 6)
    case "user": return "user-" + hexDigits(h, 6)
    case "userhost": return "user-" + hexDigits(h, 6) + "@host-" + hexDigits(h, 6, from: 3)
    case "uuid": return "00000000-0000-4000-8000-" + hexDigits(h, 12)
    case "serial": return "SERIAL-" + hexDigits(h, 8)
    case "token": return "<redacted:" + hexDigits(h, 6) + ">"
    case "pointer": return pointerPseudonym(value, h)
    default: return rule.text
    }
  }

  /// `ffff888054cc68e8` → `ffff01xxxxxxx8e8`: "ffff0", a region digit (1 direct map, 2 vmalloc,
  /// 3 vmemmap, 4 kernel text/modules, 5 other), seven keyed digits, and the low 12 bits kept.
  /// The page-number part is keyed on `value >> 12`, so pointers within one page keep their
  /// distance (a mutex and its lockdep map at +0x68 still line up). ffff0…–ffff7… is
  /// non-canonical on x86-64, so a pseudonym is never mistaken for a real pointer.
  static func pointerPseudonym(_ value: String, _ h: [UInt8]) -> String {
    let lower = value.lowercased()
    let region: Character
    if lower.hasPrefix("ffffffff") {
      region = "4"
    } else if lower.hasPrefix("ffff88") || lower.hasPrefix("ff11") {
      region = "1"
    } else if lower.hasPrefix("ffffc9") || lower.hasPrefix("ffffc8") {
      region = "2"
    } else if lower.hasPrefix("ffffea") {
      region = "3"
    } else {
      region = "5"
    }
    return "ffff0" + String(region) + hexDigits(h, 7) + String(lower.suffix(3))
  }

  private func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, hay.count >= needle.count else { return false }
    // memchr for the first byte, then compare (Swift's Glibc does not export memmem).
    return hay.withUnsafeBufferPointer { h in
      guard let base = h.baseAddress else { return false }
      var pos = 0
      let last = h.count - needle.count
      while pos <= last {
        guard let hit = memchr(base + pos, Int32(needle[0]), last - pos + 1) else { return false }
        let i = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - base
        if h[i..<(i + needle.count)].elementsEqual(needle) { return true }
        pos = i + 1
      }
      return false
    }
  }

  private func replaceLiteral(_ line: [UInt8], _ word: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    var i = 0
    let value = String(decoding: word, as: UTF8.self)
    while i < line.count {
      if i + word.count <= line.count && line[i..<(i + word.count)].elementsEqual(word) {
        counts["keyword", default: 0] += 1
        let id = "keyword\u{0}" + value
        if mapping[id] == nil {
          distinct["keyword", default: 0] += 1
          mapping[id] = Array(("keyword-" + Self.hexDigits(SHA256.hmac(key, message: Array(id.utf8)), 6)).utf8)
        }
        out += mapping[id]!
        i += word.count
      } else {
        out.append(line[i])
        i += 1
      }
    }
    return out
  }
}
