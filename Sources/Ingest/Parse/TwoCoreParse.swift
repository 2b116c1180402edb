import CSupport
#if canImport(Glibc)
  import Glibc
#endif
import Dispatch
import Synchronization

/// Parses one large mapped log on two cores with the same result as one parser reading it
/// start to end.
///
/// The second parser (the *tail*) starts at the first line after 55 % of the file with empty
/// state, on another thread. At first it may misread the lines of whatever report or
/// dump was open there, so it records *sync points*: lines after which it was quiescent
/// (`EventParser.isQuiescent`), with the events and totals it had then. The first parser (the
/// *head*) reads up to that line, then on until a sync point after which it is quiescent too:
/// from there the two parsers are in the same state and see the same lines, so the tail's work
/// after that point is exactly what the head would have done. The head stops there and takes
/// the tail's events and totals after the point. When no common point turns up within the
/// tail's first `syncWindow` lines, the tail is cancelled and the head reads on alone (same
/// result, no speed-up).
///
/// Events the tail emits during its sync window are kept in memory (bounded by the window);
/// later ones go to `tailSink` on the tail's thread, which must not touch the head's state.
public final class TwoCoreParse: @unchecked Sendable {
  // SAFETY: the tail thread owns `tail`, `early`, `syncPoints` and calls `tailSink` until it
  // signals `earlyDone` / `done`; the head reads `early` and `syncPoints` only after
  // `earlyDone`, and the tail's parser only after `done`. `cancelled` is atomic.

  public struct SyncPoint: Sendable {
    public let line: Int
    let eventCount: Int
    let counts: EventParser.Counts
    /// The tail's JSON Lines output offset (`EventParser.jsonLines`) after the line: its
    /// output from there on continues the head's.
    public let outputOffset: Int
  }

  /// Lines the tail reads while recording sync points.
  public static let syncWindow = 20_000
  /// Files smaller than this are read by one parser (the thread is not worth it).
  public static var minimumBytes: Int {
    if let v = getenv("REPRO_ANALYZE_SPLIT_MIN_BYTES"), let n = Int(String(cString: v)) { return n }
    return 64 << 20
  }

  let source: LogSource
  /// Byte offset of the tail's first line.
  public let splitOffset: Int
  public let tail: EventParser
  private let tailSink: (Event) -> Void
  private var early: [Event] = []
  private var inEarly = true
  private(set) var syncPoints: [SyncPoint] = []
  private let cancelled = Atomic<Bool>(false)
  /// Set (release) by the tail's thread once it has finished or failed.
  private let tailFinished = Atomic<Bool>(false)
  private var failure: (any Error)?
  private let earlyDone = DispatchSemaphore(value: 0)
  private let done = DispatchSemaphore(value: 0)

  /// The offset where a tail would start (the first line after `target`, by default
  /// `headPercent` % into the file), or nil when the source is not worth splitting.
  public static func splitPoint(_ source: LogSource, near target: Int? = nil, headPercent: Int = 55, minimumBytes: Int = minimumBytes) -> Int? {
    guard let file = source.mappedFile, file.byteCount >= max(minimumBytes, 2), sysconf(Int32(_SC_NPROCESSORS_ONLN)) > 1 else { return nil }
    return file.withBytes { buf -> Int? in
      let percent = getenv("REPRO_ANALYZE_SPLIT_PERCENT").flatMap { Int(String(cString: $0)) }.map { min(max($0, 1), 99) } ?? headPercent
      guard let nl = buf.find(byte: 0x0A, from: max(0, target ?? buf.count / 100 * percent)), nl + 1 < buf.count else { return nil }
      return nl + 1
    }
  }

  /// `makeTail` builds the tail's parser around the sink it is given (same rules, file and
  /// mode as the head).
  public init(source: LogSource, splitOffset: Int, tailSink: @escaping (Event) -> Void, makeTail: (@escaping (Event) -> Void) -> EventParser) {
    self.source = source
    self.splitOffset = splitOffset
    self.tailSink = tailSink
    var route: ((Event) -> Void)?
    self.tail = makeTail { route?($0) }
    route = { [unowned self] e in
      if self.inEarly { self.early.append(e) } else { self.tailSink(e) }
    }
  }

  /// Starts the tail on another thread.
  public func start() {
    DispatchQueue.global(qos: .userInitiated).async { [self] in
      do {
        try runTail()
      } catch {
        failure = error
      }
      if inEarly {
        inEarly = false
        earlyDone.signal()
      }
      tailFinished.store(true, ordering: .releasing)
      done.signal()
    }
  }

  private func runTail() throws {
    // Line numbers are absolute: count the newlines before the split first.
    guard let file = source.mappedFile else { return }
    let firstLine = Self.countLines(file, upTo: splitOffset) + 1
    var checked = 0
    let tailRef = Unmanaged.passUnretained(tail)  // owned by self for the whole read
    _ = try source.forEachLine(from: splitOffset, to: source.byteCount ?? 0, firstLine: firstLine) { line in
      // (Through the unmanaged reference: no retain/release pair per line.)
      let l = copy line
      tailRef._withUnsafeGuaranteedRef { $0.consume(l) }
      if inEarly {
        if tail.isQuiescent {
          syncPoints.append(SyncPoint(line: line.number, eventCount: early.count, counts: tail.counts, outputOffset: tail.jsonLines?.offset ?? 0))
        }
        if line.number - firstLine >= Self.syncWindow {
          inEarly = false
          earlyDone.signal()
        }
      }
      checked += 1
      if checked & 0xFFFF == 0, cancelled.load(ordering: .relaxed) { return false }
      return true
    }
    if !cancelled.load(ordering: .relaxed) { tail.finish() }
  }

  /// Newlines in the mapping before `end`, walked in windows that are populated in one call and
  /// dropped from the resident set afterwards (a pread copy was 3× slower on this VM).
  static func countLines(_ file: MappedFile, upTo end: Int) -> Int {
    file.withBytes { buf -> Int in
      guard let base = buf.baseAddress else { return 0 }
      let window = 4 << 20
      var pos = 0
      var lines = 0
      while pos < end {
        let stop = min(end, pos + window)
        file.populate(from: pos, to: stop)
        lines += countNewlines(UnsafeRawPointer(base + pos), stop - pos)
        file.release(from: pos, to: stop)
        pos = stop
      }
      return lines
    }
  }

  /// Newlines in `p[0..<n]`: sixteen bytes per step in SSE2 (`ra_count_newlines`; the 8-byte
  /// word count it replaced took ~1 instruction a byte, on the tail's critical path).
  static func countNewlines(_ p: UnsafeRawPointer, _ n: Int) -> Int {
    ra_count_newlines(p.assumingMemoryBound(to: UInt8.self), n)
  }

  /// Called by the head once it has consumed every line before `splitOffset`: the sync points
  /// to look for (empty when the tail failed).
  public func waitForSyncPoints() -> [SyncPoint] {
    earlyDone.wait()
    return failure == nil ? syncPoints : []
  }

  /// True once the tail has finished (or failed): `join` will not wait.
  public var isTailFinished: Bool { tailFinished.load(ordering: .acquiring) }

  /// The head found no common point: stop the tail and forget its work.
  public func cancel() {
    cancelled.store(true, ordering: .relaxed)
    done.wait()
  }

  /// The head stopped after `point` (both quiescent there, the head finished): waits for the
  /// tail, hands the head its totals after the point, and returns the tail's events from the
  /// sync window after the point, for the head's sink (`EventParser.emit`), in order. Events after the window went
  /// to `tailSink` already.
  public func join(head: EventParser, at point: SyncPoint) throws -> ArraySlice<Event> {
    done.wait()
    if let failure { throw failure }
    head.absorb(tail, since: point.counts)
    return early[point.eventCount...]
  }
}

extension TwoCoreParse {
  /// Reads `source` into `head`, on two cores when the source is
  /// a large mapped file. `eligible` is asked when the head reaches the middle (e.g. a summary
  /// splits only once the head has switched to count-only, as the tail runs that way).
  /// `makeTail` builds the tail's parser around the sink it is given; events the tail emits
  /// after its sync window reach `tailSink` on the tail's thread. Returns the sync point where
  /// the head stopped when the tail's work was used (nil when one parser read it all): the
  /// caller then appends what its `tailSink` gathered after the head's output, and in JSON
  /// Lines mode the tail's output from the point's `outputOffset`. `head` is finished either way.
  /// `headPercent`: where the tail starts, as a share of the file; a summary's head has more to
  /// do (it starts the process, loads the title rules, decodes and titles the reports the
  /// summary keeps), measured best at 55 on the bench log; with `--jsonl` the head copies the
  /// tail's spooled output while the tail finishes, and the tail (which also counts the lines
  /// before it) was the later one at 50: measured best at 45.
  /// `whileTailRuns` is called on the head's thread once the head is finished and the tail's
  /// work will be used, before waiting for the tail (whose progress it may poll).
  @discardableResult
  public static func read(
    _ source: LogSource, head: EventParser, split allowed: Bool = true, progress: ((Int) -> Void)? = nil,
    eligible: () -> Bool, tailSink: @escaping (Event) -> Void,
    makeTail: (@escaping (Event) -> Void) -> EventParser, minimumBytes: Int = minimumBytes, splitNear: Int? = nil, headPercent: Int = 55,
    whileTailRuns: ((SyncPoint, _ isTailFinished: () -> Bool) throws -> Void)? = nil
  ) throws -> SyncPoint? {
    // The caller keeps `head` alive for the whole call: consuming through an unmanaged
    // reference spares the line closures a retain/release pair per line (~2 % of --jsonl's time).
    let headRef = Unmanaged.passUnretained(head)
    func consume(_ line: borrowing Line) {
      let l = copy line
      headRef._withUnsafeGuaranteedRef { $0.consume(l) }
    }
    guard allowed, let split = splitPoint(source, near: splitNear, headPercent: headPercent, minimumBytes: minimumBytes), let end = source.byteCount else {
      try source.forEachLine(progress: progress) { consume($0) }
      head.finish()
      return nil
    }
    let two = TwoCoreParse(source: source, splitOffset: split, tailSink: tailSink, makeTail: makeTail)
    two.start()
    var at = try source.forEachLine(from: 0, to: split, firstLine: 1, progress: progress) {
      consume($0)
      return true
    }
    let points = two.waitForSyncPoints()
    var found: SyncPoint?
    if eligible(), !points.isEmpty {
      var j = 0
      at = try source.forEachLine(from: at.offset, to: end, firstLine: at.line, progress: progress) { l in
        consume(l)
        while j < points.count && points[j].line < l.number { j += 1 }
        if j == points.count { return false }  // past the tail's window: no common point
        if points[j].line == l.number, head.isQuiescent {
          found = points[j]
          return false
        }
        return true
      }
    }
    guard let found else {
      two.cancel()
      _ = try source.forEachLine(from: at.offset, to: end, firstLine: at.line, progress: progress) {
        consume($0)
        return true
      }
      head.finish()
      return nil
    }
    head.finish()
    // The head's output is complete: the caller may start on the tail's (e.g. copy what it has
    // spooled so far) while the tail still runs, instead of after it.
    try whileTailRuns?(found) { two.isTailFinished }
    // The tail's events from after the point up to the end of its window continue the head's.
    for e in try two.join(head: head, at: found) { head.emit(e) }
    progress?(end)
    return found
  }
}

