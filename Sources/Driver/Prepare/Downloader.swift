import Foundation

#if canImport(FoundationNetworking)
  import FoundationNetworking
#endif
#if canImport(Glibc)
  import Glibc
#endif

/// Retry policy for flaky networks: 429/5xx and broken connections are retried with exponential
/// backoff (honouring `Retry-After`); a transfer that made progress does not use up an attempt,
/// because the next attempt resumes where it stopped.
public struct RetryPolicy: Sendable {
  /// Attempts after the first one that may fail without progress.
  public var retries: Int
  public var baseDelay: Double
  public var maxDelay: Double

  public init(retries: Int = 4, baseDelay: Double = 0.5, maxDelay: Double = 30) {
    self.retries = retries
    self.baseDelay = baseDelay
    self.maxDelay = maxDelay
  }

  func delay(afterFailure n: Int, retryAfter: String?) -> Double {
    if let retryAfter, let s = Double(retryAfter.trimmingCharacters(in: .whitespaces)), s >= 0 {
      return min(s, maxDelay)
    }
    return min(baseDelay * pow(2, Double(max(n - 1, 0))), maxDelay)
  }
}

/// The result of one file download.
public struct DownloadResult: Sendable {
  public var byteCount: Int
  /// Offset the download resumed from (0 = fresh).
  public var resumedFrom: Int
  public var requestCount: Int
}

/// Downloads with `.part` files and HTTP Range resume.
///
/// A download streams into `DEST.part`; a sidecar `DEST.part.info` records the URL and the
/// server's validator (ETag / Last-Modified). A later attempt — in this run after a dropped
/// connection, or in the next run after an interrupt — asks for `Range: bytes=<part size>-` with
/// `If-Range: <validator>`: a 206 appends, a 200 (resource changed, or no range support) starts
/// over. `DEST` appears only by rename once the byte count matches what the server announced.
final class Downloader {
  let client: HTTPClient
  let policy: RetryPolicy
  let reporter: Reporter

  init(client: HTTPClient, policy: RetryPolicy, reporter: Reporter) {
    self.client = client
    self.policy = policy
    self.reporter = reporter
  }

  /// GETs a small document (page or text attachment) into memory, with retries.
  /// Returns nil for 404 when `allowMissing`; other failures throw naming the URL.
  func fetchDocument(_ url: URL, what: String, allowMissing: Bool = false) throws(DriverError) -> [UInt8]? {
    var failures = 0
    var requests = 0
    while true {
      requests += 1
      let (outcome, body) = client.fetch(url: url)
      switch outcome {
      case .completed(let head, _) where head.status == 200:
        return body
      case .completed(let head, _) where head.status == 404 && allowMissing:
        return nil
      case .completed(let head, _) where Self.isRetryable(head.status):
        failures += 1
        guard failures <= policy.retries else {
          throw Self.httpError(url, head.status, what: what, attempts: requests, body: body)
        }
        let d = policy.delay(afterFailure: failures, retryAfter: head["retry-after"])
        reporter.note("\(url.absoluteString): HTTP \(head.status), retrying in \(Self.seconds(d))")
        Posix.sleep(seconds: d)
      case .completed(let head, _):
        throw Self.httpError(url, head.status, what: what, attempts: requests, body: body)
      case .failed(_, _, let reason, let isSinkError):
        failures += 1
        guard !isSinkError, failures <= policy.retries else {
          throw DriverError(
            "\(url.absoluteString): \(what) download failed after \(requests) attempt(s): \(reason)",
            hint: "check the network and the URL, then run the same command again")
        }
        let d = policy.delay(afterFailure: failures, retryAfter: nil)
        reporter.note("\(url.absoluteString): \(reason), retrying in \(Self.seconds(d))")
        Posix.sleep(seconds: d)
      }
    }
  }

  /// Downloads `url` to `destination` (via `.part`, resuming). The caller has already decided
  /// that `destination` may be (re)created.
  func download(_ url: URL, to destination: String, label: String) throws(DriverError) -> DownloadResult {
    let part = destination + ".part"
    let info = part + ".info"
    var failures = 0
    var requests = 0
    var firstResume = -1
    let urlString = url.absoluteString
    /// Counts a failed attempt; `error` once the retry budget is spent.
    func countFailure(_ error: @autoclosure () -> DriverError) throws(DriverError) {
      failures += 1
      if failures > policy.retries { throw error() }
    }
    /// Drops the partial download and its sidecar: the next attempt starts from byte 0.
    func discardPart() {
      Posix.remove(part)
      Posix.remove(info)
    }
    // A .part left by a different URL (the page moved to a new build) cannot be resumed.
    if let sidecar = try? Posix.readText(info), PartInfo.parse(sidecar).url != urlString { discardPart() }
    while true {
      requests += 1
      var partSize = Posix.fileSize(part) ?? 0
      if partSize > 0 && !Posix.exists(info) {
        // No record of what the bytes are: do not trust them.
        Posix.remove(part)
        partSize = 0
      }
      let validator = partSize > 0 ? (try? Posix.readText(info)).flatMap { PartInfo.parse($0).validator } : nil
      if firstResume < 0 { firstResume = partSize }
      var headers: [String: String] = [:]
      if partSize > 0 {
        headers["Range"] = "bytes=\(partSize)-"
        if let validator { headers["If-Range"] = validator }
      }
      let state = TransferState(part: part, info: info, url: urlString, resumeOffset: partSize)
      reporter.beginProgress(label, total: nil)
      let outcome = client.perform(
        url: url, headers: headers,
        onHead: { head in state.accept(head) },
        sink: { [reporter] data in
          try state.write(data)
          reporter.progress(state.written, total: state.expectedTotal)
        })
      state.closeFile()
      reporter.endProgress()
      switch outcome {
      case .completed(let head, _) where head.status == 200 || head.status == 206:
        if let err = state.error { throw err }
        if state.mustRestart {
          try countFailure(
            DriverError("\(urlString): the server answered a Range request with a different range",
              hint: "run the same command with --force to download from the start"))
          continue
        }
        let size = Posix.fileSize(part) ?? 0
        if let total = state.expectedTotal, size < total {
          // The body ended early without a transport error: resume like a drop (a failure only
          // when no byte came).
          if size <= partSize {
            try countFailure(
              DriverError("\(urlString): body ended at \(size) of \(total) bytes, repeatedly",
                hint: "run the same command again later; the download resumes from \(part)"))
          }
          reporter.note("\(label): got \(size) of \(total) bytes, resuming")
          continue
        }
        if let total = state.expectedTotal, size > total {
          discardPart()
          try countFailure(
            DriverError("\(urlString): received \(size) bytes but the server announced \(total)",
              hint: "run the same command again; if it persists, report the URL"))
          continue
        }
        // GCS (the syzbot-assets bucket) states the whole object's MD5 in x-goog-hash, on 200
        // and 206 alike: check the assembled file before it gets its final name.
        if let expected = state.expectedMD5 {
          let got = try MD5.file(part)
          guard got == expected else {
            discardPart()
            try countFailure(
              DriverError("\(urlString): downloaded \(size) bytes but their MD5 does not match the server's x-goog-hash",
                hint: "run the same command again; if it persists, the object or a proxy is corrupting it"))
            reporter.note("\(label): MD5 mismatch, downloading again")
            continue
          }
        }
        try Posix.renameFile(part, destination)
        Posix.remove(info)
        return DownloadResult(byteCount: size, resumedFrom: max(firstResume, 0), requestCount: requests)
      case .completed(let head, _) where head.status == 416:
        // Range not satisfiable: either the .part is already complete or it is garbage.
        if let total = state.rangeTotal, total == partSize {
          try Posix.renameFile(part, destination)
          Posix.remove(info)
          return DownloadResult(byteCount: partSize, resumedFrom: partSize, requestCount: requests)
        }
        discardPart()
        try countFailure(Self.httpError(url, 416, what: label, attempts: requests, body: []))
      case .completed(let head, _) where Self.isRetryable(head.status):
        try countFailure(Self.httpError(url, head.status, what: label, attempts: requests, body: []))
        let d = policy.delay(afterFailure: failures, retryAfter: head["retry-after"])
        reporter.note("\(label): HTTP \(head.status) from \(urlString), retrying in \(Self.seconds(d))")
        Posix.sleep(seconds: d)
      case .completed(let head, _):
        throw Self.httpError(url, head.status, what: label, attempts: requests, body: [])
      case .failed(_, let got, let reason, let isSinkError):
        if isSinkError, let err = state.error { throw err }
        if isSinkError {
          throw DriverError("\(part): cannot write download: \(reason)", hint: "check free space and permissions")
        }
        if got > 0 {
          // Progress was made: the next attempt resumes; do not count this as a failure.
          reporter.note("\(label): connection lost after \(Posix.fileSize(part) ?? 0) bytes (\(reason)), resuming")
          Posix.sleep(seconds: policy.baseDelay / 2)
          continue
        }
        try countFailure(
          DriverError(
            "\(urlString): download of \(label) failed after \(requests) attempt(s): \(reason)",
            hint: "check the network; run the same command again to resume from \(part)"))
        let d = policy.delay(afterFailure: failures, retryAfter: nil)
        reporter.note("\(label): \(reason), retrying in \(Self.seconds(d))")
        Posix.sleep(seconds: d)
      }
    }
  }

  static func isRetryable(_ status: Int) -> Bool {
    status == 408 || status == 425 || status == 429 || (500...599).contains(status)
  }

  static func seconds(_ d: Double) -> String { String(format: "%.1fs", d) }

  static func httpError(_ url: URL, _ status: Int, what: String, attempts: Int, body: [UInt8]) -> DriverError {
    let reason = HTTPURLResponse.localizedString(forStatusCode: status)
    let tries = attempts > 1 ? " after \(attempts) attempts" : ""
    let hint: String
    switch status {
    case 404: hint = "the file is gone from the server (old builds expire); check the bug page or pass --base-url"
    case 429: hint = "the server is rate limiting; wait a minute and run the same command again"
    case 400..<500: hint = "check the extid and --base-url"
    default: hint = "the server failed; run the same command again later (downloads resume)"
    }
    return DriverError("\(url.absoluteString): HTTP \(status) \(reason)\(tries) (\(what))", hint: hint)
  }
}

/// The sidecar of a `.part` file: which URL its bytes came from and the server's validator.
struct PartInfo {
  var url: String?
  var validator: String?

  static func parse(_ text: String) -> PartInfo {
    var info = PartInfo()
    for line in text.split(separator: "\n") {
      if line.hasPrefix("url ") { info.url = String(line.dropFirst(4)) }
      if line.hasPrefix("validator ") { info.validator = String(line.dropFirst(10)) }
    }
    return info
  }

  var text: String {
    var s = ""
    if let url { s += "url \(url)\n" }
    if let validator { s += "validator \(validator)\n" }
    return s
  }
}

/// Per-attempt state shared between the delegate callbacks and the downloader.
// SAFETY: written only from the URLSession delegate queue during the transfer, read by the
// downloader after the transfer's semaphore was signalled.
private final class TransferState: @unchecked Sendable {
  let part: String
  let info: String
  let url: String
  let resumeOffset: Int
  var fd: Int32 = -1
  var written = 0
  var expectedTotal: Int?
  var rangeTotal: Int?
  var error: DriverError?
  var mustRestart = false
  var expectedMD5: [UInt8]?

  init(part: String, info: String, url: String, resumeOffset: Int) {
    self.part = part
    self.info = info
    self.url = url
    self.resumeOffset = resumeOffset
  }

  /// Decides from the status and headers whether to append, start over, or take no body.
  func accept(_ head: HTTPResponseHead) -> Bool {
    expectedMD5 = MD5.expected(fromGoogHash: head["x-goog-hash"])
    switch head.status {
    case 206:
      guard let cr = head["content-range"], let (start, total) = Self.parseContentRange(cr),
        start == resumeOffset
      else {
        // A range we did not ask for: drop the .part and let the next attempt start over.
        mustRestart = true
        Posix.remove(part)
        Posix.remove(info)
        return false
      }
      expectedTotal = total
      written = resumeOffset
      fd = open(part, O_WRONLY | O_APPEND | O_CLOEXEC)
      if fd < 0 { error = .io(part, "cannot open for append", errno: errno) }
      return fd >= 0
    case 200:
      expectedTotal = head["content-length"].flatMap { Int($0) }
      fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
      if fd < 0 {
        error = .io(part, "cannot create", errno: errno)
        return false
      }
      let validator = head["etag"].flatMap { $0.hasPrefix("W/") ? nil : $0 } ?? head["last-modified"]
      do {
        try Posix.writeAtomically(info, text: PartInfo(url: url, validator: validator).text)
      } catch {
        self.error = error
        return false
      }
      return true
    case 416:
      rangeTotal = head["content-range"].flatMap(Self.parseUnsatisfiedRange)
      return false
    default:
      return false
    }
  }

  func write(_ data: Data) throws {
    guard fd >= 0 else { throw DriverError("\(part): not open for writing") }
    try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
      var off = 0
      while off < raw.count {
        let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
        if n < 0 {
          if errno == EINTR { continue }
          let e = DriverError.io(part, "write failed", errno: errno)
          error = e
          throw e
        }
        off += n
      }
    }
    written += data.count
  }

  func closeFile() {
    if fd >= 0 {
      fsync(fd)
      close(fd)
      fd = -1
    }
  }

  /// `bytes 300000-786527/786528` → (300000, 786528).
  static func parseContentRange(_ s: String) -> (Int, Int)? {
    let t = s.trimmingCharacters(in: .whitespaces)
    guard t.hasPrefix("bytes ") else { return nil }
    let rest = t.dropFirst(6)
    let parts = rest.split(separator: "/")
    guard parts.count == 2, let total = Int(parts[1]) else { return nil }
    let se = parts[0].split(separator: "-")
    guard se.count == 2, let start = Int(se[0]) else { return nil }
    return (start, total)
  }

  /// `bytes */786528` → 786528.
  static func parseUnsatisfiedRange(_ s: String) -> Int? {
    let t = s.trimmingCharacters(in: .whitespaces)
    guard t.hasPrefix("bytes */") else { return nil }
    return Int(t.dropFirst(8))
  }
}
