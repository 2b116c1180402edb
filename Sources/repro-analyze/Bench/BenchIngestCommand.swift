import ArgumentParser
import Forensics
import Foundation

/// `bench ingest`: builds a ≥ 1 GiB report-dense log from real logs and times `analyze`
/// (summary and --jsonl) against `grep -Ec` / `rg -c` with the original workflow's watch
/// pattern, plus `.xz` input against `xz -dc`.
struct BenchIngestCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ingest",
    abstract: "Time analyze on a large log against grep -Ec, rg -c and xz -dc.",
    discussion: "Example: repro-analyze bench ingest --size-mib 1024 --runs 3"
  )

  @Option(help: "Size of the generated log in MiB.") var sizeMib = 1024
  @Option(help: "Runs per command (the fastest is reported).") var runs = 3
  @Option(help: "Directory with real logs to concatenate (default: ../shared corpus and labs, else Tests/Fixtures).")
  var source: [String] = []
  @Option(help: "Where to write the generated log.") var file = "/tmp/repro-analyze-bench.log"
  @Option(name: .customLong("xz-mib"), help: "Size of the .xz sample in MiB (0 to skip).") var xzMib = 256

  static let watchPattern = "INFO: task|blocked for more than|hung task|vhost_worker_killed|BUG:|KASAN:|panic|Oops"

  func run() throws {
    let me = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    let self_ = FileManager.default.isExecutableFile(atPath: me) ? me : "/proc/self/exe"
    let sources = source.isEmpty ? Self.defaultSources() : source
    let logs = try Self.collectLogs(sources)
    guard !logs.isEmpty else { throw CLIError("bench: no .log files found in \(sources)") }
    let size = try Self.build(file: file, from: logs, targetBytes: sizeMib << 20)
    let mib = Double(size) / Double(1 << 20)
    print("bench ingest: \(file), \(String(format: "%.0f", mib)) MiB from \(logs.count) real logs, best of \(runs) runs (warm cache)")
    _ = try Self.timed(["cat", file])  // warm the page cache
    var rows: [(String, ChildProcess.Measurement)] = []
    func measure(_ name: String, _ argv: [String], environment: [String]? = nil) throws {
      rows.append((name, try Self.timed(argv, stdout: "/tmp/repro-analyze-bench.out", runs: runs, environment: environment)))
    }
    // The same commands held to one core (no split), to show what the second core adds.
    let oneCore = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" } + ["REPRO_ANALYZE_SPLIT_MIN_BYTES=\(Int.max)"]
    try measure("repro-analyze analyze", [self_, "analyze", file])
    try measure("repro-analyze analyze --jsonl", [self_, "analyze", "--jsonl", file])
    try measure("  (one core) analyze", [self_, "analyze", file], environment: oneCore)
    try measure("  (one core) analyze --jsonl", [self_, "analyze", "--jsonl", file], environment: oneCore)
    try measure("grep -Ec", ["grep", "-Ec", Self.watchPattern, file])
    if Self.available("rg") { try measure("rg -c", ["rg", "-c", Self.watchPattern, file]) }
    try measure("wc -l", ["wc", "-l", file])
    let grep = rows.first { $0.0 == "grep -Ec" }!.1.wallSeconds
    print("")
    print(pad("command", 34) + pad("seconds", 10) + pad("s/GiB", 9) + pad("vs grep", 9) + "peak RSS")
    for (name, m) in rows {
      let perGiB = m.wallSeconds / (Double(size) / Double(1 << 30))
      print(pad(name, 34) + pad(String(format: "%.3f", m.wallSeconds), 10) + pad(String(format: "%.3f", perGiB), 9)
        + pad(String(format: "%.2fx", grep / m.wallSeconds), 9) + "\(m.peakRSSKiB / 1024) MiB")
    }
    if xzMib > 0 && Self.available("xz") {
      let sample = file + ".sample.xz"
      let sampleBytes = min(size, xzMib << 20)
      let head = try Self.timed(["head", "-c", "\(sampleBytes)", file], stdout: file + ".sample")
      guard head.status == 0 else { throw CLIError("bench: head failed") }
      _ = try Self.timed(["xz", "-T2", "-1", "-k", "-f", "-c", file + ".sample"], stdout: sample)
      var xzRows: [(String, ChildProcess.Measurement)] = []
      for (name, argv) in [("xz -dc", ["xz", "-dc", sample]), ("repro-analyze analyze (.xz)", [self_, "analyze", sample])] {
        xzRows.append((name, try Self.timed(argv, stdout: "/tmp/repro-analyze-bench.out", runs: runs)))
      }
      let xz = xzRows[0].1.wallSeconds
      print("\n.xz input (\(sampleBytes >> 20) MiB decompressed):")
      for (name, m) in xzRows {
        print(pad(name, 34) + pad(String(format: "%.3f", m.wallSeconds), 10) + pad(String(format: "%.2fx", xz / m.wallSeconds), 9) + "\(m.peakRSSKiB / 1024) MiB")
      }
      try? FileManager.default.removeItem(atPath: file + ".sample")
      try? FileManager.default.removeItem(atPath: sample)
    }
  }

  /// The fastest of `runs` runs of `argv` (found on PATH), stdout to a file, stderr discarded,
  /// stdin inherited. Before each run the previous output file is removed and written back
  /// (`sync`): otherwise truncating it, and the kernel flushing a gigabyte of the previous
  /// run's JSON to disk, land in the next command's time.
  static func timed(_ argv: [String], stdout: String = "/dev/null", runs: Int = 1, environment: [String]? = nil) throws -> ChildProcess.Measurement {
    var best: ChildProcess.Measurement?
    for _ in 0..<max(runs, 1) {
      if stdout != "/dev/null" { unlink(stdout) }
      sync()
      let m: ChildProcess.Measurement
      do {
        m = try ChildProcess.run(argv, stdin: nil, stdout: .file(stdout), stderr: .discard, environment: environment)
      } catch {
        throw CLIError("cannot start '\(argv[0])': \(error.message)")
      }
      if best == nil || m.wallSeconds < best!.wallSeconds { best = m }
    }
    return best!
  }

  /// True when `name` is on PATH.
  static func available(_ name: String) -> Bool {
    let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
    return paths.contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
  }

  func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }

  static func defaultSources() -> [String] {
    let cwd = FileManager.default.currentDirectoryPath
    let shared = ProcessInfo.processInfo.environment["REPRO_ANALYZE_SHARED"] ?? cwd + "/../shared"
    let candidates = [shared + "/corpus/syzkaller/public/cases", shared + "/lab/logs", shared + "/lab-6.12/logs"]
    let present = candidates.filter { FileManager.default.fileExists(atPath: $0) }
    return present.isEmpty ? [cwd + "/Tests/Fixtures"] : present
  }

  static func collectLogs(_ dirs: [String]) throws -> [String] {
    var out: [String] = []
    for d in dirs {
      guard let e = FileManager.default.enumerator(atPath: d) else { continue }
      while let rel = e.nextObject() as? String {
        if rel.hasSuffix(".log") { out.append(d + "/" + rel) }
      }
    }
    return out.sorted()
  }

  /// Concatenates the logs (each ending in a newline) until `targetBytes` is reached.
  static func build(file: String, from logs: [String], targetBytes: Int) throws -> Int {
    var blob = Data()
    for l in logs {
      guard var d = FileManager.default.contents(atPath: l) else { continue }
      if d.last != 0x0A { d.append(0x0A) }
      blob.append(d)
    }
    guard !blob.isEmpty else { throw CLIError("bench: the source logs are empty") }
    if let attrs = try? FileManager.default.attributesOfItem(atPath: file),
      let sz = attrs[.size] as? Int, sz >= targetBytes, sz % blob.count == 0
    {
      return sz  // reuse a file built the same way
    }
    FileManager.default.createFile(atPath: file, contents: nil)
    guard let h = FileHandle(forWritingAtPath: file) else { throw CLIError("bench: cannot write \(file)") }
    var written = 0
    while written < targetBytes {
      h.write(blob)
      written += blob.count
    }
    try h.close()
    return written
  }
}
