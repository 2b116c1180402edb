/// One crash report found in a log, named the way syzbot names it.
public struct TitledReport: Sendable, Hashable, Codable {
  /// syzbot-compatible title, e.g. `KASAN: use-after-free Read in tty_release`.
  public var title: String
  /// Other titles the same bug may carry (syscall-prefix variants, `bad-access in …`), sorted.
  public var altTitles: [String]
  /// Crash type derived from the title (`HANG`, `LOCKDEP`, `KASAN-READ`, …); nil = unknown.
  public var type: String?
  /// The guilty function as it appears in the title (last ` in <func>`), if any.
  public var frame: String?
  /// The report is damaged (interleaved output, missing stack, lost header …).
  public var isCorrupted: Bool
  /// Why it is considered corrupted, for humans.
  public var corruptionReason: String?
  /// Source file of the guilty code, from `file.c:NN` annotations (symbolized logs) or the
  /// source resolver given to the titler.
  public var guiltyFile: String?
  /// 1-based line of the oops header in the input.
  public var startLine: Int
  /// 1-based last line of the report (inclusive).
  public var endLine: Int
  /// The oops header literal that started the report (`BUG:`, `WARNING:`, …).
  public var header: String
  /// The extracted report text (console prefixes removed, other tasks' lines dropped).
  public var text: String

  public init(
    title: String, altTitles: [String], type: String?, frame: String?, isCorrupted: Bool,
    corruptionReason: String?, guiltyFile: String?, startLine: Int, endLine: Int,
    header: String, text: String
  ) {
    self.title = title
    self.altTitles = altTitles
    self.type = type
    self.frame = frame
    self.isCorrupted = isCorrupted
    self.corruptionReason = corruptionReason
    self.guiltyFile = guiltyFile
    self.startLine = startLine
    self.endLine = endLine
    self.header = header
    self.text = text
  }
}
