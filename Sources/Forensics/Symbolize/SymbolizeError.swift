/// Errors of symbolization. Each message names the file and says what to do.
public enum SymbolizeError: Error, CustomStringConvertible, Sendable {
  case cannotOpen(path: String, reason: String)
  case notELF(path: String)
  case noDebugInfo(path: String)
  case libdw(function: String, message: String, path: String)
  /// The log's `Linux version` banner differs from the one built into the vmlinux.
  case bannerMismatch(vmlinux: String, log: String, logBanner: String, vmlinuxBanner: String, logLine: Int)
  /// Most `func+off/size` frames did not fit the vmlinux's symbols.
  case sizeMismatch(vmlinux: String, log: String, mismatched: Int, checked: Int, example: String)
  case badAddress(text: String)
  case badKASLROffset(text: String)
  case moduleDirectory(path: String, reason: String)

  public var description: String {
    switch self {
    case .cannotOpen(let path, let reason):
      "'\(path)': cannot open: \(reason)\n  hint: check the --vmlinux / --modules path"
    case .notELF(let path):
      "'\(path)': not an ELF file\n  hint: pass the uncompressed vmlinux (not bzImage or vmlinux.xz)"
    case .noDebugInfo(let path):
      "'\(path)': no DWARF (.debug_info missing)\n  hint: pass a vmlinux built with CONFIG_DEBUG_INFO"
    case .libdw(let function, let message, let path):
      "'\(path)': \(function) failed: \(message)"
    case .bannerMismatch(let vmlinux, let log, let logBanner, let vmlinuxBanner, let logLine):
      """
      '\(vmlinux)' does not match the kernel of '\(log)': line \(logLine) says
        \(logBanner)
      but the vmlinux was built as
        \(vmlinuxBanner)
        hint: pass the vmlinux of the kernel that produced the log (or --force-vmlinux to override)
      """
    case .sizeMismatch(let vmlinux, let log, let mismatched, let checked, let example):
      """
      '\(vmlinux)' does not match the kernel of '\(log)': \(mismatched) of \(checked) frames have a \
      function size the vmlinux does not have (e.g. \(example))
        hint: pass the vmlinux of the kernel that produced the log (or --force-vmlinux to override)
      """
    case .badAddress(let text):
      "cannot parse address '\(text)': expected hex (with or without 0x), func+0xOFF or module:func+0xOFF"
    case .badKASLROffset(let text):
      "--kaslr-offset '\(text)': expected a hex number such as 0x2b000000"
    case .moduleDirectory(let path, let reason):
      "--modules '\(path)': \(reason)\n  hint: pass a directory that holds the modules' .ko files (with debug info)"
    }
  }
}
