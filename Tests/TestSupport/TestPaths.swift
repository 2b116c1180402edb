import Foundation

/// Paths tests need: the package root, bundled fixtures, the read-only `shared/` directory and
/// the built `repro-analyze` binary.
public enum TestPaths {
  /// The package root (the directory holding Package.swift).
  public static let root: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
  }()

  /// `Tests/Fixtures/<relative>`.
  public static func fixture(_ relative: String) -> String { root + "/Tests/Fixtures/" + relative }

  /// The shared data directory: `$REPRO_ANALYZE_SHARED`, else `<root>/../shared`.
  public static let shared: String = {
    if let env = ProcessInfo.processInfo.environment["REPRO_ANALYZE_SHARED"], !env.isEmpty {
      return env
    }
    return URL(fileURLWithPath: root + "/../shared").standardizedFileURL.path
  }()

  public static func shared(_ relative: String) -> String { shared + "/" + relative }

  /// The `repro-analyze` executable built for this test run.
  public static let binary: String = {
    let candidates = [
      Bundle.main.bundleURL.appendingPathComponent("repro-analyze").path,
      root + "/.build/debug/repro-analyze",
    ]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[1]
  }()

  public static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }
}

/// Result of running the CLI binary.
public struct CommandResult: Sendable {
  public var status: Int32
  public var stdout: String
  public var stderr: String
}

/// Runs `repro-analyze` (or another executable) with arguments and optional stdin; waits.
public func runCommand(
  _ arguments: [String], executable: String = TestPaths.binary, stdin: Data? = nil,
  environment: [String: String]? = nil
) throws -> CommandResult {
  let p = Process()
  p.executableURL = URL(fileURLWithPath: executable)
  p.arguments = arguments
  if let environment {
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    p.environment = env
  }
  let out = Pipe()
  // stderr goes to a file so a chatty child cannot deadlock on a second full pipe.
  let errPath = NSTemporaryDirectory() + "repro-analyze-test-\(UUID().uuidString).err"
  FileManager.default.createFile(atPath: errPath, contents: nil)
  defer { try? FileManager.default.removeItem(atPath: errPath) }
  let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
  p.standardOutput = out
  p.standardError = errHandle
  let input = Pipe()
  p.standardInput = stdin == nil ? FileHandle.nullDevice : input
  try p.run()
  try? errHandle.close()
  if let stdin {
    let writer = input.fileHandleForWriting
    Thread.detachNewThread {
      writer.write(stdin)
      try? writer.close()
    }
  }
  let outData = out.fileHandleForReading.readDataToEndOfFile()
  p.waitUntilExit()
  let errData = FileManager.default.contents(atPath: errPath) ?? Data()
  return CommandResult(
    status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
    stderr: String(decoding: errData, as: UTF8.self))
}
