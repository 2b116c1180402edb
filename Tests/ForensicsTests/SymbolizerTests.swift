import Foundation
import Ingest
import Testing
import TestSupport

@testable import Forensics

/// Real-data fixtures for symbolization: the lab-6.12 DWARF vmlinux (decompressed once into
/// the cache, as `make vmlinux` does), the lab module, and a C program built at test time.
enum SymbolFixtures {
  static let cacheRoot: String = {
    if let x = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"], !x.isEmpty {
      return x + "/repro-analyze"
    }
    return NSHomeDirectory() + "/.cache/repro-analyze"
  }()

  /// The 6.12 vmlinux; decompressed from ../shared/lab-6.12/kernel/vmlinux.xz when missing
  /// (temp file + rename, so parallel tests never see a partial file).
  static let vmlinux612: String? = {
    let path = cacheRoot + "/vmlinux-6.12/vmlinux"
    if TestPaths.exists(path) { return path }
    let xz = TestPaths.shared("lab-6.12/kernel/vmlinux.xz")
    guard TestPaths.exists(xz) else { return nil }
    try? FileManager.default.createDirectory(
      atPath: cacheRoot + "/vmlinux-6.12", withIntermediateDirectories: true)
    let tmp = path + ".tmp.\(getpid())"
    let r = try? runCommand(["-c", "xz -dc '\(xz)' > '\(tmp)' && mv '\(tmp)' '\(path)'"], executable: "/bin/sh")
    return r?.status == 0 && TestPaths.exists(path) ? path : nil
  }()

  static let vmlinux61 = cacheRoot + "/vmlinux/vmlinux-6.1.0-56-cloud-amd64"
  static var has61: Bool { TestPaths.exists(vmlinux61) }

  static let moduleDir = TestPaths.fixture("elf")

  static func requireVmlinux() throws -> String {
    try #require(vmlinux612, "lab-6.12 vmlinux unavailable: run `make vmlinux` (needs ../shared/lab-6.12)")
  }

  /// A fresh cache directory per test.
  static func tempDir(_ tag: String) -> String {
    let d = NSTemporaryDirectory() + "repro-analyze-\(tag)-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
  }

  /// Opens the 6.12 vmlinux without a cache (shared across tests; each test gets its own
  /// symbolizer because the type is not thread-safe).
  static func symbolizer(modules: Bool = true) throws -> Symbolizer {
    try Symbolizer(
      vmlinux: requireVmlinux(), moduleDirectories: modules ? [moduleDir] : [], useCache: false)
  }
}

@Suite("Symbolizer on a C program built with gcc -g -O2")
struct SymbolizerInlineFixtureTests {
  /// Builds Tests/Fixtures/elf/inline.c and returns (binary, source path, marker lines).
  static func build() throws -> (binary: String, source: String, markers: [String: Int]) {
    let source = TestPaths.fixture("elf/inline.c")
    let out = SymbolFixtures.tempDir("inline") + "/inline"
    let r = try runCommand(["-g", "-O2", "-o", out, source], executable: "/usr/bin/gcc")
    try #require(r.status == 0, "gcc failed: \(r.stderr)")
    var markers: [String: Int] = [:]
    let text = try String(contentsOfFile: source, encoding: .utf8)
    for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      if let at = line.range(of: "/* @") {
        let name = line[at.upperBound...].prefix { $0 != " " && $0 != "*" }
        markers[String(name)] = i + 1
      }
    }
    return (out, source, markers)
  }

  @Test func inlineChainsHaveExactCallSitesAndLines() throws {
    let (binary, source, m) = try Self.build()
    let image = try DebugImage(name: "inline", path: binary)
    let outer = try #require(image.symbols.candidates(named: "outer").first)
    var chains: [[SymbolizedFrame]] = []
    for a in outer.address..<(outer.address + outer.size) { chains.append(image.frames(at: a)) }
    let names = chains.map { $0.map(\.function) }
    // Somewhere in outer(), leaf() is inlined into middle() inlined into outer().
    let deepest = try #require(chains.first { $0.map(\.function) == ["leaf", "middle", "outer"] }, "chains: \(Set(names))")
    #expect(deepest.map(\.file) == [source, source, source])
    #expect(deepest[0].line == m["leaf-store"])
    #expect(deepest[1].line == m["middle-call"])
    #expect(deepest[2].line == m["outer-call"])
    #expect(deepest.map(\.isInlined) == [true, true, false])
    // middle's own store: a two-frame chain calling from outer's call line.
    let mid = try #require(chains.first { $0.map(\.function) == ["middle", "outer"] })
    #expect(mid[0].line == m["middle-store"])
    #expect(mid[1].line == m["outer-call"])
    // Code of outer itself: one frame.
    #expect(chains.contains { $0.count == 1 && $0[0].function == "outer" && $0[0].line == m["outer-last"] })
    // A function without inlining.
    let other = try #require(image.symbols.candidates(named: "other").first)
    let o = image.frames(at: other.address)
    #expect(o.map(\.function) == ["other"])
    #expect(o[0].line == m["other-body"])
  }

  @Test func addressOutsideAnyFunctionIsUnknown() throws {
    let (binary, _, _) = try Self.build()
    let image = try DebugImage(name: "inline", path: binary)
    let f = image.frames(at: 0x10)
    #expect(f.count == 1)
    #expect(f[0].file == nil && f[0].line == 0)
  }

  @Test func answersAreMemoized() throws {
    let (binary, _, _) = try Self.build()
    let image = try DebugImage(name: "inline", path: binary)
    let outer = try #require(image.symbols.candidates(named: "outer").first)
    let a = image.frames(at: outer.address + 4)
    let b = image.frames(at: outer.address + 4)
    #expect(a == b)
    #expect(image.lookupCount == 1)
  }
}

@Suite("Symbolizer on the real 6.12 vmlinux")
struct SymbolizerKernelTests {
  /// ../shared/lab-6.12/expected/ld-hung.symcheck.json: frames resolved with addr2line at
  /// address-1; every frame of our chain must match (function and file:line).
  @Test func matchesLabAddr2lineReferences() throws {
    let s = try SymbolFixtures.symbolizer()
    let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.shared("lab-6.12/expected/ld-hung.symcheck.json")))
    let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let frames = try #require(json["frames"] as? [[String: Any]])
    #expect(frames.count >= 10)
    for f in frames {
      let name = try #require(f["printed_function"] as? String)
      let offset = UInt64(try #require(f["offset"] as? Int))
      let size = UInt64(try #require(f["size"] as? Int))
      let expected = try #require(f["addr2line_chain"] as? [[String: String]])
      let chain = try #require(s.symbolize(Frame(function: name, offset: offset, size: size)))
      let got = chain.map { "\($0.function) \($0.file ?? "??"):\($0.line)" }
      let want = expected.map { e -> String in
        // addr2line appends " (discriminator N)"; the line is what we compare.
        let loc = e["location"]!.split(separator: " ").first.map(String.init) ?? ""
        return "\(e["function"]!) \(loc)"
      }
      #expect(got == want, "\(name)+\(offset)/\(size)")
    }
  }

  @Test func kaslrOffsetAppliesToRawAddresses() throws {
    let s = try SymbolFixtures.symbolizer(modules: false)
    let loc = try #require(s.locate(function: "__schedule", offset: 0x350, size: 0x940, module: nil))
    #expect(loc.sizeMatched)
    let link = s.symbolize(linkAddress: loc.address - 1)
    s.kaslrOffset = 0x2b00_0000
    #expect(s.symbolize(address: loc.address - 1 + 0x2b00_0000) == link)
    #expect(link.map(\.function) == ["context_switch", "__schedule"])
  }

  @Test func wrongSizeIsReportedAsMismatch() throws {
    let s = try SymbolFixtures.symbolizer(modules: false)
    let loc = try #require(s.locate(function: "__schedule", offset: 0x350, size: 0xa00, module: nil))
    #expect(!loc.sizeMatched)
  }

  @Test func moduleFramesResolveAgainstTheKo() throws {
    let s = try SymbolFixtures.symbolizer()
    let lock = try #require(s.symbolize(Frame(function: "lockhog_lock", offset: 0x64, size: 0xa0, module: "lockhog")))
    #expect(lock.last?.function == "lockhog_lock")
    #expect(lock.last?.file?.hasSuffix("/lockhog.c") == true)
    #expect(lock.last?.line == 63)
    let waiter = try #require(s.symbolize(Frame(function: "lockhog_waiter_fn", offset: 0x57, size: 0xd40, module: "lockhog")))
    #expect(waiter.last?.line == 117)
    #expect(s.symbolize(Frame(function: "x", offset: 1, size: 2, module: "nosuchmod")) == nil)
    #expect(s.unresolvedModules == ["nosuchmod"])
  }

  @Test func sharedSymbolizerGivesGuiltyFileLocations() throws {
    let shared = SharedSymbolizer(try SymbolFixtures.symbolizer())
    let f = Frame(function: "__schedule", offset: 0x350, size: 0x940)
    #expect(shared.sourceResolver(f) == "kernel/sched/core.c:6752")
    #expect(shared.sourceLocation(Frame(function: "no_such_function_x", offset: 1, size: 2)) == nil)
  }

  @Test func bannerIsReadFromTheVmlinux() throws {
    let s = try SymbolFixtures.symbolizer(modules: false)
    #expect(s.banner?.hasPrefix("Linux version 6.12.117 (root@vm)") == true)
    #expect(s.buildID == (try? String(contentsOfFile: TestPaths.shared("lab-6.12/expected/vmlinux.build-id"), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines))
  }

  /// A sample of the agreement check (`make symbolize-agreement` runs 10,000): 500 random
  /// .text addresses, every inline frame compared with llvm-symbolizer.
  @Test func agreesWithLLVMSymbolizerOnRandomTextAddresses() throws {
    let vmlinux = try SymbolFixtures.requireVmlinux()
    let llvm = "/usr/bin/llvm-symbolizer"
    try #require(TestPaths.exists(llvm), "llvm-symbolizer missing: install the llvm package (make deps)")
    let s = try SymbolFixtures.symbolizer(modules: false)
    var rng = SplitMix(seed: 12)
    let addrs = (0..<500).map { _ in 0xffff_ffff_8100_0000 + rng.next() % 0x80_0000 }
    let input = addrs.map { "0x" + String($0, radix: 16) }.joined(separator: "\n") + "\n"
    let r = try runCommand(["--inlining", "--obj=" + vmlinux], executable: llvm, stdin: Data(input.utf8))
    let blocks = r.stdout.split(separator: "\n\n", omittingEmptySubsequences: false).map(String.init)
    var same = 0
    for (i, a) in addrs.enumerated() {
      let mine = s.symbolize(address: a).map { f in
        "\(f.function)\n\(f.file.map { "\($0):\(f.line):\(f.column)" } ?? "??:0:0")"
      }.joined(separator: "\n")
      if i < blocks.count && blocks[i].trimmingCharacters(in: .newlines) == mine { same += 1 }
    }
    #expect(same * 1000 >= addrs.count * 995, "identical: \(same)/\(addrs.count)")
  }
}

@Suite("Warm-start index")
struct SymbolIndexTests {
  @Test func warmIndexGivesTheSameAnswersAndSurvivesConcurrentWriters() throws {
    let vmlinux = try SymbolFixtures.requireVmlinux()
    let dir = SymbolFixtures.tempDir("index")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cold = try Symbolizer(vmlinux: vmlinux, useCache: true, cacheDirectory: dir)
    var rng = SplitMix(seed: 99)
    let addrs = (0..<200).map { _ in 0xffff_ffff_8100_0000 + rng.next() % 0x80_0000 }
    let coldAnswers = addrs.map { cold.symbolize(address: $0) }
    // Two writers at once: the file that remains must be complete.
    let a = try Symbolizer(vmlinux: vmlinux, useCache: true, cacheDirectory: dir)
    _ = addrs.map { a.symbolize(address: $0) }
    // Each symbolizer is used by exactly one thread here.
    nonisolated(unsafe) let writers = [cold, a]
    DispatchQueue.concurrentPerform(iterations: 2) { i in
      _ = writers[i].persistIndex()
    }
    let path = try #require(cold.indexPath)
    #expect(TestPaths.exists(path))
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp.") }
    #expect(leftovers.isEmpty)
    let warm = try Symbolizer(vmlinux: vmlinux, useCache: true, cacheDirectory: dir)
    #expect(warm.kernel.isWarm)
    #expect(addrs.map { warm.symbolize(address: $0) } == coldAnswers)
    #expect(warm.kernel.freshlyDecoded.isEmpty)
    // An address in a unit the partial index lacks still resolves (from DWARF) and extends it.
    let sched = try #require(warm.locate(function: "__schedule", offset: 0x350, size: 0x940, module: nil))
    #expect(warm.symbolize(sched, isReturnAddress: true).first?.function == "context_switch")
  }

  /// A damaged index (truncated anywhere, or bytes flipped) never crashes or hangs a lookup;
  /// when damage is structural the affected part is rebuilt from DWARF and answers stay right.
  @Test func damagedIndexNeverCrashes() throws {
    let vmlinux = try SymbolFixtures.requireVmlinux()
    let dir = SymbolFixtures.tempDir("damaged")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let first = try Symbolizer(vmlinux: vmlinux, useCache: true, cacheDirectory: dir)
    var rng = SplitMix(seed: 5)
    let addrs = (0..<40).map { _ in 0xffff_ffff_8100_0000 + rng.next() % 0x80_0000 }
    let answers = addrs.map { first.symbolize(address: $0) }
    #expect(first.persistIndex() == nil)
    let path = try #require(first.indexPath)
    let good = try Data(contentsOf: URL(fileURLWithPath: path))
    for cut in [8, 100, good.count / 3, good.count / 2, good.count - 9] {
      try good.prefix(cut).write(to: URL(fileURLWithPath: path))
      let s = try Symbolizer(vmlinux: vmlinux, useCache: true, cacheDirectory: dir)
      #expect(addrs.map { s.symbolize(address: $0) } == answers, "truncated at \(cut)")
    }
    for k in 0..<8 {
      var bad = good
      for _ in 0..<64 {
        let i = Int(rng.next() % UInt64(bad.count - 8)) + 8
        bad[i] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
      }
      try bad.write(to: URL(fileURLWithPath: path))
      let s = try Symbolizer(vmlinux: vmlinux, useCache: true, cacheDirectory: dir)
      #expect(addrs.allSatisfy { !s.symbolize(address: $0).isEmpty }, "flip round \(k)")
    }
  }

  @Test func corruptIndexIsIgnored() throws {
    let vmlinux = try SymbolFixtures.requireVmlinux()
    let dir = SymbolFixtures.tempDir("badindex")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let s = try Symbolizer(vmlinux: vmlinux, useCache: true, cacheDirectory: dir)
    let path = try #require(s.indexPath)
    try Data("RAIDX garbage".utf8).write(to: URL(fileURLWithPath: path))
    let t = try Symbolizer(vmlinux: vmlinux, useCache: true, cacheDirectory: dir)
    #expect(!t.kernel.isWarm)
    #expect(t.symbolize(linkAddress: 0xffff_ffff_8159_ad3f).first?.function == "context_switch")
  }
}

@Suite("Debian 6.1 lab vmlinux (downloaded by make lab-vmlinux)")
struct SymbolizerDebianLabTests {
  /// Compares module and kernel frames of the lab's hung-kaslr log with the reference
  /// llvm-symbolizer call-site chains in ../shared/lab/expected. Skipped, with this reason
  /// shown, when the 280 MB Debian debug package could not be fetched.
  @Test(.enabled(if: SymbolFixtures.has61, "Debian 6.1 vmlinux UNAVAILABLE (~/.cache/repro-analyze/vmlinux/vmlinux-6.1.0-56-cloud-amd64): run `make lab-vmlinux`"))
  func labFramesMatchReferenceSymbolization() throws {
    let dir = SymbolFixtures.tempDir("mods61")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try FileManager.default.copyItem(atPath: TestPaths.shared("lab/expected/lockhog.ko"), toPath: dir + "/lockhog.ko")
    let s = try Symbolizer(vmlinux: SymbolFixtures.vmlinux61, moduleDirectories: [dir], useCache: false)
    let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.shared("lab/expected/hung-kaslr.symbolized.json")))
    let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let frames = try #require(json["frames"] as? [[String: Any]])
    var checked = 0
    var modules = 0
    for f in frames {
      guard let name = f["func"] as? String, let off = f["off"] as? Int, let size = f["size"] as? Int,
        let ref = f["llvm_symbolizer_callsite"] as? [[String: String]], !ref.isEmpty
      else { continue }
      let module = f["module"] as? String
      let chain = try #require(s.symbolize(Frame(function: name, offset: UInt64(off), size: UInt64(size), module: module)))
      // Module: compare file name and line (llvm names .ko functions by section offset).
      let got = chain.map { "\($0.file.map { ($0 as NSString).lastPathComponent } ?? "??"):\($0.line)" }
      let want = ref.map { e in
        let parts = e["location"]!.split(separator: ":")
        return "\((String(parts[0]) as NSString).lastPathComponent):\(parts.count > 1 ? String(parts[1]) : "0")"
      }
      #expect(got == want, "\(name)+\(off)/\(size) [\(module ?? "vmlinux")]")
      // The reference has "" where llvm-symbolizer printed ?? (padding after a function); we
      // keep the kernel's name there.
      let wantNames = ref.map { $0["function"]!.isEmpty ? name : $0["function"]! }
      if module == nil { #expect(chain.map(\.function) == wantNames) } else { modules += 1 }
      checked += 1
    }
    #expect(checked >= 10)
    #expect(modules >= 3)
  }
}

/// Deterministic PRNG for address samples (SplitMix64).
struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
