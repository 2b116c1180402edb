import Ingest

/// The report table and everything around it, loaded once from `rules/oops/*.toml` and
/// `rules/skip-frames.toml`, with every pattern PCRE2-compiled (JIT) at load time.
///
/// The model follows how syzbot names crashes: an ordered list of oops kinds, each with a header
/// literal, suppressions and title formats; a format has a title regex, an optional stricter
/// report regex, a title template, alternative-title templates and a stack spec that says where
/// the guilty frame comes from. See docs/titles.md for the file format.
public struct TitleRules: @unchecked Sendable {
  // @unchecked: PCRE2Pattern is a Sendable final class; the arrays are never mutated after load.

  struct Oops {
    var name: String
    var header: [UInt8]
    var suppressions: [PCRE2Pattern]
    var formats: [Format]
  }

  struct Format {
    var title: PCRE2Pattern
    var report: PCRE2Pattern?
    /// Template: `{1}`… are capture groups of `report` (or `title`), `{FRAME}`/`{FRAME2}` the
    /// extracted frames.
    var template: String
    var altTemplates: [String]
    var stack: StackSpec?
    /// The report legitimately has no stack trace (e.g. `BUG: workqueue lockup`).
    var hasNoStackTrace: Bool
    /// Formats that only ever match damaged reports.
    var isCorrupted: Bool
    var origin: String
  }

  enum StackPart {
    /// Parse frame lines until the next stack start.
    case trace
    /// Consume lines until one matches; capture groups are candidate frames.
    case pattern(PCRE2Pattern)
  }

  struct StackSpec {
    var parts: [StackPart]
    /// Tried when `parts` yield no frame.
    var fallbackParts: [StackPart]
    /// Union of the global skip patterns and the format's own.
    var skip: PCRE2Pattern
    var extractor: FrameExtractor?
  }

  /// Picks the guilty frame among all candidate frames of a stack, for reports whose top frame
  /// is a victim rather than the culprit (hung tasks, stalls).
  struct FrameExtractor {
    /// First frame matching one of these wins, reported under the given canonical name.
    var preferred: [(PCRE2Pattern, String)]
    /// Otherwise the first frame not matching this.
    var avoid: PCRE2Pattern?
    /// Otherwise (stall mode) the frame just above the first anchor frame.
    var anchors: PCRE2Pattern?
    /// An anchor matching one of these names itself instead of the frame above it.
    var anchorSelf: [(PCRE2Pattern, String)]
  }

  var oopses: [Oops]
  /// `[  12.345678][ T123] ` console prefix; group 1 = caller id.
  var consolePrefix: PCRE2Pattern
  var questionableFrame: PCRE2Pattern
  var lineIgnores: [PCRE2Pattern]
  var reportStartIgnores: [PCRE2Pattern]
  var dropLineMarkers: [[UInt8]]
  var cpuTracebackMarkers: [[UInt8]]
  var truncateMarkers: [(marker: [UInt8], minLines: Int)]
  var maxPrefixLines: Int
  var maxReportLineCount: Int
  var maxReportScanLineCount: Int
  var maxTaskPrefixLines: Int

  var frameLines: [PCRE2Pattern]
  var stackStarts: [PCRE2Pattern]
  var corruptedLines: [PCRE2Pattern]
  /// A candidate frame matching this makes the extraction unreliable (fault-injection stacks).
  var corruptedFrames: PCRE2Pattern?
  var syscallPrefixes: [String]
  /// A report must show one of these (unless its format has no stack) and each one it shows
  /// must be followed by frames.
  var stackKeywords: [PCRE2Pattern]
  var stackMinLineCount: Int
  var stackCheckLineCount: Int

  var titleReplacements: [(PCRE2Pattern, String)]
  var corruptedTitles: [PCRE2Pattern]
  var corruptedLogMarkers: [[UInt8]]
  var maxTitleByteCount: Int
  /// Title pattern → crash type (nil type = unknown); first match wins.
  var types: [(PCRE2Pattern, String?)]
  /// Raw report lines containing one of these make the report corrupted.
  var corruptedReportMarkers: [[UInt8]]
  var frameFromTitle: PCRE2Pattern

  var guiltyFileName: PCRE2Pattern
  var guiltyIgnores: [PCRE2Pattern]
  var guiltyLineIgnore: PCRE2Pattern?
  var guiltyStartMarkers: [(titlePrefix: String, markers: [[UInt8]])]

  /// Loads `<dir>/oops/report.toml` (which lists the oops files in table order) and
  /// `<dir>/skip-frames.toml`.
  public static func load(rulesDirectory dir: String) throws(IngestError) -> TitleRules {
    let reportFile = "oops/report.toml"
    let report = try TOMLParser.parse(RulesDirectory.read(dir, reportFile), file: reportFile)
    let stackFile = "skip-frames.toml"
    let stack = try TOMLParser.parse(RulesDirectory.read(dir, stackFile), file: stackFile)
    var loader = Loader(dir: dir)
    return try loader.build(report: report, stack: stack)
  }
}

/// Turns TOML tables into compiled rules; errors name file and line.
private struct Loader {
  let dir: String
  var file = ""

  init(dir: String) { self.dir = dir }

  func fail(_ line: Int, _ message: String) -> IngestError {
    .rule(file: file, line: line, message: message)
  }

  /// syzkaller-style macros keep the rule files readable.
  static func expand(_ re: String) -> String {
    var s = re
    s = s.replacingAll("{{ADDR}}", "0x[0-9a-f]+")
    s = s.replacingAll("{{PC}}", "\\[\\<?(?:0x)?[0-9a-f]+\\>?\\]")
    s = s.replacingAll("{{FUNC}}", "([a-zA-Z0-9_]+)(?:\\.|\\+)")
    s = s.replacingAll("{{SRC}}", "([a-zA-Z0-9-_/.]+\\.[a-z]+:[0-9]+)")
    return s
  }

  func compile(_ re: String, line: Int) throws(IngestError) -> PCRE2Pattern {
    try PCRE2Pattern(Self.expand(re), origin: "\(dir)/\(file):\(line)")
  }

  func string(_ t: TOMLTable, _ key: String) throws(IngestError) -> String {
    guard let s = t[key]?.string else { throw fail(t.line, "missing string '\(key)'") }
    return s
  }

  func strings(_ t: TOMLTable, _ key: String) -> [String] { t[key]?.strings ?? [] }

  func patterns(_ t: TOMLTable, _ key: String) throws(IngestError) -> [PCRE2Pattern] {
    guard let v = t[key] else { return [] }
    var out: [PCRE2Pattern] = []
    for s in v.strings ?? [] { out.append(try compile(s, line: v.line)) }
    return out
  }

  func table(_ t: TOMLTable, _ key: String) throws(IngestError) -> TOMLTable {
    guard let sub = t[key]?.table else { throw fail(t.line, "missing table [\(key)]") }
    return sub
  }

  static func union(_ parts: [String]) -> String {
    parts.map { "(?:\($0))" }.joined(separator: "|")
  }

  mutating func build(report: TOMLTable, stack: TOMLTable) throws(IngestError) -> TitleRules {
    file = "skip-frames.toml"
    let st = try table(stack, "stack")
    let globalSkip = strings(st, "skip")
    var extractors: [String: TitleRules.FrameExtractor] = [:]
    if let ex = stack["extractor"]?.table {
      for name in ex.keys {
        guard let e = ex[name]?.table else { continue }
        var preferred: [(PCRE2Pattern, String)] = []
        for p in e.tables("prefer") {
          preferred.append((try compile(try string(p, "match"), line: p.line), try string(p, "frame")))
        }
        var anchorSelf: [(PCRE2Pattern, String)] = []
        for p in e.tables("anchor_self") {
          anchorSelf.append((try compile(try string(p, "match"), line: p.line), try string(p, "frame")))
        }
        let avoid = e["avoid"]?.strings.map { Self.union($0) }
        let anchors = e["anchors"]?.strings.map { Self.union($0) }
        extractors[name] = .init(
          preferred: preferred,
          avoid: try avoid.map { s throws(IngestError) in try compile(s, line: e.line) },
          anchors: try anchors.map { s throws(IngestError) in try compile(s, line: e.line) },
          anchorSelf: anchorSelf)
      }
    }
    let frameLines = try patterns(st, "frame_lines")
    let stackStarts = try patterns(st, "stack_starts")
    let corruptedLines = try patterns(st, "corrupted_lines")
    let corruptedFrames = try st["corrupted_frames"]?.strings.map { s throws(IngestError) in
      try compile(Self.union(s), line: st.line)
    }
    let syscallPrefixes = strings(st, "syscall_prefixes")
    let stackKeywords = try patterns(st, "stack_keywords")
    let stackMinLineCount = st["stack_min_lines"]?.int ?? 4
    let stackCheckLineCount = st["stack_check_lines"]?.int ?? 15

    file = "oops/report.toml"
    let console = try table(report, "console")
    let consolePrefix = try compile(try string(console, "prefix"), line: console.line)
    let questionable = try compile(try string(console, "questionable_frame"), line: console.line)
    let rep = try table(report, "report")
    let lineIgnores = try patterns(rep, "line_ignores")
    let reportStartIgnores = try patterns(rep, "start_ignores")
    let dropLineMarkers = strings(rep, "drop_lines").map { Array($0.utf8) }
    let cpuTraceback = strings(rep, "cpu_traceback").map { Array($0.utf8) }
    var truncate: [(marker: [UInt8], minLines: Int)] = []
    for t in rep.tables("truncate") {
      truncate.append((Array(try string(t, "marker").utf8), t["min_lines"]?.int ?? 0))
    }
    let title = try table(report, "title")
    var replacements: [(PCRE2Pattern, String)] = []
    for r in title.tables("replace") {
      replacements.append((try compile(try string(r, "match"), line: r.line), try string(r, "with")))
    }
    let corruptedTitles = try patterns(title, "corrupted_if")
    let corruptedLog = strings(title, "corrupted_log").map { Array($0.utf8) }
    let frameFromTitle = try compile(try string(title, "frame_from_title"), line: title.line)
    var types: [(PCRE2Pattern, String?)] = []
    for t in report.tables("type") {
      let ty = try string(t, "type")
      for p in strings(t, "match") { types.append((try compile(p, line: t.line), ty.isEmpty ? nil : ty)) }
    }
    let corruptedReport = strings(title, "corrupted_report").map { Array($0.utf8) }
    let guilty = try table(report, "guilty")
    let guiltyName = try compile(try string(guilty, "file"), line: guilty.line)
    let guiltyIgnores = try patterns(guilty, "ignore_files")
    let guiltyLineIgnore = try guilty["ignore_lines"]?.strings.map { s throws(IngestError) in
      try compile(Self.union(s), line: guilty.line)
    }
    var guiltyStarts: [(titlePrefix: String, markers: [[UInt8]])] = []
    for g in guilty.tables("start_after") {
      guiltyStarts.append((try string(g, "title_prefix"), strings(g, "markers").map { Array($0.utf8) }))
    }

    var oopses: [TitleRules.Oops] = []
    for name in strings(report, "oops_files") {
      file = "oops/" + name
      let doc = try TOMLParser.parse(RulesDirectory.read(dir, file), file: file)
      for o in doc.tables("oops") {
        let header = try string(o, "header")
        var formats: [TitleRules.Format] = []
        for f in o.tables("format") {
          var spec: TitleRules.StackSpec? = nil
          if let s = f["stack"]?.table {
            var extractor: TitleRules.FrameExtractor? = nil
            if let en = s["extractor"]?.string {
              guard let e = extractors[en] else { throw fail(s.line, "unknown extractor '\(en)'") }
              extractor = e
            }
            let skip = globalSkip + strings(s, "skip")
            spec = .init(
              parts: try parts(s, "parts"), fallbackParts: try parts(s, "fallback"),
              skip: try compile(Self.union(skip), line: s.line), extractor: extractor)
          }
          formats.append(
            .init(
              title: try compile(try string(f, "title"), line: f.line),
              report: try f["report"]?.string.map { s throws(IngestError) in try compile(s, line: f.line) },
              template: try string(f, "fmt"), altTemplates: strings(f, "alt"), stack: spec,
              hasNoStackTrace: f["no_stack_trace"]?.bool ?? false,
              isCorrupted: f["corrupted"]?.bool ?? false, origin: "\(file):\(f.line)"))
        }
        oopses.append(
          .init(
            name: o["name"]?.string ?? header, header: Array(header.utf8),
            suppressions: try patterns(o, "suppress"), formats: formats))
      }
    }
    file = "oops/report.toml"
    return TitleRules(
      oopses: oopses, consolePrefix: consolePrefix, questionableFrame: questionable,
      lineIgnores: lineIgnores, reportStartIgnores: reportStartIgnores,
      dropLineMarkers: dropLineMarkers, cpuTracebackMarkers: cpuTraceback, truncateMarkers: truncate,
      maxPrefixLines: rep["max_prefix_lines"]?.int ?? 5,
      maxReportLineCount: rep["max_lines"]?.int ?? 1000,
      maxReportScanLineCount: rep["max_scan_lines"]?.int ?? 20000,
      maxTaskPrefixLines: rep["max_task_prefix_lines"]?.int ?? 50,
      frameLines: frameLines, stackStarts: stackStarts, corruptedLines: corruptedLines, corruptedFrames: corruptedFrames,
      syscallPrefixes: syscallPrefixes, stackKeywords: stackKeywords,
      stackMinLineCount: stackMinLineCount,
      stackCheckLineCount: stackCheckLineCount,
      titleReplacements: replacements, corruptedTitles: corruptedTitles,
      corruptedLogMarkers: corruptedLog,
      maxTitleByteCount: title["max_bytes"]?.int ?? 120, types: types,
      corruptedReportMarkers: corruptedReport,
      frameFromTitle: frameFromTitle, guiltyFileName: guiltyName, guiltyIgnores: guiltyIgnores,
      guiltyLineIgnore: guiltyLineIgnore, guiltyStartMarkers: guiltyStarts)
  }

  func parts(_ t: TOMLTable, _ key: String) throws(IngestError) -> [TitleRules.StackPart] {
    guard let v = t[key] else { return [] }
    var out: [TitleRules.StackPart] = []
    for s in v.strings ?? [] {
      out.append(s == "STACK" ? .trace : .pattern(try compile(s, line: v.line)))
    }
    return out
  }
}

extension String {
  /// Literal replace-all (no Foundation needed).
  func replacingAll(_ needle: String, _ with: String) -> String {
    // Byte-level search: `firstRange(of:)` over Characters made rule loading take ~0.1 s.
    let hay = Array(utf8)
    let pat = Array(needle.utf8)
    guard !pat.isEmpty, hay.count >= pat.count else { return self }
    let rep = Array(with.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(hay.count)
    var i = 0
    while i < hay.count {
      if hay[i] == pat[0], i + pat.count <= hay.count, hay[i..<(i + pat.count)].elementsEqual(pat) {
        out += rep
        i += pat.count
      } else {
        out.append(hay[i])
        i += 1
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

}
