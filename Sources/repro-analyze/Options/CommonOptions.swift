import ArgumentParser

/// `--rules DIR`: where the rule files live (default: found next to the binary or checkout).
struct RulesOptions: ParsableArguments {
  @Option(name: .long, help: "Directory with the rule files (default: the installed rules/).")
  var rules: String?
}

/// `--vmlinux PATH` and `--modules DIR` for commands that can symbolize.
struct SymbolOptions: ParsableArguments {
  @Option(name: .long, help: "vmlinux with DWARF debug info, to add file:line to frames.")
  var vmlinux: String?

  @Option(name: .long, help: "Directory with module .ko files (with debug info); repeatable.")
  var modules: [String] = []

  @Option(name: .customLong("kaslr-offset"), help: "KASLR offset in hex (default: from the log's Kernel Offset: line).")
  var kaslrOffset: String?

  @Flag(name: .customLong("no-cache"), help: "Do not read or write the symbolization index cache.")
  var noCache = false
}

/// `--json` / `--jsonl` output selection.
struct OutputOptions: ParsableArguments {
  @Flag(name: .long, help: "Print one JSON document on stdout.")
  var json = false

  @Flag(name: .long, help: "Stream JSON Lines on stdout.")
  var jsonl = false

  func validate() throws {
    if json && jsonl { throw ValidationError("--json and --jsonl are exclusive") }
  }
}

extension SymbolOptions {
  /// `--kaslr-offset` as a number (hex, with or without 0x).
  func parsedKASLROffset() throws -> UInt64? {
    guard let s = kaslrOffset else { return nil }
    let hex = s.hasPrefix("0x") || s.hasPrefix("0X") ? String(s.dropFirst(2)) : s
    guard let v = UInt64(hex, radix: 16) else {
      throw CLIError("--kaslr-offset '\(s)': not a hex number\n  hint: pass the value of the log's 'Kernel Offset:' line, e.g. 0x24e00000")
    }
    return v
  }
}
