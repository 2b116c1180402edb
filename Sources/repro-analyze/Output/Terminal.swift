import Forensics
#if canImport(Glibc)
  import Glibc
#endif

/// Terminal facts: whether stdout/stderr are TTYs and whether colour is allowed
/// (only on a TTY, never with NO_COLOR set, see no-color.org).
enum Terminal {
  static let stdoutIsTTY = isatty(1) == 1
  static let stderrIsTTY = isatty(2) == 1
  static let noColor: Bool = {
    if let v = getenv("NO_COLOR"), v.pointee != 0 { return true }
    return false
  }()
  static var colorStdout: Bool { stdoutIsTTY && !noColor }

  static func writeStderr(_ s: String) {
    var s = s
    s.withUTF8 { b in _ = write(2, b.baseAddress, b.count) }
  }
}

/// The CLI's name for `Forensics.TextStyle` (one implementation of ANSI styling for all output).
typealias Style = TextStyle

extension TextStyle {
  init(enabled: Bool) { self.init(isEnabled: enabled) }
}

/// A one-line progress bar on stderr, drawn only when stderr is a TTY.
final class ProgressBar {
  let total: Int
  let label: String
  private var lastDrawn = -1
  let enabled: Bool

  init(total: Int, label: String, enabled: Bool = Terminal.stderrIsTTY) {
    self.total = max(total, 1)
    self.label = label
    self.enabled = enabled
  }

  func update(_ done: Int) {
    guard enabled else { return }
    let pct = min(100, done * 100 / total)
    guard pct != lastDrawn else { return }
    lastDrawn = pct
    let width = 30
    let filled = pct * width / 100
    let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
    Terminal.writeStderr("\r\(label) [\(bar)] \(pct)%")
  }

  func finish() {
    guard enabled, lastDrawn >= 0 else { return }
    Terminal.writeStderr("\r\u{1B}[K")
  }
}
