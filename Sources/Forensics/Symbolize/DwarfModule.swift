internal import CDW

#if canImport(Glibc)
  import Glibc
#endif

/// One ELF file (vmlinux or a `.ko`) opened through libdwfl: the only type that touches libdw
/// or libelf. It owns the `Dwfl` session (and through it the `Elf`/`Dwarf` handles) and frees
/// it in `deinit`; nothing it returns points into libdw memory.
///
/// `.ko` files are relocatable: `dwfl_report_offline` lays their sections out at addresses of
/// its own choosing and applies the DWARF relocations, so symbol values and DWARF addresses of a
/// module agree with each other (not with the kernel's load address).
///
/// All addresses it returns are file (link-time) addresses, the ones `nm` and llvm-symbolizer
/// use: libdwfl's load bias (non-zero for PIE executables reported offline) is removed.
///
/// Threading: libdw handles are not safe to share; use one `DwarfModule` per thread.
final class DwarfModule {
  let path: String
  private let callbacks: UnsafeMutablePointer<Dwfl_Callbacks>
  private let dwfl: OpaquePointer
  private let module: OpaquePointer
  private var dwarf: OpaquePointer?
  private let dwarfBias: UInt64 = 0
  private var dwarfLoaded = false

  /// Opens `path`. Fails with a message naming the file when it is missing, not ELF, or
  /// unreadable by libdwfl.
  init(path: String, name: String) throws {
    self.path = path
    var st = stat()
    guard stat(path, &st) == 0 else {
      throw SymbolizeError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
    }
    guard (st.st_mode & S_IFMT) == S_IFREG else {
      throw SymbolizeError.cannotOpen(path: path, reason: "not a regular file")
    }
    try Self.checkELFMagic(path)
    callbacks = .allocate(capacity: 1)
    // libdwfl keeps this pointer for the session's lifetime; freed in deinit after dwfl_end.
    callbacks.initialize(
      to: Dwfl_Callbacks(
        find_elf: dwfl_build_id_find_elf, find_debuginfo: dwfl_standard_find_debuginfo,
        section_address: dwfl_offline_section_address, debuginfo_path: nil))
    guard let d = dwfl_begin(callbacks) else {
      callbacks.deallocate()
      throw SymbolizeError.libdw(function: "dwfl_begin", message: Self.dwflMessage(), path: path)
    }
    dwfl = d
    dwfl_report_begin(d)
    guard let m = dwfl_report_offline(d, name, path, -1) else {
      let message = Self.dwflMessage()
      dwfl_end(d)
      callbacks.deallocate()
      throw SymbolizeError.libdw(function: "dwfl_report_offline", message: message, path: path)
    }
    module = m
    dwfl_report_end(d, nil, nil)
  }

  deinit {
    dwfl_end(dwfl)
    callbacks.deallocate()
  }

  private static func dwflMessage() -> String {
    guard let m = dwfl_errmsg(-1) else { return "unknown libdwfl error" }
    return String(cString: m)
  }

  private static func checkELFMagic(_ path: String) throws {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else {
      throw SymbolizeError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
    }
    defer { close(fd) }
    var magic = [UInt8](repeating: 0, count: 4)
    let n = read(fd, &magic, 4)
    guard n == 4, magic == [0x7F, 0x45, 0x4C, 0x46] else {
      throw SymbolizeError.notELF(path: path)
    }
  }

  /// The GNU build id as lowercase hex, when the file has one.
  var buildID: String? {
    var bits: UnsafePointer<UInt8>? = nil
    var vaddr: GElf_Addr = 0
    // SAFETY: `bits` points into the module's ELF data and is copied before returning.
    let n = dwfl_module_build_id(module, &bits, &vaddr)
    guard n > 0, let bits else { return nil }
    let hex: [UInt8] = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(Int(n) * 2)
    for i in 0..<Int(n) {
      out.append(hex[Int(bits[i] >> 4)])
      out.append(hex[Int(bits[i] & 0xF)])
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// The DWARF session, loaded on first use. Nil when the file has no debug info. DWARF
  /// addresses are file addresses already, so the bias libdwfl reports is not applied.
  private func loadDwarf() -> OpaquePointer? {
    if !dwarfLoaded {
      dwarfLoaded = true
      var bias: Dwarf_Addr = 0
      dwarf = dwfl_module_getdwarf(module, &bias)
    }
    return dwarf
  }

  /// libdwfl's load bias of the main file: symbol values it returns are file address + bias.
  private lazy var elfBias: UInt64 = {
    var bias: GElf_Addr = 0
    _ = dwfl_module_getelf(module, &bias)
    return bias
  }()

  var hasDebugInfo: Bool { loadDwarf() != nil }

  // MARK: - Symbols

  /// Every defined function, object and untyped symbol (the kinds llvm-symbolizer keeps), with
  /// addresses as libdwfl lays them out.
  func readSymbols() -> SymbolTable {
    var builder = SymbolTable.Builder()
    let count = dwfl_module_getsymtab(module)
    guard count > 0 else { return builder.build() }
    var sym = GElf_Sym()
    var addr: GElf_Addr = 0
    var shndx: GElf_Word = 0
    var elf: OpaquePointer? = nil
    var bias: Dwarf_Addr = 0
    for i in 1..<Int(count) {
      // SAFETY: the returned name points into the symbol string table, copied by `add`.
      guard let name = dwfl_module_getsym_info(module, Int32(i), &sym, &addr, &shndx, &elf, &bias)
      else { continue }
      let type = sym.st_info & 0xF
      if type == UInt8(STT_FILE) {
        builder.setFile(UnsafeRawPointer(name))
        continue
      }
      guard type == UInt8(STT_FUNC) || type == UInt8(STT_OBJECT) || type == UInt8(STT_NOTYPE)
        || type == UInt8(STT_GNU_IFUNC)
      else { continue }
      // Undefined, absolute and common symbols name no code in this file.
      guard shndx != SHN_UNDEF, shndx < UInt32(SHN_LORESERVE) else { continue }
      guard name.pointee != 0 else { continue }
      builder.add(
        address: addr &- elfBias, size: sym.st_size, name: UnsafeRawPointer(name),
        isFunction: type == UInt8(STT_FUNC) || type == UInt8(STT_GNU_IFUNC),
        isLocal: sym.st_info >> 4 == UInt8(STB_LOCAL), order: i)
    }
    return builder.build()
  }

  /// Copies `count` bytes of loaded file content at `address` (for `linux_banner`).
  func bytes(at address: UInt64, count: Int) -> [UInt8]? {
    var bias: GElf_Addr = 0
    guard let elf = dwfl_module_getelf(module, &bias) else { return nil }
    var scn: OpaquePointer? = nil
    var shdr = GElf_Shdr()
    let target = address
    while true {
      scn = elf_nextscn(elf, scn)
      guard let s = scn else { return nil }
      guard gelf_getshdr(s, &shdr) != nil else { continue }
      guard shdr.sh_type != UInt32(SHT_NOBITS), shdr.sh_addr <= target,
        target < shdr.sh_addr + shdr.sh_size
      else { continue }
      guard let data = elf_getdata(s, nil), let buf = data.pointee.d_buf else { return nil }
      let start = Int(target - shdr.sh_addr)
      let n = min(count, Int(data.pointee.d_size) - start)
      guard n > 0 else { return nil }
      // SAFETY: bounds checked against d_size; copied out.
      let p = buf.assumingMemoryBound(to: UInt8.self) + start
      return Array(UnsafeBufferPointer(start: p, count: n))
    }
  }

  // MARK: - Compile units

  /// Address ranges of all compile units, from `.debug_aranges` plus the CU DIE ranges of units
  /// that have no aranges entry (what LLVM's `DWARFDebugAranges::generate` does). May overlap.
  func unitRanges() throws -> [UnitRange] {
    guard let dw = loadDwarf() else { throw SymbolizeError.noDebugInfo(path: path) }
    var out: [UnitRange] = []
    var covered = Set<UInt64>()
    var aranges: OpaquePointer? = nil
    var naranges = 0
    if dwarf_getaranges(dw, &aranges, &naranges) == 0, let aranges {
      out.reserveCapacity(naranges)
      for i in 0..<naranges {
        guard let a = dwarf_onearange(aranges, i) else { continue }
        var start: Dwarf_Addr = 0
        var length: Dwarf_Word = 0
        var offset: Dwarf_Off = 0
        guard dwarf_getarangeinfo(a, &start, &length, &offset) == 0, length > 0 else { continue }
        out.append(UnitRange(low: start &+ dwarfBias, high: start &+ length &+ dwarfBias, unit: offset))
        covered.insert(offset)
      }
    }
    forEachCompileUnit(dw) { offset, cudie in
      guard !covered.contains(offset) else { return }
      forEachRange(of: &cudie) { low, high in
        out.append(UnitRange(low: low, high: high, unit: offset))
      }
    }
    return out
  }

  /// Offsets of all compile-unit DIEs (for building a full index).
  func unitOffsets() throws -> [UInt64] {
    guard let dw = loadDwarf() else { throw SymbolizeError.noDebugInfo(path: path) }
    var out: [UInt64] = []
    forEachCompileUnit(dw) { offset, _ in out.append(offset) }
    return out
  }

  /// Calls `body` with the DIE offset and DIE of each compile or partial unit (type units and
  /// skeletons are not code).
  private func forEachCompileUnit(_ dw: OpaquePointer, _ body: (UInt64, inout Dwarf_Die) -> Void) {
    var cu: OpaquePointer? = nil
    var next: OpaquePointer? = nil
    var version: Dwarf_Half = 0
    var unitType: UInt8 = 0
    var cudie = Dwarf_Die()
    while dwarf_get_units(dw, cu, &next, &version, &unitType, &cudie, nil) == 0 {
      cu = next
      guard unitType == UInt8(DW_UT_compile) || unitType == UInt8(DW_UT_partial) else { continue }
      body(dwarf_dieoffset(&cudie), &cudie)
    }
  }

  private func forEachRange(of die: inout Dwarf_Die, _ body: (UInt64, UInt64) -> Void) {
    var base: Dwarf_Addr = 0
    var start: Dwarf_Addr = 0
    var end: Dwarf_Addr = 0
    var offset: Int = 0
    while true {
      offset = dwarf_ranges(&die, offset, &base, &start, &end)
      guard offset > 0 else { break }
      if end > start { body(start &+ dwarfBias, end &+ dwarfBias) }
    }
  }

  /// `DW_AT_comp_dir` of the unit at `offset` (the build's source root for a kernel).
  func compDir(ofUnitAt offset: UInt64) -> String? {
    guard let dw = loadDwarf() else { return nil }
    var cudie = Dwarf_Die()
    var attr = Dwarf_Attribute()
    guard dwarf_offdie(dw, offset, &cudie) != nil,
      dwarf_attr(&cudie, UInt32(DW_AT_comp_dir), &attr) != nil, let s = dwarf_formstring(&attr)
    else { return nil }
    return String(cString: s)
  }

  // MARK: - Decoding one unit

  /// Decodes the line table and the subprogram / inlined-subroutine tree of the unit whose CU
  /// DIE is at `offset` into a `UnitIndex`. With `expandAll` false, only the top-level
  /// subprograms are recorded and their bodies (inlined calls) are left for `expand`, done the
  /// first time an address inside them is asked for: most of a unit's functions are never asked.
  func decodeUnit(offset: UInt64, expandAll: Bool) throws -> UnitIndex {
    guard let dw = loadDwarf() else { throw SymbolizeError.noDebugInfo(path: path) }
    var cudie = Dwarf_Die()
    guard dwarf_offdie(dw, offset, &cudie) != nil else {
      throw SymbolizeError.libdw(
        function: "dwarf_offdie", message: String(cString: dwarf_errmsg(-1)), path: path)
    }
    var builder = UnitBuilder()
    builder.hasLinkageNames = Self.hasLinkageNames(&cudie)
    decodeFiles(&cudie, into: &builder)
    decodeLines(&cudie, into: &builder)
    var child = Dwarf_Die()
    if dwarf_child(&cudie, &child) == 0 {
      decodeScopes(first: &child, parent: -1, lazy: !expandAll, into: &builder)
    }
    return builder.finish()
  }

  /// Records the inlined calls inside root `node` of `unit` (left unexpanded by a lazy decode).
  func expand(_ unit: inout UnitIndex, node: Int32) {
    guard let dw = loadDwarf(), unit.nodes[Int(node)].firstChild == ScopeNode.unexpanded else {
      return
    }
    var die = Dwarf_Die()
    var builder = UnitBuilder(unit)
    unit = UnitIndex.empty  // keep the arrays uniquely referenced while they grow
    builder.nodes[Int(node)].firstChild = -1
    if dwarf_offdie(dw, builder.nodes[Int(node)].die, &die) != nil {
      var cudie = Dwarf_Die()
      if dwarf_diecu(&die, &cudie, nil, nil) != nil {
        builder.hasLinkageNames = Self.hasLinkageNames(&cudie)
      }
      var child = Dwarf_Die()
      if dwarf_haschildren(&die) != 0, dwarf_child(&die, &child) == 0 {
        decodeScopes(first: &child, parent: node, lazy: false, into: &builder)
      }
    }
    unit = builder.finish()
  }

  /// C units have no linkage names, and looking for one through the abstract-origin chain of
  /// every inlined call is measurable.
  private static func hasLinkageNames(_ cudie: inout Dwarf_Die) -> Bool {
    switch dwarf_srclang(&cudie) {
    case Int32(DW_LANG_C89), Int32(DW_LANG_C99), Int32(DW_LANG_C11), Int32(DW_LANG_C),
      Int32(DW_LANG_Mips_Assembler):
      return false
    default:
      return true
    }
  }

  private func decodeFiles(_ cudie: inout Dwarf_Die, into b: inout UnitBuilder) {
    var files: OpaquePointer? = nil
    var nfiles = 0
    guard dwarf_getsrcfiles(&cudie, &files, &nfiles) == 0, let files else { return }
    // libdw joins the directory and file name; a relative result lacks DW_AT_comp_dir, which
    // LLVM prepends for absolute-path output.
    var compDirAttr = Dwarf_Attribute()
    var compDir: UnsafePointer<CChar>? = nil
    if dwarf_attr(&cudie, UInt32(DW_AT_comp_dir), &compDirAttr) != nil {
      compDir = dwarf_formstring(&compDirAttr)
    }
    if let compDir { b.compDir = [b.intern(compDir)] }
    for i in 0..<nfiles {
      guard let name = dwarf_filesrc(files, i, nil, nil) else {
        b.files.append(UnitIndex.noString)
        continue
      }
      if name.pointee != 0x2F, let compDir {
        b.files.append(b.internPath(compDir, name))
      } else {
        b.files.append(b.internPath(nil, name))
      }
    }
  }

  private func decodeLines(_ cudie: inout Dwarf_Die, into b: inout UnitBuilder) {
    var lines: OpaquePointer? = nil
    var nlines = 0
    guard dwarf_getsrclines(&cudie, &lines, &nlines) == 0, let lines else { return }
    b.rows.reserveCapacity(nlines)
    var addr: Dwarf_Addr = 0
    var lineno: Int32 = 0
    var col: Int32 = 0
    var endSeq = false
    var files: OpaquePointer? = nil
    var fileIndex = 0
    for i in 0..<nlines {
      guard let line = dwarf_onesrcline(lines, i) else { continue }
      dwarf_lineaddr(line, &addr)
      dwarf_lineendsequence(line, &endSeq)
      if endSeq {
        b.rows.append(LineRow(address: addr &+ dwarfBias, line: 0, file: LineRow.endSequenceFile, column: 0))
        continue
      }
      dwarf_lineno(line, &lineno)
      dwarf_linecol(line, &col)
      if dwarf_line_file(line, &files, &fileIndex) != 0 { fileIndex = Int(LineRow.endSequenceFile) - 1 }
      b.rows.append(
        LineRow(
          address: addr &+ dwarfBias, line: UInt32(clamping: lineno),
          file: UInt16(clamping: min(fileIndex, Int(LineRow.endSequenceFile) - 1)),
          column: UInt16(clamping: col)))
    }
  }

  /// Walks sibling DIEs starting at `die`, recording frame scopes under `parent` and descending
  /// only into DIEs that can hold code (skipping types and variables keeps this fast).
  private func decodeScopes(
    first die: inout Dwarf_Die, parent: Int32, lazy: Bool, into b: inout UnitBuilder
  ) {
    var current = die
    while true {
      let tag = dwarf_tag(&current)
      switch tag {
      case Int32(DW_TAG_subprogram), Int32(DW_TAG_inlined_subroutine), Int32(DW_TAG_entry_point):
        // A subprogram always ends an inline chain (LLVM stops at the first one), so it is a root
        // even when nested in another scope.
        let isInlined = tag == Int32(DW_TAG_inlined_subroutine)
        let node = recordScope(&current, parent: isInlined ? parent : -1, isInlined: isInlined, into: &b)
        var child = Dwarf_Die()
        if let node, dwarf_haschildren(&current) != 0 {
          if lazy && !isInlined {
            b.nodes[Int(node)].firstChild = ScopeNode.unexpanded
          } else if dwarf_child(&current, &child) == 0 {
            decodeScopes(first: &child, parent: node, lazy: false, into: &b)
          }
        }
      case Int32(DW_TAG_lexical_block), Int32(DW_TAG_namespace), Int32(DW_TAG_module):
        // Lexical blocks are transparent for frames: their inlined calls belong to the function.
        var child = Dwarf_Die()
        if dwarf_haschildren(&current) != 0, dwarf_child(&current, &child) == 0 {
          decodeScopes(first: &child, parent: parent, lazy: lazy, into: &b)
        }
      default:
        break
      }
      var next = Dwarf_Die()
      guard dwarf_siblingof(&current, &next) == 0 else { break }
      current = next
    }
  }

  private func recordScope(
    _ die: inout Dwarf_Die, parent: Int32, isInlined: Bool, into b: inout UnitBuilder
  ) -> Int32? {
    let rangeStart = b.ranges.count
    forEachRange(of: &die) { low, high in b.ranges.append(AddressRange(low: low, high: high)) }
    let rangeCount = b.ranges.count - rangeStart
    // Abstract instances and declarations have no code; their children have none either.
    guard rangeCount > 0 else { return nil }
    var node = ScopeNode(
      rangeStart: UInt32(rangeStart), rangeCount: UInt32(rangeCount), firstChild: -1,
      nextSibling: -1, name: functionName(&die, into: &b), callFile: UInt32.max, callLine: 0,
      callColumn: 0, die: dwarf_dieoffset(&die))
    if isInlined {
      var attr = Dwarf_Attribute()
      var value: Dwarf_Word = 0
      if dwarf_attr(&die, UInt32(DW_AT_call_file), &attr) != nil, dwarf_formudata(&attr, &value) == 0 {
        node.callFile = UInt32(clamping: value)
      }
      if dwarf_attr(&die, UInt32(DW_AT_call_line), &attr) != nil, dwarf_formudata(&attr, &value) == 0 {
        node.callLine = UInt32(clamping: value)
      }
      if dwarf_attr(&die, UInt32(DW_AT_call_column), &attr) != nil, dwarf_formudata(&attr, &value) == 0 {
        node.callColumn = UInt32(clamping: value)
      }
    }
    return b.append(node, parent: parent)
  }

  /// Linkage name if any, else `DW_AT_name`, following abstract origins and specifications
  /// (LLVM's `getSubroutineName(FunctionNameKind::LinkageName)`).
  private func functionName(_ die: inout Dwarf_Die, into b: inout UnitBuilder) -> UInt32 {
    var attr = Dwarf_Attribute()
    if b.hasLinkageNames {
      if dwarf_attr_integrate(&die, UInt32(DW_AT_linkage_name), &attr) != nil
        || dwarf_attr_integrate(&die, UInt32(DW_AT_MIPS_linkage_name), &attr) != nil,
        let s = dwarf_formstring(&attr)
      {
        return b.intern(s)
      }
    }
    if dwarf_attr_integrate(&die, UInt32(DW_AT_name), &attr) != nil, let s = dwarf_formstring(&attr) {
      return b.intern(s)
    }
    return UnitIndex.noString
  }
}

/// Address range of a compile unit, identified by its CU DIE offset.
struct UnitRange: Sendable, Equatable {
  var low: UInt64
  var high: UInt64
  var unit: UInt64
}

/// Accumulates a `UnitIndex` while walking libdw data.
private struct UnitBuilder {
  init() {}

  /// Continues building on a decoded unit (to expand one of its functions).
  init(_ u: UnitIndex) {
    rows = u.rows
    nodes = u.nodes
    ranges = u.ranges
    roots = u.roots
    files = u.files
    strings = u.strings
    compDir = u.compDir
    lastChild = [Int32](repeating: -1, count: u.nodes.count)
    rootsAdded = false
  }

  var rows: [LineRow] = []
  var nodes: [ScopeNode] = []
  var ranges: [AddressRange] = []
  var roots: [RootRange] = []
  var files: [UInt32] = []
  var strings: [UInt8] = []
  var compDir: [UInt32] = []
  /// Last child appended per node (parallel to `nodes`), to link siblings in O(1).
  var lastChild: [Int32] = []
  /// False for C units: they have no linkage names, and looking for one through the abstract
  /// origin chain of every inlined call is measurable.
  var hasLinkageNames = true
  /// Interned C strings by pointer: libdw hands out pointers into .debug_str, so equal names
  /// usually share a pointer.
  var byPointer: [UnsafeRawPointer: UInt32] = [:]

  mutating func intern(_ s: UnsafePointer<CChar>) -> UInt32 {
    let key = UnsafeRawPointer(s)
    if let hit = byPointer[key] { return hit }
    let offset = UInt32(strings.count)
    let n = strlen(s)
    s.withMemoryRebound(to: UInt8.self, capacity: n) { p in
      strings.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
    }
    strings.append(0)
    byPointer[key] = offset
    return offset
  }

  /// Appends `dir/name` as one path, joining the way LLVM's `sys::path::append` does: a
  /// separator between components, never a doubled one (libdw joins a directory ending in `/`
  /// with another `/`).
  mutating func internPath(_ dir: UnsafePointer<CChar>?, _ name: UnsafePointer<CChar>) -> UInt32 {
    let offset = UInt32(strings.count)
    if let dir {
      appendCollapsingSlashes(dir)
      if strings.count > Int(offset) && strings.last != 0x2F { strings.append(0x2F) }
    }
    appendCollapsingSlashes(name)
    strings.append(0)
    return offset
  }

  private mutating func appendCollapsingSlashes(_ s: UnsafePointer<CChar>) {
    let n = strlen(s)
    s.withMemoryRebound(to: UInt8.self, capacity: n) { p in
      for i in 0..<n {
        if p[i] == 0x2F && strings.last == 0x2F && i > 0 { continue }
        strings.append(p[i])
      }
    }
  }

  mutating func append(_ node: ScopeNode, parent: Int32) -> Int32 {
    let index = Int32(nodes.count)
    nodes.append(node)
    lastChild.append(-1)
    if parent < 0 {
      rootsAdded = true
      for r in ranges[Int(node.rangeStart)..<Int(node.rangeStart + node.rangeCount)] {
        roots.append(RootRange(low: r.low, high: r.high, node: index))
      }
    } else if lastChild[Int(parent)] >= 0 {
      nodes[Int(lastChild[Int(parent)])].nextSibling = index
    } else {
      nodes[Int(parent)].firstChild = index
    }
    if parent >= 0 { lastChild[Int(parent)] = index }
    return index
  }

  /// Whether `roots` needs sorting again.
  var rootsAdded = true

  mutating func finish() -> UnitIndex {
    if rootsAdded { roots.sort { $0.low != $1.low ? $0.low < $1.low : $0.high > $1.high } }
    return UnitIndex(
      rows: rows, nodes: nodes, ranges: ranges, roots: roots, files: files, strings: strings,
      compDir: compDir)
  }
}
