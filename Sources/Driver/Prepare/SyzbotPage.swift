import Foundation

/// A text attachment link of one crash row (`/text?tag=KernelConfig&x=…`).
public struct TextLink: Sendable, Equatable {
  /// The dashboard tag: KernelConfig, ReproSyz, ReproC, CrashLog, CrashReport, MachineInfo, ReproLog.
  public var tag: String
  /// The href as written on the page, entities decoded (usually relative).
  public var href: String
  /// Repro cells carry the class `stale_repro` when the repro no longer works on HEAD.
  public var isStale: Bool
}

/// An asset link of one crash row (`[<a href="…/disk-40f71e7c.raw.xz">disk image</a>]`).
public struct AssetLink: Sendable, Equatable {
  public var title: String
  public var href: String
}

/// One row of the bug page's crash table.
public struct CrashRow: Sendable, Equatable {
  public var index: Int
  public var time: String?
  public var kernelCommit: String?
  public var syzkallerCommit: String?
  public var manager: String?
  public var texts: [TextLink] = []
  public var assets: [AssetLink] = []

  public func text(_ tag: String) -> TextLink? { texts.first { $0.tag == tag } }

  /// A row is usable for a repro when it links a syz or C reproducer that is not stale.
  public var hasReproducer: Bool {
    texts.contains { ($0.tag == "ReproSyz" || $0.tag == "ReproC") && !$0.isStale }
  }
}

/// What `prepare` needs from a syzbot bug page (`dashboard/app/templates/bug.html`): the title
/// and the crash table. Parsed with a small tolerant tag scanner, not regexes over the whole page,
/// so attribute order, quoting and whitespace do not matter.
public struct SyzbotBugPage: Sendable, Equatable {
  public var title: String?
  public var crashes: [CrashRow] = []

  /// The row `prepare` uses: the first one with a live reproducer (the dashboard lists the best
  /// crash first), or nil when no row has one.
  public var reproRow: CrashRow? { crashes.first { $0.hasReproducer } }

  /// The short names the dashboard uses in e-mails (`/x/repro.syz?x=…`) mapped to tags.
  static let aliasTags = [
    ".config": "KernelConfig", "repro.syz": "ReproSyz", "repro.c": "ReproC", "log.txt": "CrashLog",
    "report.txt": "CrashReport", "minfo.txt": "MachineInfo", "repro.log": "ReproLog",
  ]

  public static func parse(html: String) -> SyzbotBugPage {
    var page = SyzbotBugPage()
    var scanner = TagScanner(Array(html.utf8))
    var inTitle = false
    var titleText = ""
    var firstBold: String?
    var inBold = false
    var boldText = ""
    var tableDepth = 0
    var inCrashTable = false
    var inHead = false
    var row: CrashRow?
    var cellClass = ""
    var cellTitle: String?
    var cellLinks: [(href: String, text: String)] = []
    var cellText = ""
    var inCell = false
    var link: (href: String, text: String)?
    var tagCells: [(title: String?, links: [(href: String, text: String)])] = []
    var managerCells: [String] = []

    func finishRow(_ r: inout CrashRow, tags: [(title: String?, links: [(href: String, text: String)])], managers: [String]) {
      if let kernel = tags.first {
        // `title="<commit> <date>"`, else the commit link's `?id=` / last path component.
        if let t = kernel.title, let first = t.split(separator: " ").first, isHex(first) {
          r.kernelCommit = String(first)
        } else if let href = kernel.links.first?.href {
          r.kernelCommit = commitFromURL(href)
        }
      }
      if tags.count > 1, let href = tags[1].links.first?.href { r.syzkallerCommit = commitFromURL(href) }
      r.manager = managers.first
    }

    while let token = scanner.next() {
      switch token {
      case .text(let t):
        if inTitle { titleText += t }
        if inBold { boldText += t }
        if link != nil { link!.text += t }
        if inCell { cellText += t }
      case .open(let name, let attrs):
        switch name {
        case "title": inTitle = true
        case "b": if firstBold == nil { inBold = true }
        case "table":
          tableDepth += 1
          if !inCrashTable, (attrs["class"] ?? "").split(separator: " ").contains("list_table") {
            inCrashTable = true
            tableDepth = 1
          }
        case "thead": if inCrashTable { inHead = true }
        case "tr":
          if inCrashTable && !inHead && tableDepth == 1 {
            row = CrashRow(index: page.crashes.count)
            tagCells = []
            managerCells = []
          }
        case "td":
          if row != nil {
            inCell = true
            cellClass = attrs["class"] ?? ""
            cellTitle = attrs["title"]
            cellLinks = []
            cellText = ""
          }
        case "a":
          if let href = attrs["href"] { link = (href, "") }
        default: break
        }
      case .close(let name):
        switch name {
        case "title":
          inTitle = false
          if page.title == nil { page.title = collapse(titleText) }
        case "b":
          if inBold {
            inBold = false
            firstBold = collapse(boldText)
          }
        case "a":
          if let l = link {
            if inCell { cellLinks.append((l.href, collapse(l.text))) }
            link = nil
          }
        case "td":
          guard inCell, var r = row else { break }
          inCell = false
          let classes = cellClass.split(separator: " ").map(String.init)
          let stale = classes.contains("stale_repro")
          if classes.contains("time") { r.time = collapse(cellText) }
          if classes.contains("tag") { tagCells.append((cellTitle, cellLinks)) }
          if classes.contains("manager") { managerCells.append(collapse(cellText)) }
          if classes.contains("assets") {
            for l in cellLinks where !l.text.isEmpty && !l.text.hasPrefix("fsck") {
              r.assets.append(AssetLink(title: l.text, href: l.href))
            }
          } else {
            for l in cellLinks {
              if let tag = textTag(l.href), r.text(tag) == nil {
                r.texts.append(TextLink(tag: tag, href: l.href, isStale: stale))
              }
            }
          }
          row = r
        case "tr":
          if var r = row {
            finishRow(&r, tags: tagCells, managers: managerCells)
            if !r.texts.isEmpty || !r.assets.isEmpty { page.crashes.append(r) }
            row = nil
          }
        case "thead": inHead = false
        case "table":
          tableDepth -= 1
          if inCrashTable && tableDepth == 0 { inCrashTable = false }
        default: break
        }
      }
    }
    if page.title == nil || page.title == "" { page.title = firstBold }
    return page
  }

  /// The dashboard tag a text href points to, or nil when it is not a text attachment.
  public static func textTag(_ href: String) -> String? {
    guard let comps = URLComponents(string: href) else { return nil }
    let path = comps.path
    if path.hasSuffix("/text") {
      return comps.queryItems?.first { $0.name == "tag" }?.value.flatMap { $0.isEmpty ? nil : $0 }
    }
    if let slash = path.range(of: "/x/", options: .backwards) {
      return aliasTags[String(path[slash.upperBound...])]
    }
    return nil
  }

  static func isHex<S: StringProtocol>(_ s: S) -> Bool {
    s.count >= 7 && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
  }

  static func commitFromURL(_ href: String) -> String? {
    if let comps = URLComponents(string: href),
      let id = comps.queryItems?.first(where: { $0.name == "id" })?.value, isHex(id)
    {
      return id
    }
    let last = href.split(separator: "/").last.map(String.init) ?? ""
    return isHex(last) ? last : nil
  }

  static func collapse(_ s: String) -> String {
    s.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).joined(separator: " ")
  }
}

/// The parts of the bug page's JSON form (`/bug?extid=X&json=1`, `dashboard/api` v1) that the
/// HTML lacks or states less precisely: repro options and full commit hashes per crash.
public struct SyzbotBugJSON: Sendable, Decodable {
  public struct Crash: Sendable, Decodable {
    public var title: String?
    public var syzReproducer: String?
    public var cReproducer: String?
    public var reproOpts: String?
    public var kernelConfig: String?
    public var kernelSourceGit: String?
    public var kernelSourceCommit: String?
    public var syzkallerCommit: String?
    public var compilerDescription: String?
    public var architecture: String?
    public var crashReportLink: String?

    enum CodingKeys: String, CodingKey {
      case title
      case syzReproducer = "syz-reproducer"
      case cReproducer = "c-reproducer"
      case reproOpts = "repro-opts"
      case kernelConfig = "kernel-config"
      case kernelSourceGit = "kernel-source-git"
      case kernelSourceCommit = "kernel-source-commit"
      case syzkallerCommit = "syzkaller-commit"
      case compilerDescription = "compiler-description"
      case architecture
      case crashReportLink = "crash-report-link"
    }
  }
  public var version: Int?
  public var title: String?
  public var id: String?
  public var status: String?
  public var crashes: [Crash]?

  public static func parse(_ data: [UInt8]) -> SyzbotBugJSON? {
    try? JSONDecoder().decode(SyzbotBugJSON.self, from: Data(data))
  }

  /// The JSON crash describing the same reproducer as `row` (matched by link), if any.
  public func crash(matching row: CrashRow) -> Crash? {
    let syz = row.text("ReproSyz")?.href
    let c = row.text("ReproC")?.href
    return crashes?.first { crash in
      (syz != nil && crash.syzReproducer == syz) || (c != nil && crash.cReproducer == c)
    }
  }
}

/// A forgiving HTML tokenizer: tags (lower-cased names, decoded attributes), text (entities
/// decoded), comments and doctype skipped. Never fails; malformed input degrades to text.
struct TagScanner {
  enum Token {
    case open(String, [String: String])
    case close(String)
    case text(String)
  }

  let bytes: [UInt8]
  var pos = 0

  init(_ bytes: [UInt8]) { self.bytes = bytes }

  mutating func next() -> Token? {
    while pos < bytes.count {
      if bytes[pos] != UInt8(ascii: "<") {
        let start = pos
        while pos < bytes.count && bytes[pos] != UInt8(ascii: "<") { pos += 1 }
        return .text(Self.decodeEntities(bytes[start..<pos]))
      }
      // Comments and <!doctype …>.
      if hasPrefix("<!--") {
        if let end = find("-->", from: pos + 4) { pos = end + 3 } else { pos = bytes.count }
        continue
      }
      if hasPrefix("<!") || hasPrefix("<?") {
        while pos < bytes.count && bytes[pos] != UInt8(ascii: ">") { pos += 1 }
        pos += 1
        continue
      }
      var p = pos + 1
      let closing = p < bytes.count && bytes[p] == UInt8(ascii: "/")
      if closing { p += 1 }
      let nameStart = p
      while p < bytes.count, Self.isNameByte(bytes[p]) { p += 1 }
      if p == nameStart {
        // A lone '<' in text.
        pos += 1
        return .text("<")
      }
      let name = String(decoding: bytes[nameStart..<p], as: UTF8.self).lowercased()
      var attrs: [String: String] = [:]
      while p < bytes.count && bytes[p] != UInt8(ascii: ">") {
        if Self.isSpace(bytes[p]) || bytes[p] == UInt8(ascii: "/") {
          p += 1
          continue
        }
        let aStart = p
        while p < bytes.count, !Self.isSpace(bytes[p]), bytes[p] != UInt8(ascii: "="),
          bytes[p] != UInt8(ascii: ">")
        {
          p += 1
        }
        let aName = String(decoding: bytes[aStart..<p], as: UTF8.self).lowercased()
        while p < bytes.count && Self.isSpace(bytes[p]) { p += 1 }
        var value = ""
        if p < bytes.count && bytes[p] == UInt8(ascii: "=") {
          p += 1
          while p < bytes.count && Self.isSpace(bytes[p]) { p += 1 }
          if p < bytes.count && (bytes[p] == 0x22 || bytes[p] == 0x27) {
            let q = bytes[p]
            p += 1
            let vStart = p
            while p < bytes.count && bytes[p] != q { p += 1 }
            value = Self.decodeEntities(bytes[vStart..<min(p, bytes.count)])
            p += 1
          } else {
            let vStart = p
            while p < bytes.count, !Self.isSpace(bytes[p]), bytes[p] != UInt8(ascii: ">") { p += 1 }
            value = Self.decodeEntities(bytes[vStart..<p])
          }
        }
        if !aName.isEmpty && attrs[aName] == nil { attrs[aName] = value }
      }
      pos = min(p + 1, bytes.count)
      // Raw text elements: skip their content so `<` inside scripts is not read as tags.
      if !closing && (name == "script" || name == "style") {
        if let end = findCaseInsensitive("</" + name, from: pos) { pos = end } else { pos = bytes.count }
      }
      return closing ? .close(name) : .open(name, attrs)
    }
    return nil
  }

  private func hasPrefix(_ s: String) -> Bool {
    let u = Array(s.utf8)
    guard pos + u.count <= bytes.count else { return false }
    return Array(bytes[pos..<pos + u.count]) == u
  }

  private func find(_ s: String, from: Int) -> Int? {
    let u = Array(s.utf8)
    var i = from
    while i + u.count <= bytes.count {
      if bytes[i] == u[0] && Array(bytes[i..<i + u.count]) == u { return i }
      i += 1
    }
    return nil
  }

  private func findCaseInsensitive(_ s: String, from: Int) -> Int? {
    let u = Array(s.lowercased().utf8)
    var i = from
    while i + u.count <= bytes.count {
      var ok = true
      for k in 0..<u.count where Self.lower(bytes[i + k]) != u[k] {
        ok = false
        break
      }
      if ok { return i }
      i += 1
    }
    return nil
  }

  static func lower(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5A ? c + 32 : c }
  static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0C }
  static func isNameByte(_ c: UInt8) -> Bool {
    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == UInt8(ascii: "-")
  }

  static let namedEntities: [String: String] = [
    "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": " ",
  ]

  /// Decodes `&amp;`, `&#39;`, `&#x27;` …; unknown or malformed entities stay as written.
  static func decodeEntities(_ bytes: ArraySlice<UInt8>) -> String {
    guard bytes.contains(UInt8(ascii: "&")) else { return String(decoding: bytes, as: UTF8.self) }
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var i = bytes.startIndex
    while i < bytes.endIndex {
      let c = bytes[i]
      guard c == UInt8(ascii: "&") else {
        out.append(c)
        i += 1
        continue
      }
      var j = i + 1
      while j < bytes.endIndex && j - i <= 10 && bytes[j] != UInt8(ascii: ";") { j += 1 }
      guard j < bytes.endIndex && bytes[j] == UInt8(ascii: ";") else {
        out.append(c)
        i += 1
        continue
      }
      let name = String(decoding: bytes[(i + 1)..<j], as: UTF8.self)
      var replacement: String?
      if name.hasPrefix("#x") || name.hasPrefix("#X") {
        replacement = UInt32(name.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init).map { String(Character($0)) }
      } else if name.hasPrefix("#") {
        replacement = UInt32(name.dropFirst()).flatMap(Unicode.Scalar.init).map { String(Character($0)) }
      } else {
        replacement = namedEntities[name]
      }
      if let replacement {
        out.append(contentsOf: replacement.utf8)
        i = j + 1
      } else {
        out.append(c)
        i += 1
      }
    }
    return String(decoding: out, as: UTF8.self)
  }
}
