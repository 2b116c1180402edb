import Foundation
import Testing
import TestSupport

@testable import Driver

@Suite("syzbot bug page parsing")
struct SyzbotPageTests {
  static let site = TestPaths.shared("fixtures/syzbot/site/bug/")

  @Test func fixturePageYieldsBothRowsAndPicksTheOneWithAReproducer() throws {
    let html = try String(contentsOfFile: Self.site + "a9528028ab4ca83e8bac.html", encoding: .utf8)
    let page = SyzbotBugPage.parse(html: html)
    #expect(page.title == "INFO: task hung in vhost_worker_killed")
    #expect(page.crashes.count == 2)
    let row = try #require(page.reproRow)
    #expect(row.index == 0)
    #expect(row.kernelCommit == "5e4ab2e1c0f9d3a8b7c6e5d4f3a2b1c0d9e8f7a6")
    #expect(row.syzkallerCommit == "9c4e1b2d7a3f5e6c8b0a1d2e3f4a5b6c7d8e9f01")
    #expect(row.manager == "ci-upstream-kasan-gce-root")
    #expect(row.text("KernelConfig")?.href == "/text?tag=KernelConfig&x=b0f3f5b7e2a4c1d9")
    #expect(row.texts.map(\.tag) == ["KernelConfig", "CrashLog", "CrashReport", "ReproSyz", "ReproC", "MachineInfo"])
    #expect(row.assets.map(\.title) == ["disk image", "vmlinux", "kernel image"])
    #expect(page.crashes[1].hasReproducer == false)
  }

  @Test func pageWithoutReproducerHasNoReproRow() throws {
    let html = try String(contentsOfFile: Self.site + "0000000000000000beef.html", encoding: .utf8)
    let page = SyzbotBugPage.parse(html: html)
    #expect(page.title == "INFO: task hung in vhost_dev_flush")
    #expect(page.reproRow == nil)
  }

  @Test func jsonFormMatchesTheRowByReproducerLink() throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: Self.site + "a9528028ab4ca83e8bac.json"))
    let json = try #require(SyzbotBugJSON.parse(Array(data)))
    let html = try String(contentsOfFile: Self.site + "a9528028ab4ca83e8bac.html", encoding: .utf8)
    let row = try #require(SyzbotBugPage.parse(html: html).reproRow)
    let crash = try #require(json.crash(matching: row))
    #expect(crash.reproOpts?.hasPrefix("{\"threaded\":true") == true)
    #expect(crash.kernelSourceCommit == "5e4ab2e1c0f9d3a8b7c6e5d4f3a2b1c0d9e8f7a6")
  }

  @Test func staleReprosAndEmailAliasesAreUnderstood() {
    let html = """
      <table class="list_table"><tbody><tr>
      <td class="repro stale_repro"><a href="/x/repro.syz?x=aa">syz</a></td>
      <td class="config"><a href='/x/.config?x=bb'>.config</a></td>
      </tr><tr>
      <td class=repro><a href=/text?tag=ReproC&amp;x=cc>C</a></td>
      </tr></tbody></table>
      """
    let page = SyzbotBugPage.parse(html: html)
    #expect(page.crashes.count == 2)
    #expect(page.crashes[0].text("ReproSyz")?.isStale == true)
    #expect(page.crashes[0].text("KernelConfig")?.href == "/x/.config?x=bb")
    #expect(page.reproRow?.index == 1)
    #expect(page.reproRow?.text("ReproC")?.href == "/text?tag=ReproC&x=cc")
  }

  @Test(arguments: ["&amp;&lt;&gt;&quot;&#39;&#x41;", "&bogus; &#xZZ; & &#99999999;"])
  func entitiesDecodeOrStayLiteral(input: String) {
    let out = TagScanner.decodeEntities(ArraySlice(input.utf8))
    #expect(!out.isEmpty)
    if input.hasPrefix("&amp;") { #expect(out == "&<>\"'A") } else { #expect(out.contains("&bogus;")) }
  }

  @Test func arbitraryBytesNeverCrashTheParser() {
    var rng = SystemRandomNumberGenerator()
    let alphabet = Array("<>/=\"' &;#atdrbhefx-_.\n".utf8)
    for _ in 0..<300 {
      let n = Int.random(in: 0..<400, using: &rng)
      let bytes = (0..<n).map { _ in Bool.random() ? alphabet.randomElement()! : UInt8.random(in: 0...255) }
      _ = SyzbotBugPage.parse(html: String(decoding: bytes, as: UTF8.self))
    }
  }

  @Test(arguments: [
    ("disk-40f71e7c.raw.xz", true), ("mount_0.gz", true), ("..", false), (".", false), (".hidden", false),
    ("a/b", false), ("", false), ("x\u{0}y", false), ("naïve", false), (String(repeating: "a", count: 201), false),
  ])
  func safeNames(name: String, isSafe: Bool) {
    #expect(SafeName.isSafeComponent(name) == isSafe)
  }

  @Test func planMapsAssetsToFixedNamesAndRewritesMirrors() throws {
    let row = CrashRow(
      index: 0, texts: [TextLink(tag: "ReproSyz", href: "/text?tag=ReproSyz&x=1", isStale: false)],
      assets: [
        AssetLink(title: "disk image", href: "https://storage.googleapis.com/syzbot-assets/073eea957569/disk-40f71e7c.raw.xz"),
        AssetLink(title: "mounted in repro", href: "https://storage.googleapis.com/syzbot-assets/0123456789ab/mount_0.gz"),
      ])
    let plan = try Preparer.plan(row: row, pageURL: URL(string: "https://syzkaller.appspot.com/bug?extid=x")!,
      assetBase: "http://127.0.0.1:1/syzbot-assets")
    #expect(plan.map(\.name) == ["repro.syz", "disk.raw.xz", "assets/mount_0.gz"])
    #expect(plan[0].url == "https://syzkaller.appspot.com/text?tag=ReproSyz&x=1")
    #expect(plan[1].url == "http://127.0.0.1:1/syzbot-assets/073eea957569/disk-40f71e7c.raw.xz")
    #expect(plan[1].decompressedName == "disk.raw")
    #expect(plan[2].decompressedName == nil && !plan[2].isRequired)
  }

  @Test(arguments: [("CONFIG_X86_64=y\n", "amd64"), ("CONFIG_ARM64=y\n", "arm64"), ("# CONFIG_X86_64 is not set\n", nil)])
  func architectureComesFromTheConfig(config: String, arch: String?) {
    #expect(Preparer.architecture(config: config) == arch)
  }
}

@Suite("MD5 for x-goog-hash")
struct MD5Tests {
  @Test(arguments: [0, 1, 55, 56, 63, 64, 65, 1000, 100_003])
  func matchesCoreutils(length: Int) throws {
    let dir = try makeTempDir("md5")
    let path = dir + "/f"
    let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) }
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    let ours = try MD5.file(path).map { String(format: "%02x", $0) }.joined()
    let theirs = try runCommand([path], executable: "/usr/bin/md5sum").stdout.prefix(32)
    #expect(ours == String(theirs))
  }

  @Test func googHashHeaderIsParsed() {
    #expect(MD5.expected(fromGoogHash: "crc32c=n03x6A==,md5=1B2M2Y8AsgTpgAmY7PhCfg==")?.count == 16)
    #expect(MD5.expected(fromGoogHash: "crc32c=n03x6A==") == nil)
    #expect(MD5.expected(fromGoogHash: "md5=notbase64!") == nil)
  }
}
