import Ingest

/// ANSI styling that collapses to plain text when colour is off (not a TTY, or NO_COLOR).
public struct TextStyle: Sendable {
  public let isEnabled: Bool
  public init(isEnabled: Bool) { self.isEnabled = isEnabled }
  func wrap(_ s: String, _ code: String) -> String { isEnabled ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
  public func bold(_ s: String) -> String { wrap(s, "1") }
  public func red(_ s: String) -> String { wrap(s, "31") }
  public func yellow(_ s: String) -> String { wrap(s, "33") }
  public func green(_ s: String) -> String { wrap(s, "32") }
  public func dim(_ s: String) -> String { wrap(s, "2") }
  public func cyan(_ s: String) -> String { wrap(s, "36") }
}

/// Renders a `LogSummary` as the human text of `analyze`.
public enum SummaryText {
  /// Frames that say nothing about the bug: the scheduler and the sleeping primitives at the top
  /// of every blocked stack. Shown dimmed, not hidden.
  static let schedulerPrefixes = [
    "__schedule", "schedule", "preempt_schedule", "io_schedule", "__switch_to", "context_switch",
  ]

  public static func render(_ s: LogSummary, style: TextStyle, maxFramesPerStack: Int = 10) -> String {
    var out = ""
    for f in s.files {
      var line = style.bold(f.path) + ": \(f.lineCount) lines"
      if let v = f.linuxVersion { line += ", Linux \(v)" }
      if let k = f.kernelOffset { line += ", KASLR offset \(k)" }
      if f.truncatedLineCount > 0 { line += style.yellow(", \(f.truncatedLineCount) over-long lines cut") }
      out += line + "\n"
    }
    let total = s.reportCount
    if total == 0 {
      out += style.green("no crash reports found") + "\n"
    } else {
      let kinds = s.reportCounts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        .map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
      out += style.bold("\(total) crash report\(total == 1 ? "" : "s")") + " (\(kinds))\n"
    }
    for (i, e) in s.reports.enumerated() {
      out += "\n" + renderReport(e, index: i + 1, style: style, maxFrames: maxFramesPerStack)
    }
    if s.omittedReportCount > 0 {
      out += style.dim("\n[... \(s.omittedReportCount) more reports not shown; use --jsonl for all ...]\n")
    }
    if !s.blockers.isEmpty {
      out += "\n" + style.bold("Blocker lines") + "\n"
      for b in s.blockers {
        let owner = b.owner.map { "\($0)" } ?? "an owner the kernel could not find"
        out += "  \(b.waiter) waits on a \(b.primitive) likely owned by \(owner)  \(style.dim(b.position.description))\n"
      }
    }
    let withLocks = s.heldLocks.filter { !$0.locks.isEmpty || $0.count > 0 }
    if !withLocks.isEmpty {
      out += "\n" + style.bold("Held locks") + " (lockdep)\n"
      for l in withLocks.prefix(40) {
        let hdr = "  \(l.task.comm)/\(l.task.pid): \(l.count) lock\(l.count == 1 ? "" : "s")"
        out += hdr + "  " + style.dim(l.position.description) + "\n"
        if l.locks.isEmpty && l.count > 0 {
          out += style.yellow("    (entries not printed: the task was running on a CPU)") + "\n"
        }
        for k in l.locks {
          let addr = k.address.map { " " + hex($0) } ?? ""
          let site = k.site.map { " at " + $0.kernelText } ?? ""
          out += "    #\(k.index) \(k.name)\(addr)\(site)\n"
        }
      }
      if withLocks.count > 40 { out += style.dim("  [... \(withLocks.count - 40) more lock lists ...]\n") }
    }
    if s.ftraceRecordCount > 0 {
      out += "\n" + style.bold("Trace") + ": \(s.ftraceRecordCount) ftrace records"
      let top = s.tracepoints.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(6)
      out += " (" + top.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ") + ")\n"
      if !s.vhostLockOps.isEmpty {
        let ops = s.vhostLockOps.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }
        out += "  vhost_lock: " + ops.joined(separator: ", ") + "\n"
      }
    }
    if s.taskDumpCount > 0 {
      out += "\n\(s.taskDumpCount) task dump\(s.taskDumpCount == 1 ? "" : "s") (sysrq-t/w or blocker owners)\n"
    }
    return out
  }

  static func renderReport(_ e: LogSummary.ReportEntry, index: Int, style: TextStyle, maxFrames: Int) -> String {
    let r = e.report
    var out = ""
    let head = e.title ?? r.headline
    let bold = style.bold(head)
    let colored = r.kind == .warning ? style.yellow(bold) : style.red(bold)
    let location = "\(r.position.file):\(r.position.line)-\(r.endLine)"
    out += "[\(index)] " + colored + "  " + style.dim(location) + "\n"
    if e.title != nil { out += "    " + style.dim(r.headline) + "\n" }
    var facts: [String] = ["kind \(r.kind.rawValue)"]
    if let t = e.type { facts.append("type \(t)") }
    if let ts = r.prefix.timestamp { facts.append(format6(ts) + "s") }
    if e.isCorrupted == true { facts.append(style.yellow("corrupted")) }
    if r.isTruncated { facts.append(style.yellow("truncated")) }
    out += "    " + facts.joined(separator: ", ") + "\n"
    if let h = r.hungTask {
      var t = "    task \(h.task) blocked for more than \(h.seconds) s"
      if let st = h.info?.state { t += ", state \(st)" }
      out += t + "\n"
    } else if let t = r.task {
      out += "    task \(t)" + (r.cpu.map { " on CPU \($0)" } ?? "") + "\n"
    }
    if let rip = r.rip?.frame, r.rip?.isUserSpace == false {
      out += "    RIP " + rip.kernelText + "\n"
    }
    if let l = r.lockdep {
      if let a = l.acquiring { out += "    acquiring \(a.name)" + (a.site.map { " at \($0.kernelText)" } ?? "") + "\n" }
      for h in l.holding { out += "    holding \(h.name)" + (h.site.map { " at \($0.kernelText)" } ?? "") + "\n" }
      if !l.chain.isEmpty {
        out += "    chain: " + l.chain.map { "#\($0.index) \($0.name)" }.joined(separator: " → ")
        out += l.isDeadlock ? style.red(" (DEADLOCK)") : ""
        out += "\n"
      }
    }
    // Reliable frames, with the inline callers symbolization added (`[inline]`).
    let frames = r.frames.filter { $0.isReliable }
    if !frames.isEmpty {
      out += "    stack:\n"
      for f in frames.prefix(maxFrames) {
        let name = (f.isInline ? (f.function ?? "?") : f.kernelText) + (f.source.map { " " + $0 } ?? "") + (f.isInline ? " [inline]" : "")
        let isNoise = schedulerPrefixes.contains { f.function == $0 }
        let ctx = f.context == .task ? "" : " <\(f.context.rawValue)>"
        out += "      " + (isNoise ? style.dim(name) : name) + ctx + "  " + style.dim("line \(f.line)") + "\n"
      }
      if frames.count > maxFrames { out += style.dim("      ... \(frames.count - maxFrames) more frames") + "\n" }
    }
    return out
  }

  static func hex(_ v: UInt64) -> String { String(v, radix: 16) }

  static func format6(_ v: Double) -> String {
    let us = Int((v * 1_000_000).rounded())
    let frac = String(us % 1_000_000)
    return "\(us / 1_000_000)." + String(repeating: "0", count: 6 - frac.count) + frac
  }
}
