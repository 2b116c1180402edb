import Ingest

/// A guilty-frame candidate: the name as printed, the name the title uses, and every variant
/// (syscall prefixes stripped one at a time) that may appear in alternative titles.
struct ExtractedFrame {
  var raw: String
  var canonical: String
  var variants: [String]
}

extension Titler {
  /// Runs a format's stack spec over the report text from the title match on. Returns one
  /// frame per stack group and false when a group had no usable frame.
  func extractFrames(_ spec: TitleRules.StackSpec, _ text: [UInt8]) -> ([ExtractedFrame], Bool) {
    let lines = text.split(separator: 0x0A, omittingEmptySubsequences: false).map { Array($0) }
    let (frames, ok) = extractFrames(spec, parts: spec.parts, lines: lines)
    if ok || spec.fallbackParts.isEmpty { return (frames, ok) }
    return extractFrames(spec, parts: spec.fallbackParts, lines: lines)
  }

  private func extractFrames(
    _ spec: TitleRules.StackSpec, parts: [TitleRules.StackPart], lines: [[UInt8]]
  ) -> ([ExtractedFrame], Bool) {
    var results: [ExtractedFrame] = []
    var candidates: [String] = []
    var ok = true
    var traces = 0
    var li = 0
    var pi = 0
    func collect(_ m: PCRE2Match?, _ line: [UInt8]) {
      guard let m, m.ranges.count > 1 else { return }
      for r in m.ranges[1...] {
        guard let r, !r.isEmpty else { continue }
        let name = Array(line[r])
        if spec.skip.match(in: name) != nil { continue }
        candidates.append(String(decoding: name, as: UTF8.self))
      }
    }
    func closeGroup() {
      if let f = key(spec, candidates) {
        results.append(f)
      } else {
        results.append(ExtractedFrame(raw: "corrupted", canonical: "corrupted", variants: []))
        ok = false
      }
      candidates = []
    }
    while true {
      if pi == parts.count {
        closeGroup()
        break
      }
      if case .trace = parts[pi], traces > 0 { closeGroup() }
      switch parts[pi] {
      case .trace:
        traces += 1
        scan: while li < lines.count {
          let ln = lines[li]
          li += 1
          if rules.corruptedLines.contains(where: { $0.match(in: ln) != nil }) {
            ok = false
            break scan
          }
          if rules.stackStarts.contains(where: { $0.match(in: ln) != nil }) { break scan }
          if pi + 1 < parts.count, case .pattern(let next) = parts[pi + 1], let m = next.match(in: ln) {
            collect(m, ln)
            pi += 1
            break scan
          }
          for re in rules.frameLines {
            if let m = re.match(in: ln) {
              collect(m, ln)
              break
            }
          }
        }
      case .pattern(let re):
        while li < lines.count {
          let ln = lines[li]
          li += 1
          if rules.corruptedLines.contains(where: { $0.match(in: ln) != nil }) {
            ok = false
            break
          }
          if let m = re.match(in: ln) {
            collect(m, ln)
            break
          }
        }
      }
      pi += 1
    }
    return (results, ok)
  }

  /// The guilty frame among a group's candidates: the first one, or what the extractor picks.
  private func key(_ spec: TitleRules.StackSpec, _ frames: [String]) -> ExtractedFrame? {
    guard !frames.isEmpty else { return nil }
    guard let e = spec.extractor else { return canonical(frames[0]) }
    for f in frames {
      for (p, name) in e.preferred where p.matches(f) { return canonical(f, special: name) }
    }
    if let anchors = e.anchors {
      var prev = frames[0]
      for f in frames {
        if anchors.matches(f) {
          for (p, name) in e.anchorSelf where p.matches(f) { return canonical(f, special: name) }
          return canonical(prev)
        }
        prev = f
      }
      if e.avoid == nil { return nil }
    }
    if let avoid = e.avoid {
      for f in frames where !avoid.matches(f) { return canonical(f) }
      return nil
    }
    return canonical(frames[0])
  }

  /// Strips one syscall-entry prefix (`__x64_`, `__se_sys_`, …): the shortest result is the
  /// canonical name, the others are variants.
  func canonical(_ raw: String, special: String? = nil) -> ExtractedFrame {
    var variants = [raw]
    for p in rules.syscallPrefixes where raw.hasPrefix(p) && raw.count > p.count {
      let v = String(raw.dropFirst(p.count))
      if !variants.contains(v) { variants.append(v) }
    }
    var best = raw
    for v in variants where v.utf8.count < best.utf8.count { best = v }
    if let special {
      if !variants.contains(special) { variants.append(special) }
      best = special
    }
    return ExtractedFrame(raw: raw, canonical: best, variants: variants)
  }
}
