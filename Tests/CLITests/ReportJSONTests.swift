import Forensics
import Foundation
import TestSupport
import Testing

@testable import repro_analyze

/// `report --json`: fixed key order, and strings escaped by Ingest's JSONBuffer so that any title
/// (control characters, quotes, non-ASCII) reads back unchanged.
@Suite struct ReportJSONTests {
  @Test func corpusLogGivesTheExpectedTitleInFixedKeyOrder() throws {
    let case638 = TestPaths.fixture("corpus/syzkaller/public/cases/638")
    let r = try runCommand(["report", "--json", case638 + ".log"])
    #expect(r.status == 0)
    #expect(r.stdout.hasPrefix("{\"title\":\"KASAN: use-after-free Write in put_ucounts\",\"alt_titles\":["))
    let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    let expected = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: case638 + ".expect.json")))
        as? [String: Any])
    #expect(doc["title"] as? String == expected["title"] as? String)
    #expect(doc["type"] as? String == expected["type"] as? String)
    #expect(doc["alt_titles"] as? [String] == expected["alt_titles"] as? [String])
    #expect((doc["reports"] as? [[String: Any]])?.count == 1)
  }

  @Test func logWithoutReportGivesNullsAndZeroes() {
    #expect(
      ReportCommand.jsonDocument([])
        == "{\"title\":null,\"alt_titles\":[],\"type\":null,\"frame\":null,\"corrupted\":false,"
        + "\"guilty_file\":null,\"start_line\":0,\"end_line\":0,\"reports\":[]}")
  }

  @Test(arguments: ["plain", "quote \" and \\ backslash", "tab\tnewline\nreturn\r", "esc \u{1B}[31m nul \u{0} us \u{1F}", "é€😀 \u{7F}"])
  func stringsRoundTrip(_ s: String) throws {
    let report = TitledReport(
      title: s, altTitles: [s, "b"], type: nil, frame: s, isCorrupted: true, corruptionReason: nil,
      guiltyFile: s, startLine: 3, endLine: 9, header: "BUG:", text: "")
    let text = ReportCommand.jsonDocument([report])
    let doc = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    #expect(doc["title"] as? String == s)
    #expect(doc["alt_titles"] as? [String] == [s, "b"])
    #expect(doc["frame"] as? String == s)
    #expect(doc["guilty_file"] as? String == s)
    #expect(doc["type"] is NSNull)
    #expect(doc["end_line"] as? Int == 9)
    // Control characters never appear raw; the short escapes are used where JSON has them.
    #expect(!text.unicodeScalars.contains { $0.value < 0x20 })
  }

  @Test func controlCharactersUseShortOrUnicodeEscapes() {
    let report = TitledReport(
      title: "a\u{1B}b\tc\"d\\e\u{0}", altTitles: [], type: "T", frame: nil, isCorrupted: false,
      corruptionReason: nil, guiltyFile: nil, startLine: 1, endLine: 2, header: "BUG:", text: "")
    #expect(ReportCommand.jsonDocument([report]).hasPrefix(#"{"title":"a\u001bb\tc\"d\\e\u0000","alt_titles":[],"type":"T","#))
  }
}
