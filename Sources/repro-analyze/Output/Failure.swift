import ArgumentParser
#if canImport(Glibc)
  import Glibc
#endif

/// Prints `repro-analyze: error: <message>` to stderr and exits with `code` (2 = usage/input).
func fail(_ message: CustomStringConvertible, code: Int32 = 2) -> Never {
  Terminal.writeStderr("repro-analyze: error: \(message)\n")
  exit(code)
}

/// Runs `body`, turning thrown errors into a clean exit 2 with the error's message.
func runOrFail<T>(_ body: () throws -> T) -> T {
  do {
    return try body()
  } catch let e as ExitCode {
    exit(e.rawValue)
  } catch {
    fail(String(describing: error))
  }
}

/// A runtime failure with a message (no usage text), exit status 2.
struct CLIError: Error, CustomStringConvertible {
  var description: String
  init(_ d: String) { description = d }
}
