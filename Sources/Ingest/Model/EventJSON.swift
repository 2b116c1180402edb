/// A hand-written JSON Lines encoder for events: `--jsonl` writes every event of gigabyte logs,
/// where `JSONEncoder` (≈10 µs per event) would dominate. Produces the same keys as the Codable
/// form (snake_case, sorted), so `JSONDecoder` with `.convertFromSnakeCase` reads it back.
#if canImport(Glibc)
  import Glibc
#endif

public final class JSONBuffer {
  private var base: UnsafeMutablePointer<UInt8>
  public private(set) var count = 0
  private var capacity: Int

  public init(capacity: Int = 1 << 16) {
    self.capacity = max(capacity, 256)
    base = .allocate(capacity: self.capacity)
  }

  deinit { base.deallocate() }

  /// A copy of the buffered bytes (tests, small outputs).
  public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

  /// Lends the buffered bytes; the pointer must not escape.
  public func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
    try body(UnsafeBufferPointer(start: base, count: count))
  }

  public func reset() { count = 0 }

  @inline(__always) func reserve(_ n: Int) {
    if count + n > capacity { grow(count + n) }
  }

  private func grow(_ need: Int) {
    var c = capacity * 2
    while c < need { c *= 2 }
    let nb = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
    nb.update(from: base, count: count)
    base.deallocate()
    base = nb
    capacity = c
  }

  @inline(__always) public func byte(_ b: UInt8) {
    reserve(1)
    base[count] = b
    count += 1
  }

  @inline(__always) func append(_ p: UnsafePointer<UInt8>, _ n: Int) {
    guard n > 0 else { return }
    reserve(n)
    memcpy(base + count, p, n)
    count += n
  }

  @inline(__always) func raw(_ s: StaticString) { append(s.utf8Start, s.utf8CodeUnitCount) }

  static let hexDigits: StaticString = "0123456789abcdef"

  func string(_ s: String) {
    byte(0x22)
    var s = s
    s.withUTF8 { b in
      guard let p = b.baseAddress else { return }
      var start = 0
      for i in 0..<b.count {
        let c = p[i]
        guard c < 0x20 || c == 0x22 || c == 0x5C else { continue }
        append(p + start, i - start)
        switch c {
        case 0x22: raw("\\\"")
        case 0x5C: raw("\\\\")
        case 0x0A: raw("\\n")
        case 0x09: raw("\\t")
        case 0x0D: raw("\\r")
        default:
          raw("\\u00")
          byte(Self.hexDigits.utf8Start[Int(c >> 4)])
          byte(Self.hexDigits.utf8Start[Int(c & 15)])
        }
        start = i + 1
      }
      append(p + start, b.count - start)
    }
    byte(0x22)
  }

  func uint(_ v: UInt64) {
    // 20 digits at most; write backwards into a small stack buffer.
    reserve(20)
    var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)
    withUnsafeMutableBytes(of: &tmp) { t in
      var v = v
      var n = 0
      repeat {
        t[23 - n] = UInt8(truncatingIfNeeded: v % 10) &+ 0x30
        v /= 10
        n += 1
      } while v > 0
      memcpy(base + count, t.baseAddress! + 24 - n, n)
      count += n
    }
  }

  func int(_ v: Int) {
    if v < 0 {
      byte(0x2D)
      uint(UInt64(v.magnitude))
    } else {
      uint(UInt64(v))
    }
  }

  func double(_ v: Double) {
    // Timestamps: microsecond precision is what the kernel prints.
    let us = Int((v * 1_000_000).rounded())
    int(us / 1_000_000)
    byte(0x2E)
    let frac = abs(us % 1_000_000)
    var div = 100_000
    while div > 0 {
      byte(UInt8(frac / div % 10) + 0x30)
      div /= 10
    }
  }

  func bool(_ v: Bool) { v ? raw("true") : raw("false") }

  /// `[a,b,...]` with `each` writing one element.
  @inline(__always) func array<T>(_ items: [T], _ each: (T) -> Void) {
    byte(0x5B)
    for (i, x) in items.enumerated() {
      if i > 0 { byte(0x2C) }
      each(x)
    }
    byte(0x5D)
  }

  /// `{"key":…,"value":…}` pairs (vhost fields, registers).
  func keyValue(_ k: String, _ v: String) {
    var f = true
    byte(0x7B)
    key("key", first: &f)
    string(k)
    key("value", first: &f)
    string(v)
    byte(0x7D)
  }

  /// Writes `,"key":` (no comma before the first key); keys must be passed already sorted.
  @inline(__always) func key(_ k: StaticString, first: inout Bool) {
    reserve(k.utf8CodeUnitCount + 4)
    if !first {
      base[count] = 0x2C
      count += 1
    }
    first = false
    base[count] = 0x22
    count += 1
    memcpy(base + count, k.utf8Start, k.utf8CodeUnitCount)
    count += k.utf8CodeUnitCount
    base[count] = 0x22
    base[count + 1] = 0x3A
    count += 2
  }
}

extension JSONBuffer {
  public func event(_ e: Event) {
    var f = true
    byte(0x7B)
    switch e {
    case .blocker(let b):
      key("blocker", first: &f)
      blocker(b)
    case .ftrace(let r):
      key("ftrace", first: &f)
      ftrace(r)
    case .heldLocks(let l):
      key("held_locks", first: &f)
      heldLocks(l)
    case .marker(let m):
      key("kind", first: &f)
      raw("\"marker\"")
      key("marker", first: &f)
      marker(m)
      byte(0x7D)
      return
    case .report(let r):
      key("kind", first: &f)
      raw("\"report\"")
      key("report", first: &f)
      report(r)
      byte(0x7D)
      return
    case .taskDump(let t):
      key("kind", first: &f)
      raw("\"task_dump\"")
      key("task_dump", first: &f)
      taskDump(t)
      byte(0x7D)
      return
    }
    key("kind", first: &f)
    byte(0x22)
    var k = e.kind.rawValue
    k.withUTF8 { append($0.baseAddress!, $0.count) }
    byte(0x22)
    byte(0x7D)
  }

  func position(_ p: SourcePosition) {
    var f = true
    byte(0x7B)
    key("file", first: &f)
    string(p.file)
    key("line", first: &f)
    int(p.line)
    key("offset", first: &f)
    int(p.offset)
    byte(0x7D)
  }

  func task(_ t: TaskRef) {
    var f = true
    byte(0x7B)
    key("comm", first: &f)
    string(t.comm)
    key("pid", first: &f)
    int(t.pid)
    byte(0x7D)
  }

  func frame(_ fr: Frame) {
    var f = true
    byte(0x7B)
    if let a = fr.address {
      key("address", first: &f)
      uint(a)
    }
    if fr.context != .task {
      key("context", first: &f)
      byte(0x22)
      var c = fr.context.rawValue
      c.withUTF8 { append($0.baseAddress!, $0.count) }
      byte(0x22)
    }
    if let v = fr.function {
      key("function", first: &f)
      string(v)
    }
    if fr.isInline {
      key("is_inline", first: &f)
      raw("true")
    }
    if !fr.isReliable {
      key("is_reliable", first: &f)
      raw("false")
    }
    key("line", first: &f)
    int(fr.line)
    if let v = fr.module {
      key("module", first: &f)
      string(v)
    }
    if let v = fr.offset {
      key("offset", first: &f)
      uint(v)
    }
    if let v = fr.size {
      key("size", first: &f)
      uint(v)
    }
    if let v = fr.source {
      key("source", first: &f)
      string(v)
    }
    byte(0x7D)
  }

  func frames(_ list: [Frame]) {
    array(list) { frame($0) }
  }

  func lock(_ l: HeldLock) {
    var f = true
    byte(0x7B)
    if let a = l.address {
      key("address", first: &f)
      uint(a)
    }
    key("index", first: &f)
    int(l.index)
    key("line", first: &f)
    int(l.line)
    key("name", first: &f)
    string(l.name)
    if let s = l.site {
      key("site", first: &f)
      frame(s)
    }
    if let u = l.usage {
      key("usage", first: &f)
      string(u)
    }
    if let w = l.waitType {
      key("wait_type", first: &f)
      string(w)
    }
    byte(0x7D)
  }

  func heldLocks(_ l: HeldLockList) {
    var f = true
    byte(0x7B)
    key("count", first: &f)
    int(l.count)
    key("is_system_dump", first: &f)
    bool(l.isSystemDump)
    key("locks", first: &f)
    array(l.locks) { lock($0) }
    key("position", first: &f)
    position(l.position)
    key("task", first: &f)
    task(l.task)
    byte(0x7D)
  }

  func blocker(_ b: BlockerNote) {
    var f = true
    byte(0x7B)
    if let o = b.owner {
      key("owner", first: &f)
      task(o)
    }
    if let r = b.ownerRole {
      key("owner_role", first: &f)
      string(r)
    }
    key("position", first: &f)
    position(b.position)
    key("primitive", first: &f)
    string(b.primitive)
    key("waiter", first: &f)
    task(b.waiter)
    if let r = b.waiterRole {
      key("waiter_role", first: &f)
      string(r)
    }
    byte(0x7D)
  }

  func ftrace(_ r: FtraceRecord) {
    var f = true
    byte(0x7B)
    key("comm", first: &f)
    string(r.comm)
    key("cpu", first: &f)
    int(r.cpu)
    key("event", first: &f)
    string(r.event)
    if let fl = r.flags {
      key("flags", first: &f)
      string(fl)
    }
    key("message", first: &f)
    string(r.message)
    key("pid", first: &f)
    int(r.pid)
    key("position", first: &f)
    position(r.position)
    if let s = r.stack {
      key("stack", first: &f)
      array(s) { string($0) }
    }
    key("timestamp", first: &f)
    double(r.timestamp)
    if let v = r.vhostLock {
      key("vhost_lock", first: &f)
      var g = true
      byte(0x7B)
      key("fields", first: &g)
      array(v.fields) { keyValue($0.key, $0.value) }
      if let l = v.lock {
        key("lock", first: &g)
        string(l)
      }
      key("operation", first: &g)
      string(v.operation)
      byte(0x7D)
    }
    byte(0x7D)
  }

  func marker(_ m: Marker) {
    var f = true
    byte(0x7B)
    key("kind", first: &f)
    string(m.kind.rawValue)
    key("position", first: &f)
    position(m.position)
    key("text", first: &f)
    string(m.text)
    if let t = m.timestamp {
      key("timestamp", first: &f)
      double(t)
    }
    if let v = m.value {
      key("value", first: &f)
      string(v)
    }
    byte(0x7D)
  }

  func taskInfo(_ t: TaskInfo) {
    var f = true
    byte(0x7B)
    key("comm", first: &f)
    string(t.comm)
    if let v = t.flags {
      key("flags", first: &f)
      string(v)
    }
    if let v = t.pid {
      key("pid", first: &f)
      int(v)
    }
    if let v = t.ppid {
      key("ppid", first: &f)
      int(v)
    }
    if let v = t.stack {
      key("stack", first: &f)
      int(v)
    }
    if let v = t.state {
      key("state", first: &f)
      string(v)
    }
    if let v = t.taskFlags {
      key("task_flags", first: &f)
      string(v)
    }
    if let v = t.tgid {
      key("tgid", first: &f)
      int(v)
    }
    byte(0x7D)
  }

  func taskDump(_ d: TaskDump) {
    var f = true
    byte(0x7B)
    key("end_line", first: &f)
    int(d.endLine)
    key("frames", first: &f)
    frames(d.frames)
    key("info", first: &f)
    taskInfo(d.info)
    key("position", first: &f)
    position(d.position)
    if let t = d.timestamp {
      key("timestamp", first: &f)
      double(t)
    }
    byte(0x7D)
  }

  func report(_ r: CrashReport) {
    var f = true
    byte(0x7B)
    if let v = r.code {
      key("code", first: &f)
      string(v)
    }
    if let v = r.cpu {
      key("cpu", first: &f)
      int(v)
    }
    key("end_line", first: &f)
    int(r.endLine)
    if let v = r.endMarker {
      key("end_marker", first: &f)
      string(v)
    }
    key("frames", first: &f)
    frames(r.frames)
    key("headline", first: &f)
    string(r.headline)
    if let h = r.hungTask {
      key("hung_task", first: &f)
      var g = true
      byte(0x7B)
      if let i = h.info {
        key("info", first: &g)
        taskInfo(i)
      }
      key("seconds", first: &g)
      int(h.seconds)
      if let t = h.taint {
        key("taint", first: &g)
        string(t)
      }
      key("task", first: &g)
      task(h.task)
      byte(0x7D)
    }
    key("is_truncated", first: &f)
    bool(r.isTruncated)
    key("kind", first: &f)
    string(r.kind.rawValue)
    if let l = r.lockdep {
      key("lockdep", first: &f)
      var g = true
      byte(0x7B)
      if let a = l.acquiring {
        key("acquiring", first: &g)
        lock(a)
      }
      key("chain", first: &g)
      byte(0x5B)
      for (i, c) in l.chain.enumerated() {
        if i > 0 { byte(0x2C) }
        var h = true
        byte(0x7B)
        key("frames", first: &h)
        frames(c.frames)
        key("index", first: &h)
        int(c.index)
        key("line", first: &h)
        int(c.line)
        key("name", first: &h)
        string(c.name)
        byte(0x7D)
      }
      byte(0x5D)
      key("holding", first: &g)
      array(l.holding) { lock($0) }
      key("is_deadlock", first: &g)
      bool(l.isDeadlock)
      if let t = l.task {
        key("task", first: &g)
        task(t)
      }
      byte(0x7D)
    }
    if let m = r.modules {
      key("modules", first: &f)
      array(m) { string($0) }
    }
    if let o = r.omittedFrameCount {
      key("omitted_frame_count", first: &f)
      int(o)
    }
    key("position", first: &f)
    position(r.position)
    key("prefix", first: &f)
    var g = true
    byte(0x7B)
    if let c = r.prefix.caller {
      key("caller", first: &g)
      string(c)
    }
    if let l = r.prefix.level {
      key("level", first: &g)
      int(l)
    }
    if let t = r.prefix.timestamp {
      key("timestamp", first: &g)
      double(t)
    }
    byte(0x7D)
    key("registers", first: &f)
    array(r.registers) { x in
      var h = true
      byte(0x7B)
      key("name", first: &h)
      string(x.name)
      key("value", first: &h)
      string(x.value)
      byte(0x7D)
    }
    if let ip = r.rip {
      key("rip", first: &f)
      var h = true
      byte(0x7B)
      if let fr = ip.frame {
        key("frame", first: &h)
        frame(fr)
      }
      key("segment", first: &h)
      string(ip.segment)
      byte(0x7D)
    }
    if let t = r.taint {
      key("taint", first: &f)
      string(t)
    }
    if let t = r.task {
      key("task", first: &f)
      task(t)
    }
    byte(0x7D)
  }
}
