import Foundation
import TestSupport
import Testing

/// `analyze` on a file large enough to be read on two cores prints byte for byte what it
/// prints reading it on one (summary text, --json, --jsonl through the spool file).
@Suite struct TwoCoreCLITests {
  /// The fixture corpus and lab logs, three times over: > 500 reports, so the summary fills
  /// and the head switches to count-only before the middle (the split is then used).
  static let log: String = {
    let fm = FileManager.default
    var bytes = Data()
    for dir in ["corpus/syzkaller/public/cases", "logs/lab", "logs/lab-6.12", "logs/locks"] {
      let d = TestPaths.fixture(dir)
      for n in ((try? fm.contentsOfDirectory(atPath: d)) ?? []).sorted() where n.hasSuffix(".log") {
        bytes += fm.contents(atPath: d + "/" + n) ?? Data()
      }
    }
    let out = NSTemporaryDirectory() + "repro-analyze-twocore-cli-\(getpid()).log"
    fm.createFile(atPath: out, contents: bytes + bytes + bytes)
    return out
  }()

  @Test(arguments: [[], ["--json"], ["--jsonl"], ["--jsonl", "--fail-on", "kasan"]])
  func sameOutputOnOneAndTwoCores(flags: [String]) throws {
    let one = try runCommand(["analyze", "--timing"] + flags + [Self.log], environment: ["NO_COLOR": "1", "REPRO_ANALYZE_SPLIT_MIN_BYTES": "\(Int.max)"])
    let two = try runCommand(["analyze", "--timing"] + flags + [Self.log], environment: ["NO_COLOR": "1", "REPRO_ANALYZE_SPLIT_MIN_BYTES": "1"])
    #expect(one.stderr.contains(", one core"))
    #expect(two.stderr.contains(", two cores"))  // the split really happened
    #expect(one.status == two.status)
    #expect(one.stdout.count > 1000)
    #expect(one.stdout == two.stdout)
  }

  /// Into a regular file the spool's copied pages are released as it goes (hole punching);
  /// the file must still hold every byte one core writes. Opened for appending (`>>`), where
  /// sendfile refuses to write, the bytes go through a buffer and follow what was there.
  @Test(arguments: [false, true])
  func jsonLinesIntoAFileMatchOneCore(appending: Bool) throws {
    let one = try runCommand(["analyze", "--jsonl", Self.log], environment: ["REPRO_ANALYZE_SPLIT_MIN_BYTES": "\(Int.max)"])
    let path = NSTemporaryDirectory() + "repro-analyze-twocore-\(getpid())-\(appending).jsonl"
    defer { try? FileManager.default.removeItem(atPath: path) }
    let before = appending ? "{\"earlier\":true}\n" : ""
    FileManager.default.createFile(atPath: path, contents: Data(before.utf8))
    let fd = open(path, O_WRONLY | (appending ? O_APPEND : 0))
    try #require(fd >= 0)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: TestPaths.binary)
    p.arguments = ["analyze", "--jsonl", "--timing", Self.log]
    p.environment = ProcessInfo.processInfo.environment.merging(["REPRO_ANALYZE_SPLIT_MIN_BYTES": "1"]) { $1 }
    p.standardOutput = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    let err = Pipe()
    p.standardError = err
    try p.run()
    let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    #expect(p.terminationStatus == one.status, "\(stderr)")
    #expect(stderr.contains(", two cores"))
    let written = FileManager.default.contents(atPath: path) ?? Data()
    #expect(written.count > 8 << 20)  // the spool passes the release threshold
    #expect(String(decoding: written, as: UTF8.self) == before + one.stdout)
  }

  /// Into a non-blocking pipe whose reader is slow (sendfile and write then return EAGAIN),
  /// the run waits for room and the reader gets every byte one core writes.
  @Test func jsonLinesIntoASlowNonBlockingPipeMatchOneCore() throws {
    let one = try runCommand(["analyze", "--jsonl", Self.log], environment: ["REPRO_ANALYZE_SPLIT_MIN_BYTES": "\(Int.max)"])
    let pipe = Pipe()
    let wfd = pipe.fileHandleForWriting.fileDescriptor
    _ = fcntl(wfd, F_SETFL, fcntl(wfd, F_GETFL) | O_NONBLOCK)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: TestPaths.binary)
    p.arguments = ["analyze", "--jsonl", "--timing", Self.log]
    p.environment = ProcessInfo.processInfo.environment.merging(["REPRO_ANALYZE_SPLIT_MIN_BYTES": "1"]) { $1 }
    p.standardOutput = pipe.fileHandleForWriting
    let err = Pipe()
    p.standardError = err
    try p.run()
    try pipe.fileHandleForWriting.close()
    // Read in small pieces with pauses, so the pipe stays full most of the time.
    var got = Data()
    let rfd = pipe.fileHandleForReading.fileDescriptor
    var chunk = [UInt8](repeating: 0, count: 16 << 10)
    var reads = 0
    while true {
      let n = chunk.withUnsafeMutableBytes { read(rfd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { break }
      got.append(contentsOf: chunk[..<n])
      reads += 1
      if reads % 64 == 0 { usleep(2000) }
    }
    let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    #expect(p.terminationStatus == one.status, "\(stderr)")
    #expect(stderr.contains(", two cores"), "\(stderr)")
    #expect(String(decoding: got, as: UTF8.self) == one.stdout)
  }
}
