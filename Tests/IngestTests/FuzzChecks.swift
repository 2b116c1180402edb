import Foundation

@testable import Ingest

#if canImport(Glibc)
  import Glibc
#endif

/// Invariants every parser must keep on arbitrary bytes. Shared (by symlink) between the
/// libFuzzer harness (Tests/Fuzz/Harness, which traps on a violation so libFuzzer keeps the
/// input) and `FuzzRegressionTests` (which replays saved reproducers and expects no violation).
///
/// Each check returns the violated invariants as text; empty means the input was handled.
enum FuzzChecks {
  /// Calls `body` for each line of `input` split the way `LogSource` splits it, with a small
  /// line cap so over-long-line handling is exercised by short inputs.
  static func forEachLine(
    _ input: UnsafeBufferPointer<UInt8>, cap: Int = 512, _ body: (borrowing Line) -> Void
  ) {
    _ = try? LineSplitter.split(
      input, baseOffset: 0, firstLine: 1, isFinal: true, cap: cap, progress: nil, { body($0) })
  }

  static func eachLine(
    _ input: UnsafeBufferPointer<UInt8>, _ check: (UnsafeBufferPointer<UInt8>) -> [String]
  ) -> [String] {
    var problems: [String] = []
    forEachLine(input) { line in
      let pre = PrefixParser.parse(line.bytes)
      let bodyStart = min(max(pre.bodyStart, 0), line.bytes.count)
      problems += check(UnsafeBufferPointer(rebasing: line.bytes[bodyStart...]))
      problems += check(line.bytes)
    }
    return problems
  }

  // MARK: - line scanner + prefix

  static func lines(_ input: UnsafeBufferPointer<UInt8>) -> [String] {
    var problems: [String] = []
    // Split twice: as the final chunk, and as a middle chunk (incomplete last line kept back).
    for isFinal in [true, false] {
      var lastEnd = 0
      var expectedNumber = 1
      let consumed =
        (try? LineSplitter.split(
          input, baseOffset: 0, firstLine: 1, isFinal: isFinal, cap: 64, progress: nil,
          { line in
            if line.number != expectedNumber { problems.append("line number \(line.number) != \(expectedNumber)") }
            expectedNumber += 1
            if line.offset < lastEnd { problems.append("line offset \(line.offset) goes backwards") }
            let count = line.bytes.count
            if count > 64 { problems.append("line of \(count) bytes exceeds the cap") }
            if let b = line.bytes.baseAddress, let i = input.baseAddress {
              if b < i || b + count > i + input.count { problems.append("line outside the input") }
            }
            lastEnd = line.offset + count
            problems += prefix(line.bytes)
          })) ?? 0
      if consumed > input.count { problems.append("consumed \(consumed) > \(input.count)") }
      if isFinal && consumed != input.count { problems.append("final split left \(input.count - consumed) bytes") }
    }
    return problems
  }

  static func prefix(_ b: UnsafeBufferPointer<UInt8>) -> [String] {
    var problems: [String] = []
    let p = PrefixParser.parse(b)
    if p.bodyStart < 0 || p.bodyStart > b.count { problems.append("bodyStart \(p.bodyStart) outside 0...\(b.count)") }
    if let t = p.timestamp, !t.isFinite { problems.append("timestamp not finite") }
    if let l = p.level, !(0...7).contains(l) { problems.append("level \(l)") }
    _ = p.caller
    _ = b.text(0..<b.count)
    return problems
  }

  // MARK: - line parsers

  static func frame(_ b: UnsafeBufferPointer<UInt8>) -> [String] {
    var problems: [String] = []
    if let f = FrameParser.parse(b, line: 1) {
      problems += frameFields(f)
    }
    problems += commonFrameAgrees(b)
    for at in [0, 5] where at <= b.count {
      if let ip = FrameParser.parseRIP(b, at: at, line: 1), let f = ip.frame { problems += frameFields(f) }
    }
    return problems
  }

  /// The common-shape frame parser (the parser's fast lane) takes a line only as the general
  /// one would.
  static func commonFrameAgrees(_ b: UnsafeBufferPointer<UInt8>) -> [String] {
    guard let common = FrameParser.parseCommon(b) else { return [] }
    let general = FrameParser.parseRaw(b)
    return common == general ? [] : ["parseCommon \(common) != parseRaw \(String(describing: general)) for '\(String(decoding: b, as: UTF8.self))'"]
  }

  static func frameFields(_ f: Frame) -> [String] {
    var problems: [String] = []
    if let fn = f.function, fn.isEmpty { problems.append("empty function name") }
    if f.function == nil && f.address == nil { problems.append("frame with neither function nor address") }
    _ = f.kernelText
    return problems
  }

  static func lockdep(_ b: UnsafeBufferPointer<UInt8>) -> [String] {
    var problems: [String] = []
    if let (count, task) = LineParsers.heldLocksHeader(b) {
      if count < 0 { problems.append("negative lock count") }
      if task.pid < 0 { problems.append("negative pid") }
    }
    if let e = LineParsers.heldLockEntry(b, line: 1) {
      if e.index < 0 { problems.append("negative lock index") }
      if let s = e.site { problems += frameFields(s) }
    }
    for from in [0, 1, 4] where from <= b.count {
      if let l = LineParsers.lockDescription(b, from: from, index: -1, line: 1), let s = l.site {
        problems += frameFields(s)
      }
    }
    if let c = LineParsers.chainHeader(b, line: 1), c.index < 0 { problems.append("negative chain index") }
    return problems
  }

  static func task(_ b: UnsafeBufferPointer<UInt8>) -> [String] {
    var problems: [String] = []
    if let info = LineParsers.taskLine(b), let pid = info.pid, pid < 0 { problems.append("negative pid") }
    if let (cpu, task, _) = LineParsers.cpuLine(b) {
      if cpu < 0 { problems.append("negative cpu") }
      if let t = task, t.pid < 0 { problems.append("negative pid") }
    }
    var regs: [Register] = []
    _ = LineParsers.registers(b, into: &regs)
    if regs.contains(where: { $0.name.isEmpty || $0.value.isEmpty }) { problems.append("empty register") }
    _ = LineParsers.looksLikeRegisters(b)
    return problems
  }

  static func ftrace(_ b: UnsafeBufferPointer<UInt8>) -> [String] {
    var problems: [String] = []
    let pos = SourcePosition(file: "fuzz", line: 1, offset: 0)
    if let r = LineParsers.ftraceLine(b, position: pos) {
      if !r.timestamp.isFinite { problems.append("ftrace timestamp not finite") }
      if r.pid < 0 { problems.append("negative pid") }
    }
    if let name = LineParsers.ftraceEventName(b) {
      // May be empty on garbage such as `… 12us : : :` (the detailed parser then records an
      // empty event name too); it must stay inside the line.
      if name.lowerBound < 0 || name.upperBound > b.count {
        problems.append("event name range \(name) outside 0..<\(b.count)")
      }
    }
    let v = LineParsers.vhostLock(b)
    // Keys come from non-empty byte runs before `=`; decoded text never carries control bytes.
    for f in v.fields where (f.key + f.value).utf8.contains(where: { $0 < 0x20 && $0 != 0x09 }) {
      problems.append("control byte in vhost field \(f.key)")
    }
    return problems
  }

  // MARK: - whole parser and JSON

  /// Runs the event parser detailed and count-only; returns the events of the detailed run.
  static func parseEvents(
    _ input: UnsafeBufferPointer<UInt8>, rules: IngestRules, detailed: Bool = true, problems: inout [String],
    countedReports: inout Int
  ) -> [Event] {
    var events: [Event] = []
    let parser = EventParser(rules: rules, file: "fuzz.log") { events.append($0) }
    parser.isDetailed = detailed
    parser.maxFramesPerReport = 64
    forEachLine(input, cap: 4096) { parser.consume($0) }
    parser.finish()
    countedReports = parser.countedReports.values.reduce(0, +)
    var lines = 0
    forEachLine(input, cap: 4096) { _ in lines += 1 }
    for e in events {
      if case .report(let r) = e {
        if r.endLine < r.position.line { problems.append("report ends (\(r.endLine)) before it starts (\(r.position.line))") }
        if r.position.line < 1 || r.endLine > lines { problems.append("report lines \(r.position.line)...\(r.endLine) outside 1...\(lines)") }
        if r.frames.count > 64 { problems.append("\(r.frames.count) frames > cap") }
        if r.headline.isEmpty { problems.append("empty headline") }
        for f in r.frames { problems += frameFields(f) }
      }
    }
    return events
  }

  static func events(_ input: UnsafeBufferPointer<UInt8>, rules: IngestRules) -> [String] {
    var problems: [String] = []
    var ignored = 0
    var counted = 0
    let detailed = parseEvents(input, rules: rules, problems: &problems, countedReports: &ignored)
    let countOnly = parseEvents(input, rules: rules, detailed: false, problems: &problems, countedReports: &counted)
    // Count-only mode delimits the same reports (it only skips decoding them, and tallies them
    // by kind instead of emitting them).
    let a = detailed.filter { if case .report = $0 { true } else { false } }.count
    let b = counted + countOnly.filter { if case .report = $0 { true } else { false } }.count
    if a != b { problems.append("detailed found \(a) reports, count-only \(b)") }
    problems += countOnlyFastPathAgrees(input, rules: rules)
    problems += frameLaneAgrees(input, rules: rules)
    return problems
  }

  /// The frame lane (EventParser.frameLane) only skips work: with it off, the same events come
  /// out, and in JSON Lines mode the same bytes.
  static func frameLaneAgrees(_ input: UnsafeBufferPointer<UInt8>, rules: IngestRules, maxFrames: Int = 64) -> [String] {
    func run(lane: Bool, jsonLines: Bool) -> ([Event], [UInt8]) {
      var out: [UInt8] = []
      let sink = JSONLinesOutput { out += $0 }
      let (events, _) = runParser(input, rules: rules) {
        $0.frameLane = lane
        $0.maxFramesPerReport = maxFrames
        if jsonLines { $0.jsonLines = sink }
      }
      sink.flush()
      return (events, out)
    }
    var problems: [String] = []
    if run(lane: true, jsonLines: false).0 != run(lane: false, jsonLines: false).0 { problems.append("the frame lane changed the events") }
    if run(lane: true, jsonLines: true).1 != run(lane: false, jsonLines: true).1 { problems.append("the frame lane changed the JSON Lines") }
    return problems
  }

  /// Parses `input` with a parser `configure` has set up; the events and the finished parser.
  static func runParser(_ input: UnsafeBufferPointer<UInt8>, rules: IngestRules, configure: (EventParser) -> Void) -> ([Event], EventParser) {
    var events: [Event] = []
    let parser = EventParser(rules: rules, file: "fuzz.log") { events.append($0) }
    configure(parser)
    forEachLine(input, cap: 4096) { parser.consume($0) }
    parser.finish()
    return (events, parser)
  }

  /// The count-only fast path (EventParser.skipsCountOnly) only skips work: with it off, the
  /// same events and the same tallies come out.
  static func countOnlyFastPathAgrees(_ input: UnsafeBufferPointer<UInt8>, rules: IngestRules) -> [String] {
    func run(fast: Bool) -> ([Event], [String]) {
      let (events, parser) = runParser(input, rules: rules) {
        $0.isDetailed = false
        $0.countOnlyFastPath = fast
      }
      let tallies = [
        "\(parser.lineCount) \(parser.truncatedLineCount) \(parser.countedLockLists)",
        parser.countedReports.map { "\($0.key.rawValue)=\($0.value)" }.sorted().joined(separator: ","),
        parser.countedTracepoints.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ","),
        parser.countedVhostOps.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ","),
      ]
      return (events, tallies)
    }
    let (fastEvents, fastTallies) = run(fast: true)
    let (slowEvents, slowTallies) = run(fast: false)
    var problems: [String] = []
    if fastEvents != slowEvents { problems.append("count-only fast path changed the events") }
    if fastTallies != slowTallies { problems.append("count-only fast path changed the tallies: \(fastTallies) vs \(slowTallies)") }
    return problems
  }

  /// JSON Lines mode (`EventParser.jsonLines`, which encodes frames, registers and ftrace
  /// records straight from the line bytes) writes exactly the bytes the events encode to, and
  /// counts the same reports. The file name needs escaping, as positions carry it.
  static func jsonLinesModeAgrees(
    _ input: UnsafeBufferPointer<UInt8>, rules: IngestRules, maxFrames: Int = 64, cap: Int = 4096
  ) -> [String] {
    let file = "fuzz \"run\"\\1.log"
    var events: [Event] = []
    let byEvents = EventParser(rules: rules, file: file) { events.append($0) }
    byEvents.maxFramesPerReport = maxFrames
    forEachLine(input, cap: cap) { byEvents.consume($0) }
    byEvents.finish()
    let expected = JSONBuffer()
    for e in events {
      expected.event(e)
      expected.byte(0x0A)
    }
    var problems: [String] = []
    var written: [UInt8] = []
    let out = JSONLinesOutput { written += $0 }
    let direct = EventParser(rules: rules, file: file) { _ in problems.append("the sink was called in JSON Lines mode") }
    direct.maxFramesPerReport = maxFrames
    direct.jsonLines = out
    forEachLine(input, cap: cap) { direct.consume($0) }
    direct.finish()
    out.flush()
    if out.offset != written.count { problems.append("offset \(out.offset) != \(written.count) bytes written") }
    let reference = expected.bytes
    if written != reference {
      let at = zip(written, reference).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(written.count, reference.count)
      let lineStart = (reference[..<min(at, reference.count)].lastIndex(of: 0x0A) ?? -1) + 1
      problems.append(
        "JSON Lines mode differs at byte \(at): expected \(String(decoding: reference[lineStart..<min(reference.count, at + 80)], as: UTF8.self))"
          + " got \(String(decoding: written[min(lineStart, written.count)..<min(written.count, at + 80)], as: UTF8.self))")
    }
    let reports = events.filter { if case .report = $0 { true } else { false } }.count
    let counted = direct.countedReports.values.reduce(0, +)
    if counted != reports { problems.append("JSON Lines mode counted \(counted) reports, the events hold \(reports)") }
    return problems
  }

  static func jsonl(_ input: UnsafeBufferPointer<UInt8>, rules: IngestRules) -> [String] {
    var problems: [String] = jsonLinesModeAgrees(input, rules: rules)
    var counted = 0
    let events = parseEvents(input, rules: rules, problems: &problems, countedReports: &counted)
    for e in events {
      var json = JSONBuffer()
      json.event(e)
      if json.bytes.contains(0x0A) { problems.append("raw newline inside a JSON Lines record") }
      guard let obj = try? JSONSerialization.jsonObject(with: Data(json.bytes)) as? [String: Any] else {
        problems.append("invalid JSON: \(String(decoding: json.bytes.prefix(300), as: UTF8.self))")
        continue
      }
      if obj["kind"] as? String != e.kind.rawValue { problems.append("kind lost in JSON") }
    }
    return problems
  }

  // MARK: - xz

  /// Decodes `.xz` bytes through the same reader `LogSource` uses; corrupt input must throw a
  /// typed error, never crash. Output is capped so a zip bomb costs bounded time.
  static func xz(_ bytes: [UInt8]) -> [String] {
    let reader = MemoryReader.make(bytes)
    guard let decoder = try? XZDecoder(input: reader, path: "fuzz.xz") else { return ["decoder init failed"] }
    let cap = 1 << 16
    let buf = UnsafeMutablePointer<UInt8>.allocate(capacity: cap)
    defer { buf.deallocate() }
    var total = 0
    do {
      while total < 8 << 20 {
        let n = try decoder.read(into: buf, capacity: cap)
        if n < 0 || n > cap { return ["read returned \(n)"] }
        if n == 0 { break }
        total += n
      }
    } catch {
      if case .xz(let path, _, _, _) = error, path == "fuzz.xz" { return [] }
      return ["unexpected error \(error)"]
    }
    return []
  }
}
