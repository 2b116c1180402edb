import Ingest

extension Titler {
  /// The source file of the guilty code: the first `path/file.c:NN` in the report that is not
  /// generic infrastructure, then refined to a deeper path in the same directory if the stack
  /// shows one further down.
  func guiltyFile(title: String, ex: Extract, index: LogIndex) -> String? {
    // The report's lines are log lines (`ex.text` is `index.text(i)` of each, joined).
    let lines = ex.lineIndexes
    for (prefix, markers) in rules.guiltyStartMarkers where title.hasPrefix(prefix) {
      for marker in markers {
        let at = lines.firstIndex { i in
          if let resolve = sourceResolver { return annotate(Array(index.text(i)), resolve).contains(marker) }
          return index.text(i).contains(marker)
        }
        guard let at else { continue }
        if let f = guiltyFile(in: lines[at...], index: index) { return f }
      }
    }
    return guiltyFile(in: lines[...], index: index)
  }

  /// What one log line says about the guilty file. Computed once per log line and cached in the
  /// index: a report's text runs past the next report (like syzkaller's), so back-to-back
  /// reports share most of their lines, and matching them again per report made a log of n
  /// `WARNING:` lines cost n × `max_lines` regex matches and path clean-ups (fuzz finding:
  /// 2,000 warnings took minutes under the fuzzer).
  struct GuiltyLine {
    /// The cleaned `path/file.c` the line names; nil when it names none.
    var path: String?
    /// The file or the line is generic infrastructure: the path is only a last resort.
    var ignored = false
  }

  func guiltyLine(_ i: Int, index: LogIndex) -> GuiltyLine {
    if let known = index.guiltyLines.byLine[i] { return known }
    var line = Array(index.text(i))
    if let resolve = sourceResolver { line = annotate(line, resolve) }
    var facts = GuiltyLine(path: nil)
    if let m = rules.guiltyFileName.match(in: line), let r = m[1] {
      let path = Array(line[r])
      facts.path = Self.cleanPath(String(decoding: path, as: UTF8.self))
      facts.ignored =
        rules.guiltyIgnores.contains { $0.match(in: path) != nil }
        || rules.guiltyLineIgnore.map { $0.match(in: line) != nil } ?? false
    }
    index.guiltyLines.byLine[i] = facts
    return facts
  }

  func guiltyFile(in lines: ArraySlice<Int>, index: LogIndex) -> String? {
    var guilty: String? = nil
    var first: String? = nil
    var deepest = ""
    for i in lines {
      let facts = guiltyLine(i, index: index)
      guard let clean = facts.path else { continue }
      if first == nil { first = clean }
      if facts.ignored { continue }
      guard guilty != nil else {
        guilty = clean
        deepest = Self.directory(clean)
        continue
      }
      // A later frame deeper in the same directory tree names the code more precisely (the
      // same file again never is: most lines of a report repeat the guilty one).
      if clean != guilty, clean.hasPrefix(deepest) {
        let suffix = clean.dropFirst(deepest.count)
        if suffix.hasPrefix("/") && suffix.dropFirst().contains("/") {
          guilty = clean
          deepest = Self.directory(clean)
        }
      }
    }
    // Everything was infrastructure: the first reference still beats nothing.
    return guilty ?? first
  }

  /// Appends ` file.c:NN` from the resolver to a frame line that has no source annotation.
  func annotate(_ line: [UInt8], _ resolve: (Frame) -> String?) -> [UInt8] {
    if rules.guiltyFileName.match(in: line) != nil { return line }
    guard let re = rules.frameLines.first, let m = re.match(in: line), let fr = m[1] else { return line }
    let name = String(decoding: line[fr], as: UTF8.self)
    var frame = Frame(function: name)
    // `+0xOFF/0xSIZE [module]` after the name.
    let rest = String(decoding: line[fr.upperBound...], as: UTF8.self)
    if let plus = rest.firstIndex(of: "+") {
      let tail = rest[rest.index(after: plus)...].prefix { $0 != " " }
      let parts = tail.split(separator: "/")
      if let o = parts.first { frame.offset = UInt64(o.dropFirst(o.hasPrefix("0x") ? 2 : 0), radix: 16) }
      if parts.count > 1 { frame.size = UInt64(parts[1].dropFirst(parts[1].hasPrefix("0x") ? 2 : 0), radix: 16) }
    }
    if let open = rest.firstIndex(of: "["), let close = rest.lastIndex(of: "]"), open < close {
      frame.module = String(rest[rest.index(after: open)..<close]).split(separator: " ").first.map(String.init)
    }
    guard let src = resolve(frame) else { return line }
    return line + Array((" " + src).utf8)
  }

  static func directory(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return String(path[..<slash])
  }

  /// Lexical clean-up like Go's `filepath.Clean`: no `.`/empty segments, `..` resolved.
  static func cleanPath(_ path: String) -> String {
    let isAbsolute = path.hasPrefix("/")
    var out: [Substring] = []
    for seg in path.split(separator: "/", omittingEmptySubsequences: true) {
      if seg == "." { continue }
      if seg == "..", let last = out.last, last != ".." {
        out.removeLast()
        continue
      }
      out.append(seg)
    }
    let joined = out.joined(separator: "/")
    return isAbsolute ? "/" + joined : (joined.isEmpty ? "." : joined)
  }
}
