import Foundation
import TestSupport
import Testing

@Suite struct AnalyzeCLITests {
  let hung = TestPaths.fixture("logs/lab/hung.log")

  @Test func summaryNamesTheHungTasksAndTheTrace() throws {
    let r = try runCommand([hung], environment: ["NO_COLOR": "1"])
    #expect(r.status == 0)
    #expect(r.stdout.contains("INFO: task vhost-1234:104 blocked for more than 5 seconds."))
    #expect(r.stdout.contains("lockhog_lock+0x63/0x90 [lockhog]"))
    #expect(r.stdout.contains("vhost_lock: acquire dev->mutex ×4"))
    #expect(!r.stdout.contains("\u{1B}["))  // no colour when not a TTY
  }

  @Test func jsonIsOneDocumentWithCounts() throws {
    let r = try runCommand(["analyze", "--json", hung])
    #expect(r.status == 0)
    let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    #expect(obj["schema"] as? Int == 1)
    let counts = try #require(obj["report_counts"] as? [String: Int])
    #expect(counts["hung_task"] == 3)
    #expect(counts["panic"] == 1)
  }

  @Test func jsonlStreamsOneEventPerLine() throws {
    let r = try runCommand(["analyze", "--jsonl", hung])
    #expect(r.status == 0)
    let lines = r.stdout.split(separator: "\n")
    #expect(lines.count > 20)
    for l in lines {
      let o = try #require(try JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any])
      #expect(o["kind"] is String)
    }
  }

  @Test func failOnMatchingKindExitsOne() throws {
    #expect(try runCommand(["analyze", "--fail-on", "hung_task", hung]).status == 1)
    #expect(try runCommand(["analyze", "--fail-on", "kasan", hung]).status == 0)
  }

  @Test func stdinAndXZInputs() throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: hung))
    let r = try runCommand(["analyze", "--json", "-"], stdin: data)
    #expect(r.status == 0)
    #expect(r.stdout.contains("\"hung_task\" : 3"))
  }

  @Test func badInputsExitTwoNamingTheFile() throws {
    let missing = try runCommand(["analyze", "/nonexistent/serial.log"])
    #expect(missing.status == 2)
    #expect(missing.stderr.contains("/nonexistent/serial.log"))
    let dir = try runCommand(["analyze", "--fail-on", "bogus", hung])
    #expect(dir.status == 2)
    #expect(dir.stderr.contains("bogus"))
  }

  @Test func directoriesAreSearchedRecursively() throws {
    let r = try runCommand(["analyze", "--json", TestPaths.fixture("logs/lab")])
    #expect(r.status == 0)
    let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    #expect((obj["files"] as? [Any])?.count == 5)
  }

  @Test func helpHasAnExampleAndVersionWorks() throws {
    let h = try runCommand(["analyze", "--help"])
    #expect(h.stdout.contains("Example"))
    let v = try runCommand(["--version"])
    #expect(v.status == 0)
    #expect(!v.stdout.isEmpty)
  }
}

@Suite struct AnalyzeIntegrationCLITests {
  static let vmlinux612: String = {
    let env = ProcessInfo.processInfo.environment
    let cache = (env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (env["HOME"] ?? "/root") + "/.cache")
    return cache + "/repro-analyze/vmlinux-6.12/vmlinux"
  }()

  @Test func summaryCarriesSyzbotTitles() throws {
    let r = try runCommand(["analyze", "--json", TestPaths.fixture("logs/lab/hung.log")])
    #expect(r.status == 0)
    let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    let reports = try #require(obj["reports"] as? [[String: Any]])
    #expect(reports.first?["title"] as? String == "INFO: task hung in lockhog_sleep_forever_d")
    #expect(reports.first?["type"] as? String == "HANG")
  }

  @Test(.enabled(if: TestPaths.exists(vmlinux612), "needs the 6.12 lab vmlinux (make vmlinux)"))
  func vmlinuxAddsSourceLinesAndInlineFrames() throws {
    let r = try runCommand([
      "analyze", "--no-cache", "--vmlinux", Self.vmlinux612, "--modules", TestPaths.fixture("elf"),
      TestPaths.fixture("logs/lab-6.12/ld-vhost-hung.log"),
    ], environment: ["NO_COLOR": "1"])
    #expect(r.status == 0)
    #expect(r.stdout.contains("lockhog_lock+0x64/0xa0 [lockhog] "))
    #expect(r.stdout.contains("module/lockhog.c:63"))
    #expect(r.stdout.contains("__mutex_lock_common ") && r.stdout.contains("[inline]"))
  }

  @Test(.enabled(if: TestPaths.exists(vmlinux612), "needs the 6.12 lab vmlinux (make vmlinux)"))
  func wrongVmlinuxIsRefused() throws {
    let r = try runCommand(["analyze", "--vmlinux", Self.vmlinux612, TestPaths.fixture("logs/lab/hung.log")])
    #expect(r.status == 2)
    #expect(r.stderr.contains("6.1.0-56-cloud-amd64"))
  }

  @Test func htmlReportIsWritten() throws {
    let out = NSTemporaryDirectory() + "ra-\(UUID().uuidString).html"
    defer { try? FileManager.default.removeItem(atPath: out) }
    let r = try runCommand(["analyze", "--html", out, TestPaths.fixture("logs/lab/hung.log")])
    #expect(r.status == 0)
    let html = try String(contentsOfFile: out, encoding: .utf8)
    #expect(html.contains("<svg"))
    #expect(html.contains("INFO: task hung in lockhog_sleep_forever_d"))
  }

  /// `--jsonl` with `--html`: the same JSON Lines as `--jsonl` alone, and an HTML report built
  /// from the events (the parser then hands events over instead of writing JSON itself).
  @Test func jsonLinesWithHTMLReport() throws {
    let out = NSTemporaryDirectory() + "ra-\(UUID().uuidString).html"
    defer { try? FileManager.default.removeItem(atPath: out) }
    let log = TestPaths.fixture("logs/lab/hung.log")
    let plain = try runCommand(["analyze", "--jsonl", log])
    let both = try runCommand(["analyze", "--jsonl", "--html", out, log])
    #expect(plain.status == 0 && both.status == 0)
    #expect(plain.stdout.contains("\"kind\":\"report\""))
    #expect(both.stdout == plain.stdout)
    let html = try String(contentsOfFile: out, encoding: .utf8)
    #expect(html.contains("<svg"))
    #expect(html.contains("lockhog_sleep_forever"))
  }
}
