import Foundation
import Ingest

#if canImport(FoundationNetworking)
  import FoundationNetworking
#endif

/// What `repro-analyze prepare` was asked to do.
public struct PrepareOptions: Sendable {
  public var extid: String
  /// Parent of the bundle directories (`repro/`); the bundle is `<directory>/<extid>`.
  public var directory: String = "repro"
  public var force = false
  public var regenerateRunnerOnly = false
  public var baseURL = "https://syzkaller.appspot.com"
  /// Replaces the `…/syzbot-assets` prefix of asset URLs (mirrors, loopback tests).
  public var assetBaseURL: String?
  public var retry = RetryPolicy()
  public var idleTimeout = 60.0

  public init(extid: String) { self.extid = extid }
}

/// One file of the bundle and where it comes from.
public struct PlannedFile: Sendable, Equatable {
  public enum Kind: String, Sendable { case text, asset }
  public var kind: Kind
  /// Dashboard tag (texts) or asset title (assets).
  public var source: String
  public var url: String
  /// Name inside the bundle (`kernel.config`, `disk.raw.xz`, `assets/mount_0.gz`).
  public var name: String
  /// For `.xz` assets, the decompressed name next to it (`disk.raw`).
  public var decompressedName: String?
  public var isRequired: Bool
}

/// The outcome of `prepare`, for the summary line and tests.
public struct PrepareSummary: Sendable {
  public var bundle: String
  public var title: String?
  public var downloaded: [String] = []
  public var kept: [String] = []
  public var missingOptional: [String] = []
  public var decompressed: [String] = []
  public var runnerWritten = false
}

/// Fetches a syzbot bug into a bundle directory: texts, assets (resumable), decompressed
/// images, `meta.txt` and `run_qemu.sh`. See docs/driver.md for the exact contract.
public final class Preparer {
  let options: PrepareOptions
  let reporter: Reporter
  let downloader: Downloader

  /// Text attachments by dashboard tag: bundle file name, and whether a 404 is fatal.
  static let textTargets: [(tag: String, name: String, required: Bool)] = [
    ("KernelConfig", "kernel.config", true),
    ("ReproSyz", "repro.syz", true),
    ("ReproC", "repro.c", true),
    ("CrashLog", "crash.log", false),
    ("CrashReport", "crash.report", false),
    ("ReproLog", "repro.log", false),
    ("MachineInfo", "machine.info", false),
  ]

  public init(options: PrepareOptions, reporter: Reporter) {
    self.options = options
    self.reporter = reporter
    downloader = Downloader(
      client: HTTPClient(idleTimeout: options.idleTimeout), policy: options.retry, reporter: reporter)
  }

  public var bundlePath: String { options.directory + "/" + options.extid }

  public func run() throws -> PrepareSummary {
    guard SafeName.isValidExtID(options.extid) else {
      throw DriverError("'\(options.extid)' is not a syzbot extid",
        hint: "use the id from the bug link, e.g. --extid a9528028ab4ca83e8bac")
    }
    let bundle = bundlePath
    var summary = PrepareSummary(bundle: bundle)
    if options.regenerateRunnerOnly {
      guard Posix.isDirectory(bundle) else {
        throw DriverError("\(bundle): no such bundle", hint: "run prepare without --regen-runner first")
      }
      let meta = (try? Posix.readText(bundle + "/meta.txt")).map(BundleMeta.parse) ?? BundleMeta()
      try writeRunner(bundle: bundle, meta: meta)
      summary.title = meta["title"]
      summary.runnerWritten = true
      reporter.note("prepare: rewrote \(bundle)/run_qemu.sh (nothing else touched)")
      return summary
    }

    let base = options.baseURL.hasSuffix("/") ? String(options.baseURL.dropLast()) : options.baseURL
    let pageURL = try Self.url(base + "/bug?extid=" + options.extid, origin: "--base-url")
    reporter.note("prepare: fetching \(pageURL.absoluteString)")
    guard let html = try downloader.fetchDocument(pageURL, what: "bug page", allowMissing: true) else {
      throw DriverError("\(pageURL.absoluteString): HTTP 404: bug \(options.extid) not found",
        hint: "check the extid (the id in 'syzbot+<extid>@' or the bug link) and --base-url")
    }
    let page = SyzbotBugPage.parse(html: String(decoding: html, as: UTF8.self))
    summary.title = page.title
    guard !page.crashes.isEmpty else {
      throw DriverError("\(pageURL.absoluteString): the page has no crash table",
        hint: "open the page in a browser; if the dashboard changed its layout, report it")
    }
    guard let row = page.reproRow else {
      throw DriverError(
        "bug \(options.extid) (\(page.title ?? "untitled")) has no reproducer (neither syz nor C) on \(pageURL.absoluteString)",
        hint: "syzbot has not found a reproducer yet; there is nothing to run locally")
    }
    // The JSON form carries repro options and full commit ids; it is optional.
    let jsonURL = try Self.url(pageURL.absoluteString + "&json=1", origin: "--base-url")
    var json: SyzbotBugJSON?
    do {
      if let bytes = try downloader.fetchDocument(jsonURL, what: "bug JSON", allowMissing: true) {
        json = SyzbotBugJSON.parse(bytes)
      }
    } catch {
      reporter.warn("\(jsonURL.absoluteString): JSON form unavailable, using the HTML page only (\(error))")
    }
    let jsonCrash = json?.crash(matching: row)

    let plan = try Self.plan(row: row, pageURL: pageURL, assetBase: options.assetBaseURL)
    var meta = BundleMeta()
    meta["extid"] = options.extid
    meta["title"] = json?.title ?? page.title
    meta["bug_url"] = pageURL.absoluteString
    meta["crash_row"] = "\(row.index + 1) of \(page.crashes.count)"
    meta["crash_time"] = row.time
    meta["kernel_commit"] = jsonCrash?.kernelSourceCommit ?? row.kernelCommit
    meta["syzkaller_commit"] = jsonCrash?.syzkallerCommit ?? row.syzkallerCommit
    meta["manager"] = row.manager
    meta["compiler"] = jsonCrash?.compilerDescription
    meta["repro_opts"] = jsonCrash?.reproOpts
    meta["started_at"] = Posix.isoTimestamp()
    meta["status"] = "downloading"
    meta.files = plan
    try Posix.makeDirectories(bundle)
    // meta.txt first: an interrupted run still records every URL.
    try Posix.writeAtomically(bundle + "/meta.txt", text: meta.text)

    var errors: [DriverError] = []
    for file in plan {
      do {
        try fetch(file, bundle: bundle, summary: &summary)
      } catch {
        errors.append(error)
      }
    }
    // Derived facts: the JSON leaves the architecture out, the config states it.
    if let config = try? Posix.readText(bundle + "/kernel.config") {
      meta["arch"] = jsonCrash?.architecture ?? Self.architecture(config: config)
    }
    if meta["repro_opts"] == nil, let syz = try? Posix.readText(bundle + "/repro.syz") {
      meta["repro_opts"] = Self.reproOptions(syz: syz)
    }
    meta["finished_at"] = Posix.isoTimestamp()
    if errors.isEmpty {
      let runner = bundle + "/run_qemu.sh"
      if Posix.exists(runner) && !options.force {
        summary.kept.append("run_qemu.sh")
        reporter.note("prepare: run_qemu.sh exists, kept (use --regen-runner to rewrite it)")
      } else {
        try writeRunner(bundle: bundle, meta: meta)
        summary.runnerWritten = true
      }
      meta["status"] = "complete"
    } else {
      meta["status"] = "failed: " + errors.map(\.message).joined(separator: "; ")
    }
    try Posix.writeAtomically(bundle + "/meta.txt", text: meta.text)
    if !errors.isEmpty {
      if errors.count == 1 { throw errors[0] }
      throw DriverErrors(errors: errors)
    }
    return summary
  }

  /// Downloads (or keeps) one planned file, then decompresses `.xz` assets next to it.
  func fetch(_ file: PlannedFile, bundle: String, summary: inout PrepareSummary) throws(DriverError) {
    let path = bundle + "/" + file.name
    if file.name.contains("/") {
      try Posix.makeDirectories((path as NSString).deletingLastPathComponent)
    }
    guard let url = URL(string: file.url) else { throw DriverError("\(file.url): not a valid URL") }
    if options.force {
      Posix.remove(path + ".part")
      Posix.remove(path + ".part.info")
    }
    if Posix.exists(path) && !options.force {
      summary.kept.append(file.name)
      reporter.note("prepare: \(file.name) exists, kept")
    } else {
      switch file.kind {
      case .text:
        guard let bytes = try downloader.fetchDocument(url, what: file.name, allowMissing: !file.isRequired) else {
          summary.missingOptional.append(file.name)
          reporter.note("prepare: \(file.name): not on the server (HTTP 404, optional) \(file.url)")
          return
        }
        try Posix.writeAtomically(path, bytes)
        summary.downloaded.append(file.name)
        reporter.note("prepare: \(file.name): \(bytes.count) bytes")
      case .asset:
        do {
          let r = try downloader.download(url, to: path, label: file.name)
          summary.downloaded.append(file.name)
          let resumed = r.resumedFrom > 0 ? ", resumed at \(r.resumedFrom)" : ""
          reporter.note("prepare: \(file.name): \(r.byteCount) bytes\(resumed)")
        } catch {
          guard !file.isRequired && error.message.contains("HTTP 404") else { throw error }
          summary.missingOptional.append(file.name)
          reporter.note("prepare: \(file.name): not on the server (HTTP 404, optional) \(file.url)")
          return
        }
      }
    }
    guard let out = file.decompressedName else { return }
    let outPath = bundle + "/" + out
    if Posix.exists(outPath) && !options.force {
      summary.kept.append(out)
      return
    }
    do {
      try Ingest.decompressXZFile(from: path, to: outPath)
    } catch {
      throw DriverError(
        "\(path): cannot decompress to \(out): \(error.description.split(separator: "\n").first ?? "")",
        hint: "the download is damaged; \(file.name) was kept for inspection — run prepare again with --force to fetch it anew (\(file.url))")
    }
    summary.decompressed.append(out)
    reporter.note("prepare: \(out): \(Posix.fileSize(outPath) ?? 0) bytes (from \(file.name))")
  }

  func writeRunner(bundle: String, meta: BundleMeta) throws(DriverError) {
    let script = RunnerScript(extid: options.extid, title: meta["title"], arch: meta["arch"]).text
    try Posix.writeAtomically(bundle + "/run_qemu.sh", text: script, mode: 0o755)
  }

  // MARK: planning

  /// Turns the chosen crash row into bundle files. Refuses URLs that are not http(s) and names
  /// that could leave the bundle.
  static func plan(row: CrashRow, pageURL: URL, assetBase: String?) throws(DriverError) -> [PlannedFile] {
    var files: [PlannedFile] = []
    for target in textTargets {
      guard let link = row.text(target.tag), !link.isStale else { continue }
      let url = try resolve(link.href, against: pageURL)
      files.append(PlannedFile(kind: .text, source: target.tag, url: url, name: target.name,
        decompressedName: nil, isRequired: target.required))
    }
    var usedNames = Set<String>()
    for asset in row.assets {
      var url = try resolve(asset.href, against: pageURL)
      if let assetBase { url = rewriteAssetURL(url, base: assetBase) }
      let baseName = try assetFileName(url)
      let name: String
      let required: Bool
      switch asset.title.lowercased() {
      case "disk image": (name, required) = ("disk.raw", true)
      case "kernel image": (name, required) = ("bzImage", true)
      case "vmlinux", "kernel object": (name, required) = ("vmlinux", false)
      case "disk image (non-bootable)": (name, required) = ("disk-non-bootable.raw", false)
      default:
        // Anything else keeps its own (checked) name, in a subdirectory so it cannot replace
        // a bundle file such as run_qemu.sh.
        let checked = "assets/" + baseName
        guard !usedNames.contains(checked) else { continue }
        usedNames.insert(checked)
        files.append(PlannedFile(kind: .asset, source: asset.title, url: url, name: checked,
          decompressedName: nil, isRequired: false))
        continue
      }
      guard !usedNames.contains(name) else { continue }
      usedNames.insert(name)
      let isXZ = baseName.hasSuffix(".xz")
      let ext = isXZ ? ".xz" : (baseName.hasSuffix(".gz") ? ".gz" : "")
      files.append(PlannedFile(kind: .asset, source: asset.title, url: url, name: name + ext,
        decompressedName: isXZ ? name : nil, isRequired: required))
    }
    return files
  }

  /// Resolves a page link (relative `/text?…` or absolute) to an http(s) URL string.
  static func resolve(_ href: String, against page: URL) throws(DriverError) -> String {
    guard let url = URL(string: href, relativeTo: page)?.absoluteURL,
      let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", url.host != nil
    else {
      throw DriverError("\(page.absoluteString): refusing link '\(href)': not an http(s) URL",
        hint: "the page links something unexpected; download it by hand if you trust it")
    }
    return url.absoluteString
  }

  /// The last path component of an asset URL, percent-decoded and checked.
  static func assetFileName(_ url: String) throws(DriverError) -> String {
    let path = URLComponents(string: url)?.percentEncodedPath ?? ""
    let last = path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? ""
    let decoded = last.removingPercentEncoding ?? last
    guard SafeName.isSafeComponent(decoded) else {
      throw DriverError(
        "\(url): refusing asset file name '\(decoded)': not a plain file name inside the bundle",
        hint: "the page offers a suspicious asset; download it by hand if you trust it")
    }
    return decoded
  }

  /// `https://storage.googleapis.com/syzbot-assets/073eea957569/disk.raw.xz` with base
  /// `http://127.0.0.1:8080/syzbot-assets` → `http://127.0.0.1:8080/syzbot-assets/073eea957569/disk.raw.xz`.
  static func rewriteAssetURL(_ url: String, base: String) -> String {
    guard let r = url.range(of: "/syzbot-assets/") else { return url }
    let b = base.hasSuffix("/") ? String(base.dropLast()) : base
    return b + "/" + url[r.upperBound...]
  }

  static func url(_ s: String, origin: String) throws(DriverError) -> URL {
    guard let u = URL(string: s), let scheme = u.scheme, scheme == "http" || scheme == "https" else {
      throw DriverError("'\(s)' is not an http(s) URL", hint: "check \(origin)")
    }
    return u
  }

  /// syzkaller's architecture name from a kernel config (`CONFIG_X86_64=y` → amd64).
  public static func architecture(config: String) -> String? {
    let table: [(String, String)] = [
      ("CONFIG_X86_64=y", "amd64"), ("CONFIG_ARM64=y", "arm64"), ("CONFIG_X86_32=y", "386"),
      ("CONFIG_RISCV=y", "riscv64"), ("CONFIG_S390=y", "s390x"), ("CONFIG_PPC64=y", "ppc64le"),
      ("CONFIG_ARM=y", "arm"), ("CONFIG_MIPS=y", "mips64le"),
    ]
    let lines = Set(config.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
    return table.first { lines.contains($0.0) }?.1
  }

  /// The `#{"threaded":true,…}` options line syzbot puts in repro.syz.
  public static func reproOptions(syz: String) -> String? {
    for line in syz.split(separator: "\n") where line.hasPrefix("#{") {
      return String(line.dropFirst())
    }
    return nil
  }
}

/// `meta.txt`: `key: value` lines plus one `file:` line per artefact. Line-oriented so that
/// shell tools (`grep ^kernel_commit: meta.txt`) can read it.
public struct BundleMeta: Sendable {
  public var keys: [String] = []
  public var values: [String: String] = [:]
  public var files: [PlannedFile] = []
  var fileLines: [String] = []

  public init() {}

  public subscript(_ key: String) -> String? {
    get { values[key] }
    set {
      guard let newValue, !newValue.isEmpty else { return }
      // One line per value: a hostile title must not inject fake keys.
      let clean = newValue.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ")
      if values[key] == nil { keys.append(key) }
      values[key] = clean
    }
  }

  public var text: String {
    var s = "# repro-analyze prepare: bundle metadata (written before the downloads, updated after)\n"
    for k in keys { s += "\(k): \(values[k]!)\n" }
    for f in files {
      s += "file: \(f.name) <- \(f.url) (\(f.source)\(f.isRequired ? ", required" : ", optional"))\n"
      if let d = f.decompressedName { s += "file: \(d) <- xz -d \(f.name)\n" }
    }
    for l in fileLines { s += l + "\n" }
    return s
  }

  public static func parse(_ text: String) -> BundleMeta {
    var m = BundleMeta()
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
      if line.hasPrefix("file: ") {
        m.fileLines.append(String(line))
        continue
      }
      guard let colon = line.firstIndex(of: ":") else { continue }
      let key = String(line[..<colon])
      let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
      m[key] = value
    }
    return m
  }
}
