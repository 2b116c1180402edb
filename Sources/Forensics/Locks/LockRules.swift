import Ingest

/// Lock knowledge loaded from `rules/locks.toml`: scheduler frames, blocking primitives,
/// completer hints and the `vhost_lock:` operation vocabulary.
public struct LockRules: Sendable {
  public struct Primitive: Sendable, Hashable {
    /// `mutex`, `rwsem`, `completion`, …
    public var kind: String
    /// True when lockdep lists the lock as held while the task still sleeps on it.
    public var isLockdepTracked: Bool
    public var frames: Set<String>
  }

  public struct Completer: Sendable, Hashable {
    public var frames: Set<String>
    /// Comm pattern with `{tgid}` / `{pid}` placeholders.
    public var task: String
    public var why: String
  }

  public var schedulerFrames: Set<String>
  public var primitives: [Primitive]
  public var completers: [Completer]
  public var waitOps: Set<String>
  public var acquireOps: Set<String>
  public var releaseOps: Set<String>
  /// Largest distance between a lock's address and its lockdep map's address.
  public var maxDepMapOffset: UInt64

  /// Loads `locks.toml` from a rules directory.
  public static func load(rulesDirectory dir: String) throws(IngestError) -> LockRules {
    let text = try RulesDirectory.read(dir, "locks.toml")
    return try parse(text, file: dir + "/locks.toml")
  }

  /// Parses the text of a `locks.toml`; `file` is named in errors.
  public static func parse(_ text: String, file: String) throws(IngestError) -> LockRules {
    let doc = try TOMLParser.parse(text, file: file)
    func list(_ t: TOMLTable?, _ key: String) -> [String] { t?[key]?.strings ?? [] }
    let scheduler = doc["scheduler"]?.table
    var primitives: [Primitive] = []
    for t in doc.tables("primitive") {
      guard let kind = t["kind"]?.string else {
        throw .rule(file: file, line: t.line, message: "[[primitive]] needs a 'kind'")
      }
      primitives.append(
        Primitive(
          kind: kind, isLockdepTracked: t["lockdep"]?.bool ?? false,
          frames: Set(list(t, "frames"))))
    }
    var completers: [Completer] = []
    for t in doc.tables("completer") {
      guard let task = t["task"]?.string else {
        throw .rule(file: file, line: t.line, message: "[[completer]] needs a 'task' pattern")
      }
      completers.append(
        Completer(frames: Set(list(t, "frames")), task: task, why: t["why"]?.string ?? ""))
    }
    let ops = doc["vhost_lock"]?.table
    let lockdep = doc["lockdep"]?.table
    return LockRules(
      schedulerFrames: Set(list(scheduler, "frames")), primitives: primitives,
      completers: completers, waitOps: Set(list(ops, "wait")),
      acquireOps: Set(list(ops, "acquire")), releaseOps: Set(list(ops, "release")),
      maxDepMapOffset: UInt64(max(0, lockdep?["max_dep_map_offset"]?.int ?? 0x200)))
  }

  /// The primitive a (normalized) function name belongs to.
  func primitive(for function: String) -> Primitive? {
    primitives.first { $0.frames.contains(function) }
  }

  func isScheduler(_ function: String) -> Bool { schedulerFrames.contains(function) }
}

/// Kernel symbol names without compiler-generated suffixes: `__mutex_lock.constprop.0` →
/// `__mutex_lock`, `watchdog.cold` → `watchdog`. C identifiers never contain a dot.
@inline(__always)
func baseSymbol(_ name: String) -> String {
  guard let dot = name.firstIndex(of: ".") else { return name }
  return String(name[..<dot])
}

/// A lockdep class name reduced to the lock's expression: `&dev->mutex#3` → `dev->mutex`,
/// `&pool->lock/1` → `pool->lock`, `(wq_completion)netns` stays as is.
func lockExpression(_ className: String) -> String {
  var s = Substring(className)
  if s.hasPrefix("&") { s = s.dropFirst() }
  // `#N` subclass-by-name suffix and `/N` nesting suffix, both at the end.
  while let last = s.lastIndex(where: { $0 == "#" || $0 == "/" }),
    s[s.index(after: last)...].allSatisfy(\.isNumber), s.index(after: last) < s.endIndex
  {
    s = s[..<last]
  }
  return String(s)
}
