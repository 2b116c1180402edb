import Ingest

/// Finds crash reports in a whole console log and names them the way syzbot does: title,
/// alternative titles, type, guilty frame, corrupted flag and guilty file.
///
/// Pipeline (all kernel knowledge is in `TitleRules`):
/// 1. index the log once (`LogIndex`): caller contexts, oops header lines;
/// 2. the first oops line starts a report; its text is the same-context lines that follow
///    (plus a few lines before it), cut at the next report;
/// 3. among the oops' formats the title regex matching earliest wins; its stack spec yields the
///    guilty frame; the template gives the title;
/// 4. titles are normalised (addresses, numbers, line numbers) and checked for corruption.
///
/// Deterministic and stateless: a `Titler` can be shared across threads.
public struct Titler: Sendable {
  public let rules: TitleRules
  /// Optional source lookup for frames without a `file:line` annotation (a symbolizer given
  /// `--vmlinux`). Returns `path/file.c:123` or nil. Used only for the guilty file.
  public var sourceResolver: (@Sendable (Frame) -> String?)?

  public init(rulesDirectory: String) throws(IngestError) {
    rules = try TitleRules.load(rulesDirectory: rulesDirectory)
  }

  public init(rules: TitleRules) { self.rules = rules }

  /// All reports in the log, in order. The first one is the one syzbot would report.
  public func reports(in bytes: [UInt8]) -> [TitledReport] {
    bytes.withUnsafeBufferPointer { reports(in: $0) }
  }

  public func reports(in bytes: UnsafeBufferPointer<UInt8>, limit: Int = .max) -> [TitledReport] {
    let index = LogIndex(bytes, rules: rules)
    var out: [TitledReport] = []
    var from = 0
    while out.count < limit, let (oops, line) = firstOops(index, from: from) {
      let (report, next) = title(index, oops: oops, line: line)
      out.append(report)
      from = max(line + 1, next)
    }
    return out
  }

  /// The primary report only (nil when the log holds no crash).
  public func primaryReport(in bytes: [UInt8]) -> TitledReport? {
    bytes.withUnsafeBufferPointer { reports(in: $0, limit: 1).first }
  }

  func firstOops(_ index: LogIndex, from: Int) -> (Int, Int)? {
    var i = from
    while i < index.oops.count {
      if index.oops[i] >= 0 { return (Int(index.oops[i]), i) }
      i += 1
    }
    return nil
  }

  // MARK: - One report

  /// The report starting at `line`, and the line where the next report starts.
  func title(_ index: LogIndex, oops: Int, line: Int) -> (TitledReport, Int) {
    let context = index.contexts[line]
    var useQuestionable = false
    while true {
      let ex = extract(index, oops: oops, start: line, context: context, useQuestionable: useQuestionable)
      let head = Array(ex.text[0..<ex.titleByteCount])
      var d = describe(head, oops: rules.oopses[oops])
      if d == nil {
        // The kept lines lost the header (it can only happen with odd contexts): use raw bytes.
        var raw: [UInt8] = []
        for i in line..<ex.nextReportLine {
          raw.append(contentsOf: index.raw(i))
          raw.append(0x0A)
        }
        d = describe(raw, oops: rules.oopses[oops])
      }
      let desc = d ?? Description(
        title: String(decoding: index.text(line), as: UTF8.self), alts: [], format: nil,
        corruption: "oops header not found in report")
      var corruption = desc.corruption
      if corruption == nil { corruption = checkCorrupted(ex.text, format: desc.format) }
      if corruption == Description.noFrames && context != .console && !useQuestionable {
        useQuestionable = true
        continue
      }
      return (finish(desc, corruption: corruption, ex: ex, index: index, startLine: line), ex.nextReportLine)
    }
  }

  struct Extract {
    /// Report lines joined with `\n`.
    var text: [UInt8]
    /// Bytes of `text` that belong to this report's title search (before the next report).
    var titleByteCount: Int
    /// Bytes of `text` up to the report's own last line (before the next report).
    var ownByteCount: Int
    /// Line index (0-based) in the log of each text line.
    var lineIndexes: [Int]
    var nextReportLine: Int
    var lastLine: Int
  }

  /// Collects the report: lines of the oops line's context from the oops line on, dropping
  /// unreliable frames and noise, and noting where the next report begins.
  func extract(_ index: LogIndex, oops: Int, start: Int, context: LogIndex.Context, useQuestionable: Bool) -> Extract {
    var text: [UInt8] = []
    var lineIndexes: [Int] = []
    var titleByteCount = 0
    var lastLine = start
    var ownByteCount = 0
    var secondReport: Int? = nil
    var textLines = 0
    var skipText = false
    var cpuTraceback = false
    let hasTaskContext = context != .none && context != .console
    // Bounds keep hostile logs linear: a report never needs more than this many lines, and a
    // task's report is not searched for beyond this many log lines.
    let scanEnd = min(index.lines.count, start + rules.maxReportScanLineCount)
    var stoppedAt: Int? = nil
    for i in start..<scanEnd {
      if lineIndexes.count >= rules.maxReportLineCount || (secondReport != nil && !hasTaskContext && text.count > titleByteCount + (64 << 10)) {
        stoppedAt = i
        break
      }
      let isOopsLine = i == start
      if !isOopsLine && secondReport == nil && index.oops[i] >= 0 {
        let raw = index.raw(i)
        if !rules.reportStartIgnores.contains(where: { $0.matches(raw) }) { secondReport = i }
      }
      let ctx = index.contexts[i]
      let questionable = !useQuestionable && index.isQuestionable[i]
      if !isOopsLine {
        if questionable { continue }
        if ctx != context {
          var cpuOK = false
          if cpuTraceback, case .cpu = ctx { cpuOK = true }
          if !cpuOK { continue }
        }
      }
      textLines += 1
      var skipLine = skipText
      let raw = index.raw(i)
      if rules.dropLineMarkers.contains(where: { raw.contains($0) }) {
        skipLine = true
      } else if rules.cpuTracebackMarkers.contains(where: { raw.contains($0) }) {
        cpuTraceback = true
      } else if rules.truncateMarkers.contains(where: { textLines > $0.minLines && raw.contains($0.marker) }) {
        skipText = true
        skipLine = true
      }
      if !isOopsLine && skipLine { continue }
      text.append(contentsOf: index.text(i))
      text.append(0x0A)
      lineIndexes.append(i)
      if secondReport == nil || hasTaskContext { titleByteCount = text.count }
      // The report's own span ends where the next report starts, even when the title search
      // (task context) looks further.
      if secondReport == nil {
        lastLine = i
        ownByteCount = text.count
      }
    }
    return Extract(
      text: text, titleByteCount: titleByteCount, ownByteCount: ownByteCount, lineIndexes: lineIndexes,
      nextReportLine: secondReport ?? stoppedAt ?? scanEnd, lastLine: lastLine)
  }

  // MARK: - Title

  struct Description {
    static let noFrames = "no frames in the guilty stack"
    var title: String
    var alts: [String]
    var format: TitleRules.Format?
    var corruption: String?
  }

  /// Picks the format whose title regex matches earliest and renders its title.
  func describe(_ text: [UInt8], oops: TitleRules.Oops) -> Description? {
    var best: Description? = nil
    var bestStart = Int.max
    var matchedTitle = false
    for f in oops.formats {
      guard let tm = f.title.match(in: text), let t0 = tm[0] else { continue }
      if t0.lowerBound > bestStart { continue }
      if t0.lowerBound == bestStart && best != nil { continue }
      if t0.lowerBound < bestStart {
        best = nil
        bestStart = t0.lowerBound
      }
      matchedTitle = true
      var m = tm
      if let rep = f.report {
        guard let rm = rep.match(in: text) else { continue }
        m = rm
      }
      var args: [String] = []
      if m.ranges.count > 1 {
        for r in m.ranges[1...] { args.append(r.map { String(decoding: text[$0], as: UTF8.self) } ?? "") }
      }
      var corruption: String? = nil
      var frames: [ExtractedFrame] = []
      if let spec = f.stack, let start = m[0]?.lowerBound {
        let (fr, ok) = extractFrames(spec, text[start...])
        frames = fr
        if !ok { corruption = Description.noFrames }
      }
      let title = render(f.template, args: args, frames: frames.map(\.canonical))
      var alts = f.altTemplates.map { render($0, args: args, frames: frames.map(\.canonical)) }
      // Variants of the guilty frame (raw name, partly stripped syscall prefixes) as alt titles.
      if let first = frames.first {
        for v in first.variants where v != first.canonical {
          var fs = frames.map(\.canonical)
          fs[0] = v
          alts.append(render(f.template, args: args, frames: fs))
          for a in f.altTemplates { alts.append(render(a, args: args, frames: fs)) }
        }
      }
      best = Description(title: title, alts: alts, format: f, corruption: corruption)
    }
    if best == nil {
      // The header is there but no format fits: the header line itself, marked corrupted.
      guard let pos = text.firstRange(of: oops.header) else { return nil }
      var end = pos.lowerBound
      while end < text.count && text[end] != 0x0A { end += 1 }
      return Description(
        title: String(decoding: text[pos.lowerBound..<end], as: UTF8.self), alts: [], format: nil,
        corruption: matchedTitle ? "title matched but not the report pattern" : "no format matched")
    }
    if best?.corruption == nil, best?.format?.isCorrupted == true {
      best?.corruption = "report format is marked as corrupted"
    }
    return best
  }

  func render(_ template: String, args: [String], frames: [String]) -> String {
    var out = ""
    var rest = Substring(template)
    while let open = rest.firstIndex(of: "{") {
      out += rest[..<open]
      guard let close = rest[open...].firstIndex(of: "}") else { break }
      let key = rest[rest.index(after: open)..<close]
      if let n = Int(key) {
        out += n >= 1 && n <= args.count ? args[n - 1] : ""
      } else if key == "FRAME" {
        out += frames.first ?? "corrupted"
      } else if key.hasPrefix("FRAME"), let n = Int(key.dropFirst(5)) {
        out += n >= 1 && n <= frames.count ? frames[n - 1] : "corrupted"
      } else {
        out += rest[open...close]
      }
      rest = rest[rest.index(after: close)...]
    }
    out += rest
    return out
  }

  // MARK: - Corruption

  /// A report must show a stack (unless its format says it has none), and every stack
  /// keyword must be followed by frames soon.
  func checkCorrupted(_ text: [UInt8], format: TitleRules.Format?) -> String? {
    guard let format else { return nil }
    if format.hasNoStackTrace { return nil }
    var hasStack = false
    for key in rules.stackKeywords {
      guard let m = key.match(in: text), let r = m[0] else { continue }
      // Only the first lines are looked at: do not split the whole (up to 64 KiB) rest per report.
      let lines = text[r.lowerBound...].split(
        separator: 0x0A, maxSplits: max(rules.stackMinLineCount, rules.stackCheckLineCount),
        omittingEmptySubsequences: false)
      if lines.count < rules.stackMinLineCount { return "stack trace is cut short" }
      var found = false
      for l in lines.dropFirst().prefix(rules.stackCheckLineCount - 1) {
        let line = Array(l)
        if rules.frameLines.contains(where: { $0.match(in: line) != nil }) {
          found = true
          break
        }
      }
      if !found { return "no frames after a stack trace header" }
      hasStack = true
    }
    return hasStack ? nil : "no stack trace in report"
  }

  // MARK: - Final touches

  func finish(_ d: Description, corruption: String?, ex: Extract, index: LogIndex, startLine: Int) -> TitledReport {
    let title = normalize(d.title)
    var alts = Set(d.alts.map(normalize))
    alts.remove(title)
    var corruption = corruption
    if corruption == nil, rules.corruptedTitles.contains(where: { $0.match(in: Array(d.title.utf8)) != nil }) {
      corruption = "title contains console noise"
    }
    if corruption == nil, index.hasCorruptingMarker {
      corruption = "the VM disconnected while the report was printed"
    }
    if corruption == nil {
      for i in startLine..<ex.nextReportLine where rules.corruptedReportMarkers.contains(where: { index.raw(i).contains($0) }) {
        corruption = "console output was lost in the middle of the report"
        break
      }
    }
    let titleBytes = Array(title.utf8)
    let type = rules.types.first { $0.0.match(in: titleBytes) != nil }?.1
    var frame: String? = nil
    if let m = rules.frameFromTitle.match(in: Array(title.utf8)), let r = m[1] {
      frame = String(decoding: Array(title.utf8)[r], as: UTF8.self)
    }
    let guilty = guiltyFile(title: title, ex: ex, index: index)
    let text = String(decoding: ex.text[0..<ex.ownByteCount], as: UTF8.self)
    return TitledReport(
      title: title, altTitles: alts.sorted(), type: type, frame: frame,
      isCorrupted: corruption != nil, corruptionReason: corruption, guiltyFile: guilty,
      startLine: startLine + 1, endLine: max(ex.lastLine, startLine) + 1,
      header: String(decoding: rules.oopses[Int(index.oops[startLine])].header, as: UTF8.self),
      text: text)
  }

  /// Replaces volatile parts (addresses, pids, numbers, line numbers) and sanitizes.
  func normalize(_ title: String) -> String {
    var b = Array(title.utf8)
    for (re, with) in rules.titleReplacements {
      for _ in 0..<8 {
        let next = replaceAll(re, in: b, with: with)
        if next == b { break }
        b = next
      }
    }
    var out: [UInt8] = []
    var prev: UInt8 = 0x20
    for var c in b {
      if out.count >= rules.maxTitleByteCount { break }
      if c == 0x09 { c = 0x20 } else if c < 0x20 || c >= 0x7F { continue }
      if c == 0x20 && prev == 0x20 { continue }
      out.append(c)
      prev = c
    }
    while out.last == 0x20 { out.removeLast() }
    while out.first == 0x20 { out.removeFirst() }
    return String(decoding: out, as: UTF8.self)
  }

  /// Regex replace-all with `${N}` group references in `template`.
  func replaceAll(_ re: PCRE2Pattern, in s: [UInt8], with template: String) -> [UInt8] {
    var out: [UInt8] = []
    var last = 0
    var pos = 0
    let tmpl = Array(template.utf8)
    var changed = false
    while pos <= s.count, let m = re.match(in: s, from: pos), let r = m[0] {
      changed = true
      out.append(contentsOf: s[last..<r.lowerBound])
      var i = 0
      while i < tmpl.count {
        if tmpl[i] == UInt8(ascii: "$"), i + 3 < tmpl.count + 1, i + 1 < tmpl.count, tmpl[i + 1] == UInt8(ascii: "{"),
          let close = tmpl[(i + 2)...].firstIndex(of: UInt8(ascii: "}")),
          let n = Int(String(decoding: tmpl[(i + 2)..<close], as: UTF8.self))
        {
          if let g = m[n] { out.append(contentsOf: s[g]) }
          i = close + 1
        } else {
          out.append(tmpl[i])
          i += 1
        }
      }
      last = r.upperBound
      pos = r.isEmpty ? r.upperBound + 1 : r.upperBound
    }
    guard changed else { return s }
    if last < s.count { out.append(contentsOf: s[last...]) }
    return out
  }
}

extension PCRE2Pattern {
  func match(in bytes: [UInt8], from start: Int = 0) -> PCRE2Match? {
    bytes.withUnsafeBufferPointer { match($0, from: start) }
  }
}
