import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Where warm-start indexes live: `$XDG_CACHE_HOME/repro-analyze/index/<build-id>.idx`
/// (`~/.cache/...` when XDG_CACHE_HOME is unset). One file per vmlinux build id; written to a
/// temporary file in the same directory and renamed into place, so concurrent runs never see a
/// half-written index (the last complete writer wins).
final class IndexCache {
  let directory: String

  init(directory: String? = nil) {
    if let directory {
      self.directory = directory
    } else if let xdg = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"], !xdg.isEmpty {
      self.directory = xdg + "/repro-analyze/index"
    } else {
      self.directory = NSHomeDirectory() + "/.cache/repro-analyze/index"
    }
  }

  func indexPath(buildID: String) -> String { directory + "/" + buildID + ".idx" }

  /// Opens `path` through its index when one exists for its build id.
  func openImage(name: String, path: String) throws -> DebugImage? {
    let module = try DwarfModule(path: path, name: name)
    guard let id = module.buildID else { return nil }
    guard let index = IndexFile(path: indexPath(buildID: id), expectedBuildID: id) else { return nil }
    return DebugImage(name: name, path: path, index: index, module: module)
  }

  /// Writes the image's symbols, unit map and every unit decoded so far (merged with what the
  /// existing index had). Failures are returned, not thrown: a cache is an optimisation.
  @discardableResult
  func store(_ image: DebugImage) -> String? {
    guard let id = image.buildID else { return "no build id" }
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
      return "cannot create \(directory): \(error.localizedDescription)"
    }
    let bytes = IndexFile.serialize(image: image)
    let final = indexPath(buildID: id)
    let temp = final + ".tmp.\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
    let ok = bytes.withUnsafeBytes { raw -> Bool in
      let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
      guard fd >= 0 else { return false }
      defer { close(fd) }
      var done = 0
      while done < raw.count {
        let n = write(fd, raw.baseAddress! + done, raw.count - done)
        if n <= 0 { return false }
        done += n
      }
      return true
    }
    guard ok, rename(temp, final) == 0 else {
      unlink(temp)
      return "cannot write \(final)"
    }
    return nil
  }
}

/// A mapped warm-start index file. Layout (little endian, every array 8-byte aligned and
/// preceded by its element count as UInt64):
///
///     "RAIDX\0\0\1" | build id | source root | symbol entries | symbol names | name slots
///     | unit spans | unit directory (offset, position) | unit blobs
///
/// A unit blob holds the six arrays of a `UnitIndex`. Arrays are copied out of the mapping on
/// first use of a unit, so nothing points into the file after that.
final class IndexFile {
  static let magic: [UInt8] = [0x52, 0x41, 0x49, 0x44, 0x58, 0, 0, 5]

  let buildID: String
  let sourceRoot: String?
  let symbols: SymbolTable
  let unitSpans: [UnitSpan]
  private let data: Data
  /// Sorted unit offsets and where their blobs start in `data`.
  private let directory: [UnitSlot]

  struct UnitSlot: Equatable {
    var unit: UInt64
    var position: UInt64
  }

  init?(path: String, expectedBuildID: String) {
    guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
    else { return nil }
    self.data = data
    var r = Reader(data: data)
    guard r.bytes(8) == Self.magic,
      let id: [UInt8] = r.array(), String(decoding: id, as: UTF8.self) == expectedBuildID,
      let root: [UInt8] = r.array(),
      let entries: [SymbolTable.Entry] = r.array(), let byAddress: [Int32] = r.array(),
      let names: [UInt8] = r.array(), let slots: [Int32] = r.array(),
      let spans: [UnitSpan] = r.array(), let dir: [UnitSlot] = r.array()
    else { return nil }
    buildID = expectedBuildID
    sourceRoot = root.isEmpty ? nil : String(decoding: root, as: UTF8.self)
    let table = SymbolTable(entries: entries, byAddress: byAddress, names: names, nameSlots: slots)
    guard table.isConsistent else { return nil }
    symbols = table
    unitSpans = spans
    directory = dir
  }

  var unitOffsets: [UInt64] { directory.map(\.unit) }

  func hasUnit(_ offset: UInt64) -> Bool { slot(of: offset) != nil }

  private func slot(of offset: UInt64) -> Int? {
    let lo = directory.partitioningIndex { $0.unit >= offset }
    return lo < directory.count && directory[lo].unit == offset ? lo : nil
  }

  func unit(at offset: UInt64) -> UnitIndex? {
    guard let lo = slot(of: offset) else { return nil }
    var r = Reader(data: data)
    r.position = Int(directory[lo].position)
    guard let rows: [LineRow] = r.array(), let nodes: [ScopeNode] = r.array(),
      let ranges: [AddressRange] = r.array(), let roots: [RootRange] = r.array(),
      let files: [UInt32] = r.array(), let strings: [UInt8] = r.array(),
      let compDir: [UInt32] = r.array()
    else { return nil }
    let u = UnitIndex(
      rows: rows, nodes: nodes, ranges: ranges, roots: roots, files: files, strings: strings,
      compDir: compDir)
    return u.isConsistent ? u : nil
  }

  static func serialize(image: DebugImage) -> [UInt8] {
    var w = Writer()
    w.bytes(magic)
    w.array(Array((image.buildID ?? "").utf8))
    w.array(Array((image.sourceRoot ?? "").utf8))
    w.array(image.symbols.entries)
    w.array(image.symbols.byAddress)
    w.array(image.symbols.names)
    w.array(image.symbols.nameSlots)
    w.array(image.unitSpans)
    let units = image.allKnownUnits().sorted { $0.key < $1.key }
    // Directory positions are fixed up after the blobs are laid out.
    let dirStart = w.out.count
    w.array([UnitSlot](repeating: UnitSlot(unit: 0, position: 0), count: units.count))
    var slots: [UnitSlot] = []
    slots.reserveCapacity(units.count)
    for (offset, u) in units {
      slots.append(UnitSlot(unit: offset, position: UInt64(w.out.count)))
      w.array(u.rows)
      w.array(u.nodes)
      w.array(u.ranges)
      w.array(u.roots)
      w.array(u.files)
      w.array(u.strings)
      w.array(u.compDir)
    }
    var fix = Writer()
    fix.array(slots)
    w.out.replaceSubrange(dirStart..<(dirStart + fix.out.count), with: fix.out)
    return w.out
  }

  private struct Writer {
    var out: [UInt8] = []
    mutating func bytes(_ b: [UInt8]) { out.append(contentsOf: b) }
    mutating func array<T>(_ a: [T]) {
      var n = UInt64(a.count).littleEndian
      withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
      a.withUnsafeBytes { out.append(contentsOf: $0) }
      while out.count % 8 != 0 { out.append(0) }
    }
  }

  private struct Reader {
    let data: Data
    var position = 0
    mutating func bytes(_ n: Int) -> [UInt8]? {
      guard position + n <= data.count else { return nil }
      defer { position += n }
      return [UInt8](data[data.startIndex + position..<data.startIndex + position + n])
    }
    /// Copies a counted array of `T` out of the mapping; nil when it would run past the end.
    mutating func array<T>() -> [T]? {
      guard position + 8 <= data.count else { return nil }
      let count = data.withUnsafeBytes { raw in
        UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: position, as: UInt64.self))
      }
      let stride = MemoryLayout<T>.stride
      guard count < UInt64(Int.max / max(stride, 1)) else { return nil }
      let byteCount = Int(count) * stride
      let start = position + 8
      guard start + byteCount <= data.count else { return nil }
      if count == 0 {
        position = start
        return []
      }
      let result = [T](unsafeUninitializedCapacity: Int(count)) { buf, initialized in
        data.withUnsafeBytes { raw in
          // SAFETY: T is a trivial fixed-layout type written by `Writer.array`; bounds checked.
          _ = memcpy(UnsafeMutableRawPointer(buf.baseAddress!), raw.baseAddress! + start, byteCount)
        }
        initialized = Int(count)
      }
      position = start + byteCount
      while position % 8 != 0 { position += 1 }
      return result
    }
  }
}

extension Symbolizer {
  /// Writes (or extends) the warm-start index for the vmlinux when this run decoded units the
  /// index did not have. Returns a note on failure; the cache is never required.
  @discardableResult
  public func persistIndex() -> String? {
    guard let cache, kernel.needsPersist else { return nil }
    return cache.store(kernel)
  }

  /// Decodes every compile unit (so the index covers any address) and writes the index.
  @discardableResult
  public func buildCompleteIndex() throws -> String? {
    try kernel.decodeAllUnits()
    guard let cache else { return nil }
    return cache.store(kernel)
  }

  /// Path of the index file for this vmlinux (whether or not it exists yet).
  public var indexPath: String? {
    guard let cache, let id = buildID else { return nil }
    return cache.indexPath(buildID: id)
  }
}
