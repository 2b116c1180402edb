import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// End-to-end `prepare` against the loopback syzbot fixture (real HTTP, real xz), one server
/// per test with the fault the test needs. Assertions follow the fixture's NOTES.md §5.
@Suite("prepare against the syzbot fixture")
struct PrepareTests {
  static let extid = "a9528028ab4ca83e8bac"

  func prepare(_ server: FixtureServer, dir: String, extid: String = Self.extid, _ extra: [String] = []) throws -> CommandResult {
    try runCommand(["prepare", "--extid", extid, "--base-url", server.baseURL, "--dir", dir] + extra)
  }

  /// Every artefact is byte-identical to the manifest, decompressed images match too.
  func expectBundleMatchesManifest(_ bundle: String) throws {
    let m = try FixtureServer.manifest()
    let texts = [
      ("kernel.config", "/text?tag=KernelConfig&x=b0f3f5b7e2a4c1d9"), ("repro.syz", "/text?tag=ReproSyz&x=14a7b9e3980000"),
      ("repro.c", "/text?tag=ReproC&x=10d4e8f1980000"), ("crash.log", "/text?tag=CrashLog&x=12f1e6d3980000"),
      ("crash.report", "/text?tag=CrashReport&x=1638c2a5980000"),
    ]
    for (name, key) in texts {
      #expect(try sha256(bundle + "/" + name) == m.text[key]?.sha256, "\(name)")
    }
    let assets = [
      ("disk.raw", "/syzbot-assets/390e7a030f9d/disk-5e4ab2e1.raw.xz"),
      ("vmlinux", "/syzbot-assets/602cadc8ebca/vmlinux-5e4ab2e1.xz"),
      ("bzImage", "/syzbot-assets/c914c6df48ae/bzImage-5e4ab2e1.xz"),
    ]
    for (name, key) in assets {
      let a = try #require(m.assets[key])
      #expect(try sha256(bundle + "/" + name + ".xz") == a.sha256, "\(name).xz")
      #expect(try sha256(bundle + "/" + name) == a.decompressed_sha256, "\(name)")
    }
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: bundle).filter { $0.hasSuffix(".part") || $0.hasSuffix(".part.info") }
    #expect(leftovers.isEmpty, "leftover partial files: \(leftovers)")
  }

  @Test func fullPrepareFetchesTheReproRowAndWritesABootableBundle() throws {
    let server = try FixtureServer()
    let dir = try makeTempDir("prep")
    let r = try prepare(server, dir: dir)
    #expect(r.status == 0, "\(r.stderr)")
    let bundle = dir + "/" + Self.extid
    try expectBundleMatchesManifest(bundle)
    // Row 1 (with the reproducer) only; no entity-encoded queries.
    let reqs = server.requests()
    let queries = reqs.map { $0.path + "?" + $0.query }
    #expect(queries.contains("/bug?extid=\(Self.extid)"))
    for x in ["11aa00c1980000", "15bb00d2980000", "a1b2c3d4"] {
      #expect(!queries.contains { $0.contains(x) }, "requested a row-2 object \(x)")
    }
    #expect(!queries.contains { $0.contains("&amp;") })
    #expect(reqs.allSatisfy { $0.status != 400 })
    // Disk is ext4 (magic 0xEF53 at 1080).
    let disk = try Data(contentsOf: URL(fileURLWithPath: bundle + "/disk.raw"))
    #expect(disk[1080] == 0x53 && disk[1081] == 0xEF)
    let meta = readText(bundle + "/meta.txt")
    for needle in [
      "extid: \(Self.extid)", "title: INFO: task hung in vhost_worker_killed",
      "kernel_commit: 5e4ab2e1c0f9d3a8b7c6e5d4f3a2b1c0d9e8f7a6", "syzkaller_commit: 9c4e1b2d7a3f5e6c8b0a1d2e3f4a5b6c7d8e9f01",
      "arch: amd64", "repro_opts: {\"threaded\":true", "status: complete",
      "/syzbot-assets/390e7a030f9d/disk-5e4ab2e1.raw.xz", "/text?tag=KernelConfig&x=b0f3f5b7e2a4c1d9",
    ] {
      #expect(meta.contains(needle), "meta.txt lacks \(needle)")
    }
    let runner = bundle + "/run_qemu.sh"
    #expect(access(runner, X_OK) == 0)
    let syntax = try runCommand(["-n", runner], executable: "/bin/bash")
    #expect(syntax.status == 0, "\(syntax.stderr)")
    #expect(readText(runner).contains("-snapshot"))

    // Idempotence: a second run downloads nothing large and changes nothing.
    let before = server.assetRequests().count
    let hashes = try ["disk.raw", "vmlinux", "bzImage", "kernel.config"].map { try sha256(bundle + "/" + $0) }
    let r2 = try prepare(server, dir: dir)
    #expect(r2.status == 0, "\(r2.stderr)")
    #expect(server.assetRequests().count == before)
    #expect(try ["disk.raw", "vmlinux", "bzImage", "kernel.config"].map { try sha256(bundle + "/" + $0) } == hashes)
  }

  @Test func droppedConnectionsResumeWithRangeAndYieldIdenticalBytes() throws {
    let server = try FixtureServer(["--drop-after", "300000"])
    let dir = try makeTempDir("drop")
    let r = try prepare(server, dir: dir)
    #expect(r.status == 0, "\(r.stderr)")
    for name in ["vmlinux-5e4ab2e1.xz", "bzImage-5e4ab2e1.xz"] {
      let reqs = server.assetRequests(name)
      #expect(reqs.count == 2, "\(name): \(reqs.map { ($0.range ?? "-", $0.status ?? 0) })")
      #expect(reqs.first?.dropped == true)
      #expect(reqs.last?.range == "bytes=300000-")
      #expect(reqs.last?.status == 206)
    }
    try expectBundleMatchesManifest(dir + "/" + Self.extid)
  }

  @Test func interruptedRunIsResumedByTheNextRunFromThePartSize() throws {
    let server = try FixtureServer(["--slow", "400000"])
    let dir = try makeTempDir("intr")
    let bundle = dir + "/" + Self.extid
    let p = Process()
    p.executableURL = URL(fileURLWithPath: TestPaths.binary)
    p.arguments = ["prepare", "--extid", Self.extid, "--base-url", server.baseURL, "--dir", dir]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    // Kill it mid-download of vmlinux.xz (2 MiB at 400 kB/s): wait for a non-empty .part.
    let part = bundle + "/vmlinux.xz.part"
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
      if let size = try? FileManager.default.attributesOfItem(atPath: part)[.size] as? Int, size > 100_000 { break }
      usleep(20_000)
    }
    kill(p.processIdentifier, SIGKILL)
    p.waitUntilExit()
    let partSize = try #require(try FileManager.default.attributesOfItem(atPath: part)[.size] as? Int)
    #expect(partSize > 0 && partSize < 2_097_416)
    #expect(!fileExists(bundle + "/vmlinux.xz"), "nothing under the final name while partial")
    #expect(readText(bundle + "/meta.txt").contains("vmlinux-5e4ab2e1.xz"), "meta.txt written first")
    let r = try prepare(server, dir: dir)
    #expect(r.status == 0, "\(r.stderr)")
    let last = server.assetRequests("vmlinux-5e4ab2e1.xz").last
    #expect(last?.range == "bytes=\(partSize)-")
    #expect(last?.status == 206)
    try expectBundleMatchesManifest(bundle)
  }

  @Test func missingAssetsFailNamingTheURLAndWriteNoRunner() throws {
    let server = try FixtureServer(["--status-for", "/syzbot-assets/*=404"])
    let dir = try makeTempDir("404")
    let r = try prepare(server, dir: dir)
    #expect(r.status == 2)
    #expect(r.stderr.contains("HTTP 404"))
    #expect(r.stderr.contains("/syzbot-assets/390e7a030f9d/disk-5e4ab2e1.raw.xz"))
    let bundle = dir + "/" + Self.extid
    #expect(!fileExists(bundle + "/disk.raw"))
    #expect(!fileExists(bundle + "/run_qemu.sh"))
    #expect(readText(bundle + "/meta.txt").contains("status: failed"))
  }

  @Test(arguments: ["500", "429"])
  func transientErrorsAreRetriedExactlyOnce(code: String) throws {
    let server = try FixtureServer(["--status-for", "/syzbot-assets/*/vmlinux-*=\(code):1"])
    let dir = try makeTempDir("retry")
    let r = try prepare(server, dir: dir)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(server.assetRequests("vmlinux-").map(\.status) == [Int(code), 200])
    try expectBundleMatchesManifest(dir + "/" + Self.extid)
  }

  @Test func persistentServerErrorsEndInABoundedFailure() throws {
    let server = try FixtureServer(["--status-for", "/syzbot-assets/*/bzImage-*=500"])
    let dir = try makeTempDir("500")
    let r = try prepare(server, dir: dir, ["--retries", "2"])
    #expect(r.status == 2)
    #expect(r.stderr.contains("HTTP 500") && r.stderr.contains("bzImage-5e4ab2e1.xz"))
    #expect(server.assetRequests("bzImage-").count == 3)
    #expect(!fileExists(dir + "/" + Self.extid + "/run_qemu.sh"))
  }

  @Test func corruptXZIsAnErrorKeepsTheXZAndLeavesNoHalfWrittenImage() throws {
    let server = try FixtureServer(["--corrupt", "/syzbot-assets/*/disk-*"])
    let dir = try makeTempDir("corrupt")
    let r = try prepare(server, dir: dir)
    #expect(r.status == 2)
    #expect(r.stderr.contains("disk.raw.xz") && r.stderr.contains("decompress"))
    let bundle = dir + "/" + Self.extid
    #expect(fileExists(bundle + "/disk.raw.xz"))
    #expect(!fileExists(bundle + "/disk.raw"))
    #expect(!fileExists(bundle + "/disk.raw.part"))
    #expect(!fileExists(bundle + "/run_qemu.sh"))
    // The other images are still complete and verified.
    #expect(fileExists(bundle + "/vmlinux") && fileExists(bundle + "/bzImage"))
  }

  @Test(arguments: [("/bug=500", "/bug?extid="), ("/text?tag=ReproC&x=10d4e8f1980000=404", "/text?tag=ReproC&x=10d4e8f1980000")])
  func pageAndRequiredTextErrorsNameTheURL(fault: String, url: String) throws {
    let server = try FixtureServer(["--status-for", fault])
    let dir = try makeTempDir("textfail")
    let r = try prepare(server, dir: dir, ["--retries", "1"])
    #expect(r.status == 2)
    #expect(r.stderr.contains(server.baseURL + url), "\(r.stderr)")
  }

  @Test func bugWithoutReproducerIsAClearErrorWithoutDownloads() throws {
    let server = try FixtureServer()
    let dir = try makeTempDir("norepro")
    let r = try prepare(server, dir: dir, extid: "0000000000000000beef")
    #expect(r.status == 2)
    #expect(r.stderr.contains("no reproducer"))
    #expect(server.assetRequests().isEmpty)
    #expect(!fileExists(dir + "/0000000000000000beef/run_qemu.sh"))
  }

  @Test func unknownBugSays404() throws {
    let server = try FixtureServer()
    let r = try prepare(server, dir: try makeTempDir("unknown"), extid: "ffffffffffffffffffff")
    #expect(r.status == 2)
    #expect(r.stderr.contains("404") && r.stderr.contains("not found"))
  }

  @Test func forceReplacesFilesThatAreOtherwiseKept() throws {
    let server = try FixtureServer()
    let dir = try makeTempDir("force")
    let bundle = dir + "/" + Self.extid
    #expect(try prepare(server, dir: dir).status == 0)
    try "edited\n".write(toFile: bundle + "/kernel.config", atomically: true, encoding: .utf8)
    try "edited\n".write(toFile: bundle + "/run_qemu.sh", atomically: true, encoding: .utf8)
    let assetsBefore = server.assetRequests().count
    let keep = try prepare(server, dir: dir)
    #expect(keep.status == 0)
    #expect(readText(bundle + "/kernel.config") == "edited\n")
    #expect(readText(bundle + "/run_qemu.sh") == "edited\n")
    #expect(keep.stderr.contains("kernel.config exists, kept"))
    let forced = try prepare(server, dir: dir, ["--force"])
    #expect(forced.status == 0, "\(forced.stderr)")
    #expect(server.assetRequests().count == assetsBefore + 3)
    #expect(readText(bundle + "/run_qemu.sh").hasPrefix("#!/usr/bin/env bash"))
    try expectBundleMatchesManifest(bundle)
  }

  @Test func regenRunnerRewritesOnlyTheRunnerWithoutNetwork() throws {
    let server = try FixtureServer()
    let dir = try makeTempDir("regen")
    let bundle = dir + "/" + Self.extid
    #expect(try prepare(server, dir: dir).status == 0)
    server.stop()
    try FileManager.default.removeItem(atPath: bundle + "/run_qemu.sh")
    func snapshot() throws -> [String: String] {
      var s: [String: String] = [:]
      for f in try FileManager.default.contentsOfDirectory(atPath: bundle) where f != "run_qemu.sh" {
        let a = try FileManager.default.attributesOfItem(atPath: bundle + "/" + f)
        s[f] = "\(a[.systemFileNumber] ?? 0)/\(a[.size] ?? 0)/\((a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
      }
      return s
    }
    let before = try snapshot()
    // The server is gone: any network use would fail.
    let r = try runCommand(["prepare", "--extid", Self.extid, "--dir", dir, "--regen-runner", "--base-url", "http://127.0.0.1:9"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try snapshot() == before)
    #expect(access(bundle + "/run_qemu.sh", X_OK) == 0)
    #expect(readText(bundle + "/run_qemu.sh").contains("INFO: task hung in vhost_worker_killed"))
  }

  @Test func assetURLsCanBeRewrittenToAMirror() throws {
    let server = try FixtureServer(["--asset-base", "https://storage.googleapis.com/syzbot-assets"])
    let dir = try makeTempDir("mirror")
    let r = try prepare(server, dir: dir, ["--asset-base", server.baseURL + "/storage.googleapis.com/syzbot-assets"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(server.requests().filter { $0.path.hasPrefix("/storage.googleapis.com/syzbot-assets/") }.count == 3)
    try expectBundleMatchesManifest(dir + "/" + Self.extid)
  }

  /// A copy of the fixture site whose bug page offers hostile asset links.
  func hostileSite(_ assetCell: String) throws -> String {
    let root = try makeTempDir("site")
    let src = FixtureServer.fixtureRoot + "/site"
    for sub in ["text", "syzbot-assets", "manifest.json"] {
      try FileManager.default.createSymbolicLink(atPath: root + "/" + sub, withDestinationPath: src + "/" + sub)
    }
    try FileManager.default.createDirectory(atPath: root + "/bug", withIntermediateDirectories: true)
    var html = readText(src + "/bug/\(Self.extid).html")
    let marker = "<span class=\"no-break\">[<a href=\"{{ASSET_BASE}}/390e7a030f9d/disk-5e4ab2e1.raw.xz\">disk image</a>]</span>"
    #expect(html.contains(marker))
    html = html.replacingOccurrences(of: marker, with: marker + assetCell)
    try html.write(toFile: root + "/bug/\(Self.extid).html", atomically: true, encoding: .utf8)
    return root
  }

  @Test(arguments: [
    "<span>[<a href=\"{{ASSET_BASE}}/390e7a030f9d/..%2F..%2F..%2Fescape.gz\">mounted in repro</a>]</span>",
    "<span>[<a href=\"{{ASSET_BASE}}/390e7a030f9d/.hidden\">mounted in repro</a>]</span>",
    "<span>[<a href=\"{{ASSET_BASE}}/390e7a030f9d/%2Fetc%2Fpasswd\">mounted in repro</a>]</span>",
    "<span>[<a href=\"file:///etc/passwd\">mounted in repro</a>]</span>",
  ])
  func hostileAssetNamesNeverEscapeTheBundle(cell: String) throws {
    let root = try hostileSite(cell)
    let server = try FixtureServer([], root: root)
    let dir = try makeTempDir("hostile")
    let r = try prepare(server, dir: dir)
    #expect(r.status == 2)
    #expect(r.stderr.contains("refusing"), "\(r.stderr)")
    // Nothing was written anywhere but the bundle, and nothing was downloaded.
    let top = try FileManager.default.contentsOfDirectory(atPath: dir)
    #expect(top.allSatisfy { $0 == Self.extid }, "\(top)")
    #expect(!fileExists(NSTemporaryDirectory() + "escape.gz"))
    #expect(server.assetRequests().isEmpty)
  }
}
