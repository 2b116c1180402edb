import Forensics
import Foundation
import Ingest
import TestSupport
import Testing

/// Replays the title and redact fuzz seeds and reproducers (Tests/Fuzz/{corpus,regressions}/
/// {title,redact}/) through the harness's invariant checks.
@Suite struct ForensicsFuzzRegressionTests {
  static let titler: Titler = {
    do { return try Titler(rulesDirectory: TestPaths.root + "/rules") } catch { fatalError("\(error)") }
  }()
  static let redaction: RedactionRules = {
    do { return try RedactionRules.load(rulesDirectory: TestPaths.root + "/rules") } catch { fatalError("\(error)") }
  }()

  static func inputs() -> [String] {
    var out: [String] = []
    for kind in ["corpus", "regressions"] {
      for t in ["title", "redact"] {
        let dir = TestPaths.root + "/Tests/Fuzz/\(kind)/\(t)"
        out += ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted().map { "\(kind)/\(t)/\($0)" }
      }
    }
    return out
  }

  @Test(arguments: inputs())
  func inputKeepsEveryInvariant(_ relative: String) throws {
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: TestPaths.root + "/Tests/Fuzz/" + relative)))
    let problems = bytes.withUnsafeBufferPointer { input in
      ForensicsFuzzChecks.title(input, titler: Self.titler) + ForensicsFuzzChecks.redact(input, rules: Self.redaction)
    }
    #expect(problems == [], "\(relative)")
  }
}
