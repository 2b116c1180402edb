import Foundation

#if canImport(FoundationNetworking)
  import FoundationNetworking
#endif

/// The status line and headers of an HTTP response (header names lower-cased).
public struct HTTPResponseHead: Sendable {
  public var status: Int
  public var headers: [String: String]
  public subscript(_ name: String) -> String? { headers[name.lowercased()] }
}

/// How one HTTP transfer ended.
enum HTTPOutcome {
  /// The server sent a complete response (any status); `bodyByteCount` bytes went to the sink.
  case completed(HTTPResponseHead, bodyByteCount: Int)
  /// The transfer broke (connection refused/reset/dropped, timeout, or the sink failed).
  /// `head` is set when headers arrived before the failure.
  case failed(HTTPResponseHead?, bodyByteCount: Int, reason: String, isSinkError: Bool)
}

/// Synchronous HTTP over FoundationNetworking's URLSession (libcurl underneath on Linux, so
/// https, redirects and proxies from the environment work as for curl). Bodies are streamed to a
/// caller-supplied sink; nothing is buffered whole except by callers that ask for it.
///
/// Threading: one transfer at a time per client; the delegate's callbacks run on the session's
/// serial queue while the calling thread waits on a semaphore.
final class HTTPClient: Sendable {
  /// Idle timeout: a transfer with no progress for this long fails (and may be resumed).
  let idleTimeout: Double
  let userAgent: String

  init(idleTimeout: Double = 60, userAgent: String = "repro-analyze/0.1 (+syzbot bundle fetcher)") {
    self.idleTimeout = idleTimeout
    self.userAgent = userAgent
  }

  /// Performs one request. `onHead` may veto the body (return false: the transfer is cancelled
  /// and reported as completed with 0 body bytes). `sink` receives body chunks; if it throws the
  /// transfer is cancelled and reported as a sink failure.
  func perform(
    url: URL, method: String = "GET", headers: [String: String] = [:],
    onHead: @escaping (HTTPResponseHead) -> Bool = { _ in true },
    sink: @escaping (Data) throws -> Void
  ) -> HTTPOutcome {
    var request = URLRequest(url: url)
    request.httpMethod = method
    request.cachePolicy = .reloadIgnoringLocalCacheData
    request.timeoutInterval = idleTimeout
    request.setValue(userAgent, forHTTPHeaderField: "User-Agent")
    // Ask for bytes as stored: a transparently gunzipped body would break Range arithmetic.
    request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
    for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }

    let config = URLSessionConfiguration.ephemeral
    config.urlCache = nil
    config.requestCachePolicy = .reloadIgnoringLocalCacheData
    config.timeoutIntervalForRequest = idleTimeout
    config.timeoutIntervalForResource = 7 * 24 * 3600
    config.httpMaximumConnectionsPerHost = 1
    let transfer = Transfer(onHead: onHead, sink: sink)
    let queue = OperationQueue()
    queue.maxConcurrentOperationCount = 1
    let session = URLSession(configuration: config, delegate: transfer, delegateQueue: queue)
    let task = session.dataTask(with: request)
    task.resume()
    transfer.done.wait()
    session.finishTasksAndInvalidate()
    return transfer.outcome()
  }

  /// GETs a small document whole (pages, text attachments), at most `limit` bytes.
  func fetch(url: URL, limit: Int = 64 << 20) -> (HTTPOutcome, [UInt8]) {
    let box = ByteBox()
    let outcome = perform(url: url) { data in
      guard box.bytes.count + data.count <= limit else {
        throw DriverError("\(url.absoluteString): response larger than \(limit) bytes")
      }
      box.bytes.append(contentsOf: data)
    }
    return (outcome, box.bytes)
  }
}

/// Accumulates a body; only touched from the session's serial delegate queue, then read after
/// the transfer finished (the semaphore orders the accesses).
private final class ByteBox: @unchecked Sendable {
  var bytes: [UInt8] = []
}

/// URLSession delegate for one transfer.
// SAFETY: mutable state is written only on the session's serial delegate queue and read by the
// caller after `done` was signalled, which orders the accesses.
private final class Transfer: NSObject, URLSessionDataDelegate, @unchecked Sendable {
  let onHead: (HTTPResponseHead) -> Bool
  let sink: (Data) throws -> Void
  let done = DispatchSemaphore(value: 0)
  var head: HTTPResponseHead?
  var bodyByteCount = 0
  var sinkError: Error?
  var vetoed = false
  var error: Error?

  init(onHead: @escaping (HTTPResponseHead) -> Bool, sink: @escaping (Data) throws -> Void) {
    self.onHead = onHead
    self.sink = sink
  }

  func urlSession(
    _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
  ) {
    var h = HTTPResponseHead(status: 0, headers: [:])
    if let http = response as? HTTPURLResponse {
      h.status = http.statusCode
      for (k, v) in http.allHeaderFields {
        if let k = k as? String, let v = v as? String { h.headers[k.lowercased()] = v }
      }
    }
    head = h
    if onHead(h) {
      completionHandler(.allow)
    } else {
      vetoed = true
      completionHandler(.cancel)
    }
  }

  func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
    guard sinkError == nil, !vetoed else { return }
    do {
      try sink(data)
      bodyByteCount += data.count
    } catch {
      sinkError = error
      dataTask.cancel()
    }
  }

  func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
    self.error = error
    done.signal()
  }

  func outcome() -> HTTPOutcome {
    if let sinkError {
      return .failed(head, bodyByteCount: bodyByteCount, reason: String(describing: sinkError), isSinkError: true)
    }
    if vetoed, let head { return .completed(head, bodyByteCount: 0) }
    if let error {
      let ns = error as NSError
      var reason = ns.localizedDescription
      if reason.isEmpty || reason.hasPrefix("The operation could not be completed") {
        reason = "\(ns.domain) code \(ns.code)"
      }
      return .failed(head, bodyByteCount: bodyByteCount, reason: reason, isSinkError: false)
    }
    guard let head else {
      return .failed(nil, bodyByteCount: bodyByteCount, reason: "no response", isSinkError: false)
    }
    return .completed(head, bodyByteCount: bodyByteCount)
  }
}
