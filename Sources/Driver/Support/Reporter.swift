import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Where the driver's human-facing progress goes: stderr, with a redrawn progress bar when
/// stderr is a terminal and one concise line per step otherwise (logs and CI stay readable).
///
/// Threading: used from one thread at a time (the command's).
public final class Reporter: @unchecked Sendable {
  // SAFETY: the driver reports from the command's thread only; no concurrent access.
  public let isTTY: Bool
  public let isQuiet: Bool
  private var barLabel = ""
  private var barTotal: Int?
  private var lastDraw = 0.0
  private var barStart = 0.0
  private var barShown = false

  public init(isTTY: Bool = isatty(2) == 1, isQuiet: Bool = false) {
    self.isTTY = isTTY
    self.isQuiet = isQuiet
  }

  /// A one-line note (`prepare: kernel.config: 2547 bytes`).
  public func note(_ line: String) {
    guard !isQuiet else { return }
    clearBar()
    write(line + "\n")
  }

  /// A warning that does not stop the run.
  public func warn(_ line: String) {
    clearBar()
    write("repro-analyze: warning: " + line + "\n")
  }

  public func beginProgress(_ label: String, total: Int?) {
    barLabel = label
    barTotal = total
    barStart = Posix.monotonicSeconds()
    lastDraw = 0
  }

  /// Redraws the bar at most 10 times a second; silent when stderr is not a terminal.
  public func progress(_ done: Int, total: Int? = nil) {
    guard isTTY, !isQuiet else { return }
    if let total { barTotal = total }
    let now = Posix.monotonicSeconds()
    guard now - lastDraw >= 0.1 else { return }
    lastDraw = now
    let rate = Double(done) / max(now - barStart, 0.001)
    var line = "\r\(barLabel) "
    if let total = barTotal, total > 0 {
      let pct = min(100, done * 100 / total)
      let width = 24
      let filled = pct * width / 100
      line += "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
      line += "\(pct)% \(Self.bytes(done))/\(Self.bytes(total))"
    } else {
      line += Self.bytes(done)
    }
    line += " \(Self.bytes(Int(rate)))/s\u{1B}[K"
    write(line)
    barShown = true
  }

  public func endProgress() { clearBar() }

  private func clearBar() {
    if barShown {
      write("\r\u{1B}[K")
      barShown = false
    }
  }

  private func write(_ s: String) {
    var s = s
    s.withUTF8 { b in _ = Glibc.write(2, b.baseAddress, b.count) }
  }

  static func bytes(_ n: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB"]
    var v = Double(n)
    var u = 0
    while v >= 1024 && u < units.count - 1 {
      v /= 1024
      u += 1
    }
    return u == 0 ? "\(n) B" : String(format: "%.1f", v) + " " + units[u]
  }
}
