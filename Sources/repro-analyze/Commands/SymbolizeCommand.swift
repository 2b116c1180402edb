import ArgumentParser
import Forensics
import Foundation
import Ingest

#if canImport(Glibc)
  import Glibc
#endif

/// `repro-analyze symbolize`: add file:line and inline frames to a log, or resolve addresses.
struct SymbolizeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "symbolize",
    abstract: "Add file:line and inlined frames to a log's stack traces, or resolve addresses.",
    discussion: """
      Log mode annotates call-trace frames, RIP: lines, lockdep "at:" sites and
      ftrace "=>" entries; other lines pass through unchanged:
        repro-analyze symbolize --vmlinux vmlinux --modules mods/ serial.log
      Address mode prints llvm-symbolizer's format (JSON Lines with --json):
        repro-analyze symbolize --vmlinux vmlinux --addrs schedule+0x3e
      """)

  @OptionGroup var symbols: SymbolOptions

  @Flag(name: .long, help: "Resolve addresses (arguments, or stdin one per line) instead of a log.")
  var addrs = false

  @Flag(name: .long, help: "With --addrs: print JSON Lines {address, frames: [...]}.")
  var json = false

  @Flag(name: .customLong("force-vmlinux"), help: "Symbolize even when the log's banner or frame sizes do not match the vmlinux.")
  var forceVmlinux = false

  @Flag(name: .customLong("build-index"), help: "Decode all of the vmlinux's DWARF now and write the warm-start index.")
  var buildIndex = false

  @Argument(help: "The log (or - for stdin); with --addrs, the addresses.")
  var inputs: [String] = []

  func validate() throws {
    guard symbols.vmlinux != nil else { throw ValidationError("--vmlinux PATH is required") }
    if json && !addrs { throw ValidationError("--json applies to --addrs mode") }
    if !addrs && !buildIndex && inputs.count > 1 {
      throw ValidationError("give one log (or - for stdin)")
    }
  }

  func run() throws {
    let kaslr: UInt64? = symbols.kaslrOffset.map { text in
      var t = Substring(text)
      if t.hasPrefix("0x") || t.hasPrefix("0X") { t = t.dropFirst(2) }
      guard let v = UInt64(t, radix: 16) else { fail(SymbolizeError.badKASLROffset(text: text)) }
      return v
    }
    let symbolizer = runOrFail {
      try Symbolizer(
        vmlinux: symbols.vmlinux!, moduleDirectories: symbols.modules, kaslrOffset: kaslr,
        useCache: !symbols.noCache)
    }
    if buildIndex {
      let note = runOrFail { try symbolizer.buildCompleteIndex() }
      if let note { fail("cannot write the index: \(note)") }
      Terminal.writeStderr("index written: \(symbolizer.indexPath ?? "-")\n")
      if inputs.isEmpty { return }
    }
    if addrs {
      runAddresses(symbolizer)
    } else {
      runLog(symbolizer, kaslr: kaslr)
    }
    if let note = symbolizer.persistIndex() {
      Terminal.writeStderr("repro-analyze: note: index not saved: \(note)\n")
    }
  }

  private func runAddresses(_ symbolizer: Symbolizer) {
    let out = OutputBuffer()
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    func answer(_ text: String) {
      guard let q = AddressQuery.parse(text) else {
        Terminal.writeStderr("repro-analyze: warning: \(SymbolizeError.badAddress(text: text))\n")
        if json {
          out.append("{\"address\":null,\"error\":\"cannot parse\",\"frames\":[],\"input\":")
          out.append(jsonString(text) + "}\n")
        } else {
          out.append("??\n??:0:0\n\n")
        }
        return
      }
      let frames = symbolizer.symbolize(q)
      if json {
        let address: String
        switch q {
        case .address(let a): address = "0x" + String(a, radix: 16)
        case .symbol: address = text.trimmingCharacters(in: .whitespaces)
        }
        let record = AddressRecord(address: address, frames: frames)
        if let data = try? encoder.encode(record) {
          out.append(data)
          out.append("\n")
        }
      } else {
        for f in frames {
          out.append(f.function)
          out.append("\n")
          if let file = f.file {
            out.append(file + ":" + String(f.line) + ":" + String(f.column) + "\n")
          } else {
            out.append("??:0:0\n")
          }
        }
        out.append("\n")
      }
    }
    var texts: [String] = inputs
    if inputs.isEmpty {
      while let line = readLine(strippingNewline: true) {
        if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
        texts.append(line)
      }
    }
    symbolizer.prefetch(texts.compactMap { AddressQuery.parse($0) })
    for t in texts { answer(t) }
    out.flush()
  }

  private func runLog(_ symbolizer: Symbolizer, kaslr: UInt64?) {
    let path = inputs.first ?? "-"
    let data: Data
    if path == "-" {
      data = FileHandle.standardInput.readDataToEndOfFile()
    } else {
      var isDir: ObjCBool = false
      guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
        fail("'\(path)': no such file")
      }
      if isDir.boolValue { fail("'\(path)': is a directory, expected a log file") }
      guard let d = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else {
        fail("'\(path)': cannot read")
      }
      if d.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) {
        // .xz: decompressed through Ingest's streaming reader (line terminators become \n).
        var joined = Data()
        runOrFail {
          let src = try LogSource.open(path)
          try src.forEachLine { line in
            joined.append(contentsOf: line.bytes)
            joined.append(0x0A)
          }
        }
        data = joined
      } else {
        data = d
      }
    }
    let rewriter = LogSymbolizer(symbolizer: symbolizer)
    rewriter.isForced = forceVmlinux
    rewriter.logName = path
    let out = OutputBuffer()
    data.withUnsafeBytes { raw in
      let log = raw.bindMemory(to: UInt8.self)
      _ = runOrFail { try rewriter.prepare(log, explicitOffset: kaslr) }
      rewriter.rewrite(log) { chunk in out.append(chunk) }
    }
    out.flush()
    var summary = "symbolized \(rewriter.framesSymbolized) frames"
    if rewriter.framesUnresolved > 0 {
      let at = rewriter.unresolvedLines.map(String.init).joined(separator: ", ")
      summary += ", \(rewriter.framesUnresolved) unresolved (line \(at)\(rewriter.framesUnresolved > 5 ? ", …" : ""))"
    }
    if let src = rewriter.kaslrSource {
      summary += "; KASLR offset 0x\(String(symbolizer.kaslrOffset, radix: 16)) (\(src))"
    }
    if symbolizer.sizeMismatches > 0 {
      summary += "; warning: \(symbolizer.sizeMismatches) of \(symbolizer.sizeChecks) frames have a size"
        + " the vmlinux does not have (first: \(symbolizer.firstSizeMismatch ?? "?")) - wrong vmlinux?"
    }
    let missing = symbolizer.unresolvedModules
    if !missing.isEmpty {
      summary += "; no debug info for module(s) \(missing.joined(separator: ", ")) (pass --modules DIR)"
    }
    Terminal.writeStderr("repro-analyze: \(summary)\n")
  }
}

private struct AddressRecord: Encodable {
  var address: String
  var frames: [SymbolizedFrame]
}

private func jsonString(_ s: String) -> String {
  guard let d = try? JSONEncoder().encode(s) else { return "\"\"" }
  return String(decoding: d, as: UTF8.self)
}

/// Buffers stdout writes into large chunks (one write per 64 KiB).
private final class OutputBuffer {
  private var bytes: [UInt8] = []

  init() { bytes.reserveCapacity(1 << 16) }

  func append(_ s: String) {
    var s = s
    s.withUTF8 { bytes.append(contentsOf: $0) }
    if bytes.count >= 1 << 16 { flush() }
  }

  func append(_ d: Data) {
    bytes.append(contentsOf: d)
    if bytes.count >= 1 << 16 { flush() }
  }

  func append(_ b: [UInt8]) {
    bytes.append(contentsOf: b)
    if bytes.count >= 1 << 16 { flush() }
  }

  func flush() {
    var done = 0
    bytes.withUnsafeBytes { raw in
      while done < raw.count {
        let n = write(1, raw.baseAddress! + done, raw.count - done)
        if n <= 0 { break }
        done += n
      }
    }
    bytes.removeAll(keepingCapacity: true)
  }
}
