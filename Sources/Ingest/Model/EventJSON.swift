/// A hand-written JSON Lines encoder for events: `--jsonl` writes every event of gigabyte logs,
/// where `JSONEncoder` (≈10 µs per event) would dominate. Produces the same keys as the Codable
/// form (snake_case, sorted), so `JSONDecoder` with `.convertFromSnakeCase` reads it back.
public struct JSONBuffer {
  public var bytes: [UInt8] = []

  public init(capacity: Int = 1 << 16) { bytes.reserveCapacity(capacity) }

  @inline(__always) mutating func raw(_ s: StaticString) {
    bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
  }

  mutating func string(_ s: String) {
    bytes.append(0x22)
    var s = s
    s.withUTF8 { b in
      var start = 0
      for i in 0..<b.count {
        let c = b[i]
        guard c < 0x20 || c == 0x22 || c == 0x5C else { continue }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<i]))
        switch c {
        case 0x22: raw("\\\"")
        case 0x5C: raw("\\\\")
        case 0x0A: raw("\\n")
        case 0x09: raw("\\t")
        case 0x0D: raw("\\r")
        default:
          raw("\\u00")
          let hex: [UInt8] = Array("0123456789abcdef".utf8)
          bytes.append(hex[Int(c >> 4)])
          bytes.append(hex[Int(c & 15)])
        }
        start = i + 1
      }
      bytes.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<b.count]))
    }
    bytes.append(0x22)
  }

  mutating func uint(_ v: UInt64) {
    if v <= UInt64(Int.max) {
      int(Int(v))
      return
    }
    // Above Int.max: print the high part then the low 18 digits.
    let high = v / 1_000_000_000_000_000_000
    let low = v % 1_000_000_000_000_000_000
    int(Int(high))
    var div: UInt64 = 100_000_000_000_000_000
    while div > 0 {
      bytes.append(UInt8(low / div % 10) + 0x30)
      div /= 10
    }
  }

  mutating func int(_ v: Int) {
    if v == 0 {
      bytes.append(0x30)
      return
    }
    var v = v
    if v < 0 {
      bytes.append(0x2D)
      v = -v
    }
    var tmp: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
      (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var n = 0
    withUnsafeMutableBytes(of: &tmp) { t in
      while v > 0 {
        t[n] = UInt8(v % 10) + 0x30
        v /= 10
        n += 1
      }
      for i in stride(from: n - 1, through: 0, by: -1) { bytes.append(t[i]) }
    }
  }

  mutating func double(_ v: Double) {
    // Timestamps: microsecond precision is what the kernel prints.
    let us = Int((v * 1_000_000).rounded())
    int(us / 1_000_000)
    bytes.append(0x2E)
    let frac = us % 1_000_000
    var div = 100_000
    while div > 0 {
      bytes.append(UInt8(frac / div % 10) + 0x30)
      div /= 10
    }
  }

  mutating func bool(_ v: Bool) { v ? raw("true") : raw("false") }

  /// An object built from ordered key/value writers; keys must be passed already sorted.
  mutating func key(_ k: StaticString, first: inout Bool) {
    if !first { bytes.append(0x2C) }
    first = false
    bytes.append(0x22)
    raw(k)
    raw("\":")
  }
}

extension JSONBuffer {
  public mutating func event(_ e: Event) {
    var f = true
    bytes.append(0x7B)
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
      bytes.append(0x7D)
      return
    case .report(let r):
      key("kind", first: &f)
      raw("\"report\"")
      key("report", first: &f)
      report(r)
      bytes.append(0x7D)
      return
    case .taskDump(let t):
      key("kind", first: &f)
      raw("\"task_dump\"")
      key("task_dump", first: &f)
      taskDump(t)
      bytes.append(0x7D)
      return
    }
    key("kind", first: &f)
    bytes.append(0x22)
    var k = e.kind.rawValue
    k.withUTF8 { bytes.append(contentsOf: $0) }
    bytes.append(0x22)
    bytes.append(0x7D)
  }

  mutating func position(_ p: SourcePosition) {
    var f = true
    bytes.append(0x7B)
    key("file", first: &f)
    string(p.file)
    key("line", first: &f)
    int(p.line)
    key("offset", first: &f)
    int(p.offset)
    bytes.append(0x7D)
  }

  mutating func task(_ t: TaskRef) {
    var f = true
    bytes.append(0x7B)
    key("comm", first: &f)
    string(t.comm)
    key("pid", first: &f)
    int(t.pid)
    bytes.append(0x7D)
  }

  mutating func frame(_ fr: Frame) {
    var f = true
    bytes.append(0x7B)
    if let a = fr.address {
      key("address", first: &f)
      uint(a)
    }
    key("context", first: &f)
    bytes.append(0x22)
    var c = fr.context.rawValue
    c.withUTF8 { bytes.append(contentsOf: $0) }
    bytes.append(0x22)
    if let v = fr.function {
      key("function", first: &f)
      string(v)
    }
    key("is_inline", first: &f)
    bool(fr.isInline)
    key("is_reliable", first: &f)
    bool(fr.isReliable)
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
    bytes.append(0x7D)
  }

  mutating func frames(_ list: [Frame]) {
    bytes.append(0x5B)
    for (i, fr) in list.enumerated() {
      if i > 0 { bytes.append(0x2C) }
      frame(fr)
    }
    bytes.append(0x5D)
  }

  mutating func lock(_ l: HeldLock) {
    var f = true
    bytes.append(0x7B)
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
    bytes.append(0x7D)
  }

  mutating func heldLocks(_ l: HeldLockList) {
    var f = true
    bytes.append(0x7B)
    key("count", first: &f)
    int(l.count)
    key("is_system_dump", first: &f)
    bool(l.isSystemDump)
    key("locks", first: &f)
    bytes.append(0x5B)
    for (i, x) in l.locks.enumerated() {
      if i > 0 { bytes.append(0x2C) }
      lock(x)
    }
    bytes.append(0x5D)
    key("position", first: &f)
    position(l.position)
    key("task", first: &f)
    task(l.task)
    bytes.append(0x7D)
  }

  mutating func blocker(_ b: BlockerNote) {
    var f = true
    bytes.append(0x7B)
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
    bytes.append(0x7D)
  }

  mutating func ftrace(_ r: FtraceRecord) {
    var f = true
    bytes.append(0x7B)
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
      bytes.append(0x5B)
      for (i, x) in s.enumerated() {
        if i > 0 { bytes.append(0x2C) }
        string(x)
      }
      bytes.append(0x5D)
    }
    key("timestamp", first: &f)
    double(r.timestamp)
    if let v = r.vhostLock {
      key("vhost_lock", first: &f)
      var g = true
      bytes.append(0x7B)
      key("fields", first: &g)
      bytes.append(0x5B)
      for (i, x) in v.fields.enumerated() {
        if i > 0 { bytes.append(0x2C) }
        var h = true
        bytes.append(0x7B)
        key("key", first: &h)
        string(x.key)
        key("value", first: &h)
        string(x.value)
        bytes.append(0x7D)
      }
      bytes.append(0x5D)
      if let l = v.lock {
        key("lock", first: &g)
        string(l)
      }
      key("operation", first: &g)
      string(v.operation)
      bytes.append(0x7D)
    }
    bytes.append(0x7D)
  }

  mutating func marker(_ m: Marker) {
    var f = true
    bytes.append(0x7B)
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
    bytes.append(0x7D)
  }

  mutating func taskInfo(_ t: TaskInfo) {
    var f = true
    bytes.append(0x7B)
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
    bytes.append(0x7D)
  }

  mutating func taskDump(_ d: TaskDump) {
    var f = true
    bytes.append(0x7B)
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
    bytes.append(0x7D)
  }

  mutating func report(_ r: CrashReport) {
    var f = true
    bytes.append(0x7B)
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
      bytes.append(0x7B)
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
      bytes.append(0x7D)
    }
    key("is_truncated", first: &f)
    bool(r.isTruncated)
    key("kind", first: &f)
    string(r.kind.rawValue)
    if let l = r.lockdep {
      key("lockdep", first: &f)
      var g = true
      bytes.append(0x7B)
      if let a = l.acquiring {
        key("acquiring", first: &g)
        lock(a)
      }
      key("chain", first: &g)
      bytes.append(0x5B)
      for (i, c) in l.chain.enumerated() {
        if i > 0 { bytes.append(0x2C) }
        var h = true
        bytes.append(0x7B)
        key("frames", first: &h)
        frames(c.frames)
        key("index", first: &h)
        int(c.index)
        key("line", first: &h)
        int(c.line)
        key("name", first: &h)
        string(c.name)
        bytes.append(0x7D)
      }
      bytes.append(0x5D)
      key("holding", first: &g)
      bytes.append(0x5B)
      for (i, x) in l.holding.enumerated() {
        if i > 0 { bytes.append(0x2C) }
        lock(x)
      }
      bytes.append(0x5D)
      key("is_deadlock", first: &g)
      bool(l.isDeadlock)
      if let t = l.task {
        key("task", first: &g)
        task(t)
      }
      bytes.append(0x7D)
    }
    if let m = r.modules {
      key("modules", first: &f)
      bytes.append(0x5B)
      for (i, x) in m.enumerated() {
        if i > 0 { bytes.append(0x2C) }
        string(x)
      }
      bytes.append(0x5D)
    }
    if let o = r.omittedFrameCount {
      key("omitted_frame_count", first: &f)
      int(o)
    }
    key("position", first: &f)
    position(r.position)
    key("prefix", first: &f)
    var g = true
    bytes.append(0x7B)
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
    bytes.append(0x7D)
    key("registers", first: &f)
    bytes.append(0x5B)
    for (i, x) in r.registers.enumerated() {
      if i > 0 { bytes.append(0x2C) }
      var h = true
      bytes.append(0x7B)
      key("name", first: &h)
      string(x.name)
      key("value", first: &h)
      string(x.value)
      bytes.append(0x7D)
    }
    bytes.append(0x5D)
    if let ip = r.rip {
      key("rip", first: &f)
      var h = true
      bytes.append(0x7B)
      if let fr = ip.frame {
        key("frame", first: &h)
        frame(fr)
      }
      key("segment", first: &h)
      string(ip.segment)
      bytes.append(0x7D)
    }
    if let t = r.taint {
      key("taint", first: &f)
      string(t)
    }
    if let t = r.task {
      key("task", first: &f)
      task(t)
    }
    bytes.append(0x7D)
  }
}
