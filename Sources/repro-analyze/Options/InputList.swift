import Foundation
import Ingest

/// Expands command-line inputs: files as given, `-` for stdin, directories recursively (regular
/// files, sorted, hidden entries skipped) so batch runs are deterministic.
enum InputList {
  static func expand(_ args: [String]) throws -> [String] {
    var out: [String] = []
    let fm = FileManager.default
    for a in args {
      var isDir: ObjCBool = false
      if a != "-", fm.fileExists(atPath: a, isDirectory: &isDir), isDir.boolValue {
        guard let e = fm.enumerator(atPath: a) else {
          throw IngestError.cannotOpen(path: a, reason: "cannot list directory")
        }
        var found: [String] = []
        while let rel = e.nextObject() as? String {
          if rel.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
          let p = (a as NSString).appendingPathComponent(rel)
          var d: ObjCBool = false
          if fm.fileExists(atPath: p, isDirectory: &d), !d.boolValue { found.append(p) }
        }
        // A directory with nothing to read is a mistake worth naming, not an empty result.
        if found.isEmpty { throw IngestError.notAFile(path: a, what: "a directory with no files in it") }
        out += found.sorted()
      } else {
        out.append(a)
      }
    }
    return out
  }
}
