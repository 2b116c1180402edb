import ArgumentParser
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
    _ = try ChildProcess.run(["cat", file])  // warm the page cache
    var rows: [(String, Measured)] = []
    func measure(_ name: String, _ argv: [String], stdin: String? = nil) throws {
      var best: Measured?
      for _ in 0..<runs {
        let m = try ChildProcess.run(argv, stdout: "/tmp/repro-analyze-bench.out", stdin: stdin)
        if best == nil || m.seconds < best!.seconds { best = m }
      }
      rows.append((name, best!))
    }
    try measure("repro-analyze analyze", [self_, "analyze", file])
    try measure("repro-analyze analyze --jsonl", [self_, "analyze", "--jsonl", file])
    try measure("grep -Ec", ["grep", "-Ec", Self.watchPattern, file])
    if ChildProcess.available("rg") { try measure("rg -c", ["rg", "-c", Self.watchPattern, file]) }
    try measure("wc -l", ["wc", "-l", file])
    let grep = rows.first { $0.0 == "grep -Ec" }!.1.seconds
    print("")
    print(pad("command", 34) + pad("seconds", 10) + pad("s/GiB", 9) + pad("vs grep", 9) + "peak RSS")
    for (name, m) in rows {
      let perGiB = m.seconds / (Double(size) / Double(1 << 30))
      print(pad(name, 34) + pad(String(format: "%.3f", m.seconds), 10) + pad(String(format: "%.3f", perGiB), 9)
        + pad(String(format: "%.2fx", grep / m.seconds), 9) + "\(m.maxRSSKiB / 1024) MiB")
    }
    if xzMib > 0 && ChildProcess.available("xz") {
      let sample = file + ".sample.xz"
      let sampleBytes = min(size, xzMib << 20)
      let head = try ChildProcess.run(["head", "-c", "\(sampleBytes)", file], stdout: file + ".sample")
      guard head.status == 0 else { throw CLIError("bench: head failed") }
      _ = try ChildProcess.run(["xz", "-T2", "-1", "-k", "-f", "-c", file + ".sample"], stdout: sample)
      var xzRows: [(String, Measured)] = []
      for (name, argv) in [("xz -dc", ["xz", "-dc", sample]), ("repro-analyze analyze (.xz)", [self_, "analyze", sample])] {
        var best: Measured?
        for _ in 0..<runs {
          let m = try ChildProcess.run(argv, stdout: "/tmp/repro-analyze-bench.out")
          if best == nil || m.seconds < best!.seconds { best = m }
        }
        xzRows.append((name, best!))
      }
      let xz = xzRows[0].1.seconds
      print("\n.xz input (\(sampleBytes >> 20) MiB decompressed):")
      for (name, m) in xzRows {
        print(pad(name, 34) + pad(String(format: "%.3f", m.seconds), 10) + pad(String(format: "%.2fx", xz / m.seconds), 9) + "\(m.maxRSSKiB / 1024) MiB")
      }
      try? FileManager.default.removeItem(atPath: file + ".sample")
      try? FileManager.default.removeItem(atPath: sample)
    }
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
