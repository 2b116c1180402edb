import Foundation
import TestSupport
import Testing

@testable import Ingest

@Suite struct LogSourceTests {
  /// Collects (text, number, offset, truncated) of every line.
  func lines(_ src: LogSource) throws -> [(String, Int, Int, Bool)] {
    var out: [(String, Int, Int, Bool)] = []
    try src.forEachLine { l in out.append((String(decoding: l.bytes, as: UTF8.self), l.number, l.offset, l.isTruncated)) }
    return out
  }

  func tempFile(_ bytes: [UInt8]) throws -> String {
    let p = NSTemporaryDirectory() + "ra-src-\(UUID().uuidString).log"
    FileManager.default.createFile(atPath: p, contents: Data(bytes))
    return p
  }

  @Test func lineEndingsAndOffsetsAgreeBetweenMappedAndStreamed() throws {
    let text = Array("a\r\nbb\n\rc\n\n\u{0}x\u{0}\nlast".utf8) + [0xFF, 0xFE]
    let path = try tempFile(text)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let mapped = try lines(LogSource.open(path))
    let streamed = try lines(LogSource.bytes(text))
    #expect(mapped.map(\.0) == ["a", "bb", "\rc", "", "\u{0}x\u{0}", "last\u{FFFD}\u{FFFD}"])
    #expect(mapped.map(\.1) == [1, 2, 3, 4, 5, 6])
    #expect(mapped.map(\.2) == [0, 3, 6, 9, 10, 14])
    #expect(mapped.map(\.0) == streamed.map(\.0))
    #expect(mapped.map(\.2) == streamed.map(\.2))
  }

  @Test func overLongLinesAreCutAndMarkedWithoutLosingTheRest() throws {
    let long = [UInt8](repeating: 0x41, count: 3 << 20)
    let bytes = Array("first\n".utf8) + long + Array("\nafter\n".utf8)
    let path = try tempFile(bytes)
    defer { try? FileManager.default.removeItem(atPath: path) }
    for src in [try LogSource.open(path), LogSource.bytes(bytes)] {
      src.maxLineByteCount = 1 << 20
      let l = try lines(src)
      #expect(l.count == 3)
      #expect(l[1].0.count == 1 << 20)
      #expect(l[1].3)
      #expect(l[2].0 == "after")
      #expect(l[2].1 == 3)
      #expect(l[2].2 == 6 + (3 << 20) + 1)
    }
  }

  @Test func emptyInputHasNoLines() throws {
    let path = try tempFile([])
    defer { try? FileManager.default.removeItem(atPath: path) }
    #expect(try lines(LogSource.open(path)).isEmpty)
    #expect(try lines(LogSource.bytes([])).isEmpty)
  }

  @Test func xzInputIsDecodedTransparently() throws {
    let plain = TestPaths.fixture("logs/lab/hung.log")
    let xz = NSTemporaryDirectory() + "ra-\(UUID().uuidString).log.xz"
    defer { try? FileManager.default.removeItem(atPath: xz) }
    let r = try runCommand(["-c", "xz -c '\(plain)' > '\(xz)'"], executable: "/bin/sh")
    #expect(r.status == 0)
    let a = try lines(LogSource.open(plain))
    let b = try lines(LogSource.open(xz))
    #expect(a.map(\.0) == b.map(\.0))
    #expect(a.map(\.2) == b.map(\.2))
    #expect(try LogSource.open(xz).isCompressed)
  }

  @Test func truncatedXZIsAnErrorNamingTheFile() throws {
    let plain = TestPaths.fixture("logs/lab/hung.log")
    let xz = NSTemporaryDirectory() + "ra-\(UUID().uuidString).log.xz"
    defer { try? FileManager.default.removeItem(atPath: xz) }
    _ = try runCommand(["-c", "xz -c '\(plain)' | head -c 3000 > '\(xz)'"], executable: "/bin/sh")
    var caught: IngestError?
    do { _ = try lines(LogSource.open(xz)) } catch let e as IngestError { caught = e }
    let e = try #require(caught)
    #expect(e.description.contains(xz))
    #expect(e.description.contains("truncated") || e.description.contains("corrupt"))
  }

  /// Compressed input is decoded on a second thread a few 1 MiB chunks ahead: over many chunks
  /// (more than the prefetcher holds) the lines are the plain file's; corruption deep in the
  /// stream still ends the read with the typed error at that point; and a reader that stops
  /// early does not leave the decoder thread hanging.
  @Test func prefetchedXZOverManyChunks() throws {
    let plain = TwoCoreParseTests.bigLog
    let xz = NSTemporaryDirectory() + "ra-\(UUID().uuidString).log.xz"
    let cut = xz + ".cut.xz"
    defer {
      try? FileManager.default.removeItem(atPath: xz)
      try? FileManager.default.removeItem(atPath: cut)
    }
    #expect(try runCommand(["-c", "xz -1 -c '\(plain)' > '\(xz)'"], executable: "/bin/sh").status == 0)
    let a = try lines(LogSource.open(plain))
    let b = try lines(LogSource.open(xz))
    #expect(a.count > 20_000)
    #expect(a.map(\.0) == b.map(\.0))
    #expect(a.map(\.2) == b.map(\.2))

    let size = try #require(try FileManager.default.attributesOfItem(atPath: xz)[.size] as? Int)
    #expect(try runCommand(["-c", "head -c \(size * 3 / 4) '\(xz)' > '\(cut)'"], executable: "/bin/sh").status == 0)
    var seen = 0
    var caught: IngestError?
    do { try LogSource.open(cut).forEachLine { _ in seen += 1 } } catch let e as IngestError { caught = e }
    #expect(try #require(caught).description.contains(cut))
    #expect(seen > 10_000 && seen < a.count)  // past the first 1 MiB chunks

    struct Stop: Error {}
    var read = 0
    #expect(throws: Stop.self) {
      try LogSource.open(xz).forEachLine { _ in
        read += 1
        if read == 10 { throw Stop() }
      }
    }
    #expect(read == 10)
  }

  @Test func directoriesAndMissingFilesAreClearErrors() {
    #expect(throws: IngestError.notAFile(path: "/tmp", what: "a directory")) { try LogSource.open("/tmp") }
    #expect(throws: IngestError.self) { try LogSource.open("/nonexistent/x.log") }
  }
}

@Suite struct GzipInputTests {
  func lineTexts(_ path: String) throws -> [String] {
    var out: [String] = []
    try LogSource.open(path).forEachLine { out.append(String(decoding: $0.bytes, as: UTF8.self)) }
    return out
  }

  @Test func gzipAndConcatenatedMembersDecodeLikeGzip() throws {
    let plain = TestPaths.fixture("logs/lab/hung.log")
    let gz = NSTemporaryDirectory() + "ra-\(UUID().uuidString).log.gz"
    defer { try? FileManager.default.removeItem(atPath: gz) }
    #expect(try runCommand(["-c", "gzip -c '\(plain)' > '\(gz)'; gzip -c '\(plain)' >> '\(gz)'"], executable: "/bin/sh").status == 0)
    let once = try lineTexts(plain)
    #expect(try lineTexts(gz) == once + once)
  }

  @Test func truncatedGzipIsAnErrorNamingTheFile() throws {
    let plain = TestPaths.fixture("logs/lab/hung.log")
    let gz = NSTemporaryDirectory() + "ra-\(UUID().uuidString).log.gz"
    defer { try? FileManager.default.removeItem(atPath: gz) }
    _ = try runCommand(["-c", "gzip -c '\(plain)' | head -c 4000 > '\(gz)'"], executable: "/bin/sh")
    #expect {
      try lineTexts(gz)
    } throws: { e in
      "\(e)".contains(gz) && "\(e)".contains("truncated")
    }
  }
}
