/// Compact, pointer-free lookup tables for one DWARF compile unit: its line table and its tree
/// of functions and inlined calls. Built once per unit from libdw (`DwarfModule.decodeUnit`) or
/// read back from the warm-start index file; all fields are plain arrays of fixed-size values so
/// the cache can store them byte for byte.
///
/// Lookup semantics follow llvm-symbolizer (LLVM `DWARFDebugLine::LineTable::findRowInSeq` and
/// `DWARFUnit::getInlinedChainForAddress`), because that is the reference we are checked against.
struct UnitIndex: Sendable {
  /// Line rows sorted by address; at equal addresses the row order of the line program is kept
  /// and an end-of-sequence row comes first (libdw's order).
  var rows: [LineRow]
  /// Frame-carrying scopes (subprograms, inlined subroutines); lexical blocks are flattened away.
  var nodes: [ScopeNode]
  /// Address ranges of the nodes, `nodes[i].rangeStart ..< +rangeCount`.
  var ranges: [AddressRange]
  /// Top-level subprogram ranges sorted by `low`, for the first step of a lookup.
  var roots: [RootRange]
  /// File table: `files[i]` is the offset of file `i`'s full path in `strings`.
  var files: [UInt32]
  /// NUL-terminated strings (function names, file paths).
  var strings: [UInt8]
  /// `DW_AT_comp_dir` as an offset in `strings` (zero or one element, an array so the index
  /// file can store it like the rest).
  var compDir: [UInt32] = []

  var compDirString: String? { compDir.first.flatMap { string(at: $0) } }

  static let noString = UInt32.max
  static let empty = UnitIndex(
    rows: [], nodes: [], ranges: [], roots: [], files: [], strings: [], compDir: [])

  /// The root (subprogram) covering `address` when its body has not been decoded yet.
  func unexpandedRoot(containing address: UInt64) -> Int32? {
    guard let r = rootNode(containing: address), nodes[Int(r)].firstChild == ScopeNode.unexpanded
    else { return nil }
    return r
  }

  /// Structural checks for tables read back from an index file: every index in range, and
  /// child/sibling links only pointing forward (so a damaged file cannot crash or loop a lookup).
  var isConsistent: Bool {
    let n = Int32(nodes.count)
    let s = UInt32(strings.count)
    for (i, node) in nodes.enumerated() {
      let me = Int32(i)
      guard Int(node.rangeStart) + Int(node.rangeCount) <= ranges.count,
        node.firstChild == -1 || node.firstChild == ScopeNode.unexpanded
          || (node.firstChild > me && node.firstChild < n),
        node.nextSibling == -1 || (node.nextSibling > me && node.nextSibling < n),
        node.name == Self.noString || node.name < s
      else { return false }
    }
    guard roots.allSatisfy({ $0.node >= 0 && $0.node < n }),
      files.allSatisfy({ $0 == Self.noString || $0 < s }),
      compDir.allSatisfy({ $0 < s })
    else { return false }
    return true
  }

  /// True when every function body is decoded (nothing left to read from DWARF).
  var isFullyExpanded: Bool { !nodes.contains { $0.firstChild == ScopeNode.unexpanded } }

  /// One resolved frame of an inline chain, still as string-pool offsets.
  struct RawFrame: Equatable {
    var name: UInt32
    var file: UInt32
    var line: UInt32
    var column: UInt32
  }

  /// The inline chain at `address`, innermost first. Empty when the unit has neither a scope
  /// nor a line row for it.
  func lookup(_ address: UInt64) -> [RawFrame] {
    var chain: [Int32] = []
    if let root = rootNode(containing: address) {
      var current = root
      chain.append(current)
      // Descend to the deepest inlined call covering the address.
      descend: while true {
        var child = nodes[Int(current)].firstChild
        while child >= 0 {
          if contains(node: child, address) {
            chain.append(child)
            current = child
            continue descend
          }
          child = nodes[Int(child)].nextSibling
        }
        break
      }
    }
    let row = lineRow(for: address)
    if chain.isEmpty {
      guard let row else { return [] }
      return [RawFrame(name: Self.noString, file: fileOffset(Int(row.file)), line: row.line, column: UInt32(row.column))]
    }
    var frames: [RawFrame] = []
    frames.reserveCapacity(chain.count)
    // Innermost frame: position from the line table; each outer frame: the call site recorded
    // on the inlined node just inside it.
    var i = chain.count - 1
    var file = row.map { fileOffset(Int($0.file)) } ?? Self.noString
    var line = row?.line ?? 0
    var column = UInt32(row?.column ?? 0)
    while i >= 0 {
      let node = nodes[Int(chain[i])]
      frames.append(RawFrame(name: node.name, file: file, line: line, column: column))
      file = node.callFile == UInt32.max ? Self.noString : fileOffset(Int(node.callFile))
      line = node.callLine
      column = node.callColumn
      i -= 1
    }
    return frames
  }

  func string(at offset: UInt32) -> String? {
    guard offset != Self.noString, Int(offset) < strings.count else { return nil }
    return strings.withUnsafeBufferPointer { buf in
      let start = Int(offset)
      var end = start
      while end < buf.count && buf[end] != 0 { end += 1 }
      return String(decoding: UnsafeBufferPointer(rebasing: buf[start..<end]), as: UTF8.self)
    }
  }

  private func fileOffset(_ index: Int) -> UInt32 {
    index < files.count ? files[index] : Self.noString
  }

  private func contains(node: Int32, _ address: UInt64) -> Bool {
    let n = nodes[Int(node)]
    var r = Int(n.rangeStart)
    let end = r + Int(n.rangeCount)
    while r < end {
      if ranges[r].low <= address && address < ranges[r].high { return true }
      r += 1
    }
    return false
  }

  private func rootNode(containing address: UInt64) -> Int32? {
    // Last root with low <= address, then walk back over the (rare) overlapping ones.
    var i = roots.partitioningIndex { $0.low > address } - 1
    var steps = 0
    while i >= 0 && steps < 8 {
      if address < roots[i].high { return roots[i].node }
      i -= 1
      steps += 1
    }
    return nil
  }

  /// The last row at or below `address` (LLVM picks the last of equal-address rows); nil when
  /// that row ends a sequence, i.e. the address lies in a gap.
  private func lineRow(for address: UInt64) -> LineRow? {
    let lo = rows.partitioningIndex { $0.address > address }
    guard lo > 0 else { return nil }
    let row = rows[lo - 1]
    return row.isEndSequence ? nil : row
  }
}

/// One row of a decoded line program. 16 bytes, no padding.
struct LineRow: Sendable, Equatable {
  var address: UInt64
  var line: UInt32
  /// Index into the unit's file table; `endSequenceFile` marks an end-of-sequence row.
  var file: UInt16
  /// Column, clamped to 65535.
  var column: UInt16

  static let endSequenceFile = UInt16.max
  var isEndSequence: Bool { file == Self.endSequenceFile }
}

/// A subprogram or inlined subroutine. 40 bytes, no padding.
struct ScopeNode: Sendable, Equatable {
  /// `firstChild` of a subprogram whose body is not decoded yet.
  static let unexpanded: Int32 = -2

  var rangeStart: UInt32
  var rangeCount: UInt32
  var firstChild: Int32
  var nextSibling: Int32
  /// Offset of the function name in the unit's string pool, or `UnitIndex.noString`.
  var name: UInt32
  /// `DW_AT_call_file` (index into the unit's file table), `UInt32.max` when absent.
  var callFile: UInt32
  var callLine: UInt32
  var callColumn: UInt32
  /// Offset of the DIE in .debug_info (to decode the body later).
  var die: UInt64
}

struct AddressRange: Sendable, Equatable {
  var low: UInt64
  var high: UInt64
}

/// A top-level subprogram range. 24 bytes.
struct RootRange: Sendable, Equatable {
  var low: UInt64
  var high: UInt64
  var node: Int32
  var reserved: UInt32 = 0
}
