import Testing

@testable import Ingest

@Suite struct PrefixParserTests {
  struct Row: Sendable, CustomStringConvertible {
    var line: String
    var body: String
    var timestamp: Double?
    var caller: String?
    var level: Int?
    var description: String { line }
  }

  static let rows: [Row] = [
    Row(line: "[   26.226987] INFO: task", body: "INFO: task", timestamp: 26.226987),
    Row(line: "[ 1052.101131][   T41]       Tainted: G", body: "      Tainted: G", timestamp: 1052.101131, caller: "T41"),
    Row(line: "[   10.947305][    C1] rcu: INFO: x", body: "rcu: INFO: x", timestamp: 10.947305, caller: "C1"),
    Row(line: "<6>[  125.357424][  T140] task:zsh", body: "task:zsh", timestamp: 125.357424, caller: "T140", level: 6),
    Row(line: "<4>WARNING: CPU: 0", body: "WARNING: CPU: 0", level: 4),
    Row(line: "kern  :info  : [    1.234567] msg", body: "msg", timestamp: 1.234567),
    Row(line: "[Tue Nov 25 12:00:00 2026] BUG: x", body: "BUG: x"),
    Row(line: "SeaBIOS (version 1.16.3)", body: "SeaBIOS (version 1.16.3)"),
    Row(line: "[....] Starting syslogd: rsyslogd[   12.037795] audit: type=1400", body: "audit: type=1400", timestamp: 12.037795),
    Row(line: "\u{1B}[32m[    2.000001] colored", body: "colored", timestamp: 2.000001),
    Row(line: "[   922.739846][  T300]", body: "", timestamp: 922.739846, caller: "T300"),
    Row(line: "eth0: link up: 1000Mbps", body: "eth0: link up: 1000Mbps"),
    Row(line: " [<ffffffff8de17609>] ? __schedule+0x239/0x6f0", body: " [<ffffffff8de17609>] ? __schedule+0x239/0x6f0"),
    Row(line: "[100000.000001] late", body: "late", timestamp: 100000.000001),
  ]

  @Test(arguments: rows)
  func parsesPrefix(_ row: Row) {
    var line = row.line
    line.withUTF8 { b in
      let p = PrefixParser.parse(b)
      #expect(b.text(from: p.bodyStart) == row.body.filter { $0 != "\u{1B}" })
      if let ts = row.timestamp {
        #expect(abs((p.timestamp ?? -1) - ts) < 1e-7)
      } else {
        #expect(p.timestamp == nil)
      }
      #expect(p.caller == row.caller)
      #expect(p.level == row.level)
    }
  }
}
