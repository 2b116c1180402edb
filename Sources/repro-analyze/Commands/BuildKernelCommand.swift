import ArgumentParser
import Driver
import Foundation

/// `repro-analyze build-kernel`: config + fragments → localimage/{bzImage,vmlinux,System.map,config}.
struct BuildKernelCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "build-kernel",
    abstract: "Build a local kernel (base config + fragments) into localimage/ for A/B runs.",
    discussion: """
      Merges fragments with the tree's scripts/kconfig/merge_config.sh, runs olddefconfig and
      make bzImage in an object directory, keeps the full log in OUT/build.log.
        repro-analyze build-kernel --tree ~/linux --config repro/ID/kernel.config \\
          --fragment lockdep.config --out repro/ID/localimage
      """
  )

  @Option(name: .long, help: "Kernel source tree.")
  var tree: String

  @Option(name: .long, help: "Base kernel config (e.g. the bundle's kernel.config).")
  var config: String

  @Option(name: .long, help: "Config fragment merged over the base; repeatable.")
  var fragment: [String] = []

  @Option(name: .long, help: "Output directory (default localimage).")
  var out: String = "localimage"

  @Option(name: .customLong("build-dir"), help: "Object directory for make O= (default OUT/build).")
  var buildDir: String?

  @Option(name: .shortAndLong, help: "Parallel jobs (default: the number of CPUs).")
  var jobs: Int?

  @Flag(name: .long, help: "Replace existing artefacts in OUT.")
  var force = false

  func validate() throws {
    if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
  }

  func run() throws {
    var options = KernelBuildOptions(tree: tree, config: config)
    options.fragments = fragment
    options.output = out
    options.buildDirectory = buildDir
    if let jobs { options.jobs = jobs }
    options.force = force
    let reporter = Reporter()
    let started = Date()
    let written = runOrFail { try KernelBuilder(options: options, reporter: reporter).run() }
    let secs = Int(Date().timeIntervalSince(started))
    print("build-kernel: done in \(secs) s")
    for w in written { print("  \(w)") }
  }
}
