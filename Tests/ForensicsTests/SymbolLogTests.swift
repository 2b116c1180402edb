import Foundation
import Ingest
import Testing
import TestSupport

@testable import Forensics

@Suite("Frame line parser")
struct SymbolFrameLineTests {
  struct Row: Sendable, CustomStringConvertible {
    var line: String
    var kind: FrameLine.Kind?
    var function: String?
    var offset: UInt64?
    var size: UInt64?
    var module: String?
    var reliable = true
    var address: UInt64? = nil
    var symbolized = false
    var description: String { line }
  }

  static let rows: [Row] = [
    Row(line: "[    5.767636][    T1]  __schedule+0x350/0x940", kind: .callTrace, function: "__schedule", offset: 0x350, size: 0x940),
    Row(line: "[    5.768148][    T1]  ? lockhog_unlock.constprop.0+0x50/0x50 [lockhog]", kind: .callTrace, function: "lockhog_unlock.constprop.0", offset: 0x50, size: 0x50, module: "lockhog", reliable: false),
    Row(line: "[   10.947305]  vhost_worker_fn+0xd1/0xd9 [lockhog 0123456789abcdef]", kind: .callTrace, function: "vhost_worker_fn", offset: 0xd1, size: 0xd9, module: "lockhog"),
    Row(line: "<4>[  1.0] RIP: 0010:native_safe_halt+0xb/0x10", kind: .rip, function: "native_safe_halt", offset: 0xb, size: 0x10),
    Row(line: " [<ffffffff8108e2a7>] kthread+0xd7/0x100", kind: .callTrace, function: "kthread", offset: 0xd7, size: 0x100, address: 0xffff_ffff_8108_e2a7),
    Row(line: " [<ffffffff8108e2a7>] ? kthread+0xd7/0x100", kind: .callTrace, function: "kthread", offset: 0xd7, size: 0x100, reliable: false, address: 0xffff_ffff_8108_e2a7),
    Row(line: "[    5.776019][    T1]  #0: ffffffffc0002688 (&dev->mutex#3){+.+.}-{3:3}, at: lockhog_lock+0x64/0xa0 [lockhog]", kind: .lockdepSite, function: "lockhog_lock", offset: 0x64, size: 0xa0, module: "lockhog"),
    Row(line: "[   10.893566]  => ret_from_fork <ffffffff810032f2>", kind: .ftraceStack, function: nil, offset: nil, size: nil, address: 0xffff_ffff_8100_32f2),
    Row(line: " __schedule+0x350/0x940 kernel/sched/core.c:6752", kind: .callTrace, function: "__schedule", offset: 0x350, size: 0x940, symbolized: true),
    Row(line: "[    5.767352][    T1] Call Trace:", kind: nil, function: nil, offset: nil, size: nil),
    Row(line: "[    1.0] hello+0x10/0x20 world", kind: nil, function: nil, offset: nil, size: nil),
    Row(line: "RIP: 0033:0x47b7a0", kind: nil, function: nil, offset: nil, size: nil),
    Row(line: "", kind: nil, function: nil, offset: nil, size: nil),
    Row(line: "[\u{1B}[0m  ]  ?", kind: nil, function: nil, offset: nil, size: nil),
  ]

  @Test(arguments: rows)
  func parsesKernelFrameForms(_ row: Row) {
    let bytes = Array(row.line.utf8)
    let parsed = bytes.withUnsafeBufferPointer { FrameLine.parse($0) }
    #expect(parsed?.kind == row.kind)
    guard let p = parsed else { return }
    #expect(p.frame.function == row.function)
    #expect(p.frame.offset == row.offset)
    #expect(p.frame.size == row.size)
    #expect(p.frame.module == row.module)
    #expect(p.frame.isReliable == row.reliable)
    #expect(p.frame.address == row.address)
    #expect(p.isSymbolized == row.symbolized)
  }

  @Test(arguments: [
    ("ffffffff8159ad40", AddressQuery.address(0xffff_ffff_8159_ad40)),
    ("0xFFFFFFFF8159AD40", .address(0xffff_ffff_8159_ad40)),
    ("  0x10\r", .address(0x10)),
    ("schedule+0x3e", .symbol(module: nil, function: "schedule", offset: 0x3e, size: nil)),
    ("schedule+0x3e/0x100", .symbol(module: nil, function: "schedule", offset: 0x3e, size: 0x100)),
    ("lockhog:lockhog_lock+0x64", .symbol(module: "lockhog", function: "lockhog_lock", offset: 0x64, size: nil)),
  ])
  func parsesAddressQueries(_ text: String, _ expected: AddressQuery) {
    #expect(AddressQuery.parse(text) == expected)
  }

  @Test(arguments: ["", "xyz", "0x", "func+", "func+0xzz", ":f+0x1", "a b+0x1", "0x1234567890abcdef0"])
  func rejectsMalformedQueries(_ text: String) {
    #expect(AddressQuery.parse(text) == nil)
  }
}

@Suite("Log symbolization on the real lab logs")
struct SymbolLogTests {
  static func rewrite(_ log: String, symbolizer: Symbolizer, offset: UInt64? = nil) throws -> (String, LogSymbolizer) {
    let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: log)))
    let r = LogSymbolizer(symbolizer: symbolizer)
    var out: [UInt8] = []
    try bytes.withUnsafeBufferPointer { b in
      _ = try r.prepare(b, explicitOffset: offset)
      r.rewrite(b) { out += $0 }
    }
    return (String(decoding: out, as: UTF8.self), r)
  }

  @Test func kaslrLogGetsFileLinesAndInlineFramesAndKeepsOtherLines() throws {
    let s = try SymbolFixtures.symbolizer()
    let log = TestPaths.shared("lab-6.12/logs/ld-hung-kaslr.log")
    let (text, r) = try Self.rewrite(log, symbolizer: s)
    #expect(s.kaslrOffset == 0x2b00_0000)
    #expect(r.kaslrSource == "Kernel Offset: line")
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    let sched = try #require(lines.firstIndex { $0.hasSuffix("__schedule+0x350/0x940 kernel/sched/core.c:6752") })
    #expect(lines[sched - 1].hasSuffix(" context_switch kernel/sched/core.c:5363 [inline]"))
    // The module's DWARF names its source by absolute path (built outside the kernel tree).
    #expect(lines.contains { $0.hasSuffix("lockhog_lock+0x64/0xa0 [lockhog] /work/lab/lockdep-lab/module/lockhog.c:63") })
    #expect(lines.contains { $0.hasSuffix("at: ksys_write+0x65/0xe0 fs/read_write.c:736") })
    #expect(r.framesUnresolved == 0)
    // Removing what was added gives back the original bytes.
    let original = try String(contentsOfFile: log, encoding: .utf8)
    var restored: [Substring] = []
    for l in lines where !l.hasSuffix(" [inline]") {
      if let space = l.lastIndex(of: " "), l[l.index(after: space)...].contains(":"),
        FrameLineProbe.isFrame(String(l[..<space]))
      {
        restored.append(l[..<space])
      } else {
        restored.append(l)
      }
    }
    #expect(restored.joined(separator: "\n") == original)
  }

  @Test func disabledKernelOffsetMeansZero() throws {
    let s = try SymbolFixtures.symbolizer()
    s.kaslrOffset = 0x1234
    let (text, r) = try Self.rewrite(TestPaths.shared("lab-6.12/logs/ld-hung.log"), symbolizer: s)
    #expect(s.kaslrOffset == 0)
    #expect(r.kaslrSource == "Kernel Offset: line")
    #expect(text.contains("__schedule+0x350/0x940 kernel/sched/core.c:6752"))
  }

  @Test func explicitOffsetWins() throws {
    let s = try SymbolFixtures.symbolizer()
    let (_, r) = try Self.rewrite(TestPaths.shared("lab-6.12/logs/ld-hung.log"), symbolizer: s, offset: 0x1000)
    #expect(s.kaslrOffset == 0x1000)
    #expect(r.kaslrSource == "--kaslr-offset")
  }

  @Test func logFromAnotherKernelIsRejected() throws {
    let s = try SymbolFixtures.symbolizer()
    #expect(throws: SymbolizeError.self) {
      _ = try Self.rewrite(TestPaths.shared("lab/logs/hung.log"), symbolizer: s)
    }
    do {
      _ = try Self.rewrite(TestPaths.shared("lab/logs/hung.log"), symbolizer: s)
    } catch let e as SymbolizeError {
      guard case .bannerMismatch(_, _, let logBanner, _, _) = e else {
        Issue.record("expected a banner mismatch, got \(e)")
        return
      }
      #expect(logBanner.hasPrefix("Linux version 6.1.0-"))
    }
  }

  @Test func framesWithoutBannerButWrongSizesAreRejected() throws {
    let s = try SymbolFixtures.symbolizer()
    // The 6.1 log's stacks without its banner line: sizes do not fit the 6.12 symbols.
    let text = try String(contentsOfFile: TestPaths.shared("lab/logs/hung.log"), encoding: .utf8)
    let body = text.split(separator: "\n").filter { !$0.contains("Linux version") }.joined(separator: "\n")
    let r = LogSymbolizer(symbolizer: s)
    let bytes = Array(body.utf8)
    #expect(throws: SymbolizeError.self) {
      try bytes.withUnsafeBufferPointer { _ = try r.prepare($0, explicitOffset: nil) }
    }
    r.isForced = true
    #expect(throws: Never.self) {
      try bytes.withUnsafeBufferPointer { _ = try r.prepare($0, explicitOffset: nil) }
    }
  }

  @Test func hostileBytesPassThroughUnchanged() throws {
    let s = try SymbolFixtures.symbolizer(modules: false)
    var bytes: [UInt8] = Array("\r\n\0\u{1B}[31m  ? \n[<ffffffff>]\n x+0x/0x\n".utf8) + [0xFF, 0xFE, 0x0A, 0x0D]
    bytes += Array(repeating: 0x41, count: 100_000)
    let r = LogSymbolizer(symbolizer: s)
    var out: [UInt8] = []
    try bytes.withUnsafeBufferPointer { b in
      _ = try r.prepare(b, explicitOffset: nil)
      r.rewrite(b) { out += $0 }
    }
    #expect(out == bytes)
  }
}

/// Recognises an unsymbolized frame line (the part of an output line before the added location).
enum FrameLineProbe {
  static func isFrame(_ s: String) -> Bool {
    Array(s.utf8).withUnsafeBufferPointer { FrameLine.parse($0) } != nil
  }
}

@Suite("symbolize command")
struct SymbolizeCommandTests {
  @Test func addressModePrintsLLVMStyleAndJSON() throws {
    let vmlinux = try SymbolFixtures.requireVmlinux()
    try #require(TestPaths.exists(TestPaths.binary), "build the binary first (swift build)")
    let r = try runCommand(["symbolize", "--vmlinux", vmlinux, "--no-cache", "--addrs", "ffffffff8159ad3f", "bogus"])
    #expect(r.status == 0)
    #expect(r.stdout.hasPrefix("context_switch\n/work/lab/lockdep-lab/src/kernel/sched/core.c:5363:2\n__schedule\n"))
    #expect(r.stdout.hasSuffix("\n\n??\n??:0:0\n\n"))
    #expect(r.stderr.contains("cannot parse address 'bogus'"))
    let j = try runCommand(["symbolize", "--vmlinux", vmlinux, "--no-cache", "--addrs", "--json"], stdin: Data("0xffffffff8159ad3f\n".utf8))
    let obj = try #require(try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any])
    #expect(obj["address"] as? String == "0xffffffff8159ad3f")
    let frames = try #require(obj["frames"] as? [[String: Any]])
    #expect(frames.map { $0["function"] as? String } == ["context_switch", "__schedule"])
    #expect(frames.map { $0["inlined"] as? Bool } == [true, false])
  }

  @Test func badInputsExitTwoWithTheFileNamed() throws {
    try #require(TestPaths.exists(TestPaths.binary), "build the binary first (swift build)")
    let missing = try runCommand(["symbolize", "--vmlinux", "/nonexistent/vmlinux", "--addrs", "0x1"])
    #expect(missing.status == 2)
    #expect(missing.stderr.contains("/nonexistent/vmlinux"))
    let notELF = try runCommand(["symbolize", "--vmlinux", TestPaths.fixture("elf/inline.c"), "--addrs", "0x1"])
    #expect(notELF.status == 2)
    #expect(notELF.stderr.contains("not an ELF file"))
    let noDebug = try runCommand(["symbolize", "--vmlinux", "/bin/true", "--addrs", "0x1"])
    #expect(noDebug.status == 2)
    #expect(noDebug.stderr.contains("no DWARF"))
  }
}
