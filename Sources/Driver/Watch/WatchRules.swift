import Ingest

/// One watch pattern from `rules/watch.toml`.
public struct WatchPattern: Sendable {
  public var name: String
  public var regex: PCRE2Pattern
  /// Kind of crash report this line starts (`hung-task`, `panic`, …), if any.
  public var report: String?
  public var archives: Bool
  public var settles: Bool
}

/// The watch rules: patterns (first match wins), one combined alternation used to find
/// candidate lines in a whole chunk with a single PCRE2 call, and timing settings.
public struct WatchRules: Sendable {
  public var patterns: [WatchPattern]
  public var combined: PCRE2Pattern
  public var settleSeconds = 3.0
  public var maxDelaySeconds = 30.0
  public var execprogTailByteCount = 65536
  public var pollMilliseconds = 20

  /// Loads `watch.toml` from a rules directory.
  public static func load(directory: String) throws(IngestError) -> WatchRules {
    let file = directory + "/watch.toml"
    let text = try RulesDirectory.read(directory, "watch.toml")
    return try parse(text, file: file)
  }

  public static func parse(_ text: String, file: String) throws(IngestError) -> WatchRules {
    let doc = try TOMLParser.parse(text, file: file)
    var patterns: [WatchPattern] = []
    for t in doc.tables("pattern") {
      guard let name = t["name"]?.string, !name.isEmpty else {
        throw .rule(file: file, line: t.line, message: "[[pattern]] needs a name")
      }
      guard let source = t["regex"]?.string, !source.isEmpty else {
        throw .rule(file: file, line: t.line, message: "pattern '\(name)' needs a regex")
      }
      if source.contains("\\n") || source.contains("\\s") {
        throw .rule(file: file, line: t["regex"]!.line,
          message: "pattern '\(name)': \\n and \\s could match across lines; use ' ' or [ \\t]")
      }
      let regex = try PCRE2Pattern(source, origin: "\(file):\(t["regex"]!.line)")
      patterns.append(WatchPattern(
        name: name, regex: regex, report: t["report"]?.string,
        archives: t["archive"]?.bool ?? false, settles: t["settles"]?.bool ?? false))
    }
    guard !patterns.isEmpty else { throw .rule(file: file, line: 1, message: "no [[pattern]] entries") }
    // Each alternative in its own non-capturing group so one pattern's `|` cannot leak.
    let joined = patterns.map { "(?:" + $0.regex.pattern + ")" }.joined(separator: "|")
    var rules = WatchRules(patterns: patterns, combined: try PCRE2Pattern(joined, origin: "\(file): combined patterns"))
    if let s = doc["settings"]?.table {
      if let v = s["settle_seconds"] { rules.settleSeconds = Self.number(v) ?? rules.settleSeconds }
      if let v = s["max_delay_seconds"] { rules.maxDelaySeconds = Self.number(v) ?? rules.maxDelaySeconds }
      if let v = s["execprog_tail_bytes"]?.int { rules.execprogTailByteCount = v }
      if let v = s["poll_milliseconds"]?.int { rules.pollMilliseconds = max(1, min(v, 100)) }
    }
    return rules
  }

  static func number(_ v: TOMLValue) -> Double? {
    if case .float(let d, _) = v { return d }
    return v.int.map(Double.init)
  }

  /// The first pattern that matches `line`, if any.
  public func classify(_ line: UnsafeBufferPointer<UInt8>) -> WatchPattern? {
    patterns.first { $0.regex.matches(line) }
  }
}
