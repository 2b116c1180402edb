import Ingest

extension Titler {
  /// The source file of the guilty code: the first `path/file.c:NN` in the report that is not
  /// generic infrastructure, then refined to a deeper path in the same directory if the stack
  /// shows one further down.
  func guiltyFile(title: String, ex: Extract, index: LogIndex) -> String? {
    var lines = ex.text.split(separator: 0x0A, omittingEmptySubsequences: false).map { Array($0) }
    if let resolve = sourceResolver { lines = lines.map { annotate($0, resolve) } }
    for (prefix, markers) in rules.guiltyStartMarkers where title.hasPrefix(prefix) {
      for marker in markers {
        guard let at = lines.firstIndex(where: { $0.contains(marker) }) else { continue }
        if let f = guiltyFile(in: lines[at...]) { return f }
      }
    }
    return guiltyFile(in: lines[...])
  }

  func guiltyFile(in lines: ArraySlice<[UInt8]>) -> String? {
    var guilty: String? = nil
    var deepest = ""
    for line in lines {
      guard let m = rules.guiltyFileName.match(in: line), let r = m[1] else { continue }
      let path = Array(line[r])
      if rules.guiltyIgnores.contains(where: { $0.match(in: path) != nil }) { continue }
      if let ig = rules.guiltyLineIgnore, ig.match(in: line) != nil { continue }
      let clean = Self.cleanPath(String(decoding: path, as: UTF8.self))
      guard guilty != nil else {
        guilty = clean
        deepest = Self.directory(clean)
        continue
      }
      // A later frame deeper in the same directory tree names the code more precisely.
      if clean.hasPrefix(deepest) {
        let suffix = clean.dropFirst(deepest.count)
        if suffix.hasPrefix("/") && suffix.dropFirst().contains("/") {
          guilty = clean
          deepest = Self.directory(clean)
        }
      }
    }
    return guilty
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
