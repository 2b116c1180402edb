import Ingest

/// Adds `file:line` and inline frames to the reports a summary keeps (`analyze --vmlinux`).
extension LogSummary {
  /// Symbolizes the frames of kept reports. Inline callers come first (innermost first, as
  /// decode_stacktrace.sh and syzbot print them), marked `isInline`; the frame itself gets the
  /// outermost location as its `source`. Unresolvable frames are left as printed.
  public mutating func symbolize(with symbolizer: Symbolizer, kaslrOffset: (String) -> UInt64?) -> (resolved: Int, unresolved: Int) {
    var resolved = 0
    var unresolved = 0
    for i in reports.indices {
      let file = reports[i].report.position.file
      if let off = kaslrOffset(file) { symbolizer.kaslrOffset = off }
      var out: [Frame] = []
      for f in reports[i].report.frames {
        guard !f.isInline, f.source == nil, let chain = symbolizer.symbolize(f), let outer = chain.last else {
          out.append(f)
          if f.source == nil && !f.isInline { unresolved += 1 }
          continue
        }
        resolved += 1
        for inl in chain.dropLast() {
          var g = Frame(function: inl.function, isReliable: f.isReliable, isInline: true, context: f.context, line: f.line)
          g.source = symbolizer.displayPath(inl).map { "\($0):\(inl.line)" }
          out.append(g)
        }
        var g = f
        g.source = symbolizer.displayPath(outer).map { "\($0):\(outer.line)" }
        out.append(g)
      }
      reports[i].report.frames = out
    }
    return (resolved, unresolved)
  }
}
