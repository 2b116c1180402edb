import ArgumentParser
import Driver

/// `repro-analyze prepare`: download a syzbot bug into `repro/<extid>/` and write run_qemu.sh.
struct PrepareCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "prepare",
    abstract: "Download a syzbot bug's bundle (config, repro, logs, images) and write run_qemu.sh.",
    discussion: """
      Files stream to *.part and are renamed when complete; an interrupted run resumes with HTTP
      Range requests when run again. Existing files are kept unless --force.
        repro-analyze prepare --extid a9528028ab4ca83e8bac
      """
  )

  @Option(name: .long, help: "The bug's extid (from the syzbot e-mail or bug link).")
  var extid: String

  @Option(name: .long, help: "Directory that holds the bundles (the bundle is DIR/<extid>).")
  var dir: String = "repro"

  @Flag(name: .long, help: "Replace existing files and discard partial downloads.")
  var force = false

  @Flag(name: .customLong("regen-runner"), help: "Only rewrite run_qemu.sh; no downloads.")
  var regenRunner = false

  @Option(name: .customLong("base-url"), help: "Dashboard base URL.")
  var baseURL: String = "https://syzkaller.appspot.com"

  @Option(name: .customLong("asset-base"), help: "Fetch assets from this mirror of the syzbot-assets bucket instead.")
  var assetBase: String?

  @Option(name: .long, help: "Retries for HTTP 429/5xx and broken connections (each without progress).")
  var retries: Int = 4

  @Option(name: .long, help: "Seconds without progress before a transfer is retried.")
  var timeout: Double = 60

  @Flag(name: .shortAndLong, help: "Print only errors.")
  var quiet = false

  func validate() throws {
    if retries < 0 || retries > 100 { throw ValidationError("--retries must be between 0 and 100") }
    if timeout <= 0 { throw ValidationError("--timeout must be positive") }
  }

  func run() throws {
    var options = PrepareOptions(extid: extid)
    options.directory = dir
    options.force = force
    options.regenerateRunnerOnly = regenRunner
    options.baseURL = baseURL
    options.assetBaseURL = assetBase
    options.retry.retries = retries
    options.idleTimeout = timeout
    let reporter = Reporter(isQuiet: quiet)
    let summary = runOrFail { try Preparer(options: options, reporter: reporter).run() }
    if !regenRunner {
      reporter.note(
        "prepare: \(summary.bundle) ready: \(summary.downloaded.count) downloaded, \(summary.kept.count) kept, "
          + "\(summary.decompressed.count) decompressed\(summary.missingOptional.isEmpty ? "" : ", missing (optional): " + summary.missingOptional.joined(separator: " "))")
      reporter.note("  next: repro-analyze run \(summary.bundle)   (or DAEMONIZE=1 \(summary.bundle)/run_qemu.sh)")
    }
  }
}
