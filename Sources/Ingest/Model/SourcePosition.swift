/// Where something was found in an input: the file (or `-` for stdin), the 1-based line number
/// and the byte offset of the line's first byte in the decoded stream.
public struct SourcePosition: Sendable, Hashable, Codable, CustomStringConvertible {
  public var file: String
  public var line: Int
  public var offset: Int

  public init(file: String, line: Int, offset: Int) {
    self.file = file
    self.line = line
    self.offset = offset
  }

  public var description: String { "\(file):\(line)" }
}

/// The parsed printk prefix of one console line.
///
/// printed by `kernel/printk/printk.c` (`print_time`, `print_caller`, `print_syslog`); the caller
/// bracket exists with CONFIG_PRINTK_CALLER (syzbot kernels), the syslog level only when the
/// console or `dmesg -r` shows it.
public struct LinePrefix: Sendable, Hashable, Codable {
  /// Seconds since boot (`[  123.456789]`), or nil when the line has no timestamp.
  public var timestamp: Double?
  /// Caller id without padding: `T123` (task) or `C1` (CPU, non-task context).
  public var caller: String?
  /// Syslog level 0...7 from a `<N>` prefix.
  public var level: Int?

  public init(timestamp: Double? = nil, caller: String? = nil, level: Int? = nil) {
    self.timestamp = timestamp
    self.caller = caller
    self.level = level
  }
}
