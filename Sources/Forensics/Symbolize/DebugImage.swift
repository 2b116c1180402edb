import Foundation
import Synchronization

/// One symbolizable ELF image (vmlinux or one module): its symbol table, the map from addresses
/// to compile units, the units decoded so far, and a memo of answered addresses.
///
/// Units are decoded lazily, the first time an address inside them is asked for, from the
/// warm-start index when it has them and from DWARF otherwise. Not thread-safe.
final class DebugImage {
  let name: String
  let path: String
  let buildID: String?
  let symbols: SymbolTable
  /// Disjoint, sorted address spans → CU DIE offset.
  let unitSpans: [UnitSpan]
  /// `DW_AT_comp_dir` of the image's units: the prefix stripped from paths in log output
  /// (`kernel/sched/core.c`).
  lazy var sourceRoot: String? = {
    if let cached { return cached.sourceRoot }
    guard let first = unitSpans.first else { return nil }
    return try? dwarfModule().compDir(ofUnitAt: first.unit)
  }()

  private var module: DwarfModule?
  private let cached: IndexFile?
  private var units: [UInt64: UnitIndex] = [:]
  private var memo: [UInt64: [SymbolizedFrame]] = [:]
  /// Lookups that missed the memo (each walks the unit tables once).
  private(set) var lookupCount = 0
  /// Units decoded from DWARF in this run (to extend the index).
  private(set) var freshlyDecoded: [UInt64] = []

  /// Opens `path` and reads its symbols and unit ranges from DWARF.
  init(name: String, path: String) throws {
    let m = try DwarfModule(path: path, name: name)
    guard m.hasDebugInfo else { throw SymbolizeError.noDebugInfo(path: path) }
    self.name = name
    self.path = path
    self.module = m
    self.cached = nil
    self.buildID = m.buildID
    self.symbols = m.readSymbols()
    self.unitSpans = UnitSpan.disjoint(try m.unitRanges())
  }

  /// Uses a warm-start index; DWARF is read only for units the index lacks.
  init(name: String, path: String, index: IndexFile, module: DwarfModule?) {
    self.name = name
    self.path = path
    self.module = module
    self.cached = index
    self.buildID = index.buildID
    self.symbols = index.symbols
    self.unitSpans = index.unitSpans
  }

  private func dwarfModule() throws -> DwarfModule {
    if let module { return module }
    let m = try DwarfModule(path: path, name: name)
    module = m
    return m
  }

  /// All CU offsets, for building a complete index.
  func allUnitOffsets() throws -> [UInt64] { try dwarfModule().unitOffsets() }

  func unit(at offset: UInt64) -> UnitIndex? {
    if let u = units[offset] { return u }
    var u = cached?.unit(at: offset)
    if u == nil {
      u = try? dwarfModule().decodeUnit(offset: offset, expandAll: false)
      if u != nil { freshlyDecoded.append(offset) }
    }
    if let u { units[offset] = u }
    return u
  }

  /// The unit at `offset` with the function covering `address` decoded.
  private func expandedUnit(at offset: UInt64, for address: UInt64) -> UnitIndex? {
    guard var u = unit(at: offset) else { return nil }
    if let root = u.unexpandedRoot(containing: address), let m = try? dwarfModule() {
      units[offset] = nil  // uniquely referenced while it grows
      m.expand(&u, node: root)
      units[offset] = u
      isDirty = true
    }
    return u
  }

  /// Set when this run added anything the index does not have.
  private var isDirty = false

  /// True when this image was opened from a warm-start index.
  var isWarm: Bool { cached != nil }

  /// True when there is no index yet or this run decoded units the index lacks.
  var needsPersist: Bool { cached == nil || !freshlyDecoded.isEmpty || isDirty }

  /// Every unit known: decoded in this run or present in the index (for writing the index).
  func allKnownUnits() -> [UInt64: UnitIndex] {
    var all = units
    if let cached {
      for offset in cached.unitOffsets where all[offset] == nil {
        if let u = cached.unit(at: offset) { all[offset] = u }
      }
    }
    return all
  }

  /// Decodes every compile unit of the image, every function body included.
  func decodeAllUnits() throws {
    let all = try allUnitOffsets()
    decodeInParallel(all.filter { units[$0] == nil && cached?.hasUnit($0) != true }, addresses: [:], expandAll: true)
    // Units decoded lazily earlier or taken from a partial index: expand what is left.
    for o in all {
      guard var u = unit(at: o), !u.isFullyExpanded else { continue }
      units[o] = nil
      let m = try dwarfModule()
      for (i, n) in u.nodes.enumerated() where n.firstChild == ScopeNode.unexpanded {
        m.expand(&u, node: Int32(i))
      }
      units[o] = u
      isDirty = true
    }
  }

  /// Batch mode: decodes, up front and on all cores, the units that `addresses` fall into and
  /// the functions covering them, when neither decoded nor in the index. Lookups afterwards are
  /// pure table walks.
  func prefetch(_ addresses: [UInt64]) {
    var need: [UInt64: [UInt64]] = [:]
    for a in addresses {
      guard let u = unitOffset(containing: a), units[u] == nil, cached?.hasUnit(u) != true else {
        continue
      }
      need[u, default: []].append(a)
    }
    decodeInParallel(need.keys.sorted(), addresses: need, expandAll: false)
  }

  /// Each worker owns its own libdw session (libdw handles are not shared across threads);
  /// worker 0 reuses this image's. Units are dealt round-robin so large and small ones mix.
  private func decodeInParallel(_ offsets: [UInt64], addresses: [UInt64: [UInt64]], expandAll: Bool) {
    let workers = min(ProcessInfo.processInfo.activeProcessorCount, 4)
    guard let first = try? dwarfModule() else { return }
    // SAFETY: worker 0 is the only user of `first` while the workers run; the other workers
    // open private modules. The image's own state is touched only after they finish.
    nonisolated(unsafe) let shared = first
    let path = self.path
    let name = self.name
    let results = Mutex<[(UInt64, UnitIndex)]>([])
    let work: @Sendable (Int, Int) -> Void = { w, stride in
      let m: DwarfModule? = w == 0 ? shared : try? DwarfModule(path: path, name: name)
      guard let m else { return }
      var local: [(UInt64, UnitIndex)] = []
      for i in Swift.stride(from: w, to: offsets.count, by: stride) {
        guard var u = try? m.decodeUnit(offset: offsets[i], expandAll: expandAll) else { continue }
        for a in addresses[offsets[i]] ?? [] {
          if let root = u.unexpandedRoot(containing: a) { m.expand(&u, node: root) }
        }
        local.append((offsets[i], u))
      }
      results.withLock { $0.append(contentsOf: local) }
    }
    if offsets.count >= 16 && workers > 1 {
      DispatchQueue.concurrentPerform(iterations: workers) { w in work(w, workers) }
    } else {
      work(0, 1)
    }
    for (o, u) in results.withLock({ $0 }) where units[o] == nil {
      units[o] = u
      freshlyDecoded.append(o)
    }
  }

  func bytes(at address: UInt64, count: Int) -> [UInt8]? {
    try? dwarfModule().bytes(at: address, count: count)
  }

  private func unitOffset(containing address: UInt64) -> UInt64? {
    let lo = unitSpans.partitioningIndex { $0.low > address }
    guard lo > 0, address < unitSpans[lo - 1].high else { return nil }
    return unitSpans[lo - 1].unit
  }

  /// The inline chain at link-time `address`, innermost first, named and placed like
  /// llvm-symbolizer does; memoized.
  func frames(at address: UInt64) -> [SymbolizedFrame] {
    if let hit = memo[address] { return hit }
    lookupCount += 1
    var out: [SymbolizedFrame] = []
    if let offset = unitOffset(containing: address), let u = expandedUnit(at: offset, for: address) {
      let raw = u.lookup(address)
      out.reserveCapacity(raw.count)
      for (i, f) in raw.enumerated() {
        out.append(
          SymbolizedFrame(
            function: u.string(at: f.name) ?? "??", file: u.string(at: f.file), line: Int(f.line),
            column: Int(f.column), isInlined: i + 1 < raw.count, compilationDirectory: u.compDirString))
      }
    }
    if out.isEmpty {
      out.append(SymbolizedFrame(function: "??", file: nil, line: 0, column: 0, isInlined: false))
    }
    // llvm-symbolizer names the outermost frame from the symbol table (`--use-symbol-table`).
    if let sym = symbols.containing(address) {
      out[out.count - 1].function = symbols.name(of: sym)
      // ... and, when DWARF knows no file, takes the file of a local symbol's STT_FILE.
      if out[out.count - 1].file == nil, let file = symbols.fileName(of: sym) {
        out[out.count - 1].file = file
      }
    }
    memo[address] = out
    return out
  }
}

/// A disjoint address span of one compile unit.
struct UnitSpan: Sendable, Equatable {
  var low: UInt64
  var high: UInt64
  var unit: UInt64

  /// Splits possibly overlapping unit ranges into disjoint spans; where units overlap, the one
  /// with the lowest offset wins (as in LLVM's `DWARFDebugAranges::construct`).
  static func disjoint(_ ranges: [UnitRange]) -> [UnitSpan] {
    var points: [(pos: UInt64, isStart: Bool, unit: UInt64)] = []
    points.reserveCapacity(ranges.count * 2)
    for r in ranges where r.high > r.low {
      points.append((r.low, true, r.unit))
      points.append((r.high, false, r.unit))
    }
    points.sort { a, b in a.pos != b.pos ? a.pos < b.pos : (!a.isStart && b.isStart) }
    var active: [UInt64: Int] = [:]
    var out: [UnitSpan] = []
    var spanStart: UInt64 = 0
    var current: UInt64? = nil
    for p in points {
      if let c = current, p.pos > spanStart {
        if let last = out.last, last.unit == c, last.high == spanStart {
          out[out.count - 1].high = p.pos
        } else {
          out.append(UnitSpan(low: spanStart, high: p.pos, unit: c))
        }
      }
      if p.isStart {
        active[p.unit, default: 0] += 1
      } else {
        let n = (active[p.unit] ?? 1) - 1
        active[p.unit] = n <= 0 ? nil : n
      }
      current = active.keys.min()
      spanStart = p.pos
    }
    return out
  }
}
