/// One call-trace frame as printed by the kernel (`%pB`/`%pS`), possibly already symbolized.
///
/// Forms handled: ` func+0x1a/0x30`, ` ? func+0x1a/0x30` (unreliable), ` func+0x1a/0x30 [mod]`,
/// ` func+0x1a/0x30 kernel/x.c:12` (syz-symbolize), ` func kernel/x.c:12 [inline]`,
/// ` [<ffffffff81234567>] func+0x..` (pre-4.14 x86) and bare raw addresses.
public struct Frame: Sendable, Hashable, Codable {
  /// Function name, or nil for a raw address the kernel could not name.
  public var function: String?
  public var offset: UInt64?
  public var size: UInt64?
  /// Module name from a trailing `[mod]` or `[mod buildid]`.
  public var module: String?
  /// Runtime address from `[<ffffffff...>]`, when printed.
  public var address: UInt64?
  /// `?` frames were found by stack scanning, not by the unwinder.
  public var isReliable: Bool
  /// `[inline]` frames come from symbolization and have no offset.
  public var isInline: Bool
  /// `file:line` printed after the frame by syz-symbolize / decode_stacktrace.sh, if any.
  public var source: String?
  /// The execution context the frame was printed in: task, irq, softirq, nmi, …
  public var context: StackContext
  /// 1-based line number in the input.
  public var line: Int

  public init(
    function: String?, offset: UInt64? = nil, size: UInt64? = nil, module: String? = nil,
    address: UInt64? = nil, isReliable: Bool = true, isInline: Bool = false,
    source: String? = nil, context: StackContext = .task, line: Int = 0
  ) {
    self.function = function
    self.offset = offset
    self.size = size
    self.module = module
    self.address = address
    self.isReliable = isReliable
    self.isInline = isInline
    self.source = source
    self.context = context
    self.line = line
  }

  /// `func+0xOFF/0xSIZE [mod]` as the kernel prints it (without source).
  public var kernelText: String {
    var s = function ?? (address.map { "0x" + String($0, radix: 16) } ?? "?")
    if let offset, let size {
      s += "+0x" + String(offset, radix: 16) + "/0x" + String(size, radix: 16)
    } else if let offset {
      s += "+0x" + String(offset, radix: 16)
    }
    if let module { s += " [\(module)]" }
    return s
  }
}

extension Frame {
  // Defaults (reliable, not inline, task context) are omitted from JSON: frames are most of a
  // report's bytes, and `--jsonl` output size bounds its speed.
  private enum CodingKeys: String, CodingKey {
    case function, offset, size, module, address, isReliable, isInline, source, context, line
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    function = try c.decodeIfPresent(String.self, forKey: .function)
    offset = try c.decodeIfPresent(UInt64.self, forKey: .offset)
    size = try c.decodeIfPresent(UInt64.self, forKey: .size)
    module = try c.decodeIfPresent(String.self, forKey: .module)
    address = try KernelAddress.decode(c, .address)
    isReliable = try c.decodeIfPresent(Bool.self, forKey: .isReliable) ?? true
    isInline = try c.decodeIfPresent(Bool.self, forKey: .isInline) ?? false
    source = try c.decodeIfPresent(String.self, forKey: .source)
    context = try c.decodeIfPresent(StackContext.self, forKey: .context) ?? .task
    line = try c.decode(Int.self, forKey: .line)
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encodeIfPresent(function, forKey: .function)
    try c.encodeIfPresent(offset, forKey: .offset)
    try c.encodeIfPresent(size, forKey: .size)
    try c.encodeIfPresent(module, forKey: .module)
    try KernelAddress.encode(address, &c, .address)
    if !isReliable { try c.encode(false, forKey: .isReliable) }
    if isInline { try c.encode(true, forKey: .isInline) }
    try c.encodeIfPresent(source, forKey: .source)
    if context != .task { try c.encode(context, forKey: .context) }
    try c.encode(line, forKey: .line)
  }
}

/// Stack markers printed by x86 `show_trace_log_lvl()`: `<TASK>`, `<IRQ>`, `<NMI>`, `<SOFTIRQ>`,
/// exception stacks such as `<#DF>`.
public enum StackContext: String, Sendable, Hashable, Codable {
  case task, irq, softirq, nmi, exception, unknown
}

/// A `RIP: 0010:func+0x../0x..` line (or the user-space `RIP: 0033:0x7f...`).
public struct InstructionPointer: Sendable, Hashable, Codable {
  /// Code segment selector: 0010 = kernel, 0033 = 64-bit user, 0023 = compat user.
  public var segment: String
  public var frame: Frame?
  public var isUserSpace: Bool { segment != "0010" }

  public init(segment: String, frame: Frame?) {
    self.segment = segment
    self.frame = frame
  }
}

/// Kernel addresses in JSON are strings of 16 hex digits (see `JSONBuffer.putAddress`: a JSON
/// number loses the low digits in jq and JavaScript). Numbers are still read, for JSON written
/// by earlier versions.
public enum KernelAddress {
  /// `ffffffff8100b2d4`: 16 lower-case digits, as x86-64 prints `%px`.
  public static func string(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, 16 - s.utf8.count)) + s
  }

  /// Parses `ffffffff8100b2d4` or `0xffffffff8100b2d4`.
  public static func parse(_ s: String) -> UInt64? {
    let digits = s.hasPrefix("0x") || s.hasPrefix("0X") ? s.dropFirst(2) : Substring(s)
    guard !digits.isEmpty, digits.utf8.count <= 16 else { return nil }
    return UInt64(digits, radix: 16)
  }

  static func encode<K: CodingKey>(_ v: UInt64?, _ c: inout KeyedEncodingContainer<K>, _ key: K) throws {
    if let v { try c.encode(string(v), forKey: key) }
  }

  static func decode<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K) throws -> UInt64? {
    guard c.contains(key), try !c.decodeNil(forKey: key) else { return nil }
    if let n = try? c.decode(UInt64.self, forKey: key) { return n }
    let s = try c.decode(String.self, forKey: key)
    guard let v = parse(s) else {
      throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "'\(s)' is not a hex address")
    }
    return v
  }
}
