import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Hostile inputs through the real binary: each gets exit 0 with bounded output, or exit 2 with
/// a message naming the file. Bounds are asserted on output size, never on time.
@Suite(.serialized) struct HostileCLITests {
  let hung = TestPaths.fixture("logs/lab/hung.log")

  func temp(_ name: String) -> String { NSTemporaryDirectory() + "ra-cli-\(UUID().uuidString)-\(name)" }

  /// Writes `header` followed by `count` bytes of `fill` and a newline, in 1 MiB chunks.
  func writeLongLine(_ path: String, header: String, count: Int, fill: UInt8 = 0x41) throws {
    FileManager.default.createFile(atPath: path, contents: nil)
    let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? h.close() }
    h.write(Data(header.utf8))
    let chunk = Data(repeating: fill, count: 1 << 20)
    for _ in 0..<(count >> 20) { h.write(chunk) }
    h.write(Data("\nINFO: task after:7 blocked for more than 5 seconds.\n".utf8))
  }

  /// 100 MiB in one line (a console stuck printing): exit 0, the line is cut at the 1 MiB cap
  /// and counted, the report after it is found, and the output stays around the cap.
  @Test func hundredMiBSingleLineHasBoundedOutput() throws {
    let path = temp("long.log")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try writeLongLine(path, header: "BUG: stuck ", count: 100 << 20)
    let jsonl = try runCommand(["analyze", "--jsonl", path])
    #expect(jsonl.status == 0)
    #expect(jsonl.stdout.utf8.count < 3 << 20)
    #expect(jsonl.stdout.contains("\"after\""))
    let json = try runCommand(["analyze", "--json", path])
    #expect(json.status == 0)
    let obj = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
    let files = try #require(obj["files"] as? [[String: Any]])
    #expect(files.first?["truncated_line_count"] as? Int == 1)
    #expect(json.stdout.utf8.count < 3 << 20)
  }

  /// The same line through a pipe (the buffered path skips the tail of the line).
  @Test func hundredMiBSingleLineOnStdin() throws {
    var data = Data("BUG: stuck ".utf8)
    data.append(Data(repeating: 0x42, count: 100 << 20))
    data.append(Data("\nINFO: task after:7 blocked for more than 5 seconds.\n".utf8))
    let r = try runCommand(["analyze", "--batch", "-"], stdin: data)
    #expect(r.status == 0)
    let lines = r.stdout.split(separator: "\n")
    #expect(lines.count == 2)
    #expect(r.stdout.utf8.count < 3 << 20)
    #expect(lines.last?.contains("\"line\":2") == true)
  }

  @Test(arguments: ["truncated", "corrupt"])
  func damagedXZExitsTwoNamingTheFile(_ damage: String) throws {
    let xz = temp("\(damage).log.xz")
    defer { try? FileManager.default.removeItem(atPath: xz) }
    let cmd = damage == "truncated"
      ? "xz -c '\(hung)' | head -c 3000 > '\(xz)'"
      : "xz -c '\(hung)' > '\(xz)' && printf '\\377\\377\\377\\377' | dd of='\(xz)' bs=1 seek=400 conv=notrunc 2>/dev/null"
    #expect(try runCommand(["-c", cmd], executable: "/bin/sh").status == 0)
    let r = try runCommand(["analyze", xz])
    #expect(r.status == 2)
    #expect(r.stderr.contains(xz))
    #expect(r.stderr.contains("corrupt or truncated"))
  }

  @Test func emptyDirectoryExitsTwoNamingIt() throws {
    let dir = temp("empty-dir")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let r = try runCommand(["analyze", dir])
    #expect(r.status == 2)
    #expect(r.stderr.contains(dir))
    #expect(r.stderr.contains("directory"))
  }

  @Test func fifoAsTheLogIsReadLikeAPipe() throws {
    let fifo = temp("serial.fifo")
    let data = try Data(contentsOf: URL(fileURLWithPath: hung))
    #expect(makeFIFO(fifo, feeding: data))
    defer { unlink(fifo) }
    let r = try runCommand(["analyze", "--json", fifo])
    #expect(r.status == 0)
    #expect(r.stdout.contains("\"hung_task\" : 3"))
  }

  /// Unreadable even for root: reading /proc/self/mem at offset 0 fails with EIO.
  @Test func unreadableFileExitsTwoNamingIt() throws {
    let r = try runCommand(["analyze", "/proc/self/mem"])
    #expect(r.status == 2)
    #expect(r.stderr.contains("/proc/self/mem"))
    #expect(r.stderr.contains("read failed"))
  }

  @Test func specialFileExitsTwo() throws {
    let r = try runCommand(["analyze", "/dev/null/x"])
    #expect(r.status == 2)
    #expect(r.stderr.contains("/dev/null/x"))
  }

  /// Bad `--vmlinux` arguments, for every command that symbolizes: exit 2, the path named,
  /// and a hint saying what to pass instead. Never wrong file:line output. (`report --vmlinux`
  /// only prints a note that it does not symbolize yet, so it is not listed.)
  @Test(arguments: ["missing", "not-elf", "no-debug-info"], [["symbolize"], ["analyze"], ["symbolize", "--addrs", "0xffffffff81000000"]])
  func badVmlinuxExitsTwoNamingIt(_ kind: String, _ command: [String]) throws {
    let path = temp("vmlinux-\(kind)")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let expected: String
    switch kind {
    case "missing":
      expected = "cannot open"
    case "not-elf":
      // A bzImage-sized blob of noise: what a user gets by passing the wrong download.
      var rng = SystemRandomNumberGenerator()
      try Data((0..<65536).map { _ in UInt8.random(in: 0...255, using: &rng) }).write(to: URL(fileURLWithPath: path))
      expected = "not an ELF file"
    default:
      // A real ELF without DWARF: a stripped copy of a system binary.
      #expect(try runCommand(["-c", "cp /bin/true '\(path)' && strip '\(path)'"], executable: "/bin/sh").status == 0)
      expected = "no DWARF"
    }
    var args = command + ["--vmlinux", path]
    if !command.contains("--addrs") { args.append(hung) }
    let r = try runCommand(args)
    #expect(r.status == 2, "\(args)")
    #expect(r.stderr.contains(path))
    #expect(r.stderr.contains(expected), "\(r.stderr)")
    #expect(r.stderr.contains("hint:"))
  }

  /// A full disk (stdout on /dev/full) is an error, exit 2 with a message: the summary, JSON
  /// Lines on one core and on two (the spool's copy), commands that print, --version, and a run
  /// that would end with 1 for --fail-on, must not end as if all was written.
  @Test(arguments: [
    ["analyze"], ["analyze", "--jsonl"], ["analyze", "--jsonl", "two cores"], ["report", "--json"], ["locks"], ["--version"],
    ["analyze", "--fail-on", "any"],
  ])
  func fullDiskOnStdoutExitsTwo(_ args: [String]) throws {
    let twoCores = args.last == "two cores"
    let p = Process()
    p.executableURL = URL(fileURLWithPath: TestPaths.binary)
    p.arguments = args.filter { $0 != "two cores" } + (args == ["--version"] ? [] : [TestPaths.fixture("logs/lab/hung.log")])
    p.environment = ProcessInfo.processInfo.environment.merging(["REPRO_ANALYZE_SPLIT_MIN_BYTES": twoCores ? "1" : "\(Int.max)"]) { $1 }
    p.standardOutput = try #require(FileHandle(forWritingAtPath: "/dev/full"))
    let err = Pipe()
    p.standardError = err
    try p.run()
    let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    #expect(p.terminationStatus == 2, "\(args)")
    #expect(stderr.contains("cannot write to standard output"), "\(stderr)")
  }
}
