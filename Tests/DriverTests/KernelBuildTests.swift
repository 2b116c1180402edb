import Foundation
import Testing
import TestSupport

/// build-kernel against a stub tree whose Makefile and merge_config.sh record what they were
/// asked to do (Tests/Fixtures/driver/kernel-tree).
@Suite("build-kernel with a stub tree")
struct KernelBuildTests {
  static let fixtures = TestPaths.fixture("driver")

  @Test func mergesFragmentsBuildsAndCopiesTheArtefacts() throws {
    let out = try makeTempDir("kbuild") + "/localimage"
    let r = try runCommand([
      "build-kernel", "--tree", Self.fixtures + "/kernel-tree", "--config", Self.fixtures + "/configs/base.config",
      "--fragment", Self.fixtures + "/configs/lockdep.config", "--out", out, "-j", "3",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    let calls = readText(out + "/build/stub-calls.log").split(separator: "\n").map(String.init)
    #expect(calls == [
      "merge_config.sh -O \(out)/build \(out)/build/.config \(Self.fixtures)/configs/lockdep.config",
      "make olddefconfig O=\(out)/build ARCH=x86_64",
      "make bzImage O=\(out)/build ARCH=x86_64 jobs=3",
    ])
    for f in ["bzImage", "vmlinux", "System.map", "config", "build.log"] { #expect(fileExists(out + "/" + f), "\(f)") }
    let config = readText(out + "/config")
    #expect(config.contains("CONFIG_LOCKDEP=y") && config.contains("# CONFIG_NILFS2_FS is not set"))
    #expect(!config.contains("# CONFIG_LOCKDEP is not set"))
    #expect(readText(out + "/build.log").contains("CC      drivers/vhost/vhost.o"))
    // A second build does not overwrite without --force.
    let again = try runCommand(["build-kernel", "--tree", Self.fixtures + "/kernel-tree", "--config", Self.fixtures + "/configs/base.config", "--out", out])
    #expect(again.status == 2 && again.stderr.contains("already exists") && again.stderr.contains("--force"))
    let forced = try runCommand(["build-kernel", "--tree", Self.fixtures + "/kernel-tree", "--config", Self.fixtures + "/configs/base.config", "--out", out, "--force"])
    #expect(forced.status == 0, "\(forced.stderr)")
    #expect(!readText(out + "/config").contains("CONFIG_LOCKDEP=y"))
  }

  @Test func aFailedBuildShowsTheCompilerErrorAndTheLog() throws {
    let out = try makeTempDir("kfail") + "/li"
    let r = try runCommand([
      "build-kernel", "--tree", Self.fixtures + "/kernel-tree", "--config", Self.fixtures + "/configs/base.config",
      "--fragment", Self.fixtures + "/configs/fail.config", "--out", out,
    ])
    #expect(r.status == 2)
    #expect(r.stderr.contains("drivers/vhost/vhost.c:42:7: error: 'dev_mutex' undeclared"))
    #expect(r.stderr.contains(out + "/build.log"))
    #expect(!fileExists(out + "/bzImage"))
  }

  @Test func missingTreeOrConfigIsAClearError() throws {
    let r = try runCommand(["build-kernel", "--tree", "/nonexistent", "--config", Self.fixtures + "/configs/base.config"])
    #expect(r.status == 2 && r.stderr.contains("/nonexistent: not a kernel tree"))
    let c = try runCommand(["build-kernel", "--tree", Self.fixtures + "/kernel-tree", "--config", "/nope.config"])
    #expect(c.status == 2 && c.stderr.contains("/nope.config: config file not found"))
  }
}
