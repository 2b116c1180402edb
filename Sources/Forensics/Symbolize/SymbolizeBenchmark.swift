import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The symbolization benchmark of issue 4: the same random `.text` addresses, in batch mode,
/// through `repro-analyze symbolize --addrs` cold (no index), while building the index, warm
/// (index present) and for one address, and through llvm-symbolizer, addr2line and
/// eu-addr2line; wall time, CPU time and peak RSS of each, measured in the same run.
///
/// Entry point for `repro-analyze bench symbolize` (or the hidden `bench-symbolize`).
public enum SymbolizeBenchmark {
  public struct Options: Sendable {
    public var vmlinux: String
    /// The `repro-analyze` executable to measure (normally the running one).
    public var binary: String
    public var count = 10_000
    public var seed: UInt64 = 4
    /// Runs per tool; the fastest is reported (slow baselines run once).
    public var runs = 3
    public var includeSlowBaselines = true

    public init(vmlinux: String, binary: String) {
      self.vmlinux = vmlinux
      self.binary = binary
    }
  }

  public struct Measurement: Sendable {
    public var name: String
    public var wallSeconds: Double
    public var cpuSeconds: Double
    public var peakRSSBytes: Int
    public var status: Int32
  }

  /// Runs the benchmark, printing progress and the table through `print`.
  @discardableResult
  public static func run(_ o: Options, print: (String) -> Void) throws -> [Measurement] {
    let s = try Symbolizer(vmlinux: o.vmlinux, useCache: false)
    let syms = s.kernel.symbols
    guard let lo = syms.candidates(named: "_stext").first?.address ?? syms.candidates(named: "_text").first?.address,
      let hi = syms.candidates(named: "_etext").first?.address, hi > lo
    else { throw SymbolizeError.cannotOpen(path: o.vmlinux, reason: "no _stext/_etext symbols") }
    let dir = NSTemporaryDirectory() + "repro-analyze-bench-\(getpid())"
    try FileManager.default.createDirectory(atPath: dir + "/cache", withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var rng = o.seed
    var text = ""
    var first = ""
    for i in 0..<o.count {
      // SplitMix64: reproducible across runs and machines.
      rng &+= 0x9E37_79B9_7F4A_7C15
      var z = rng
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      let a = lo + (z ^ (z >> 31)) % (hi - lo)
      let line = "0x" + String(a, radix: 16)
      if i == 0 { first = line }
      text += line + "\n"
    }
    let input = dir + "/addrs.txt"
    try text.write(toFile: input, atomically: true, encoding: .utf8)
    print("symbolize benchmark: \(o.count) random .text addresses of \(o.vmlinux) (seed \(o.seed))")
    // Our environment, with the index cache in the scratch directory.
    let environment = ProcessInfo.processInfo.environment.filter { $0.key != "XDG_CACHE_HOME" }.map { "\($0.key)=\($0.value)" }
      + ["XDG_CACHE_HOME=" + dir + "/cache"]
    let me = o.binary
    var results: [Measurement] = []
    func measure(_ name: String, _ argv: [String], runs: Int, stdin: String? = input, output: String = "/dev/null") {
      let b = measureChild(name: name, argv: argv, runs: runs, environment: environment, stdin: stdin ?? "/dev/null", stdout: output)
      results.append(b)
      print(
        "  " + pad(name, 34)
          + String(format: "%7.3f s wall  %7.3f s cpu  %7.1f MB peak RSS", b.wallSeconds, b.cpuSeconds, Double(b.peakRSSBytes) / 1_048_576)
          + (b.status == 0 ? "" : "  (exit \(b.status))"))
    }
    let tools = ["/usr/bin/llvm-symbolizer", "/usr/bin/addr2line", "/usr/bin/eu-addr2line"]
    measure("repro-analyze cold (--no-cache)", [me, "symbolize", "--vmlinux", o.vmlinux, "--no-cache", "--addrs"], runs: o.runs, output: dir + "/ours.txt")
    measure("repro-analyze --build-index", [me, "symbolize", "--vmlinux", o.vmlinux, "--build-index"], runs: 1, stdin: nil)
    measure("repro-analyze warm (index)", [me, "symbolize", "--vmlinux", o.vmlinux, "--addrs"], runs: o.runs)
    measure("repro-analyze warm, 1 address", [me, "symbolize", "--vmlinux", o.vmlinux, "--addrs", first], runs: o.runs, stdin: nil)
    if FileManager.default.isExecutableFile(atPath: tools[0]) {
      measure("llvm-symbolizer --inlining", [tools[0], "--inlining", "--obj=" + o.vmlinux], runs: o.runs, output: dir + "/llvm.txt")
    }
    if o.includeSlowBaselines {
      if FileManager.default.isExecutableFile(atPath: tools[1]) {
        measure("addr2line -f -i", [tools[1], "-f", "-i", "-e", o.vmlinux], runs: 1)
      }
      if FileManager.default.isExecutableFile(atPath: tools[2]) {
        measure("eu-addr2line -f -i", [tools[2], "-f", "-i", "-e", o.vmlinux], runs: 1)
      }
    }
    let baselines = results.filter { !$0.name.hasPrefix("repro-analyze") && $0.status == 0 }
    if let fastest = baselines.min(by: { $0.wallSeconds < $1.wallSeconds }) {
      print("ratios (fastest baseline \(fastest.name), \(String(format: "%.3f", fastest.wallSeconds)) s, ÷ ours):")
      for r in results where r.name.hasPrefix("repro-analyze") && !r.name.contains("1 address") {
        print(
          "  " + pad(r.name, 34)
            + String(format: "%6.2fx wall  %6.2fx cpu", fastest.wallSeconds / r.wallSeconds, fastest.cpuSeconds / max(r.cpuSeconds, 1e-6)))
      }
    }
    if let ours = try? String(contentsOfFile: dir + "/ours.txt", encoding: .utf8),
      let ref = try? String(contentsOfFile: dir + "/llvm.txt", encoding: .utf8)
    {
      let a = ours.components(separatedBy: "\n\n")
      let b = ref.components(separatedBy: "\n\n")
      let same = zip(a, b).filter { $0 == $1 }.count - (a.last == "" && b.last == "" ? 1 : 0)
      print("agreement with llvm-symbolizer: \(same)/\(o.count) addresses identical")
    }
    return results
  }

  private static func pad(_ s: String, _ n: Int) -> String {
    s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count)
  }

  /// The fastest of `runs` runs of one child; a child that cannot start is reported with status -1.
  static func measureChild(
    name: String, argv: [String], runs: Int, environment: [String], stdin: String, stdout: String
  ) -> Measurement {
    do {
      let m = try ChildProcess.fastest(
        of: runs, argv, stdin: stdin, stdout: .file(stdout), stderr: .discard, environment: environment)
      return Measurement(
        name: name, wallSeconds: m.wallSeconds, cpuSeconds: m.cpuSeconds, peakRSSBytes: m.peakRSSKiB * 1024,
        status: m.status)
    } catch {
      return Measurement(name: name, wallSeconds: 0, cpuSeconds: 0, peakRSSBytes: 0, status: -1)
    }
  }
}
