import Foundation
import Forensics
import Testing
import TestSupport

/// Runs every public syzkaller case (Tests/Fixtures/corpus/syzkaller) through the titler and
/// checks per-field agreement with syzbot's expectations, the way score.py scores the CLI.
@Suite("Title conformance (syzkaller corpus)")
struct TitleConformanceTests {
  static let titler: Titler = {
    do { return try Titler(rulesDirectory: TestPaths.root + "/rules") } catch {
      fatalError("rules do not load: \(error)")
    }
  }()

  static let corpus = TestPaths.fixture("corpus/syzkaller")

  /// Acceptance thresholds (issue 3).
  static let minimum: [String: Double] = [
    "title": 0.97, "type": 0.97, "frame": 0.95, "corrupted": 0.95, "guilty_file": 0.90,
  ]

  struct Tally {
    var agree = 0
    var scored = 0
    var rate: Double { scored == 0 ? 1 : Double(agree) / Double(scored) }
    mutating func add(_ ok: Bool) {
      scored += 1
      if ok { agree += 1 }
    }
  }

  static func cases(_ dir: String) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    return names.filter { $0.hasSuffix(".log") }.map { String($0.dropLast(4)) }
      .sorted { ($0.count, $0) < ($1.count, $1) }
  }

  static func expectation(_ path: String) -> [String: Any] {
    guard let data = FileManager.default.contents(atPath: path),
      let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    else { return [:] }
    return obj
  }

  static func log(_ path: String) -> [UInt8] {
    [UInt8](FileManager.default.contents(atPath: path) ?? Data())
  }

  static func frameFromTitle(_ title: String) -> String? {
    guard let r = title.range(of: #".* in ((?:<[a-zA-Z0-9_: ]+>)?[a-zA-Z0-9_:]+)"#, options: .regularExpression)
    else { return nil }
    let m = String(title[r])
    guard let i = m.range(of: " in ", options: .backwards) else { return nil }
    return String(m[i.upperBound...])
  }

  @Test func publicCasesAgreeWithSyzbot() throws {
    let dir = Self.corpus + "/public/cases"
    let names = Self.cases(dir)
    try #require(names.count > 300, "corpus missing at \(dir)")
    var title = Tally(), type = Tally(), frame = Tally(), corrupted = Tally(), implied = Tally()
    var failures: [String] = []
    for name in names {
      let exp = Self.expectation("\(dir)/\(name).expect.json")
      let got = Self.titler.primaryReport(in: Self.log("\(dir)/\(name).log"))
      let wantTitle = exp["title"] as? String
      guard let wantTitle, !wantTitle.isEmpty else {
        title.add(got == nil)
        if got != nil { failures.append("\(name): want no crash, got '\(got!.title)'") }
        continue
      }
      let alts = exp["alt_titles"] as? [String] ?? []
      let ok = got.map { $0.title == wantTitle || alts.contains($0.title) } ?? false
      title.add(ok)
      if !ok { failures.append("\(name): want '\(wantTitle)', got '\(got?.title ?? "nil")'") }
      let wantType = (exp["type"] as? String).flatMap { $0.isEmpty || $0 == "UNKNOWN" ? nil : $0 }
      type.add(got?.type == wantType)
      corrupted.add((got?.isCorrupted ?? false) == (exp["corrupted"] as? Bool ?? false))
      if let f = exp["frame"] as? String { frame.add(got?.frame == f) }
      implied.add(got?.frame == Self.frameFromTitle(wantTitle))
    }
    print(
      """
      title conformance over \(names.count) public cases:
        field                 agree  scored   rate
        title (or alt)        \(Self.row(title))
        type                  \(Self.row(type))
        frame (FRAME: cases)  \(Self.row(frame))
        frame (from title)    \(Self.row(implied))
        corrupted             \(Self.row(corrupted))
      """)
    for f in failures.prefix(40) { print("  FAIL \(f)") }
    #expect(title.rate >= Self.minimum["title"]!, "title agreement \(title.rate)")
    #expect(type.rate >= Self.minimum["type"]!, "type agreement \(type.rate)")
    #expect(implied.rate >= Self.minimum["frame"]!, "frame agreement \(implied.rate)")
    #expect(corrupted.rate >= Self.minimum["corrupted"]!, "corrupted agreement \(corrupted.rate)")
  }

  @Test func guiltyFilesAgreeWithSyzbot() throws {
    let dir = Self.corpus + "/guilty/public/cases"
    let names = Self.cases(dir)
    try #require(names.count > 20, "guilty corpus missing at \(dir)")
    var file = Tally()
    for name in names {
      let exp = Self.expectation("\(dir)/\(name).expect.json")
      let want = (exp["file"] as? String).flatMap { $0.isEmpty ? nil : $0 }
      let got = Self.titler.primaryReport(in: Self.log("\(dir)/\(name).log"))?.guiltyFile
      file.add(got == want)
      if got != want { print("  FAIL guilty \(name): want \(want ?? "nil"), got \(got ?? "nil")") }
    }
    print("guilty file agreement over \(names.count) cases: \(Self.row(file))")
    #expect(file.rate >= Self.minimum["guilty_file"]!)
  }

  /// Throughput of the whole-log titler on the corpus (printed; never asserted).
  @Test func titlingThroughputIsReported() {
    let dir = Self.corpus + "/public/cases"
    let logs = Self.cases(dir).map { Self.log("\(dir)/\($0).log") }
    let bytes = logs.reduce(0) { $0 + $1.count }
    let clock = ContinuousClock()
    var reports = 0
    let elapsed = clock.measure {
      for l in logs { reports += Self.titler.reports(in: l).count }
    }
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let mib = Double(bytes) / 1_048_576
    print(
      String(
        format: "titled %d logs (%.2f MiB, %d reports) in %.3f s: %.3f s/MiB", logs.count, mib,
        reports, seconds, seconds / mib))
    #expect(reports >= logs.count / 2)
  }

  static func row(_ t: Tally) -> String {
    String(format: "%5d  %6d  %5.1f%%", t.agree, t.scored, t.rate * 100)
  }
}
