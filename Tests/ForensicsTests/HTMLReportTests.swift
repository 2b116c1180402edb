import Foundation
import Testing
import TestSupport

@testable import Forensics
@testable import Ingest

func htmlReport(_ fixtures: [String], excerpt: Bool = true) throws -> String {
  var events: [Event] = []
  var locks: [(name: String, analysis: LockAnalysis)] = []
  var excerpts: [(name: String, text: String)] = []
  for f in fixtures {
    let ev = try fixtureEvents(f)
    events += ev
    let a = try lockCorrelator().analyze(ev)
    locks.append((f, a))
    if excerpt {
      let redactor = Redactor(rules: try redactionRules(), key: Array("html-test-key".utf8))
      var out: [UInt8] = []
      _ = try ExcerptWriter.write(
        open: { try LogSource.open(TestPaths.fixture(f)) },
        plan: ExcerptPlanner.plan(events: ev, lockEvidence: a.blocked.flatMap(\.evidence)),
        maxBytes: 256 << 10, redactor: redactor, header: "") { out += $0 }
      excerpts.append((f, String(decoding: out, as: UTF8.self)))
    }
  }
  return HTMLReport.render(
    HTMLReportInput(logPaths: fixtures, events: events, locks: locks, excerpts: excerpts, version: "test"))
}

/// The Debian chromium binary (`CHROMIUM` overrides). mk/forensics.mk installs it for `make test`.
func chromiumPath() -> String? {
  if let p = ProcessInfo.processInfo.environment["CHROMIUM"], !p.isEmpty { return p }
  return ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
    FileManager.default.isExecutableFile(atPath: $0)
  }
}

@Suite("HTML report")
struct HTMLReportTests {
  @Test func reportIsSelfContained() throws {
    let html = try htmlReport(["logs/locks/ld-abba.log"])
    #expect(html.hasPrefix("<!DOCTYPE html>"))
    // Nothing is fetched: no external scripts, styles, images, fonts or links.
    for bad in ["<link", "<img", " src=", "@import", "url(http", "href=\"http", "<iframe"] {
      #expect(!html.contains(bad), "external reference \(bad)")
    }
    #expect(html.contains("<svg"))
    #expect(html.contains("lockhog-abba (66)"))
    #expect(html.contains("vq-&gt;mutex"))
    #expect(html.contains("WARNING: possible circular locking dependency detected"))
    #expect(html.contains("<details"))
    // The excerpt is redacted: no raw kernel pointers from the log in it.
    let excerpt = try #require(html.range(of: "id=\"excerpt\"")).upperBound
    #expect(!html[excerpt...].contains("ffffffffc0002620"))
  }

  @Test func hostileTextIsEscaped() throws {
    var r = CrashReport(
      kind: .hungTask, headline: "INFO: task <script>alert(1)</script>:1 blocked for more than 5 seconds.",
      position: SourcePosition(file: "x.log", line: 1, offset: 0), prefix: LinePrefix(timestamp: 1))
    r.frames = [Frame(function: "f<b>", offset: 1, size: 2, line: 2)]
    let html = HTMLReport.render(
      HTMLReportInput(
        logPaths: ["x\"<.log"], events: [.report(r)],
        locks: [("x.log", LockAnalysis(blocked: [], holders: [], cycles: [], notes: [], sources: []))]))
    #expect(!html.contains("<script>alert"))
    #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
    #expect(html.contains("f&lt;b&gt;"))
    #expect(!html.contains("x\"<.log"))
  }

  /// Loads the page in Debian's chromium (headless): the DOM has the graph and the titles, with
  /// JavaScript on and off, and a screenshot is produced.
  @Test func rendersInHeadlessChromium() throws {
    let chromium = try #require(
      chromiumPath(), "chromium is not installed: run `make deps` (mk/forensics.mk adds it to APT_PACKAGES)")
    let dir = NSTemporaryDirectory() + "ra-html-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let page = dir + "/report.html"
    try htmlReport(["logs/locks/ld-abba.log", "logs/locks/ld-vhost-stall.log"]).write(
      toFile: page, atomically: true, encoding: .utf8)
    let common = [
      "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
      "--user-data-dir=\(dir)/profile", "--window-size=1280,900",
    ]
    let r = try runCommand(common + ["--dump-dom", "file://\(page)"], executable: chromium)
    #expect(r.status == 0, "chromium failed: \(r.stderr.suffix(500))")
    let dom = r.stdout
    #expect(dom.contains("<svg"))
    #expect(dom.contains("aria-label=\"wait-for graph\""))
    #expect(dom.contains("lockhog-abba (66)"))
    #expect(dom.contains("vhostkill (67)"))
    #expect(dom.contains("INFO: task lockhog-abba:66 blocked for more than 5 seconds."))
    #expect(dom.contains("deadlock: vhost-1234 (pid 65) waits for vq-&gt;mutex"))
    // The script ran (it reveals the expand/collapse buttons) …
    #expect(!dom.contains("data-toggle=\"open\" hidden"))
    // … but nothing essential depends on it: the static file already has all of the above.
    let raw = try String(contentsOfFile: page, encoding: .utf8)
    #expect(raw.contains("lockhog-abba (66)") && raw.contains("<svg") && raw.contains("<details"))
    // (Headless chromium cannot dump or screenshot with scripts disabled: --blink-settings=
    // scriptEnabled=false yields nothing and --disable-javascript is ignored; see docs/locks.md.)
    let shot = dir + "/shot.png"
    let s = try runCommand(
      common + ["--hide-scrollbars", "--screenshot=\(shot)", "file://\(page)"], executable: chromium)
    #expect(s.status == 0)
    let png = try Data(contentsOf: URL(fileURLWithPath: shot))
    #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
    #expect(png.count > 20_000)  // a blank page is a few KB
  }
}
