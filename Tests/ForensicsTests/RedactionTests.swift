import Foundation
import Testing
import TestSupport

@testable import Forensics
@testable import Ingest

func redactionRules() throws -> RedactionRules {
  try RedactionRules.load(rulesDirectory: TestPaths.root + "/rules")
}

/// Secrets of every kind the issue lists, as they appear in real logs.
let plantedSecrets: [(kind: String, line: String, secret: String)] = [
  ("ipv4", "Warning: Permanently added '10.128.0.54' (ECDSA) to the list of known hosts.", "10.128.0.54"),
  ("ipv6", "IPv6: eth0: link-local fe80::5054:ff:fe12:3456 up, peer 2a00:1450:4001:81c::200e", "fe80::5054:ff:fe12:3456"),
  ("ipv6", "IPv6: eth0: link-local fe80::5054:ff:fe12:3456 up, peer 2a00:1450:4001:81c::200e", "2a00:1450:4001:81c::200e"),
  ("mac", "e1000e 0000:00:19.0 eth0: (PCI Express:2.5GT/s:Width x1) 52:54:00:12:34:56", "52:54:00:12:34:56"),
  ("mac", "virtio_net: mac 52-54-00-ab-cd-ef eui64 0e:54:00:ff:fe:12:34:99", "52-54-00-ab-cd-ef"),
  ("mac", "virtio_net: mac 52-54-00-ab-cd-ef eui64 0e:54:00:ff:fe:12:34:99", "0e:54:00:ff:fe:12:34:99"),
  ("hostname", "2026-05-28T12:24:00.184239+00:00 vm-1779970054023451471 kernel: audit: ok", "vm-1779970054023451471"),
  ("hostname", "ci-runner-17.corp.example.com login: root", "ci-runner-17.corp.example.com"),
  ("hostname", "dhclient: bound to lease from dhcp-192-168-0-66.lan", "dhcp-192-168-0-66"),
  ("user", "kbuild: make -C /home/alice/linux O=out drivers/vhost/vhost.o", "alice"),
  ("user", "audit: type=1400 pid=3348 comm=\"sudo\" USER=bob uid=1000(carol)", "bob"),
  ("user", "audit: type=1400 pid=3348 comm=\"sudo\" USER=bob uid=1000(carol)", "carol"),
  ("email", "Reported-by: alice.smith@example.org, ping root@builder-3.example.net", "alice.smith@example.org"),
  ("uuid", "Kernel command line: root=UUID=3f2b8c9e-1d4a-4e6b-9f0a-7c5d2e1b3a49 PARTUUID=9a8b7c6d-01 ro", "3f2b8c9e-1d4a-4e6b-9f0a-7c5d2e1b3a49"),
  ("uuid", "Kernel command line: root=UUID=3f2b8c9e-1d4a-4e6b-9f0a-7c5d2e1b3a49 PARTUUID=9a8b7c6d-01 ro", "9a8b7c6d-01"),
  ("serial", "ata1.00: ATA-9: WDC WD10EZEX, 01.01A01, SerialNumber: WD-WCC6Y7NKZ123, max UDMA/133", "WD-WCC6Y7NKZ123"),
  ("token", "syz-execprog --token=s3cr3tT0k3nValue password=hunter2 Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc", "s3cr3tT0k3nValue"),
  ("token", "syz-execprog --token=s3cr3tT0k3nValue password=hunter2 Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc", "hunter2"),
  ("token", "syz-execprog --token=s3cr3tT0k3nValue password=hunter2 Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc", "eyJhbGciOiJIUzI1NiJ9.e30.abc"),
  ("token", "git clone https://x:ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/a/b", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
  ("kernel_pointer", "vhost: worker ffff888012345678 detached from vq ffffc90000a1b2c0", "ffff888012345678"),
  ("keyword", "project-bluebird build farm node", "project-bluebird"),
]

/// `log` with the planted lines inserted (with a printk prefix) just before its first hung-task
/// report, inside the excerpt's context window.
func plant(into log: String) -> String {
  var lines = log.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
  let at = lines.firstIndex { $0.contains("INFO: task ") && $0.contains("blocked for more than") } ?? 0
  var unique: [String] = []
  for p in plantedSecrets where !unique.contains(p.line) { unique.append(p.line) }
  // Two lines go right before the report (context), the rest also land in a kept region because
  // we repeat them after the report header is planned through lock evidence... keep it simple:
  // every planted line is inserted directly before the report.
  let prefixed = unique.map { $0.hasPrefix("20") || $0.contains(" login:") ? $0 : "[   10.900000] " + $0 }
  lines.insert(contentsOf: prefixed, at: at)
  return lines.joined(separator: "\n")
}

@Suite("Redactor")
struct RedactorTests {
  @Test func everyPlantedSecretIsReplacedWithItsKind() throws {
    let r = Redactor(rules: try redactionRules(), key: Array("k1k1k1k1k1k1k1k1".utf8), keywords: ["project-bluebird"])
    for p in plantedSecrets {
      let out = r.redact(p.line)
      #expect(!out.contains(p.secret), "\(p.kind) survived: \(out)")
    }
    let kinds = Set(r.summary.map(\.kind))
    for k in Set(plantedSecrets.map(\.kind)) { #expect(kinds.contains(k), "no \(k) counted") }
  }

  @Test func sameSecretSamePseudonymAndKeyedAcrossRuns() throws {
    let rules = try redactionRules()
    let key = Array("a-fixed-test-key-0123456789".utf8)
    let line = "ping 10.1.2.3 from 10.1.2.3 via 10.9.9.9 mac 52:54:00:12:34:56"
    let a = Redactor(rules: rules, key: key).redact(line)
    let b = Redactor(rules: rules, key: key).redact(line)
    let c = Redactor(rules: rules, key: Array("another-key-9876543210".utf8)).redact(line)
    #expect(a == b)
    #expect(a != c)
    let words = a.split(separator: " ")
    #expect(words[1] == words[3])  // same IP, same pseudonym
    #expect(words[1] != words[5])  // different IPs stay different
    #expect(words[1].hasPrefix("192.0.2.") || words[1].hasPrefix("198.51.100.") || words[1].hasPrefix("203.0.113."))
  }

  /// More distinct IPv4 addresses than TEST-NET has (762) still get distinct pseudonyms, which
  /// the rule keeps (idempotent). Before, every address past the 762nd was rehashed 255 times
  /// and then merged with another: 2,000 addresses on one line took 28 s under the fuzzer.
  @Test func moreIPv4AddressesThanTestNetStayDistinct() throws {
    let r = Redactor(rules: try redactionRules(), key: Array("many-addresses".utf8))
    let addresses = (0..<1500).map { "10.\($0 / 250).\($0 % 250).\(1 + $0 % 7)" }
    let once = r.redact(addresses.joined(separator: " "))
    let pseudonyms = once.split(separator: " ")
    #expect(pseudonyms.count == addresses.count)
    #expect(Set(pseudonyms).count == addresses.count)
    #expect(pseudonyms.allSatisfy { !$0.hasPrefix("10.") })
    #expect(r.redact(once) == once)
  }

  /// An IPv6 prefix ending in `::` glued to a domain or an e-mail domain is not an address: its
  /// pseudonym ends in a hex group and formed a host name (`…:2804.com`) or an e-mail
  /// (`…:2804@example.org`) with the text after it, which the second pass redacted (fuzz
  /// finding, Tests/Fuzz/regressions/redact/ipv6-prefix-glued-to-domain).
  @Test(arguments: ["route fe80::.com", "peer fe80::@example.org", "mapped ::ffff:10.1.2.3 up", "gw fe80::1."])
  func addressGluedToFollowingTextIsIdempotent(_ line: String) throws {
    let r = Redactor(rules: try redactionRules(), key: Array("glued".utf8))
    let once = r.redact(line)
    #expect(r.redact(once) == once, "\(line) → \(once)")
  }

  /// Every kind of secret with every kind of glue before and after it (5,865 lines): the
  /// pseudonym must never form a new secret with its neighbours. Found the `fe80::.com` class
  /// above in one shot when run against the old rules.
  @Test func secretsGluedToNeighboursStayIdempotent() throws {
    let values = [
      "fe80::", "fe80::1", "::1", "2a00:1450:4001:81c::200e", "10.1.2.3", "52:54:00:12:34:56", "52-54-00-ab-cd-ef",
      "0e:54:00:ff:fe:12:34:99", "3f2b8c9e-1d4a-4e6b-9f0a-7c5d2e1b3a49", "ffff888012345678", "0xffffc90000a1b2c0",
      "alice@example.org", "ci.corp.example.com", "ip-10-0-0-1", "ghp_abcdefghijklmnopqrstuvwxyz0123",
      "PARTUUID=9a8b7c6d-01", "uid=1000(carol)", "/home/alice/x", "USER=bob", "password=hunter2",
      "SerialNumber: WD-WCC6Y7NKZ123", "hostname=vm1", "Kernel Offset: 0x24e00000 from 0xffffffff81000000",
    ]
    let before = ["", "a", "1", ".", "@", ":", "-", "_", "/", "=", "x@", "a.", "::", "[", "fe80::"]
    let after = ["", "a", "1", ".com", "@example.org", ":", "-", "_", ".", ".1", "x", ".example.com", "::", "]", ":1", "%eth0", "-01"]
    let r = Redactor(rules: try redactionRules(), key: Array("glue".utf8))
    var broken: [String] = []
    for v in values {
      for b in before {
        for a in after {
          let once = r.redact(b + v + a)
          if r.redact(once) != once { broken.append("\(b + v + a) → \(once)") }
        }
      }
    }
    #expect(broken.isEmpty, "\(broken.prefix(5))")
  }

  /// `::ffff:a.b.c.d` is an IPv4 address: it gets an IPv4 pseudonym, and no octet survives
  /// (the IPv6 rule used to take `::ffff:10` and leave `.1.2.3`).
  @Test func ipv4MappedAddressIsRedactedAsIPv4() throws {
    let r = Redactor(rules: try redactionRules(), key: Array("mapped".utf8))
    let out = r.redact("mapped ::ffff:10.1.2.3 up")
    #expect(!out.contains(".1.2.3"), "\(out)")
    #expect(out.hasPrefix("mapped ::ffff:192.0.2.") || out.hasPrefix("mapped ::ffff:198.51.100.") || out.hasPrefix("mapped ::ffff:203.0.113."), "\(out)")
    // A full address at the end of a sentence is still an address.
    #expect(!r.redact("gw fe80::1234:5678.").contains("1234:5678"))
  }

  @Test func redactionIsIdempotent() throws {
    let r = Redactor(rules: try redactionRules(), key: Array("idempotent-key-000".utf8), keywords: ["project-bluebird"])
    for p in plantedSecrets {
      let once = r.redact(p.line)
      #expect(r.redact(once) == once, "second pass changed: \(once)")
    }
  }

  /// Strict MAC matching (sos-clean's UUID false positive): a UUID is a UUID, never a MAC; times
  /// and lockdep usage masks are untouched.
  @Test(arguments: [
    "root=UUID=3f2b8c9e-1d4a-4e6b-9f0a-7c5d2e1b3a49",
    "[   12.345678] rtc_cmos 00:04: setting system clock to 2026-11-25T12:57:06 UTC",
    " #0: (&dev->mutex#3){+.+.}-{3:3}, at: lockhog_lock+0x64/0xa0 [lockhog]",
    "Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014",
    "RAX: ffffffffffffffda RBX: 000000000051c2f0 RCX: 0000000000465209",
    "Linux version 6.12.117 #2 SMP Wed Nov 25 13:39:29 UTC 2026",
  ])
  func noFalsePositiveMACs(_ line: String) throws {
    let r = Redactor(rules: try redactionRules(), key: Array("k".utf8))
    _ = r.redact(line)
    #expect(!r.summary.contains { $0.kind == "mac" || $0.kind == "ipv6" || $0.kind == "ipv4" })
    if !line.contains("UUID") { #expect(r.summary.isEmpty, "\(r.summary) in \(line)") }
  }

  /// Function names and offsets are public and must survive; pointers keep page offsets, so a
  /// lock and its lockdep map (+0x68) still line up after redaction.
  @Test func framesSurvivePointersKeepPageOffsets() throws {
    let r = Redactor(rules: try redactionRules(), key: Array("k".utf8))
    let frame = " __mutex_lock+0x7e6/0x1350 kernel/locking/mutex.c:776"
    #expect(r.redact(frame) == frame)
    let trace = r.redact("lock=ffffffffc0002620")
    let lockdep = r.redact(" #0: ffffffffc0002688 (&dev->mutex#3)")
    let t = try #require(UInt64(trace.dropFirst(5), radix: 16))
    let l = try #require(UInt64(lockdep.dropFirst(5).prefix(16), radix: 16))
    #expect(l &- t == 0x68)
    #expect(trace.hasPrefix("lock=ffff04"))  // text/modules region, non-canonical marker
  }

  @Test func sha256MatchesKnownVectors() {
    func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
    #expect(hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    #expect(hex(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    // RFC 4231 test case 2.
    #expect(
      hex(SHA256.hmac(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)))
        == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    // Two-block message (FIPS 180-2 B.2); RFC 4231 test case 6 (key longer than a block).
    #expect(
      hex(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
        == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    #expect(
      hex(SHA256.hmac(key: [UInt8](repeating: 0xaa, count: 131), message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)))
        == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
  }
}

@Suite("Excerpt")
struct ExcerptTests {
  static func excerpt(_ text: String, key: [UInt8], maxBytes: Int = 5 << 20) throws -> (String, ExcerptResult) {
    let bytes = Array(text.utf8)
    let rules = try IngestRules.shared(directory: TestPaths.root + "/rules")
    let events = try EventParser.parse(source: LogSource.bytes(bytes, name: "planted.log"), rules: rules)
    let locks = try lockCorrelator().analyze(events)
    let plan = ExcerptPlanner.plan(
      events: events, lockEvidence: locks.blocked.flatMap(\.evidence), context: plantedSecrets.count)
    let redactor = Redactor(rules: try redactionRules(), key: key, keywords: ["project-bluebird"])
    var out: [UInt8] = []
    let res = try ExcerptWriter.write(
      open: { LogSource.bytes(bytes, name: "planted.log") }, plan: plan, maxBytes: maxBytes,
      redactor: redactor, header: "# excerpt\n") { out += $0 }
    return (String(decoding: out, as: UTF8.self), res)
  }

  static func headlines(_ text: String) throws -> [String] {
    let rules = try IngestRules.shared(directory: TestPaths.root + "/rules")
    return try EventParser.parse(source: LogSource.bytes(Array(text.utf8)), rules: rules).compactMap {
      if case .report(let r) = $0 { return r.headline }
      return nil
    }
  }

  /// The acceptance test of the issue: secrets of every kind planted into real logs; none
  /// survives, and the excerpt still parses to the same crash reports and lock diagnosis.
  @Test(arguments: ["logs/lab/hung-kaslr.log", "logs/locks/ld-hung.log", "logs/locks/ld-abba.log"])
  func plantedSecretsDoNotSurviveAndReportsStillParse(_ fixture: String) throws {
    let original = try String(contentsOfFile: TestPaths.fixture(fixture), encoding: .utf8)
    let planted = plant(into: original)
    let (text, result) = try Self.excerpt(planted, key: Array("excerpt-test-key-1".utf8))
    for p in plantedSecrets { #expect(!text.contains(p.secret), "\(p.kind) '\(p.secret)' survived") }
    // The real log's own secrets: kernel pointers and the KASLR offset.
    #expect(!text.contains("0x24e00000"))
    #expect(!text.contains("ffffffffc0"))
    #expect(!text.contains("ffff888"))
    #expect(result.redactions.count >= 8)
    // Idempotent on the whole excerpt: a second pass with the same key changes nothing.
    let again = Redactor(rules: try redactionRules(), key: Array("excerpt-test-key-1".utf8), keywords: ["project-bluebird"])
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    #expect(lines.map { again.redact($0) } == lines)
    #expect(again.summary.isEmpty)
    #expect(try Self.headlines(text) == Self.headlines(original))
    // … and to the same syzbot titles.
    let titler = try Titler(rulesDirectory: TestPaths.root + "/rules")
    let titlesBefore = titler.reports(in: Array(original.utf8)).map(\.title)
    #expect(!titlesBefore.isEmpty)
    #expect(titler.reports(in: Array(text.utf8)).map(\.title) == titlesBefore)
    // Same diagnosis after redaction (pseudonymous addresses, same tasks).
    let before = try lockCorrelator().analyze(try fixtureEvents(fixture))
    let rules = try IngestRules.shared(directory: TestPaths.root + "/rules")
    let after = try lockCorrelator().analyze(
      try EventParser.parse(source: LogSource.bytes(Array(text.utf8)), rules: rules))
    #expect(after.blocked.map { [$0.pid, $0.holder?.pid ?? -1] } == before.blocked.map { [$0.pid, $0.holder?.pid ?? -1] })
    #expect(after.cycles.count == before.cycles.count)
  }

  @Test func sameKeySameExcerptDifferentKeyDifferentPseudonyms() throws {
    let planted = plant(into: try String(contentsOfFile: TestPaths.fixture("logs/lab/hung.log"), encoding: .utf8))
    let (a, _) = try Self.excerpt(planted, key: Array("same-key-same-output".utf8))
    let (b, _) = try Self.excerpt(planted, key: Array("same-key-same-output".utf8))
    let (c, _) = try Self.excerpt(planted, key: Array("a-different-key-here".utf8))
    #expect(a == b)
    #expect(a != c)
  }

  @Test(arguments: [2048, 16 * 1024])
  func capKeepsReportsFirstAndMarksOmissions(_ cap: Int) throws {
    let log = try String(contentsOfFile: TestPaths.fixture("logs/locks/ld-vhost.log"), encoding: .utf8)
    let (text, result) = try Self.excerpt(log, key: Array("k".utf8), maxBytes: cap)
    #expect(text.utf8.count <= cap)
    #expect(result.isCapped)
    #expect(text.contains("lines omitted"))
    // The crash report (at the end of the log) wins over earlier lock lists and trace lines.
    #expect(text.contains("Kernel panic - not syncing: sysrq triggered crash"))
  }

  @Test func plannerMergesAndKeepsTiers() {
    let merged = ExcerptPlanner.merge([
      LineRange(first: 10, last: 20, tier: 1), LineRange(first: 15, last: 30, tier: 2),
      LineRange(first: 31, last: 40, tier: 2), LineRange(first: 41, last: 41, tier: 1),
    ])
    #expect(ExcerptPlanner.merge([LineRange(first: 1, last: 5, tier: 0), LineRange(first: 3, last: 9, tier: 1)])
      == [LineRange(first: 1, last: 9, tier: 0)])
    // Overlap merges (the more important tier wins); mere adjacency of different tiers does not,
    // so tier-2 lines can still be dropped under the cap.
    #expect(
      merged == [
        LineRange(first: 10, last: 30, tier: 1), LineRange(first: 31, last: 40, tier: 2),
        LineRange(first: 41, last: 41, tier: 1),
      ])
  }
}
