/// Where an `EventParser` in JSON Lines mode writes (`analyze --jsonl`): one JSON object per
/// event and line, gathered in a buffer that is handed to `flush` whenever it passes 1 MiB (fewer,
/// larger writes), so memory stays flat. `offset` counts every byte written so far (flushed or not): the second
/// core's parser marks its sync points with it (see TwoCoreParse).
public final class JSONLinesOutput {
  public let buffer = JSONBuffer()
  public private(set) var flushedBytes = 0
  private let write: (UnsafeBufferPointer<UInt8>) -> Void

  public init(flush write: @escaping (UnsafeBufferPointer<UInt8>) -> Void) {
    self.write = write
  }

  /// Bytes of output so far, including those still buffered.
  public var offset: Int { flushedBytes + buffer.count }

  /// Writes one event as a line (for callers that hold events as values).
  public func write(_ event: Event) { write(event, frames: nil, registers: nil) }

  /// A report's line (the same bytes as `write(.report(r), …)`). `inout` only to use the
  /// report where it lies: a report state's property passed `borrowing` was copied first.
  func writeReport(_ r: inout CrashReport, frames: JSONBuffer?, registers: JSONBuffer?) {
    buffer.reportEvent(r, frames: frames, registers: registers)
    endLine()
  }

  /// A marker's line (the same bytes as `write(.marker(…))`), its text and value taken from the
  /// line they were matched in.
  func writeMarker(
    _ kind: MarkerKind, line b: UnsafeBufferPointer<UInt8>, value: Range<Int>?, file: JSONBuffer, number: Int, offset: Int,
    timestamp: Double?
  ) {
    buffer.markerEvent(
      kind: kind, file: EncodedString(json: file), line: number, offset: offset, text: LineText(b, 0..<b.count),
      timestamp: timestamp, value: value.map { LineText(b, $0) })
    endLine()
  }

  /// An ftrace record's line from its encoded parts: the head (up to the position), the
  /// ` => ` stack entries when there are any, and the tail (timestamp, vhost_lock fields).
  func writeFtrace(head: JSONBuffer, stack: JSONBuffer?, tail: JSONBuffer) {
    buffer.ftraceEvent {
      buffer.append(head)
      if let stack {
        buffer.ftraceStackKey()
        buffer.preEncodedArray(stack)
      }
      buffer.append(tail)
    }
    endLine()
  }

  /// `frames` / `registers`: a report's or task dump's lists, already encoded.
  func write(_ event: Event, frames: JSONBuffer?, registers: JSONBuffer?) {
    buffer.event(event, frames: frames, registers: registers)
    endLine()
  }

  /// Ends the current line; flushes when the buffer is full enough.
  @inline(__always) func endLine() {
    buffer.byte(0x0A)
    if buffer.count > 1 << 20 { flush() }
  }

  /// Hands everything buffered to `flush`.
  public func flush() {
    guard buffer.count > 0 else { return }
    buffer.withBytes(write)
    flushedBytes += buffer.count
    buffer.reset()
  }
}
