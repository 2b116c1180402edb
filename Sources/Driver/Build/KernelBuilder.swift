import Foundation

#if canImport(Glibc)
  import Glibc
#endif

public struct KernelBuildOptions: Sendable {
  public var tree: String
  public var config: String
  public var fragments: [String] = []
  /// Where bzImage, vmlinux, System.map and config land (`localimage/`).
  public var output = "localimage"
  /// Object directory (`make O=`); default `<output>/build`.
  public var buildDirectory: String?
  public var jobs = max(1, ProcessInfo.processInfo.activeProcessorCount)
  public var arch = "x86_64"
  public var makeArguments: [String] = []
  public var force = false

  public init(tree: String, config: String) {
    self.tree = tree
    self.config = config
  }
}

/// Builds a kernel the way the original `build_issue3_local_kernel.sh` did: base config plus
/// fragments merged with the tree's own `scripts/kconfig/merge_config.sh`, `olddefconfig`,
/// `make bzImage` in a separate object directory, then the four artefacts copied (via `.part`)
/// into `localimage/`. The full make output is kept in `<output>/build.log`.
public final class KernelBuilder {
  let options: KernelBuildOptions
  let reporter: Reporter

  static let artefacts: [(from: String, to: String)] = [
    ("arch/x86/boot/bzImage", "bzImage"), ("vmlinux", "vmlinux"), ("System.map", "System.map"), (".config", "config"),
  ]

  public init(options: KernelBuildOptions, reporter: Reporter) {
    self.options = options
    self.reporter = reporter
  }

  public var logPath: String { Posix.absolute(options.output) + "/build.log" }

  /// Runs the build; returns the paths written into the output directory.
  public func run() throws(DriverError) -> [String] {
    let tree = Posix.absolute(options.tree)
    guard Posix.isRegularFile(tree + "/Makefile") else {
      throw DriverError("\(options.tree): not a kernel tree (no Makefile)", hint: "pass --tree with the kernel source directory")
    }
    guard Posix.isRegularFile(options.config) else {
      throw DriverError("\(options.config): config file not found", hint: "e.g. --config repro/<extid>/kernel.config")
    }
    for f in options.fragments where !Posix.isRegularFile(f) {
      throw DriverError("\(f): config fragment not found", hint: "check --fragment")
    }
    try Posix.makeDirectories(options.output)
    let out = Posix.absolute(options.output)
    for a in Self.artefacts where Posix.exists(out + "/" + a.to) && !options.force {
      throw DriverError.exists(out + "/" + a.to)
    }
    let build = Posix.absolute(options.buildDirectory ?? out + "/build")
    try Posix.makeDirectories(build)
    try Posix.writeAtomically(logPath, [])
    // .config in the object directory: the base config, then fragments merged over it.
    try Posix.writeAtomically(build + "/.config", try Posix.readFile(options.config))
    let make = ["make", "-C", tree, "O=\(build)", "ARCH=\(options.arch)"]
    if !options.fragments.isEmpty {
      let merge = tree + "/scripts/kconfig/merge_config.sh"
      guard Posix.isRegularFile(merge) else {
        throw DriverError("\(merge): missing; cannot merge fragments", hint: "is \(tree) a complete kernel tree?")
      }
      let fragments = options.fragments.map { Posix.absolute($0) }
      reporter.note("build-kernel: merging \(fragments.count) fragment(s) into \(options.config)")
      try step("merge_config", ["sh", merge, "-m", "-O", build, build + "/.config"] + fragments, directory: tree)
    }
    try step("olddefconfig", make + ["olddefconfig"], directory: tree)
    if !options.fragments.isEmpty { warnAboutDroppedOptions(build: build) }
    reporter.note("build-kernel: make -j\(options.jobs) bzImage in \(build) (log: \(logPath))")
    try step("make bzImage", make + ["-j\(options.jobs)"] + options.makeArguments + ["bzImage"], directory: tree, showProgress: true)
    var written: [String] = []
    for a in Self.artefacts {
      let src = build + "/" + a.from
      guard Posix.isRegularFile(src) else {
        throw DriverError("\(src): the build finished but did not produce \(a.from)", hint: "see \(logPath)")
      }
      let dst = out + "/" + a.to
      try Posix.writeAtomically(dst, try Posix.readFile(src, limit: Int.max))
      written.append(dst)
    }
    return written
  }

  /// merge_config.sh warns when a requested option did not survive olddefconfig (a missing
  /// dependency); say so plainly, since it is the usual reason a fragment "did nothing".
  func warnAboutDroppedOptions(build: String) {
    guard let final = try? Posix.readText(build + "/.config") else { return }
    let finalLines = Set(final.split(separator: "\n").map(String.init))
    for f in options.fragments {
      guard let text = try? Posix.readText(f) else { continue }
      for line in text.split(separator: "\n").map(String.init) {
        let isSetting = line.hasPrefix("CONFIG_") || (line.hasPrefix("# CONFIG_") && line.hasSuffix(" is not set"))
        guard isSetting, !finalLines.contains(line) else { continue }
        // "=n" is the same as "is not set".
        if line.hasSuffix("=n"), let eq = line.firstIndex(of: "="), finalLines.contains("# \(line[..<eq]) is not set") || !final.contains(String(line[..<eq]) + "=") { continue }
        reporter.warn("\(f): '\(line)' is not in the final config (unmet dependency?)")
      }
    }
  }

  /// Runs one command, appending its output to build.log; on failure throws with the log's
  /// last error lines.
  func step(_ name: String, _ argv: [String], directory: String, showProgress: Bool = false) throws(DriverError) {
    guard let exe = Posix.which(argv[0]) else {
      throw DriverError("\(argv[0]): not found", hint: "install the kernel build tools (Debian: build-essential bc bison flex libelf-dev libssl-dev)")
    }
    let log = FileHandle(forWritingAtPath: logPath)
    log?.seekToEndOfFile()
    log?.write(Data("$ \(argv.joined(separator: " "))\n".utf8))
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = Array(argv.dropFirst())
    p.currentDirectoryURL = URL(fileURLWithPath: directory)
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    p.standardInput = FileHandle.nullDevice
    do { try p.run() } catch { throw DriverError("\(exe): cannot start: \(error)") }
    let reader = pipe.fileHandleForReading
    var pending: [UInt8] = []
    var objects = 0
    var lastNote = Posix.monotonicSeconds()
    let started = lastNote
    while true {
      let data = reader.availableData
      if data.isEmpty { break }
      log?.write(data)
      guard showProgress else { continue }
      pending.append(contentsOf: data)
      while let nl = pending.firstIndex(of: 0x0A) {
        let line = String(decoding: pending[..<nl], as: UTF8.self)
        pending.removeFirst(nl + 1)
        // Kbuild's quiet lines: "  CC      kernel/fork.o", "  LD      vmlinux".
        let trimmed = line.drop { $0 == " " }
        if trimmed.hasPrefix("CC") || trimmed.hasPrefix("LD") || trimmed.hasPrefix("AR") || trimmed.hasPrefix("AS") {
          objects += 1
          if reporter.isTTY {
            reporter.beginProgress("build-kernel: [\(objects)] \(trimmed.prefix(60))", total: nil)
            reporter.progress(0)
          }
        }
        let now = Posix.monotonicSeconds()
        if !reporter.isTTY && now - lastNote >= 30 {
          reporter.note("build-kernel: \(Int(now - started)) s, \(objects) objects, at: \(trimmed.prefix(80))")
          lastNote = now
        }
      }
    }
    p.waitUntilExit()
    reporter.endProgress()
    try? log?.close()
    guard p.terminationStatus == 0 else {
      throw DriverError(
        "\(name) failed (exit status \(p.terminationStatus)) in \(directory); last errors:\n"
          + Self.lastErrors(logPath).map { "    " + $0 }.joined(separator: "\n"),
        hint: "full log: \(logPath)")
    }
  }

  /// The last lines of the log that look like compiler/make errors (or the last lines at all).
  static func lastErrors(_ path: String, count: Int = 12) -> [String] {
    guard let text = try? Posix.readText(path) else { return [] }
    let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    let errors = lines.filter { l in
      l.contains("error:") || l.contains("Error ") || l.hasPrefix("make: ***") || l.contains("*** ")
        || l.contains("undefined reference") || l.contains("fatal error")
    }
    return Array((errors.isEmpty ? lines : errors).suffix(count))
  }
}
