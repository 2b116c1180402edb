import Foundation

/// Small file helpers for title tests that need a scratch copy of the rules.
enum FileManagerShim {
  static func temporaryDirectory() -> String {
    let dir = NSTemporaryDirectory() + "repro-analyze-rules-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
  }

  static func remove(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

  static func copyTree(_ from: String, to: String) throws {
    for item in try FileManager.default.contentsOfDirectory(atPath: from) {
      let dst = to + "/" + item
      try? FileManager.default.removeItem(atPath: dst)
      try FileManager.default.copyItem(atPath: from + "/" + item, toPath: dst)
    }
  }

  static func write(_ path: String, _ text: String) throws {
    try text.write(toFile: path, atomically: true, encoding: .utf8)
  }
}
