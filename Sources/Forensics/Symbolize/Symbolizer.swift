import Foundation
import Ingest

/// One frame of a symbolized address: the function, its source position, and whether it was
/// inlined into the next frame. JSON keys: `function`, `file`, `line`, `column`, `inlined`.
public struct SymbolizedFrame: Sendable, Hashable, Codable {
  /// Function name (`??` when unknown).
  public var function: String
  /// Absolute source path as recorded in DWARF, nil when unknown.
  public var file: String?
  /// 0 when unknown.
  public var line: Int
  public var column: Int
  /// True for every frame but the outermost (the real, non-inlined function).
  public var isInlined: Bool
  /// `DW_AT_comp_dir` of the unit the frame came from (not in JSON): the root that
  /// `Symbolizer.displayPath` strips.
  public var compilationDirectory: String?

  public init(
    function: String, file: String?, line: Int, column: Int, isInlined: Bool,
    compilationDirectory: String? = nil
  ) {
    self.compilationDirectory = compilationDirectory
    self.function = function
    self.file = file
    self.line = line
    self.column = column
    self.isInlined = isInlined
  }

  enum CodingKeys: String, CodingKey {
    case function, file, line, column
    case isInlined = "inlined"
  }
}

/// Resolves kernel addresses and `func+0xOFF/0xSIZE [module]` frames to file:line and inline
/// chains, using a vmlinux with DWARF and optional module `.ko` files.
///
/// ```swift
/// let s = try Symbolizer(vmlinux: "vmlinux", moduleDirectories: ["mods"], kaslrOffset: nil)
/// let chain = s.symbolize(frame)            // [SymbolizedFrame], innermost first
/// let chain2 = s.symbolize(address: 0xffffffff8159ad40)
/// ```
///
/// Every answer is memoized per address. The first use of a vmlinux writes a warm-start index
/// under `$XDG_CACHE_HOME/repro-analyze/` (see `Symbolizer+Cache.swift`) unless `useCache` is
/// false. Not thread-safe: use one `Symbolizer` per thread.
public final class Symbolizer {
  public let vmlinuxPath: String
  /// Runtime address minus link address for vmlinux addresses (`Kernel Offset:`).
  public var kaslrOffset: UInt64
  let kernel: DebugImage
  private let moduleDirectories: [String]
  private var modules: [String: DebugImage] = [:]
  private var missingModules: Set<String> = []
  private var moduleFiles: [String: String]?
  let cache: IndexCache?

  /// Number of `func+off/size` frames checked against the symbol table, and how many had a
  /// SIZE no symbol of that name has (a wrong-vmlinux hint).
  public private(set) var sizeChecks = 0
  public private(set) var sizeMismatches = 0
  public private(set) var firstSizeMismatch: String?

  /// Opens `vmlinux` (loading the warm-start index when present and `useCache`).
  public init(
    vmlinux: String, moduleDirectories: [String] = [], kaslrOffset: UInt64? = nil,
    useCache: Bool = true, cacheDirectory: String? = nil
  ) throws {
    self.vmlinuxPath = vmlinux
    self.kaslrOffset = kaslrOffset ?? 0
    for dir in moduleDirectories {
      var isDir: ObjCBool = false
      guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
        throw SymbolizeError.moduleDirectory(path: dir, reason: "not a directory")
      }
    }
    self.moduleDirectories = moduleDirectories
    let cache = useCache ? IndexCache(directory: cacheDirectory) : nil
    self.cache = cache
    if let cache, let image = try cache.openImage(name: "vmlinux", path: vmlinux) {
      kernel = image
    } else {
      kernel = try DebugImage(name: "vmlinux", path: vmlinux)
    }
  }

  /// GNU build id of the vmlinux.
  public var buildID: String? { kernel.buildID }

  /// The vmlinux's `linux_banner` (`Linux version ...`), without the trailing newline.
  public lazy var banner: String? = {
    guard let sym = kernel.symbols.candidates(named: "linux_banner").first,
      let bytes = kernel.bytes(at: sym.address, count: 1024)
    else { return nil }
    let end = bytes.firstIndex { $0 == 0 || $0 == 0x0A } ?? bytes.count
    return String(decoding: bytes[..<end], as: UTF8.self)
  }()

  /// Symbolizes a runtime kernel address (KASLR offset applied). Addresses are taken as exact
  /// (like llvm-symbolizer); pass `address - 1` for return addresses.
  public func symbolize(address: UInt64) -> [SymbolizedFrame] {
    kernel.frames(at: address &- kaslrOffset)
  }

  /// Symbolizes a vmlinux link-time address.
  public func symbolize(linkAddress: UInt64) -> [SymbolizedFrame] {
    kernel.frames(at: linkAddress)
  }

  /// A frame location resolved to an image and an address in it.
  public struct Location: Sendable, Hashable {
    /// `vmlinux` or the module name.
    public var image: String
    /// Link-time address in the image (modules: libdwfl's layout of the `.ko`).
    public var address: UInt64
    /// False when the printed SIZE matched no symbol of that name.
    public var sizeMatched: Bool
  }

  /// Resolves `function+offset[/size] [module]` through the symbol tables.
  public func locate(function: String, offset: UInt64, size: UInt64?, module: String?) -> Location? {
    if let module {
      guard let image = moduleImage(module),
        let r = image.symbols.resolve(name: function, offset: offset, size: size)
      else { return nil }
      return Location(image: module, address: r.address, sizeMatched: r.sizeMatched)
    }
    guard let r = kernel.symbols.resolve(name: function, offset: offset, size: size) else {
      return nil
    }
    return Location(image: "vmlinux", address: r.address, sizeMatched: r.sizeMatched)
  }

  /// Symbolizes a resolved location. `isReturnAddress` looks up `address - 1` so a call site
  /// names the call, not the line after it (as syzkaller and the lab's references do).
  public func symbolize(_ location: Location, isReturnAddress: Bool) -> [SymbolizedFrame] {
    let a = isReturnAddress && location.address > 0 ? location.address - 1 : location.address
    if location.image == "vmlinux" { return kernel.frames(at: a) }
    return moduleImage(location.image)?.frames(at: a) ?? []
  }

  /// Symbolizes a parsed call-trace frame: through `func+off/size` when it has a name (KASLR
  /// and module load addresses do not matter then), else through its raw address. Nil when the
  /// frame cannot be resolved (unknown symbol, module without a `.ko`).
  public func symbolize(_ frame: Frame, isReturnAddress: Bool = true) -> [SymbolizedFrame]? {
    if let function = frame.function, let offset = frame.offset {
      guard let loc = locate(function: function, offset: offset, size: frame.size, module: frame.module)
      else { return nil }
      // Only vmlinux sizes are comparable: a module's kallsyms neighbours at run time are not
      // its neighbours in the .ko.
      if frame.size != nil && loc.image == "vmlinux" { noteSizeCheck(loc, frame) }
      var chain = symbolize(loc, isReturnAddress: isReturnAddress && offset > 0)
      // `func+0xSIZE/0xSIZE` (a `?` frame at a function's end) looks up the alignment padding
      // after the function, which neither DWARF nor the ELF size covers; the kernel named it.
      if let last = chain.indices.last, chain[last].function == "??" {
        chain[last].function = function
      }
      return chain
    }
    if let address = frame.address, frame.module == nil {
      let a = isReturnAddress ? address &- 1 : address
      return symbolize(address: a)
    }
    return nil
  }

  private func noteSizeCheck(_ loc: Location, _ frame: Frame) {
    sizeChecks += 1
    if !loc.sizeMatched {
      sizeMismatches += 1
      if firstSizeMismatch == nil { firstSizeMismatch = frame.kernelText }
    }
  }

  /// The `DebugImage` of module `name`, from `<name>.ko` in the module directories (also trying
  /// `-`/`_` spellings, as modprobe does). Nil when not found or without debug info.
  func moduleImage(_ name: String) -> DebugImage? {
    if let m = modules[name] { return m }
    if missingModules.contains(name) { return nil }
    let files = moduleFileMap()
    let keys = [name, name.replacingOccurrences(of: "-", with: "_"), name.replacingOccurrences(of: "_", with: "-")]
    for k in keys {
      guard let path = files[k] else { continue }
      if let image = try? DebugImage(name: name, path: path) {
        modules[name] = image
        return image
      }
    }
    missingModules.insert(name)
    return nil
  }

  /// Names of modules that were referenced but not found or not usable.
  public var unresolvedModules: [String] { missingModules.sorted() }

  private func moduleFileMap() -> [String: String] {
    if let moduleFiles { return moduleFiles }
    var map: [String: String] = [:]
    for dir in moduleDirectories {
      guard let walker = FileManager.default.enumerator(atPath: dir) else { continue }
      while let rel = walker.nextObject() as? String {
        guard rel.hasSuffix(".ko") else { continue }
        let base = String(rel.split(separator: "/").last ?? Substring(rel)).dropLast(3)
        if map[String(base)] == nil { map[String(base)] = dir + "/" + rel }
      }
    }
    moduleFiles = map
    return map
  }

  /// Source root of the vmlinux build (`DW_AT_comp_dir`), stripped from paths in log output.
  public var sourceRoot: String? { kernel.sourceRoot }

  /// Shortens an absolute DWARF path for log output: strips the build root of the vmlinux or
  /// of a loaded module (`DW_AT_comp_dir`) and `./`.
  public func displayPath(_ file: String) -> String { displayPath(file, compilationDirectory: nil) }

  /// The frame's file for log output, relative to its unit's build directory when inside it.
  public func displayPath(_ frame: SymbolizedFrame) -> String? {
    frame.file.map { displayPath($0, compilationDirectory: frame.compilationDirectory) }
  }

  private func displayPath(_ file: String, compilationDirectory: String?) -> String {
    var f = file
    let roots =
      [compilationDirectory, kernel.sourceRoot] + modules.keys.sorted().map { modules[$0]?.sourceRoot }
    for case let root? in roots where f.hasPrefix(root + "/") {
      f.removeFirst(root.count + 1)
      break
    }
    while f.hasPrefix("./") { f.removeFirst(2) }
    return f.replacingOccurrences(of: "/./", with: "/")
  }
}
