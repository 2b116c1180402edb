#if canImport(Glibc)
  import Glibc
#endif
import Dispatch
import Synchronization

/// Runs a decompressor on its own thread, a few chunks ahead of the reader: `.xz` decoding and
/// parsing then overlap on two cores instead of taking turns on one (liblzma is the bound for
/// `.xz` input; with the parse hidden behind it, reading a compressed log costs what `xz -dc`
/// costs). Memory: `slots` chunks of `chunkBytes`.
///
/// The decoder is only ever called on the prefetch thread. Its error reaches the reader, in
/// order, at the point of the stream where it happened.
final class Prefetcher: @unchecked Sendable {
  // SAFETY: chunk `i` is written by the producer only between `free.wait()` and
  // `filled.signal()`, and read by the consumer only between `filled.wait()` and
  // `free.signal()`; the semaphores order those accesses. `cancelled` is atomic.
  typealias Read = (UnsafeMutablePointer<UInt8>, Int) throws(IngestError) -> Int

  private static let slots = 4
  private static let chunkBytes = 1 << 20
  private let chunks: [UnsafeMutablePointer<UInt8>]
  /// Bytes in each chunk; 0 at the end of the data, -1 when the decoder failed (`failure`).
  private var lengths: [Int]
  private var failure: IngestError?
  private let filled = DispatchSemaphore(value: 0)
  private let free: DispatchSemaphore
  private let stopped = DispatchSemaphore(value: 0)
  private let cancelled = Atomic<Bool>(false)
  // Consumer side.
  private var current = -1
  private var position = 0
  private var consumed = 0
  private var atEnd = false

  private init() {
    chunks = (0..<Self.slots).map { _ in .allocate(capacity: Self.chunkBytes) }
    lengths = Array(repeating: 0, count: Self.slots)
    // Created at 0 and raised: libdispatch traps when a semaphore is freed below its initial
    // value, which `free` may well be when the reader stops early.
    free = DispatchSemaphore(value: 0)
    for _ in 0..<Self.slots { free.signal() }
  }

  /// Starts prefetching `read`; nil when no thread can be started (the caller then reads
  /// directly).
  static func start(_ read: @escaping Read) -> Prefetcher? {
    let p = Prefetcher()
    // Not a strong reference: the reader's release must run `deinit`, which cancels the
    // producer and waits for it, so the memory outlives every use by the producer.
    guard startThread({ [unowned(unsafe) p] in p.produce(read) }) else {
      p.stopped.signal()  // nothing to wait for in deinit
      return nil
    }
    return p
  }

  /// A plain detached pthread: the producer blocks on semaphores, which must not happen on
  /// Dispatch's shared pool threads.
  private static func startThread(_ body: @escaping () -> Void) -> Bool {
    final class Box {
      let body: () -> Void
      init(_ body: @escaping () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Box(body))
    var tid = pthread_t()
    let rc = pthread_create(&tid, nil, { arg in
      Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().body()
      return nil
    }, box.toOpaque())
    guard rc == 0 else {
      box.release()
      return false
    }
    pthread_detach(tid)
    return true
  }

  private func produce(_ read: Read) {
    var index = 0
    while true {
      free.wait()
      if cancelled.load(ordering: .relaxed) { break }
      let slot = index % Self.slots
      var n: Int
      do {
        n = try read(chunks[slot], Self.chunkBytes)
      } catch {
        failure = error
        n = -1
      }
      lengths[slot] = n
      index += 1
      filled.signal()
      if n <= 0 { break }
    }
    stopped.signal()
  }

  /// Copies up to `capacity` bytes of the stream into `out`; 0 at the end of the data.
  func read(into out: UnsafeMutablePointer<UInt8>, capacity: Int) throws(IngestError) -> Int {
    if atEnd { return 0 }
    if current < 0 {
      filled.wait()
      current = consumed % Self.slots
      position = 0
      let n = lengths[current]
      if n <= 0 {
        atEnd = true
        if n < 0, let failure { throw failure }
        return 0
      }
    }
    let n = min(capacity, lengths[current] - position)
    memcpy(out, chunks[current] + position, n)
    position += n
    if position == lengths[current] {
      current = -1
      consumed += 1
      free.signal()
    }
    return n
  }

  deinit {
    // Stop the producer (it may be waiting for a free chunk) and wait until it has let go.
    cancelled.store(true, ordering: .relaxed)
    free.signal()
    stopped.wait()
    for c in chunks { c.deallocate() }
  }
}
