import Foundation
import TestSupport
import Testing

@testable import Ingest

/// `EventParser.jsonLines` writes frames, registers and ftrace records straight from the line
/// bytes. Whatever the input, its output must be byte for byte what encoding the events gives,
/// and must decode back to the same events.
@Suite struct JSONLinesModeTests {
  /// Every real log of the fixtures, concatenated (the same file the two-core tests use).
  @Test func realLogsEncodeLikeTheirEvents() throws {
    let bytes = try #require(FileManager.default.contents(atPath: TwoCoreParseTests.bigLog))
    #expect(bytes.count > 2 << 20)
    let problems = Array(bytes).withUnsafeBufferPointer { FuzzChecks.jsonLinesModeAgrees($0, rules: testRules, maxFrames: 4096) }
    #expect(problems == [])
  }

  /// Hostile or unusual text in each field written from bytes: quotes, backslashes, tabs,
  /// escape sequences, control bytes, invalid and valid multi-byte UTF-8, DEL, field lengths
  /// around the 8-byte steps of the plain-text check, and the frame forms of every kernel era.
  static let cases: [(String, String)] = [
    ("frames of every form", """
      [  10.000001][ T100] BUG: unable to handle page fault for address: ffffffff
      [  10.000002][ T100] Call Trace:
      [  10.000003][ T100]  <TASK>
      [  10.000004][ T100]  schedule+0x77/0x1a0
      [  10.000005][ T100]  ? unreliable_fn+0x1/0x2
      [  10.000006][ T100]  modfn+0x10/0x20 [vhost_net]
      [  10.000007][ T100]  inlined_fn kernel/sched/core.c:123 [inline]
      [  10.000008][ T100]  symbolized+0x1/0x2 kernel/fork.c:99
      [  10.000009][ T100]  [<ffffffff81234567>] raw_fn+0x5/0x9
      [  10.000010][ T100]  [<ffffffff81234568>] 0xffffffff81234568
      [  10.000011][ T100]  decoded+0x3/0x4 (kernel/a.c:1 kernel/b.c:2)
      [  10.000012][ T100]  <IRQ>
      [  10.000013][ T100]  irq_fn+0x1/0x2
      [  10.000014][ T100]  </IRQ>
      [  10.000015][ T100]  </TASK>
      [  10.000016][ T100] RIP: 0010:crash_fn+0x10/0x20
      [  10.000017][ T100] RSP: 0018:ffffc90000a3fd38 EFLAGS: 00010246
      [  10.000018][ T100] RAX: 0000000000000000 RBX: ffff888012345678 RCX: 0000000000000001
      [  10.000019][ T100] ---[ end trace 0000000000000000 ]---
      """),
    ("text that must be escaped or repaired", """
      [  11.000001][ T101] WARNING: CPU: 0 PID: 101 at kernel/x.c:1 f+0x1/0x2
      [  11.000002][ T101] Call Trace:
      [  11.000003][ T101]  fn_with_tab+0x1/0x2 [mo\td]
      [  11.000004][ T101]  fn+0x1/0x2 [mod"quote]
      [  11.000005][ T101]  fn+0x1/0x2 [mod\\back]
      [  11.000006][ T101]  fn+0x1/0x2 [m\u{1B}[31mred\u{1B}[0m]
      [  11.000007][ T101]  fn+0x1/0x2 [m\u{7F}del]
      [  11.000008][ T101]  fn+0x1/0x2 [caf\u{E9}]
      [  11.000009][ T101]  fn+0x1/0x2 src/\u{1}ctl.c:7
      [  11.000010][ T101]  fn+0x1/0x2 [1234567]
      [  11.000011][ T101]  fn+0x1/0x2 [12345678]
      [  11.000012][ T101]  fn+0x1/0x2 [123456789]
      [  11.000013][ T101]  a+0x1/0x2 [m]
      [  11.000014][ T101] R8 : 0000000000000000 R9: 00000000000000\u{1}1 R10: ffff"
      [  11.000015][ T101] ---[ end trace 0000000000000000 ]---
      """),
    ("ftrace dump with stacks and vhost_lock fields", """
      [  12.000001] Dumping ftrace buffer:
      [  12.000002] ---------------------------------
      [  12.000003]  vhost-12-104       1..... 2123127us : lockhog_lock: vhost_lock: wait dev->mutex lock=ffff888000aeac18 owner=67 comm=vhost"x fn=a\\b
      [  12.000004]    <idle>-0       [001] d.h1.  1234.567890: bputs: plain message
      [  12.000005]  kworker/0:1-9    0d... 3000us : <stack trace>
      [  12.000006]  => schedule_timeout
      [  12.000007]  => \u{1B}[1mbold
      [  12.000008]  vhostkil-67      0..... 2780805us : __vhost_worker_flush: vhost_lock: release worker->mutex =novalue key= =
      [  12.000009]  vhostkil-67      0..... 2780806us : f: vhost_lock:
      [  12.000010]  t\u{E9}st-5       0..... 2780807us : caf\u{E9}: m\u{FF}\u{FE}
      [  12.000011] ---------------------------------
      """),
    ("task dumps, lock lists and a hung task", """
      [  13.000001] INFO: task vhost-1234:1250 blocked for more than 143 seconds.
      [  13.000002]       Not tainted 6.12.0 #1
      [  13.000003] task:vhost-1234      state:D stack:0     pid:1250  tgid:1234  ppid:2      flags:0x00004000
      [  13.000004] Call Trace:
      [  13.000005]  <TASK>
      [  13.000006]  __schedule+0x3d2/0xb70
      [  13.000007]  vhost_worker_killed+0x40/0x120 [vhost]
      [  13.000008]  </TASK>
      [  13.000009] Showing all locks held in the system:
      [  13.000010] 1 lock held by vhost-1234/1250:
      [  13.000011]  #0: ffff888054cc68e8 (&dev->mutex#2){+.+.}-{4:4}, at: vhost_worker_killed+0x40/0x120 [vhost]
      [  13.000012] task:kworker/u4:2    state:S stack:0     pid:55    tgid:55    ppid:2      flags:0x00004000
      [  13.000013] Call Trace:
      [  13.000014]  <TASK>
      [  13.000015]  worker_thread+0x1/0x2 [m\tx]
      [  13.000016]  </TASK>
      """),
  ]

  @Test(arguments: cases.indices)
  func hostileFieldsEncodeLikeTheirEvents(_ i: Int) throws {
    let (name, text) = Self.cases[i]
    let bytes = Array(text.utf8) + [0x0A]
    let problems = bytes.withUnsafeBufferPointer { FuzzChecks.jsonLinesModeAgrees($0, rules: testRules) }
    #expect(problems == [], "\(name)")
    // And the lines decode to the very events the parser builds.
    var events: [Event] = []
    let p = EventParser(rules: testRules, file: "t.log") { events.append($0) }
    var written: [UInt8] = []
    let out = JSONLinesOutput { written += $0 }
    let q = EventParser(rules: testRules, file: "t.log") { _ in }
    q.jsonLines = out
    bytes.withUnsafeBufferPointer { b in
      FuzzChecks.forEachLine(b, cap: 4096) {
        p.consume($0)
        q.consume($0)
      }
    }
    p.finish()
    q.finish()
    out.flush()
    #expect(events.count >= 2, "\(name)")
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    let decoded = try written.split(separator: 0x0A).map { try decoder.decode(Event.self, from: Data($0)) }
    #expect(decoded == events, "\(name)")
  }

  /// Two parsers in JSON Lines mode, split anywhere: the head's output followed by the tail's
  /// from the sync point's offset is the one-parser output.
  @Test func twoCoreOutputMatchesOneParser() throws {
    let path = TwoCoreParseTests.bigLog
    let size = Int(try FileManager.default.attributesOfItem(atPath: path)[.size] as! UInt64)
    func run(near: Int?) throws -> (output: [UInt8], split: Bool) {
      var head: [UInt8] = []
      var tail: [UInt8] = []
      let parser = EventParser(rules: testRules, file: path) { _ in }
      let headOut = JSONLinesOutput { head += $0 }
      parser.jsonLines = headOut
      let tailOut = JSONLinesOutput { tail += $0 }
      let point = try TwoCoreParse.read(
        LogSource.open(path), head: parser, split: near != nil, eligible: { true }, tailSink: { _ in },
        makeTail: { sink in
          let t = EventParser(rules: testRules, file: path, sink: sink)
          t.jsonLines = tailOut
          return t
        }, minimumBytes: 1, splitNear: near)
      headOut.flush()
      tailOut.flush()
      guard let point else { return (head, false) }
      return (head + tail[point.outputOffset...], true)
    }
    let reference = try run(near: nil)
    #expect(!reference.split && reference.output.count > 1 << 20)
    var used = 0
    for k in 1..<12 {
      let (output, split) = try run(near: size * k / 12)
      if split { used += 1 }
      #expect(output == reference.output, "split \(k)")
    }
    #expect(used >= 8, "only \(used) of 11 splits used the tail")
  }
}

/// The byte-level helpers behind it, against plain reference definitions.
@Suite struct JSONWriterPrimitiveTests {
  @Test func plainTextCheckMatchesAByteLoop() {
    func reference(_ b: [UInt8]) -> Bool { b.allSatisfy { $0 >= 0x20 && $0 <= 0x7E && $0 != 0x22 && $0 != 0x5C } }
    var rng = SystemRandomNumberGenerator()
    let special: [UInt8] = [0x00, 0x09, 0x1B, 0x1F, 0x20, 0x21, 0x22, 0x5B, 0x5C, 0x5D, 0x7E, 0x7F, 0x80, 0xC3, 0xFF]
    // Every special byte at every position of every length up to 40 (the SSE2 steps from 16
    // on, with their overlapping last step).
    for n in 1...40 {
      for at in 0..<n {
        for c in special {
          var b = [UInt8](repeating: 0x61, count: n)
          b[at] = c
          let got = b.withUnsafeBufferPointer { JSONBuffer.isPlain($0.baseAddress!, n) }
          #expect(got == reference(b), "n=\(n) at=\(at) byte=\(c)")
        }
      }
    }
    for _ in 0..<20_000 {
      let n = Int.random(in: 0...40, using: &rng)
      let b = (0..<n).map { _ in Bool.random(using: &rng) ? UInt8.random(in: 0x20...0x7E, using: &rng) : special.randomElement(using: &rng)! }
      let got = b.withUnsafeBufferPointer { $0.baseAddress.map { JSONBuffer.isPlain($0, n) } ?? true }
      #expect(got == reference(b))
    }
  }

  @Test func textFromBytesEqualsTextFromString() {
    let samples = ["", "a", "plain ascii text", "quote\"d", "back\\slash", "tab\there", "esc\u{1B}[1mbold", "caf\u{E9}", "\u{7F}", "12345678", "123456789"]
    for s in samples {
      var bytes = Array(s.utf8)
      bytes.append(0xFF)  // an invalid byte right after the range must not be read into it
      let a = JSONBuffer()
      let b = JSONBuffer()
      bytes.withUnsafeBufferPointer { buf in
        a.text(buf, 0..<buf.count - 1)
        b.string(buf.text(0..<buf.count - 1))
      }
      #expect(a.bytes == b.bytes, "\(s)")
    }
  }

  /// Powers of ten and their neighbours, the extremes, and random values of every magnitude.
  static func interestingValues() -> [UInt64] {
    var values: [UInt64] = [0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, UInt64.max, UInt64.max - 1]
    var p: UInt64 = 1
    for _ in 0..<19 {
      p *= 10
      values += [p - 1, p, p + 1]
    }
    var rng = SystemRandomNumberGenerator()
    values += (0..<2000).map { _ in UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0...63, using: &rng) }
    return values
  }

  @Test func unsignedIntegersPrintLikeSwift() {
    for v in Self.interestingValues() {
      let j = JSONBuffer()
      j.uint(v)
      #expect(String(decoding: j.bytes, as: UTF8.self) == String(v))
    }
  }

  @Test func cursorNumbersAndConstantsMatchTheBufferWriters() {
    let values = Self.interestingValues() + [9_999_999_999_999_999_999, 10_000_000_000_000_000_000]
    var out = [UInt8](repeating: 0, count: 64)
    for v in values {
      let n = out.withUnsafeMutableBufferPointer { JSONBuffer.put($0.baseAddress!, v) - $0.baseAddress! }
      #expect(String(decoding: out[..<n], as: UTF8.self) == String(v))
    }
    // Constants of every length the word copy distinguishes (under 4, 4-8, 8-16, longer).
    let constants: [StaticString] = ["", "{", "\"}", "true", "false", ",\"line\":", ",\"offset\":", ",\"function\":\"", ",{\"name\":\"", "0123456789abcdefghij"]
    for c in constants {
      out = [UInt8](repeating: 0xEE, count: 64)
      let n = out.withUnsafeMutableBufferPointer { JSONBuffer.put($0.baseAddress!, c) - $0.baseAddress! }
      #expect(Array(out[..<n]) == Array(UnsafeBufferPointer(start: c.utf8Start, count: c.utf8CodeUnitCount)))
      #expect(out[n] == 0xEE, "wrote past the constant")
    }
  }

  @Test func addressesAreSixteenHexDigitStrings() {
    // Every nibble value in every position, besides the usual magnitudes.
    var values = Self.interestingValues()
    for shift in stride(from: 0, to: 64, by: 4) { for d in 0..<16 { values.append(UInt64(d) << UInt64(shift)) } }
    var out = [UInt8](repeating: 0xEE, count: 32)
    for v in values {
      let hex = String(v, radix: 16)
      let expected = "\"" + String(repeating: "0", count: 16 - hex.count) + hex + "\""
      let n = out.withUnsafeMutableBufferPointer { JSONBuffer.putAddress($0.baseAddress!, v) - $0.baseAddress! }
      #expect(String(decoding: out[..<n], as: UTF8.self) == expected)
      #expect(out[n] == 0xEE, "wrote past the address")
      let j = JSONBuffer()
      j.hexAddress(v)
      #expect(String(decoding: j.bytes, as: UTF8.self) == expected)
      #expect("\"" + KernelAddress.string(v) + "\"" == expected)
      #expect(KernelAddress.parse(KernelAddress.string(v)) == v && KernelAddress.parse("0x" + hex) == v)
    }
    #expect(KernelAddress.parse("") == nil && KernelAddress.parse("0x") == nil && KernelAddress.parse("1ffffffffffffffff") == nil)
  }

  /// `--jsonl | jq` must not lose an address: as a number jq read 18446744071593071497 as a
  /// double and printed 18446744071593070000.
  @Test func addressesSurviveReadersThatUseDoubles() throws {
    let log = "[  5.0] BUG: unable to handle page fault for address: ffffffff\n[  5.1] Call Trace:\n[  5.1]  [<ffffffff8100b2d4>] dump_stack+0xc1/0x128\n[  5.2] 1 lock held by a/1:\n[  5.2]  #0: ffff888012345678 (&dev->mutex){+.+.}-{4:4}, at: f+0x1/0x2\n"
    var out: [UInt8] = []
    let sink = JSONLinesOutput { out += $0 }
    let p = EventParser(rules: testRules, file: "t.log") { _ in }
    p.jsonLines = sink
    try LogSource.bytes(Array(log.utf8), name: "t.log").forEachLine { p.consume($0) }
    p.finish()
    sink.flush()
    let text = String(decoding: out, as: UTF8.self)
    #expect(text.contains("\"address\":\"ffffffff8100b2d4\""), "\(text)")
    #expect(text.contains("\"address\":\"ffff888012345678\""), "\(text)")
    // Read back as events (the string form), and the number form earlier versions wrote.
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    for line in text.split(separator: "\n") {
      _ = try decoder.decode(Event.self, from: Data(line.utf8))
    }
    let old = try decoder.decode(Frame.self, from: Data(#"{"address":18446744071578890964,"line":3}"#.utf8))
    let new = try decoder.decode(Frame.self, from: Data(#"{"address":"0xffffffff8100b2d4","line":3}"#.utf8))
    #expect(old.address == 0xffff_ffff_8100_b2d4 && new.address == 0xffff_ffff_8100_b2d4)
    #expect(throws: DecodingError.self) { try decoder.decode(Frame.self, from: Data(#"{"address":"kernel","line":3}"#.utf8)) }
  }

  @Test func timestampsPrintWithSixFractionDigits() {
    var values: [Double] = [0, 0.000001, 0.5, 1, 9.999999, 10.0000005, 772.91901, 1234.5, 99999.999999, 100000, 4_294_967.295]
    var rng = SystemRandomNumberGenerator()
    values += (0..<2000).map { _ in Double(UInt32.random(in: 0...UInt32.max, using: &rng)) / Double(UInt32.random(in: 1...1_000_000, using: &rng)) }
    for v in values {
      let us = Int((v * 1_000_000).rounded())
      let frac = String(abs(us % 1_000_000))
      let expected = "\(us / 1_000_000)." + String(repeating: "0", count: 6 - frac.count) + frac
      let j = JSONBuffer()
      j.double(v)
      #expect(String(decoding: j.bytes, as: UTF8.self) == expected, "\(v)")
    }
  }

  @Test func smallCopiesCopyExactlyTheirBytes() {
    let source = (0..<80).map { UInt8(0x21 + $0) }
    for n in 0...70 {
      var out = [UInt8](repeating: 0, count: 80)
      source.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
          _ = JSONBuffer.put(dst.baseAddress! + 3, src.baseAddress!, 5..<5 + n)
        }
      }
      #expect(Array(out[3..<3 + n]) == Array(source[5..<5 + n]), "n=\(n)")
      #expect(out[..<3].allSatisfy { $0 == 0 } && out[(3 + n)...].allSatisfy { $0 == 0 }, "n=\(n): wrote outside")
    }
  }

  @Test func hexNumbersParseLikeSwift() {
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<5000 {
      let v = UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0...63, using: &rng)
      for text in ["0x" + String(v, radix: 16), String(v, radix: 16, uppercase: true) + " rest", "0X" + String(v, radix: 16) + "/"] {
        let b = Array(text.utf8)
        let got = b.withUnsafeBufferPointer { $0.hex(at: 0) }
        #expect(got?.0 == v, "\(text)")
        #expect(got?.1 == b.firstIndex(where: { $0 == 0x20 || $0 == 0x2F }) ?? b.count)
      }
    }
    #expect(Array("xyz".utf8).withUnsafeBufferPointer { $0.hex(at: 0) } == nil)
    // At most 16 digits are taken.
    #expect(Array("11112222333344445".utf8).withUnsafeBufferPointer { $0.hex(at: 0)?.1 } == 16)
  }

  /// `text(_:)` decides eight bytes at a time whether a range needs cleaning: against the
  /// byte-by-byte rule, with every control byte, tab, DEL and high byte at every position.
  @Test func textKeepsAndDropsBytesLikeTheByteRule() {
    func reference(_ b: [UInt8]) -> String {
      if b.allSatisfy({ !($0 < 0x20 && $0 != 0x09 || $0 == 0x7F) }) { return String(decoding: b, as: UTF8.self) }
      var out: [UInt8] = []
      var i = 0
      while i < b.count {
        let c = b[i]
        if c == 0x1B {
          i += 1
          if i < b.count, b[i] == 0x5B {
            i += 1
            while i < b.count, !((b[i] | 0x20) &- 0x61 < 26) { i += 1 }
          }
          i += 1
          continue
        }
        if !((c < 0x20 && c != 0x09) || c == 0x7F) { out.append(c) }
        i += 1
      }
      return String(decoding: out, as: UTF8.self)
    }
    let specials: [UInt8] = [0x00, 0x01, 0x09, 0x0A, 0x0D, 0x1B, 0x1F, 0x20, 0x7E, 0x7F, 0x80, 0xC3, 0xA9, 0xFF, 0x5B, 0x6D]
    var rng = SystemRandomNumberGenerator()
    for n in 0...40 {
      for special in specials {
        for at in 0..<max(n, 1) {
          var b = (0..<n).map { _ in UInt8.random(in: 0x21...0x7E, using: &rng) }
          if at < n { b[at] = special }
          let got = b.withUnsafeBufferPointer { $0.text(0..<n) }
          #expect(got == reference(b), "\(b)")
        }
      }
    }
  }

  /// The word-at-a-time parse against the byte loop: every byte value next to hex digits, runs of
  /// every length up to past 16, at every position up to the buffer's end (where the word is
  /// loaded from before the start and shifted).
  @Test func hexWordsMatchTheByteLoop() {
    var rng = SystemRandomNumberGenerator()
    let digits = Array("0123456789abcdefABCDEF".utf8)
    for round in 0..<20000 {
      let n = Int.random(in: 8...40, using: &rng)
      var b = (0..<n).map { _ in digits.randomElement(using: &rng)! }
      // One or two other bytes somewhere (every value in turn), or none.
      let other = UInt8(truncatingIfNeeded: round)
      if round % 3 != 0 { b[Int.random(in: 0..<n, using: &rng)] = other }
      if round % 3 == 2 { b[Int.random(in: 0..<n, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
      if round % 5 == 0, n > 3 { b[0] = 0x30; b[1] = round % 2 == 0 ? 0x78 : 0x58 }
      b.withUnsafeBufferPointer { p in
        for at in 0...n {
          var j = at
          if j + 1 < n, p[j] == 0x30, p[j + 1] | 0x20 == 0x78 { j += 2 }
          let want = p.hexLoop(from: j)
          let got = p.hex(at: at)
          #expect(got?.0 == want?.0 && got?.1 == want?.1, "\(b) at \(at): \(String(describing: got)) vs \(String(describing: want))")
        }
      }
    }
  }

  @Test func identifierEndMatchesAByteLoop() {
    var rng = SystemRandomNumberGenerator()
    let alphabet = Array("azAZ09_.$+/ ()[]:-@`{~\t".utf8) + [0x00, 0x7F, 0x80, 0xC3, 0xFF, 0x2F, 0x3A, 0x40, 0x5B, 0x60, 0x7B]
    for _ in 0..<20_000 {
      let n = Int.random(in: 0...40, using: &rng)
      let b = (0..<n).map { _ in Bool.random(using: &rng) ? Array("abcXYZ019_.$".utf8).randomElement(using: &rng)! : alphabet.randomElement(using: &rng)! }
      let from = n == 0 ? 0 : Int.random(in: 0...n, using: &rng)
      var expected = from
      while expected < n, Bytes.isIdent(b[expected]) { expected += 1 }
      #expect(b.withUnsafeBufferPointer { $0.identEnd(from: from) } == expected, "\(b) from \(from)")
    }
    // Every byte value in every lane of the 16-byte steps and of the byte loop after them.
    for c in 0...255 {
      for lane in 0..<20 {
        var b = Array("abcdefghijklmnopqrst".utf8)
        b[lane] = UInt8(c)
        let expected = Bytes.isIdent(UInt8(c)) ? 20 : lane
        #expect(b.withUnsafeBufferPointer { $0.identEnd(from: 0) } == expected, "byte \(c) lane \(lane)")
      }
    }
  }

  @Test func tokenEndMatchesAByteLoop() {
    var rng = SystemRandomNumberGenerator()
    let alphabet = Array("ab=  =x\t".utf8) + [0x00, 0x1F, 0x21, 0x3C, 0x3D, 0x3E, 0x7F, 0x80, 0xA0, 0xBD, 0xFF]
    func expected(_ b: [UInt8], _ from: Int) -> (Int, Int) {
      var i = from
      var eq = -1
      while i < b.count, b[i] != 0x20 {
        if b[i] == 0x3D, eq < 0 { eq = i }
        i += 1
      }
      return (i, eq)
    }
    for _ in 0..<20_000 {
      let n = Int.random(in: 0...40, using: &rng)
      let b = (0..<n).map { _ in alphabet.randomElement(using: &rng)! }
      let from = n == 0 ? 0 : Int.random(in: 0...n, using: &rng)
      let got = b.withUnsafeBufferPointer { $0.tokenEnd(from: from) }
      #expect(got == expected(b, from), "\(b) from \(from)")
    }
    // A space and an `=` in every pair of lanes, either order, and both in one word's lanes
    // after a word without either.
    for s in 0..<16 {
      for e in 0..<16 where e != s {
        var b = Array("abcdefghijklmnopq".utf8)
        b[s] = 0x20
        b[e] = 0x3D
        let got = b.withUnsafeBufferPointer { $0.tokenEnd(from: 0) }
        #expect(got == expected(b, 0), "space \(s) equals \(e)")
      }
    }
  }

  @Test func identifierBytesNeedNoEscape() {
    // The frame writer copies function names unchecked because the parser takes only these.
    for c in 0...255 where Bytes.isIdent(UInt8(c)) {
      #expect([UInt8(c)].withUnsafeBufferPointer { JSONBuffer.isPlain($0.baseAddress!, 1) }, "byte \(c)")
    }
  }

  @Test func identifierBytesAreLettersDigitsUnderscoreDotDollar() {
    for c in 0...255 {
      let u = UInt8(c)
      let expected = (u >= 0x41 && u <= 0x5A) || (u >= 0x61 && u <= 0x7A) || (u >= 0x30 && u <= 0x39) || u == 0x5F || u == 0x2E || u == 0x24
      #expect(Bytes.isIdent(u) == expected, "byte \(c)")
    }
  }
}
