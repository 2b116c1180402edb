/// Demangles Rust v0 symbols (`_RNvMs3_NtCs..._11rust_binder7processNtB5_7Process10update_ref`
/// → `<rust_binder::process::Process>::update_ref`) so Rust frames read like syzbot titles.
///
/// Covers paths (crate roots, nested names, inherent and trait impls, generic arguments,
/// back-references) and common types; anything else leaves the name as printed.
enum RustDemangler {
  static func demangle(_ symbol: String) -> String? {
    let bytes = Array(symbol.utf8)
    guard bytes.count > 2, bytes[0] == UInt8(ascii: "_"), bytes[1] == UInt8(ascii: "R") else { return nil }
    var p = Parser(s: Array(bytes[2...]))
    // An optional encoding version (decimal) precedes the path.
    while p.pos < p.s.count, p.s[p.pos] >= 0x30, p.s[p.pos] <= 0x39 { p.pos += 1 }
    guard let out = p.path(depth: 0) else { return nil }
    return out
  }

  struct Parser {
    let s: [UInt8]
    var pos = 0

    var peek: UInt8 { pos < s.count ? s[pos] : 0 }

    mutating func eat(_ c: Character) -> Bool {
      guard peek == UInt8(ascii: c.unicodeScalars.first!) else { return false }
      pos += 1
      return true
    }

    /// `_` = 0, else base-62 digits then `_`, plus one.
    mutating func base62() -> Int? {
      if eat("_") { return 0 }
      var v = 0
      while pos < s.count, s[pos] != UInt8(ascii: "_") {
        let c = s[pos]
        let d: Int
        switch c {
        case 0x30...0x39: d = Int(c - 0x30)
        case 0x61...0x7A: d = Int(c - 0x61) + 10
        case 0x41...0x5A: d = Int(c - 0x41) + 36
        default: return nil
        }
        v = v &* 62 &+ d
        pos += 1
      }
      guard eat("_") else { return nil }
      return v + 1
    }

    mutating func disambiguator() -> Bool {
      guard eat("s") else { return true }
      return base62() != nil
    }

    mutating func identifier() -> String? {
      guard disambiguator() else { return nil }
      _ = eat("u")  // punycode: kept as printed
      var n = 0
      var digits = 0
      while pos < s.count, s[pos] >= 0x30, s[pos] <= 0x39 {
        n = n * 10 + Int(s[pos] - 0x30)
        pos += 1
        digits += 1
      }
      guard digits > 0 else { return nil }
      _ = eat("_")
      guard pos + n <= s.count else { return nil }
      defer { pos += n }
      return String(decoding: s[pos..<(pos + n)], as: UTF8.self)
    }

    mutating func backref<T>(_ body: (inout Parser) -> T?) -> T? {
      guard let off = base62(), off < pos else { return nil }
      var sub = Parser(s: s, pos: off)
      return body(&sub)
    }

    mutating func path(depth: Int) -> String? {
      guard depth < 64 else { return nil }
      let tag = peek
      pos += 1
      switch tag {
      case UInt8(ascii: "C"):
        return identifier()
      case UInt8(ascii: "N"):
        pos += 1  // namespace letter
        guard let parent = path(depth: depth + 1), let name = identifier() else { return nil }
        return name.isEmpty ? parent : parent + "::" + name
      case UInt8(ascii: "M"):
        guard disambiguator(), path(depth: depth + 1) != nil, let t = type(depth: depth + 1) else { return nil }
        return "<" + t + ">"
      case UInt8(ascii: "X"):
        guard disambiguator(), path(depth: depth + 1) != nil, let t = type(depth: depth + 1),
          let tr = path(depth: depth + 1)
        else { return nil }
        return "<" + t + " as " + tr + ">"
      case UInt8(ascii: "Y"):
        guard let t = type(depth: depth + 1), let tr = path(depth: depth + 1) else { return nil }
        return "<" + t + " as " + tr + ">"
      case UInt8(ascii: "I"):
        guard let base = path(depth: depth + 1) else { return nil }
        var args: [String] = []
        while !eat("E") {
          guard pos < s.count else { return nil }
          if eat("L") {
            guard base62() != nil else { return nil }
            continue
          }
          guard let a = type(depth: depth + 1) else { return nil }
          args.append(a)
        }
        return base + "::<" + args.joined(separator: ", ") + ">"
      case UInt8(ascii: "B"):
        return backref { $0.path(depth: depth + 1) }
      default:
        return nil
      }
    }

    static let basic: [UInt8: String] = [
      UInt8(ascii: "a"): "i8", UInt8(ascii: "b"): "bool", UInt8(ascii: "c"): "char",
      UInt8(ascii: "d"): "f64", UInt8(ascii: "e"): "str", UInt8(ascii: "f"): "f32",
      UInt8(ascii: "h"): "u8", UInt8(ascii: "i"): "isize", UInt8(ascii: "j"): "usize",
      UInt8(ascii: "l"): "i32", UInt8(ascii: "m"): "u32", UInt8(ascii: "n"): "i128",
      UInt8(ascii: "o"): "u128", UInt8(ascii: "s"): "i16", UInt8(ascii: "t"): "u16",
      UInt8(ascii: "u"): "()", UInt8(ascii: "v"): "...", UInt8(ascii: "x"): "i64",
      UInt8(ascii: "y"): "u64", UInt8(ascii: "z"): "!", UInt8(ascii: "p"): "_",
    ]

    mutating func type(depth: Int) -> String? {
      guard depth < 64 else { return nil }
      if let b = Self.basic[peek] {
        pos += 1
        return b
      }
      switch peek {
      case UInt8(ascii: "R"), UInt8(ascii: "Q"):
        let mutable = peek == UInt8(ascii: "Q")
        pos += 1
        if eat("L") { guard base62() != nil else { return nil } }
        guard let t = type(depth: depth + 1) else { return nil }
        return (mutable ? "&mut " : "&") + t
      case UInt8(ascii: "P"), UInt8(ascii: "O"):
        let mutable = peek == UInt8(ascii: "O")
        pos += 1
        guard let t = type(depth: depth + 1) else { return nil }
        return (mutable ? "*mut " : "*const ") + t
      case UInt8(ascii: "S"):
        pos += 1
        return type(depth: depth + 1).map { "[" + $0 + "]" }
      case UInt8(ascii: "T"):
        pos += 1
        var items: [String] = []
        while !eat("E") {
          guard pos < s.count, let t = type(depth: depth + 1) else { return nil }
          items.append(t)
        }
        return "(" + items.joined(separator: ", ") + ")"
      case UInt8(ascii: "B"):
        pos += 1
        return backref { $0.type(depth: depth + 1) }
      default:
        return path(depth: depth + 1)
      }
    }
  }
}
