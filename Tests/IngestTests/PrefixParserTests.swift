import Foundation
import TestSupport
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

/// The fixed-width fast path (`parseKernelShape`) must agree with the general loop
/// (`parseCommon`) on every line it accepts: real lines, and the same lines with bytes mutated.
@Suite struct PrefixFastPathTests {
  static func same(_ a: ParsedPrefix, _ b: ParsedPrefix) -> Bool {
    a.bodyStart == b.bodyStart && a.seconds == b.seconds && a.fraction == b.fraction
      && a.fractionScale == b.fractionScale && a.callerKey == b.callerKey && a.level == b.level
  }

  @Test func kernelShapeAgreesWithTheGeneralLoop() throws {
    var lines: [[UInt8]] = []
    for dir in ["logs/lab", "logs/lab-6.12", "logs/locks", "corpus/syzkaller/public/cases"] {
      let d = TestPaths.fixture(dir)
      for n in try FileManager.default.contentsOfDirectory(atPath: d).sorted() where n.hasSuffix(".log") {
        let data = try #require(FileManager.default.contents(atPath: d + "/" + n))
        lines += data.split(separator: 0x0A, omittingEmptySubsequences: false).map { Array($0) }
      }
    }
    // Edge shapes around the fixed widths.
    lines += [
      "[  123.456789][     T] x", "[  123.456789][      ] x", "[  123.456789][C12345] x", "[  123.456789][T123456] x",
      "[123456.789012] x", "[ 12 34.567890] x", "[  123.45678a] x", "[  123.456789][ T123]", "[  123.456789]",
      "[  123.456789][ T1x3] x", "[     .456789] x", "[    0.000000][    C0] x", "[99999.999999][T99999] x",
      "[  123.456789] [ T123] x", "[  123.456789][  T12 ] x", "[  123.456789][ T123]x",
    ].map { Array($0.utf8) }
    var rng = SystemRandomNumberGenerator()
    var accepted = 0
    var disagreements: [String] = []
    let alphabet: [UInt8] = Array(" 0123456789[].TC]x\t".utf8)
    for (k, line) in lines.enumerated() {
      var variants = [line]
      if k % 4 == 0, !line.isEmpty {
        // Byte changes inside the prefix, where the shapes differ.
        for _ in 0..<3 {
          var m = line
          m[Int.random(in: 0..<min(m.count, 24), using: &rng)] = alphabet.randomElement(using: &rng)!
          variants.append(m)
        }
      }
      for v in variants {
        v.withUnsafeBufferPointer { b in
          guard let fixed = PrefixParser.parseKernelShape(b) else { return }
          accepted += 1
          if let general = PrefixParser.parseCommon(b), Self.same(fixed, general) { return }
          if disagreements.count < 5 { disagreements.append(String(decoding: b.prefix(40), as: UTF8.self)) }
        }
      }
    }
    #expect(disagreements == [])
    #expect(accepted > lines.count / 2, "the fast path took only \(accepted) of \(lines.count) lines")
  }
}
