/// Errors from reading inputs and loading rules. Each names the input and says what to do.
public enum IngestError: Error, Sendable, CustomStringConvertible, Equatable {
  case cannotOpen(path: String, reason: String)
  case notAFile(path: String, what: String)
  case readFailed(path: String, reason: String)
  case xz(path: String, function: String, code: String, offset: Int)
  case gzip(path: String, message: String, offset: Int)
  case rule(file: String, line: Int, message: String)
  case pcre2(pattern: String, offset: Int, message: String, origin: String)

  public var description: String {
    switch self {
    case .cannotOpen(let path, let reason):
      return "\(path): cannot open: \(reason)\n  hint: check the path and its permissions"
    case .notAFile(let path, let what):
      return "\(path): is \(what), not a log file\n  hint: pass a regular file, a pipe, or - for stdin"
    case .readFailed(let path, let reason):
      return "\(path): read failed: \(reason)"
    case .xz(let path, let function, let code, let offset):
      return
        "\(path): xz stream is corrupt or truncated (\(function) returned \(code) after \(offset) decompressed bytes)\n  hint: re-download the file; `xz -t \(path)` confirms the damage"
    case .gzip(let path, let message, let offset):
      return
        "\(path): gzip stream is corrupt or truncated (\(message) after \(offset) decompressed bytes)\n  hint: re-download the file; `gzip -t \(path)` confirms the damage"
    case .rule(let file, let line, let message):
      return "\(file):\(line): \(message)\n  hint: fix the rule, then run the rules tests"
    case .pcre2(let pattern, let offset, let message, let origin):
      return
        "\(origin): pattern does not compile: \(message) at offset \(offset) in '\(pattern)'\n  hint: fix the pattern, then run the rules tests"
    }
  }
}
