import Driver
import Foundation
import TestSupport
import Testing

/// Replays the syzbot-page fuzz seeds and reproducers (Tests/Fuzz/{corpus,regressions}/syzbot/)
/// through the harness's invariant checks.
@Suite struct DriverFuzzRegressionTests {
  static func inputs() -> [String] {
    ["corpus", "regressions"].flatMap { kind in
      ((try? FileManager.default.contentsOfDirectory(atPath: TestPaths.root + "/Tests/Fuzz/\(kind)/syzbot")) ?? [])
        .sorted().map { "\(kind)/syzbot/\($0)" }
    }
  }

  @Test(arguments: inputs())
  func pageKeepsEveryInvariant(_ relative: String) throws {
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: TestPaths.root + "/Tests/Fuzz/" + relative)))
    #expect(bytes.withUnsafeBufferPointer { DriverFuzzChecks.syzbotPage($0) } == [], "\(relative)")
  }

  @Test func realFixturePageStillYieldsItsCrashRows() throws {
    let html = try String(contentsOfFile: TestPaths.root + "/Tests/Fuzz/corpus/syzbot/a9528028ab4ca83e8bac.html", encoding: .utf8)
    #expect(!SyzbotBugPage.parse(html: html).crashes.isEmpty)
  }
}
