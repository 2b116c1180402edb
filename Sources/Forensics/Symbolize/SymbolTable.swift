#if canImport(Glibc)
  import Glibc
#endif

/// An ELF symbol table as sorted flat arrays: address → name the way llvm-symbolizer picks it,
/// and name → candidates for `func+0xOFF/0xSIZE` frames (using the kallsyms SIZE, the distance
/// to the next symbol, to choose among duplicate static names).
///
/// `dwfl_module_addrinfo` scans every symbol per call; a sorted array with binary search is what
/// makes a batch of lookups cheap.
struct SymbolTable: Sendable {
  /// One symbol. 40 bytes, no padding, so the warm-start index can store the array as is.
  struct Entry: Sendable, Equatable {
    var address: UInt64
    var size: UInt64
    var nameOffset: UInt32
    var nameLength: UInt32
    /// Distance to the next higher symbol address (kallsyms' notion of a symbol's size), 0 for
    /// the last one.
    var gap: UInt32
    var isFunction: UInt32
    /// Index in the ELF symbol table (the tie-breaker among aliases).
    var order: UInt32
    /// For local symbols: offset in `names` of the preceding `STT_FILE` symbol's name (LLVM
    /// reports it as the file when DWARF has none), else `UInt32.max`.
    var fileOffset: UInt32
  }

  /// All symbols sorted by (address, size, symbol-table order).
  var entries: [Entry]
  /// Indices into `entries` used for address lookup: one per address, the entry llvm keeps
  /// (the last after a stable sort by address and size: largest size, then the alias that
  /// comes last in the symbol table).
  var byAddress: [Int32]
  var names: [UInt8]
  /// Open-addressing hash table of entry indices by name (-1 = empty), size a power of two.
  var nameSlots: [Int32]

  struct Builder {
    var entries: [Entry] = []
    var names: [UInt8] = []

    /// Name offset of the current `STT_FILE` symbol (applies to the local symbols after it).
    var currentFile = UInt32.max

    mutating func setFile(_ name: UnsafeRawPointer) {
      let n = strlen(name.assumingMemoryBound(to: CChar.self))
      currentFile = UInt32(names.count)
      names.append(contentsOf: UnsafeRawBufferPointer(start: name, count: n))
      names.append(0)
    }

    mutating func add(
      address: UInt64, size: UInt64, name: UnsafeRawPointer, isFunction: Bool, isLocal: Bool,
      order: Int
    ) {
      let n = strlen(name.assumingMemoryBound(to: CChar.self))
      let offset = UInt32(names.count)
      names.append(contentsOf: UnsafeRawBufferPointer(start: name, count: n))
      entries.append(
        Entry(
          address: address, size: size, nameOffset: offset, nameLength: UInt32(n), gap: 0,
          isFunction: isFunction ? 1 : 0, order: UInt32(clamping: order),
          fileOffset: isLocal ? currentFile : UInt32.max))
    }

    func build() -> SymbolTable {
      var entries = entries
      let names = names
      entries.sort { a, b in
        if a.address != b.address { return a.address < b.address }
        if a.size != b.size { return a.size < b.size }
        return a.order < b.order
      }
      // kallsyms SIZE: gap to the next distinct address.
      var i = entries.count - 1
      var nextAddress: UInt64? = nil
      var groupEnd = entries.count
      while i >= 0 {
        var j = i
        while j > 0 && entries[j - 1].address == entries[i].address { j -= 1 }
        let gap = nextAddress.map { UInt32(clamping: $0 - entries[i].address) } ?? 0
        for k in j..<groupEnd { entries[k].gap = gap }
        nextAddress = entries[i].address
        groupEnd = j
        i = j - 1
      }
      var byAddress: [Int32] = []
      byAddress.reserveCapacity(entries.count)
      for k in 0..<entries.count {
        if k + 1 < entries.count && entries[k + 1].address == entries[k].address { continue }
        byAddress.append(Int32(k))
      }
      var table = SymbolTable(entries: entries, byAddress: byAddress, names: names, nameSlots: [])
      table.buildNameSlots()
      return table
    }
  }

  static func compareNames(_ pool: UnsafeBufferPointer<UInt8>, _ a: Entry, _ b: Entry) -> Int32 {
    let n = min(a.nameLength, b.nameLength)
    let c = memcmp(pool.baseAddress! + Int(a.nameOffset), pool.baseAddress! + Int(b.nameOffset), Int(n))
    if c != 0 { return c }
    return a.nameLength == b.nameLength ? 0 : (a.nameLength < b.nameLength ? -1 : 1)
  }

  private static func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for i in 0..<n {
      h = (h ^ UInt64(p[i])) &* 0x100_0000_01b3
    }
    return h
  }

  private mutating func buildNameSlots() {
    var capacity = 16
    while capacity < entries.count * 2 { capacity <<= 1 }
    var slots = [Int32](repeating: -1, count: capacity)
    let mask = UInt64(capacity - 1)
    names.withUnsafeBufferPointer { pool in
      for (k, e) in entries.enumerated() {
        var s = Int(Self.hash(pool.baseAddress! + Int(e.nameOffset), Int(e.nameLength)) & mask)
        while slots[s] >= 0 { s = (s + 1) & Int(mask) }
        slots[s] = Int32(k)
      }
    }
    nameSlots = slots
  }

  /// Structural checks for a table read back from an index file.
  var isConsistent: Bool {
    let n = Int32(entries.count)
    guard nameSlots.isEmpty || nameSlots.count & (nameSlots.count - 1) == 0,
      byAddress.allSatisfy({ $0 >= 0 && $0 < n }),
      nameSlots.allSatisfy({ $0 >= -1 && $0 < n }),
      entries.allSatisfy({
        Int($0.nameOffset) + Int($0.nameLength) <= names.count
          && ($0.fileOffset == UInt32.max || Int($0.fileOffset) < names.count)
      })
    else { return false }
    return true
  }

  /// The `STT_FILE` name recorded for a local symbol.
  func fileName(of entry: Entry) -> String? {
    guard entry.fileOffset != UInt32.max, Int(entry.fileOffset) < names.count else { return nil }
    return names.withUnsafeBufferPointer { pool in
      var end = Int(entry.fileOffset)
      while end < pool.count && pool[end] != 0 { end += 1 }
      return String(decoding: UnsafeBufferPointer(rebasing: pool[Int(entry.fileOffset)..<end]), as: UTF8.self)
    }
  }

  func name(of entry: Entry) -> String {
    names.withUnsafeBufferPointer { pool in
      String(
        decoding: UnsafeBufferPointer(rebasing: pool[Int(entry.nameOffset)..<Int(entry.nameOffset + entry.nameLength)]),
        as: UTF8.self)
    }
  }

  /// All symbols named `name`, in address order.
  func candidates(named name: String) -> [Entry] {
    guard !nameSlots.isEmpty else { return [] }
    var key = name
    return key.withUTF8 { k -> [Entry] in
      guard let kp = k.baseAddress else { return [] }
      let mask = nameSlots.count - 1
      var s = Int(Self.hash(kp, k.count) & UInt64(mask))
      var out: [Entry] = []
      names.withUnsafeBufferPointer { pool in
        while nameSlots[s] >= 0 {
          let e = entries[Int(nameSlots[s])]
          if Int(e.nameLength) == k.count && memcmp(pool.baseAddress! + Int(e.nameOffset), kp, k.count) == 0 {
            out.append(e)
          }
          s = (s + 1) & mask
        }
      }
      return out.sorted { $0.address < $1.address }
    }
  }

  /// The symbol covering `address` as llvm-symbolizer chooses it (`getNameFromSymbolTable`):
  /// the nearest one at or below; a sized symbol must contain the address, a size-0 symbol
  /// extends to the next.
  func containing(_ address: UInt64) -> Entry? {
    let lo = byAddress.partitioningIndex { entries[Int($0)].address > address }
    guard lo > 0 else { return nil }
    let e = entries[Int(byAddress[lo - 1])]
    if e.size != 0 && e.address + e.size <= address { return nil }
    return e
  }

  /// Resolves `name+offset` with kallsyms SIZE `size`: the symbol whose gap equals SIZE, else
  /// whose ELF size equals it, else the only symbol of that name. `sizeMatched` is false when
  /// SIZE fit none (a hint that the vmlinux does not match the log).
  func resolve(name: String, offset: UInt64, size: UInt64?) -> (address: UInt64, sizeMatched: Bool)? {
    let all = candidates(named: name)
    guard !all.isEmpty else { return nil }
    // Prefer functions over same-named data/labels.
    let cands = all.contains { $0.isFunction != 0 } ? all.filter { $0.isFunction != 0 } : all
    guard let size else { return (cands[0].address + offset, cands.count == 1) }
    if let e = cands.first(where: { UInt64($0.gap) == size }) { return (e.address + offset, true) }
    if let e = cands.first(where: { $0.size == size }) { return (e.address + offset, true) }
    return (cands[0].address + offset, false)
  }
}
