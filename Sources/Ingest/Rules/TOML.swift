/// A small TOML reader for `rules/*.toml`: tables, arrays of tables, dotted keys, basic/literal
/// (multi-line) strings, integers, floats, booleans, arrays and inline tables. Dates are not
/// supported (rules have none). Every value remembers its line for error messages.
public indirect enum TOMLValue: Sendable, Equatable {
  case string(String, line: Int)
  case integer(Int, line: Int)
  case float(Double, line: Int)
  case bool(Bool, line: Int)
  case array([TOMLValue], line: Int)
  case table(TOMLTable)

  public var line: Int {
    switch self {
    case .string(_, let l), .integer(_, let l), .float(_, let l), .bool(_, let l), .array(_, let l):
      l
    case .table(let t): t.line
    }
  }
  public var string: String? { if case .string(let s, _) = self { s } else { nil } }
  public var int: Int? { if case .integer(let i, _) = self { i } else { nil } }
  public var bool: Bool? { if case .bool(let b, _) = self { b } else { nil } }
  public var array: [TOMLValue]? { if case .array(let a, _) = self { a } else { nil } }
  public var table: TOMLTable? { if case .table(let t) = self { t } else { nil } }
  /// A string or an array of strings, as a list.
  public var strings: [String]? {
    if let s = string { return [s] }
    return array?.compactMap(\.string)
  }
}

/// Keys in file order (rules are ordered: first match wins).
public struct TOMLTable: Sendable, Equatable {
  public var keys: [String] = []
  public var values: [String: TOMLValue] = [:]
  public var line: Int
  public init(line: Int) { self.line = line }
  public subscript(_ key: String) -> TOMLValue? { values[key] }
  mutating func set(_ key: String, _ value: TOMLValue) {
    if values[key] == nil { keys.append(key) }
    values[key] = value
  }
  /// `[[name]]` entries, in order.
  public func tables(_ key: String) -> [TOMLTable] {
    values[key]?.array?.compactMap(\.table) ?? []
  }
}

public struct TOMLParser {
  let bytes: [UInt8]
  let file: String
  var pos = 0
  var line = 1

  public static func parse(_ text: String, file: String) throws(IngestError) -> TOMLTable {
    var p = TOMLParser(bytes: Array(text.utf8), file: file)
    return try p.document()
  }

  init(bytes: [UInt8], file: String) {
    self.bytes = bytes
    self.file = file
  }

  func fail(_ message: String) -> IngestError { .rule(file: file, line: line, message: message) }

  var atEnd: Bool { pos >= bytes.count }
  var peek: UInt8 { pos < bytes.count ? bytes[pos] : 0 }

  mutating func skipSpaces() {
    while !atEnd, bytes[pos] == 0x20 || bytes[pos] == 0x09 { pos += 1 }
  }

  mutating func skipComment() {
    if peek == UInt8(ascii: "#") { while !atEnd && bytes[pos] != 0x0A { pos += 1 } }
  }

  /// Skips whitespace, newlines and comments (inside arrays and between statements).
  mutating func skipAll() {
    while !atEnd {
      skipSpaces()
      skipComment()
      if peek == 0x0A {
        line += 1
        pos += 1
      } else if peek == 0x0D {
        pos += 1
      } else {
        break
      }
    }
  }

  mutating func endOfStatement() throws(IngestError) {
    skipSpaces()
    skipComment()
    if peek == 0x0D { pos += 1 }
    guard atEnd || peek == 0x0A else { throw fail("expected end of line, found '\(Character(UnicodeScalar(peek)))'") }
  }

  mutating func document() throws(IngestError) -> TOMLTable {
    var root = TOMLTable(line: 1)
    var path: [String] = []
    var isArrayTable = false
    while true {
      skipAll()
      if atEnd { break }
      if peek == UInt8(ascii: "[") {
        pos += 1
        isArrayTable = peek == UInt8(ascii: "[")
        if isArrayTable { pos += 1 }
        skipSpaces()
        path = try keyPath()
        skipSpaces()
        guard peek == UInt8(ascii: "]") else { throw fail("expected ']' after table name") }
        pos += 1
        if isArrayTable {
          guard peek == UInt8(ascii: "]") else { throw fail("expected ']]' after table name") }
          pos += 1
        }
        try endOfStatement()
        try Self.open(&root, path: path, isArray: isArrayTable, line: line, parser: self)
        continue
      }
      let key = try keyPath()
      skipSpaces()
      guard peek == UInt8(ascii: "=") else { throw fail("expected '=' after key '\(key.joined(separator: "."))'") }
      pos += 1
      skipSpaces()
      let value = try self.value()
      try endOfStatement()
      try Self.assign(&root, tablePath: path, key: key, value: value, parser: self)
    }
    return root
  }

  static func open(_ t: inout TOMLTable, path: [String], isArray: Bool, line: Int, parser: TOMLParser) throws(IngestError) {
    guard let first = path.first else { return }
    let rest = Array(path.dropFirst())
    if rest.isEmpty {
      if isArray {
        var arr = t[first]?.array ?? []
        arr.append(.table(TOMLTable(line: line)))
        t.set(first, .array(arr, line: line))
      } else if t[first] == nil {
        t.set(first, .table(TOMLTable(line: line)))
      }
      return
    }
    switch t[first] {
    case .array(var arr, let l)?:
      guard case .table(var last)? = arr.last else { throw parser.fail("'\(first)' is not a table") }
      try open(&last, path: rest, isArray: isArray, line: line, parser: parser)
      arr[arr.count - 1] = .table(last)
      t.set(first, .array(arr, line: l))
    case .table(var sub)?:
      try open(&sub, path: rest, isArray: isArray, line: line, parser: parser)
      t.set(first, .table(sub))
    case nil:
      var sub = TOMLTable(line: line)
      try open(&sub, path: rest, isArray: isArray, line: line, parser: parser)
      t.set(first, .table(sub))
    default:
      throw parser.fail("'\(first)' is already a value, not a table")
    }
  }

  static func assign(_ t: inout TOMLTable, tablePath: [String], key: [String], value: TOMLValue, parser: TOMLParser) throws(IngestError) {
    if let first = tablePath.first {
      let rest = Array(tablePath.dropFirst())
      switch t[first] {
      case .array(var arr, let l)?:
        guard case .table(var last)? = arr.last else { throw parser.fail("'\(first)' is not a table") }
        try assign(&last, tablePath: rest, key: key, value: value, parser: parser)
        arr[arr.count - 1] = .table(last)
        t.set(first, .array(arr, line: l))
      case .table(var sub)?:
        try assign(&sub, tablePath: rest, key: key, value: value, parser: parser)
        t.set(first, .table(sub))
      default:
        throw parser.fail("table '\(first)' is missing")
      }
      return
    }
    if key.count == 1 {
      if t[key[0]] != nil { throw parser.fail("duplicate key '\(key[0])'") }
      t.set(key[0], value)
      return
    }
    var sub = t[key[0]]?.table ?? TOMLTable(line: value.line)
    try assign(&sub, tablePath: [], key: Array(key.dropFirst()), value: value, parser: parser)
    t.set(key[0], .table(sub))
  }

  mutating func keyPath() throws(IngestError) -> [String] {
    var parts: [String] = []
    while true {
      skipSpaces()
      if peek == UInt8(ascii: "\"") || peek == UInt8(ascii: "'") {
        guard case .string(let s, _) = try value() else { throw fail("bad quoted key") }
        parts.append(s)
      } else {
        let start = pos
        while !atEnd, Self.isBareKey(bytes[pos]) { pos += 1 }
        guard pos > start else { throw fail("expected a key") }
        parts.append(String(decoding: bytes[start..<pos], as: UTF8.self))
      }
      skipSpaces()
      if peek == UInt8(ascii: ".") {
        pos += 1
        continue
      }
      return parts
    }
  }

  static func isBareKey(_ c: UInt8) -> Bool {
    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
      || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
  }

  mutating func value() throws(IngestError) -> TOMLValue {
    let l = line
    switch peek {
    case UInt8(ascii: "\""): return .string(try basicString(), line: l)
    case UInt8(ascii: "'"): return .string(try literalString(), line: l)
    case UInt8(ascii: "["):
      pos += 1
      var items: [TOMLValue] = []
      while true {
        skipAll()
        if peek == UInt8(ascii: "]") {
          pos += 1
          break
        }
        items.append(try value())
        skipAll()
        if peek == UInt8(ascii: ",") {
          pos += 1
        } else if peek == UInt8(ascii: "]") {
          pos += 1
          break
        } else {
          throw fail("expected ',' or ']' in array")
        }
      }
      return .array(items, line: l)
    case UInt8(ascii: "{"):
      pos += 1
      var t = TOMLTable(line: l)
      skipSpaces()
      if peek == UInt8(ascii: "}") {
        pos += 1
        return .table(t)
      }
      while true {
        skipSpaces()
        let key = try keyPath()
        skipSpaces()
        guard peek == UInt8(ascii: "=") else { throw fail("expected '=' in inline table") }
        pos += 1
        skipSpaces()
        let v = try value()
        try Self.assign(&t, tablePath: [], key: key, value: v, parser: self)
        skipSpaces()
        if peek == UInt8(ascii: ",") {
          pos += 1
          continue
        }
        guard peek == UInt8(ascii: "}") else { throw fail("expected ',' or '}' in inline table") }
        pos += 1
        return .table(t)
      }
    default:
      let start = pos
      while !atEnd, !" \t\r\n,]}#".utf8.contains(bytes[pos]) { pos += 1 }
      let word = String(decoding: bytes[start..<pos], as: UTF8.self)
      if word == "true" { return .bool(true, line: l) }
      if word == "false" { return .bool(false, line: l) }
      let clean = String(word.filter { $0 != "_" })
      if clean.hasPrefix("0x"), let i = Int(clean.dropFirst(2), radix: 16) { return .integer(i, line: l) }
      if let i = Int(clean) { return .integer(i, line: l) }
      if let d = Double(clean) { return .float(d, line: l) }
      throw fail("unrecognised value '\(word)'")
    }
  }

  mutating func basicString() throws(IngestError) -> String {
    let multi = bytes.count >= pos + 3 && bytes[pos + 1] == 0x22 && bytes[pos + 2] == 0x22
    pos += multi ? 3 : 1
    if multi && peek == 0x0A {
      pos += 1
      line += 1
    }
    var out: [UInt8] = []
    while true {
      guard !atEnd else { throw fail("unterminated string") }
      let c = bytes[pos]
      if c == 0x22 {
        if !multi {
          pos += 1
          break
        }
        if bytes.count >= pos + 3 && bytes[pos + 1] == 0x22 && bytes[pos + 2] == 0x22 {
          pos += 3
          break
        }
      }
      if c == 0x0A {
        guard multi else { throw fail("newline in single-line string") }
        line += 1
      }
      if c == UInt8(ascii: "\\") {
        pos += 1
        let e = peek
        pos += 1
        switch e {
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "\""): out.append(0x22)
        case UInt8(ascii: "\\"): out.append(0x5C)
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
          let n = e == UInt8(ascii: "u") ? 4 : 8
          guard pos + n <= bytes.count,
            let v = UInt32(String(decoding: bytes[pos..<pos + n], as: UTF8.self), radix: 16),
            let scalar = Unicode.Scalar(v)
          else { throw fail("bad unicode escape") }
          out.append(contentsOf: Array(String(Character(scalar)).utf8))
          pos += n
        case 0x0A where multi:
          line += 1
          while !atEnd, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[pos]) {
            if bytes[pos] == 0x0A { line += 1 }
            pos += 1
          }
        default: throw fail("unknown escape '\\\(Character(UnicodeScalar(e)))' (use a 'literal string' for regexes)")
        }
        continue
      }
      out.append(c)
      pos += 1
    }
    return String(decoding: out, as: UTF8.self)
  }

  mutating func literalString() throws(IngestError) -> String {
    let multi = bytes.count >= pos + 3 && bytes[pos + 1] == 0x27 && bytes[pos + 2] == 0x27
    pos += multi ? 3 : 1
    if multi && peek == 0x0A {
      pos += 1
      line += 1
    }
    let start = pos
    while true {
      guard !atEnd else { throw fail("unterminated literal string") }
      if bytes[pos] == 0x27 {
        if !multi { break }
        if bytes.count >= pos + 3 && bytes[pos + 1] == 0x27 && bytes[pos + 2] == 0x27 { break }
      }
      if bytes[pos] == 0x0A {
        guard multi else { throw fail("newline in single-line literal string") }
        line += 1
      }
      pos += 1
    }
    let s = String(decoding: bytes[start..<pos], as: UTF8.self)
    pos += multi ? 3 : 1
    return s
  }
}
