import Foundation
import TestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The loopback syzbot imitation (../shared/fixtures/syzbot/serve.py), started per test on a
/// free port with the fault-injection flags the test needs; stopped on `stop()`/deinit.
final class FixtureServer {
  let process = Process()
  let port: Int
  let logPath: String
  let directory: String

  static var fixtureRoot: String { TestPaths.shared("fixtures/syzbot") }

  init(_ flags: [String] = [], root: String? = nil) throws {
    directory = NSTemporaryDirectory() + "ra-fixture-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let portFile = directory + "/port"
    logPath = directory + "/requests.jsonl"
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
      "python3", Self.fixtureRoot + "/serve.py", "--port", "0", "--root", root ?? Self.fixtureRoot + "/site",
      "--port-file", portFile, "--log", logPath, "--max-seconds", "300", "--quiet",
    ] + flags
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    // Bounded wait for the port file (the server writes it atomically once listening).
    let deadline = Date().addingTimeInterval(15)
    var port: Int?
    while port == nil && Date() < deadline {
      if let text = try? String(contentsOfFile: portFile, encoding: .utf8) {
        port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
      }
      if port == nil { usleep(20_000) }
    }
    guard let port else {
      kill(process.processIdentifier, SIGKILL)
      throw FixtureError("serve.py did not start within 15 s (python3 missing?)")
    }
    self.port = port
  }

  deinit { stop() }

  func stop() {
    if process.isRunning {
      // SIGKILL: children of the test runner inherit a signal mask that blocks SIGTERM.
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
  }

  var baseURL: String { "http://127.0.0.1:\(port)" }

  /// One request as logged by serve.py.
  struct Request: Decodable {
    var method: String
    var path: String
    var query: String
    var range: String?
    var status: Int?
    var sent: Int
    var dropped: Bool
  }

  func requests() -> [Request] {
    guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return [] }
    return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Request.self, from: Data($0.utf8)) }
  }

  func assetRequests(_ fragment: String = "") -> [Request] {
    requests().filter { $0.path.contains("/syzbot-assets/") && $0.method == "GET" && (fragment.isEmpty || $0.path.contains(fragment)) }
  }

  /// Expected sizes and hashes from site/manifest.json.
  struct Manifest: Decodable {
    struct Asset: Decodable {
      var name: String
      var size: Int
      var sha256: String
      var decompressed_size: Int
      var decompressed_sha256: String
    }
    struct Text: Decodable {
      var sha256: String
      var size: Int
    }
    var assets: [String: Asset]
    var text: [String: Text]
  }

  static func manifest() throws -> Manifest {
    let data = try Data(contentsOf: URL(fileURLWithPath: fixtureRoot + "/site/manifest.json"))
    return try JSONDecoder().decode(Manifest.self, from: data)
  }
}

struct FixtureError: Error, CustomStringConvertible {
  var description: String
  init(_ d: String) { description = d }
}

/// sha256 of a file via coreutils (no CryptoKit on Linux).
func sha256(_ path: String) throws -> String {
  let r = try runCommand([path], executable: "/usr/bin/sha256sum")
  return String(r.stdout.prefix(64))
}

func makeTempDir(_ label: String) throws -> String {
  let d = NSTemporaryDirectory() + "ra-\(label)-\(UUID().uuidString.prefix(8))"
  try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
  return d
}

func fileExists(_ p: String) -> Bool { FileManager.default.fileExists(atPath: p) }

func readText(_ p: String) -> String { (try? String(contentsOfFile: p, encoding: .utf8)) ?? "" }
