/// A failure of the repro workflow. Every message names the URL or file involved; `hint` says
/// what to do next. The CLI prints `repro-analyze: error: <description>` and exits 2.
public struct DriverError: Error, Sendable, CustomStringConvertible, Equatable {
  public var message: String
  public var hint: String?

  public init(_ message: String, hint: String? = nil) {
    self.message = message
    self.hint = hint
  }

  public var description: String {
    guard let hint else { return message }
    return message + "\n  hint: " + hint
  }

  static func io(_ path: String, _ what: String, errno code: Int32) -> DriverError {
    DriverError("\(path): \(what): \(Posix.errorString(code))", hint: "check the path, free space and permissions")
  }

  static func exists(_ path: String) -> DriverError {
    DriverError("\(path): already exists", hint: "pass --force to replace it")
  }
}

/// Several independent failures (e.g. two downloads that failed); printed one per line.
public struct DriverErrors: Error, Sendable, CustomStringConvertible {
  public var errors: [DriverError]
  public var description: String {
    errors.map(\.description).joined(separator: "\nrepro-analyze: error: ")
  }
}
