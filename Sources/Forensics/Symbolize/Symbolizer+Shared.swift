import Ingest
import Synchronization

/// A `Symbolizer` behind a lock, for callers that need a `Sendable` closure (the titler's
/// `sourceResolver`, analyses running on several threads). One lookup at a time; answers are
/// memoized, so repeated frames cost a dictionary hit under the lock.
public final class SharedSymbolizer: Sendable {
  private let state: Mutex<Symbolizer>

  public init(_ symbolizer: sending Symbolizer) {
    state = Mutex(symbolizer)
  }

  /// Runs `body` with exclusive use of the symbolizer.
  public func withSymbolizer<R: Sendable>(_ body: (Symbolizer) throws -> R) rethrows -> R {
    try state.withLock { try body($0) }
  }

  /// The inline chain of a parsed frame (see `Symbolizer.symbolize(_:isReturnAddress:)`).
  public func symbolize(_ frame: Frame) -> [SymbolizedFrame]? {
    state.withLock { $0.symbolize(frame) }
  }

  /// `path/file.c:123` of the frame's own function (the outermost frame of its inline chain),
  /// path relative to the build root: the shape `Titler.sourceResolver` wants for guilty files.
  public func sourceLocation(_ frame: Frame) -> String? {
    state.withLock { s -> String? in
      guard let f = s.symbolize(frame)?.last, let file = s.displayPath(f) else { return nil }
      return file + ":" + String(f.line)
    }
  }

  /// A closure for `Titler.sourceResolver`.
  public var sourceResolver: @Sendable (Frame) -> String? {
    { [self] frame in self.sourceLocation(frame) }
  }
}
