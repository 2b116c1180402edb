/// File names that come from a web page (asset URLs, extids) must never escape the bundle
/// directory. Only a conservative alphabet is accepted; anything else is refused, not "fixed",
/// so a hostile page cannot make two assets collide either.
public enum SafeName {
  /// The longest name accepted (ext4 allows 255 bytes; leave room for `.part` suffixes).
  static let maxByteCount = 200

  /// True when `name` is a single, ordinary path component: `[A-Za-z0-9._-]`, not starting with
  /// a dot (no `.`, `..`, hidden files), not empty, not too long.
  public static func isSafeComponent(_ name: String) -> Bool {
    let bytes = Array(name.utf8)
    guard !bytes.isEmpty, bytes.count <= maxByteCount, bytes[0] != UInt8(ascii: ".") else {
      return false
    }
    return bytes.allSatisfy { c in
      (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
        || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
    }
  }

  /// A syzbot extid or bug hash: lowercase hex/alphanumerics only (it names a directory).
  public static func isValidExtID(_ id: String) -> Bool {
    let bytes = Array(id.utf8)
    guard !bytes.isEmpty, bytes.count <= 64 else { return false }
    return bytes.allSatisfy { c in (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7A) }
  }

  /// Joins `directory` and a checked component; throws naming `origin` (the URL) otherwise.
  static func join(_ directory: String, _ name: String, origin: String) throws(DriverError) -> String {
    guard isSafeComponent(name) else {
      throw DriverError(
        "\(origin): refusing file name '\(name)': it is not a plain file name inside the bundle",
        hint: "the page offers a suspicious asset name; download it by hand if you trust it")
    }
    return directory + "/" + name
  }
}
