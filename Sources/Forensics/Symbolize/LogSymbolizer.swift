/// Rewrites a console log the way the kernel's `decode_stacktrace.sh` / syzbot do: each frame
/// line gets ` file:line`, inlined callers are inserted above it (innermost first, marked
/// `[inline]`), and every other line is copied byte for byte.
///
/// Before rewriting, the whole log is scanned once for facts that must be known up front: the
/// `Linux version` banner (checked against the vmlinux), the `Kernel Offset:` line (printed at
/// the end, at panic time) and a KASLR offset implied by frames that print both a raw address
/// and `func+off`.
public final class LogSymbolizer {
  public let symbolizer: Symbolizer
  /// Skip the wrong-vmlinux checks.
  public var isForced = false
  /// The log's name for messages (path or `-`).
  public var logName = "the log"

  /// Counts for the summary on stderr.
  public private(set) var framesSymbolized = 0
  public private(set) var framesUnresolved = 0
  /// Line numbers of the first few unresolved frames (for the summary).
  public private(set) var unresolvedLines: [Int] = []
  public private(set) var kaslrSource: String?

  public init(symbolizer: Symbolizer) {
    self.symbolizer = symbolizer
  }

  /// Facts found by the pre-scan.
  public struct LogFacts: Sendable {
    public var banner: String?
    public var bannerLine = 0
    public var kernelOffset: UInt64?
    public var inferredOffset: UInt64?
  }

  /// Scans `log` for the banner, the KASLR offset and size checks; throws when the log was
  /// clearly not produced by this vmlinux (unless `isForced`).
  public func prepare(_ log: UnsafeBufferPointer<UInt8>, explicitOffset: UInt64?) throws -> LogFacts {
    var facts = LogFacts()
    var checked = 0
    var mismatched = 0
    var example: String? = nil
    // Link addresses of the named vmlinux frames, decoded up front on all cores (batch mode).
    var wanted: [UInt64] = []
    forEachLine(log) { line, number in
      let start = FrameLine.skipPrefix(line)
      // Anywhere in the line: boot lines often start with terminal escape sequences.
      if facts.banner == nil, let at = FrameLine.find(line, Self.bannerTag, from: 0, limit: line.count),
        at + Self.bannerTag.count < line.count,
        line[at + Self.bannerTag.count] >= 0x30 && line[at + Self.bannerTag.count] <= 0x39
      {
        var end = line.count
        while end > at && (line[end - 1] == 0x20 || line[end - 1] == 0x0D) { end -= 1 }
        facts.banner = String(decoding: UnsafeBufferPointer(rebasing: line[at..<end]), as: UTF8.self)
        facts.bannerLine = number
      }
      if facts.kernelOffset == nil, let at = FrameLine.find(line, Self.offsetTag, from: start, limit: start + 4) {
        var p = at + Self.offsetTag.count
        // `Kernel Offset: 0x2b000000 from 0x...` or `Kernel Offset: disabled` (whose "d" is a
        // hex digit, hence the required 0x).
        if p + 2 < line.count, line[p] == 0x30, line[p + 1] == 0x78, let v = FrameLine.parseHex(line, &p) {
          facts.kernelOffset = v
        } else if FrameLine.find(line, Array("disabled".utf8), from: at, limit: line.count) != nil {
          facts.kernelOffset = 0
        }
      }
      guard let fl = FrameLine.parse(line), let function = fl.frame.function,
        let offset = fl.frame.offset, fl.frame.module == nil
      else { return }
      let loc = symbolizer.locate(function: function, offset: offset, size: fl.frame.size, module: nil)
      if let loc, wanted.count < 100_000 {
        wanted.append(fl.isReturnAddress && offset > 0 ? loc.address - 1 : loc.address)
      }
      if fl.frame.size != nil && checked < 200 {
        if let loc {
          checked += 1
          if !loc.sizeMatched {
            mismatched += 1
            if example == nil { example = "line \(number): \(fl.frame.kernelText)" }
          }
        }
      }
      if facts.inferredOffset == nil, let raw = fl.frame.address, let loc {
        facts.inferredOffset = raw &- loc.address
      }
    }
    if !isForced {
      if let logBanner = facts.banner, let mine = symbolizer.banner, logBanner != mine {
        throw SymbolizeError.bannerMismatch(
          vmlinux: symbolizer.vmlinuxPath, log: logName, logBanner: logBanner, vmlinuxBanner: mine,
          logLine: facts.bannerLine)
      }
      if checked >= 3 && mismatched * 2 > checked {
        throw SymbolizeError.sizeMismatch(
          vmlinux: symbolizer.vmlinuxPath, log: logName, mismatched: mismatched, checked: checked,
          example: example ?? "?")
      }
    }
    symbolizer.prefetch(linkAddresses: wanted)
    if let explicitOffset {
      symbolizer.kaslrOffset = explicitOffset
      kaslrSource = "--kaslr-offset"
    } else if let o = facts.kernelOffset {
      symbolizer.kaslrOffset = o
      kaslrSource = "Kernel Offset: line"
    } else if let o = facts.inferredOffset {
      symbolizer.kaslrOffset = o
      kaslrSource = "inferred from a frame with address and symbol"
    }
    return facts
  }

  private static let bannerTag = Array("Linux version ".utf8)
  private static let offsetTag = Array("Kernel Offset: ".utf8)

  /// Writes the rewritten log through `emit` (called with chunks of output bytes).
  public func rewrite(_ log: UnsafeBufferPointer<UInt8>, emit: ([UInt8]) -> Void) {
    var out: [UInt8] = []
    out.reserveCapacity(1 << 16)
    var lineStart = 0
    var number = 0
    while lineStart < log.count {
      number += 1
      var end = lineStart
      while end < log.count && log[end] != 0x0A { end += 1 }
      let hasNewline = end < log.count
      // Keep a CR as part of the line terminator so it stays byte-identical.
      var contentEnd = end
      if contentEnd > lineStart && log[contentEnd - 1] == 0x0D { contentEnd -= 1 }
      let line = UnsafeBufferPointer(rebasing: log[lineStart..<contentEnd])
      let terminator = UnsafeBufferPointer(rebasing: log[contentEnd..<(hasNewline ? end + 1 : end)])
      if let fl = FrameLine.parse(line), !fl.isSymbolized, let chain = resolve(fl) {
        framesSymbolized += 1
        emitFrame(fl, chain: chain, line: line, terminator: terminator, into: &out)
      } else {
        if let fl = FrameLine.parse(line), !fl.isSymbolized {
          framesUnresolved += 1
          if unresolvedLines.count < 5 { unresolvedLines.append(number) }
        }
        out.append(contentsOf: line)
        out.append(contentsOf: terminator)
      }
      if out.count >= 1 << 16 {
        emit(out)
        out.removeAll(keepingCapacity: true)
      }
      lineStart = hasNewline ? end + 1 : end
    }
    if !out.isEmpty { emit(out) }
  }

  private func resolve(_ fl: FrameLine) -> [SymbolizedFrame]? {
    if fl.kind == .ftraceStack, let a = fl.frame.address {
      return symbolizer.symbolize(address: a &- 1)
    }
    guard let chain = symbolizer.symbolize(fl.frame, isReturnAddress: fl.isReturnAddress),
      chain.contains(where: { $0.file != nil })
    else { return nil }
    return chain
  }

  private func emitFrame(
    _ fl: FrameLine, chain: [SymbolizedFrame], line: UnsafeBufferPointer<UInt8>,
    terminator: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]
  ) {
    // Inline callers only for stack frames; a lockdep site keeps one line per lock.
    if fl.kind == .callTrace || fl.kind == .rip || fl.kind == .ftraceStack {
      let lead = UnsafeBufferPointer(rebasing: line[0..<fl.leadByteCount])
      for f in chain.dropLast() {
        out.append(contentsOf: lead)
        if fl.kind == .callTrace && !fl.frame.isReliable { out.append(contentsOf: [0x3F, 0x20]) }
        out.append(contentsOf: Array(f.function.utf8))
        out.append(0x20)
        out.append(contentsOf: Array(location(f).utf8))
        out.append(contentsOf: Array(" [inline]".utf8))
        out.append(contentsOf: terminator.isEmpty ? [0x0A] : Array(terminator))
      }
    }
    var end = line.count
    while end > 0 && (line[end - 1] == 0x20 || line[end - 1] == 0x09) { end -= 1 }
    out.append(contentsOf: UnsafeBufferPointer(rebasing: line[0..<end]))
    if let last = chain.last {
      out.append(0x20)
      out.append(contentsOf: Array(location(last).utf8))
    }
    out.append(contentsOf: terminator)
  }

  private func location(_ f: SymbolizedFrame) -> String {
    guard let file = symbolizer.displayPath(f) else { return "??:0" }
    return file + ":" + String(f.line)
  }

  private func forEachLine(_ log: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>, Int) -> Void) {
    var start = 0
    var number = 1
    while start < log.count {
      var end = start
      while end < log.count && log[end] != 0x0A { end += 1 }
      var contentEnd = end
      if contentEnd > start && log[contentEnd - 1] == 0x0D { contentEnd -= 1 }
      body(UnsafeBufferPointer(rebasing: log[start..<contentEnd]), number)
      number += 1
      start = end + 1
    }
  }
}
