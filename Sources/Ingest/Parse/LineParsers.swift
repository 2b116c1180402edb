/// Byte-level parsers for the structured lines inside reports and dumps. Each takes the message
/// body (printk prefix stripped) and returns nil when the line is not of its kind.
enum LineParsers {
  /// `N locks held by comm/pid:` / `1 lock held by comm/pid:` / `no locks held by comm/pid.`
  /// (kernel/locking/lockdep.c `lockdep_print_held_locks()`). comm may contain `/`: split on the
  /// last one.
  static func heldLocksHeader(_ b: UnsafeBufferPointer<UInt8>) -> (count: Int, task: TaskRef)? {
    var i = 0
    var count = 0
    if b.has("no locks held by ") {
      i = 17
    } else {
      guard let (c, e) = b.decimal(at: 0) else { return nil }
      count = c
      if b.has(" locks held by ", at: e) {
        i = e + 15
      } else if b.has(" lock held by ", at: e) {
        i = e + 14
      } else {
        return nil
      }
    }
    var end = b.count
    while end > i, b[end - 1] == 0x3A || b[end - 1] == 0x2E || b[end - 1] == 0x20 { end -= 1 }
    guard let task = splitTask(b, i, end, separator: 0x2F) else { return nil }
    return (count, task)
  }

  /// `comm<sep>pid` where comm may itself contain the separator.
  static func splitTask(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, separator: UInt8) -> TaskRef? {
    splitTaskRange(b, start, end, separator: separator).map { TaskRef(comm: b.text($0.comm), pid: $0.pid) }
  }

  static func splitTaskRange(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, separator: UInt8) -> (comm: Range<Int>, pid: Int)? {
    var k = end - 1
    while k > start, Bytes.isDigit(b[k]) { k -= 1 }
    guard k > start, k < end - 1, b[k] == separator, let (pid, _) = b.decimal(at: k + 1) else { return nil }
    return (start..<k, pid)
  }

  /// A held-lock entry ` #0: ffff888054cc68e8 (&vtsk->exit_mutex){+.+.}-{4:4}, at: site`.
  /// Older kernels print no address (` #0:  (&mm->mmap_sem){++++}, at: [<ffff...>] site`).
  static func heldLockEntry(_ b: UnsafeBufferPointer<UInt8>, line: Int) -> HeldLock? {
    var i = b.skipSpaces(0)
    guard i < b.count, b[i] == 0x23, let (idx, e) = b.decimal(at: i + 1), e < b.count, b[e] == 0x3A else {
      return nil
    }
    i = e + 1
    return lockDescription(b, from: i, index: idx, line: line)
  }

  /// `ffff888012345678 (&vq->mutex){+.+.}-{4:4}, at: func+0x../0x..` (also the lockdep splat's
  /// "trying to acquire" / "already holding" lines).
  static func lockDescription(_ b: UnsafeBufferPointer<UInt8>, from: Int, index: Int, line: Int) -> HeldLock? {
    var i = b.skipSpaces(from)
    var address: UInt64?
    if i < b.count, Bytes.isHex(b[i]), let (a, e) = b.hex(at: i), e < b.count, b[e] == 0x20 {
      address = a
      i = b.skipSpaces(e)
    }
    guard i < b.count, b[i] == 0x28 else { return nil }
    // The class name may contain parens: `((work_completion)(&strp->work))`. It ends at the `)`
    // followed by `{` (usage mask) or `,` (very old kernels).
    var close = -1
    var k = i + 1
    while k < b.count {
      if b[k] == 0x29, k + 1 >= b.count || b[k + 1] == 0x7B || b[k + 1] == 0x2C || b[k + 1] == 0x3A {
        close = k
        break
      }
      k += 1
    }
    guard close > i else { return nil }
    var lock = HeldLock(index: index, name: b.text(i + 1..<close), line: line)
    lock.address = address
    i = close + 1
    if i < b.count, b[i] == 0x7B, let end = b.find(byte: 0x7D, from: i) {
      lock.usage = b.text(i + 1..<end)
      i = end + 1
      if b.has("-{", at: i), let end2 = b.find(byte: 0x7D, from: i + 2) {
        lock.waitType = b.text(i + 2..<end2)
        i = end2 + 1
      }
    }
    if let at = b.find(", at:", from: i) {
      let rest = UnsafeBufferPointer(rebasing: b[(at + 5)...])
      lock.site = FrameParser.parse(rest, line: line)
    }
    return lock
  }

  /// `-> #1 (&worker->mutex){+.+.}-{4:4}:` (lockdep `print_circular_bug_entry()`).
  static func chainHeader(_ b: UnsafeBufferPointer<UInt8>, line: Int) -> LockChainLink? {
    var i = b.skipSpaces(0)
    guard b.has("-> #", at: i), let (idx, e) = b.decimal(at: i + 4) else { return nil }
    i = e
    guard let l = lockDescription(b, from: i, index: idx, line: line) else { return nil }
    return LockChainLink(index: idx, name: l.name, line: line)
  }

  /// The `task:` line of `sched_show_task()`: `task:comm state:D stack:0 pid:91 tgid:91 ppid:2
  /// flags:0x00004000`. comm is `%-15.15s`, so it may contain spaces; it ends at ` state:`.
  static func taskLine(_ b: UnsafeBufferPointer<UInt8>) -> TaskInfo? {
    guard b.has("task:"), let st = b.find(" state:", from: 5) else { return nil }
    var end = st
    while end > 5, b[end - 1] == 0x20 { end -= 1 }
    var info = TaskInfo(comm: b.text(5..<end))
    var i = st + 1
    while i < b.count {
      i = b.skipSpaces(i)
      guard let colon = b.find(byte: 0x3A, from: i) else { break }
      var e = colon + 1
      while e < b.count, b[e] != 0x20 { e += 1 }
      let key = UnsafeBufferPointer(rebasing: b[i..<colon])
      let val = colon + 1
      if key.has("state") && key.count == 5 {
        info.state = b.text(val..<e)
      } else if key.has("stack") && key.count == 5 {
        info.stack = b.decimal(at: val)?.0
      } else if key.has("pid") && key.count == 3 {
        info.pid = b.decimal(at: val)?.0
      } else if key.has("tgid") && key.count == 4 {
        info.tgid = b.decimal(at: val)?.0
      } else if key.has("ppid") && key.count == 4 {
        info.ppid = b.decimal(at: val)?.0
      } else if key.has("flags") && key.count == 5 {
        info.flags = b.text(val..<e)
      } else if key.has("task_flags") && key.count == 10 {
        info.taskFlags = b.text(val..<e)
      }
      i = e
    }
    return info
  }

  /// `CPU: 1 UID: 0 PID: 5961 Comm: syz-executor Not tainted 6.12.0 #0 PREEMPT(full)`
  /// (lib/dump_stack.c `dump_stack_print_info()`).
  static func cpuLine(_ b: UnsafeBufferPointer<UInt8>) -> (cpu: Int, task: TaskRef?, taint: String?)? {
    guard b.has("CPU: "), let (cpu, _) = b.decimal(at: 5) else { return nil }
    guard let p = b.find(" PID: ", from: 5), let (pid, pe) = b.decimal(at: p + 6) else {
      return (cpu, nil, nil)
    }
    guard b.has(" Comm: ", at: pe) else { return (cpu, nil, nil) }
    let cs = pe + 7
    var ce = cs
    // comm is %.20s; it ends at " Not tainted" / " Tainted:".
    let rest = UnsafeBufferPointer(rebasing: b[cs...])
    var taint: String?
    if let t = rest.find(" Not tainted") {
      ce = cs + t
      taint = b.text(ce + 1..<b.count)
    } else if let t = rest.find(" Tainted: ") {
      ce = cs + t
      taint = b.text(ce + 1..<b.count)
    } else {
      while ce < b.count, b[ce] != 0x20 { ce += 1 }
    }
    return (cpu, TaskRef(comm: b.text(cs..<ce), pid: pid), taint)
  }

  /// Register dump lines: `RSP: 0018:ffffc900 EFLAGS: 00000246` / `RAX: ... RBX: ... RCX: ...`
  /// (arch/x86/kernel/process_64.c `__show_regs()`).
  static func registers(_ b: UnsafeBufferPointer<UInt8>, into regs: inout [Register]) -> Bool {
    forEachRegister(b) { regs.append(Register(name: b.text($0), value: b.text($1))) }
  }

  /// Calls `each` with the name and value ranges of every register on the line, in order;
  /// returns false when the line holds none.
  @inline(__always)
  static func forEachRegister(_ b: UnsafeBufferPointer<UInt8>, _ each: (Range<Int>, Range<Int>) -> Void) -> Bool {
    // Cheap shape check: a register name (`registerNameEnd`), ':', spaces, a hex digit.
    var i = 0
    var any = false
    while i < b.count {
      i = b.skipSpaces(i)
      let ns = i
      i = registerNameEnd(b, from: i)
      guard i > ns, i + 1 < b.count, b[i] == 0x3A else { return any }
      let name = ns..<i
      i = b.skipSpaces(i + 1)
      let vs = i
      i = b.tokenEnd(from: i).end
      guard i > vs, Bytes.isHex(b[vs]) else { return any }
      each(name, vs..<i)
      any = true
    }
    return any
  }

  /// The end of a register name at `i` (`i` when there is none): 2-8 upper-case letters, digits
  /// and `_` (`RAX`, `R10`, `EFLAGS`, `ORIG_RAX`, `FS_BASE`) starting with a letter.
  @inline(__always)
  static func registerNameEnd(_ b: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
    guard start < b.count, b[start] &- 0x41 < 26 else { return start }
    var i = start + 1
    while i < b.count, i - start < 9, b[i] &- 0x41 < 26 || Bytes.isDigit(b[i]) || b[i] == 0x5F { i += 1 }
    return (2...8).contains(i - start) ? i : start
  }

  /// The end of the register name `b` starts with, when `b` starts like a register dump line:
  /// a register name, then `: `.
  @inline(__always)
  static func registerLineStart(_ b: UnsafeBufferPointer<UInt8>) -> Int? {
    let e = registerNameEnd(b, from: 0)
    return e > 0 && e + 1 < b.count && b[e] == 0x3A && b[e + 1] == 0x20 ? e : nil
  }

  /// True for `RSP: 0018:...`-shaped lines (register dumps inside a stack).
  static func looksLikeRegisters(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
    let e = registerNameEnd(b, from: 0)
    return e > 0 && e < b.count && b[e] == 0x3A
  }

  /// An ftrace dump line in latency format (`ftrace_dump()` forces it):
  /// `vhost-12-104       1..... 2123127us : lockhog_lock: vhost_lock: wait ...`, or the default
  /// format `   <idle>-0       [001] d.h1.  1234.567890: func: msg`.
  static func ftraceLine(_ b: UnsafeBufferPointer<UInt8>, position: SourcePosition) -> FtraceRecord? {
    guard let r = ftraceRaw(b) else { return nil }
    var rec = FtraceRecord(
      comm: b.text(r.comm), pid: r.pid, cpu: r.cpu, flags: r.flags.map { b.text($0) }, timestamp: r.timestamp,
      event: b.text(r.event), message: b.text(r.message), position: position)
    if let v = r.vhost { rec.vhostLock = vhostLock(UnsafeBufferPointer(rebasing: b[v...])) }
    return rec
  }

  /// An ftrace line's parts as ranges of `b` (see `ftraceLine`); `vhost` is where the message
  /// after `vhost_lock: ` starts, when it has one.
  struct RawFtraceLine {
    var comm: Range<Int>
    var pid: Int
    var cpu = 0
    var flags: Range<Int>?
    var timestamp = 0.0
    var event = 0..<0
    var message = 0..<0
    var vhost: Int?
  }

  static func ftraceRaw(_ b: UnsafeBufferPointer<UInt8>) -> RawFtraceLine? {
    var i = b.skipSpaces(0)
    let ts = i
    while i < b.count, b[i] != 0x20 { i += 1 }
    guard i < b.count, let task = splitTaskRange(b, ts, i, separator: 0x2D) else { return nil }
    var r = RawFtraceLine(comm: task.comm, pid: task.pid)
    i = b.skipSpaces(i)
    var cpu = 0
    var flags: Range<Int>?
    var timestamp = 0.0
    if i < b.count, b[i] == 0x5B {
      // Default format: [cpu] flags timestamp:
      guard let (c, e) = b.decimal(at: i + 1), e < b.count, b[e] == 0x5D else { return nil }
      cpu = c
      i = b.skipSpaces(e + 1)
      let fs = i
      while i < b.count, b[i] != 0x20 { i += 1 }
      flags = fs..<i
      i = b.skipSpaces(i)
      guard let (sec, dot) = b.decimal(at: i), dot < b.count, b[dot] == 0x2E,
        let (frac, fe) = b.decimal(at: dot + 1)
      else { return nil }
      var scale = 1
      for _ in 0..<min(fe - dot - 1, 12) { scale *= 10 }
      timestamp = Double(sec &* scale &+ frac) / Double(scale)
      i = fe
      guard i < b.count, b[i] == 0x3A else { return nil }
      i += 1
    } else {
      // Latency format: cpu digits glued to the flag columns, then `NNNNus` + mark + ` : `.
      guard let (c, e) = b.decimal(at: i) else { return nil }
      cpu = c
      var fe = e
      while fe < b.count, b[fe] != 0x20 { fe += 1 }
      if fe > e { flags = e..<fe }
      i = b.skipSpaces(fe)
      guard let (us, ue) = b.decimal(at: i), b.has("us", at: ue) else { return nil }
      timestamp = Double(us) / 1_000_000
      i = ue + 2
      // Optional delay mark ($ @ * # ! +), then " : ".
      while i < b.count, b[i] != 0x3A { i += 1 }
      guard i < b.count else { return nil }
      i += 1
    }
    i = b.skipSpaces(i)
    // Event/caller name up to ": " (trace_printk prints the caller symbol, optionally with
    // `<addr>` under sym-addr).
    let es = i
    r.cpu = cpu
    r.flags = flags
    r.timestamp = timestamp
    guard let colon = b.find(": ", from: i) else {
      // `<stack trace>` and similar records have no message.
      r.event = es..<b.count
      return r
    }
    var ee = colon
    // `<addr>` under sym-addr: looked for before the colon only (the message has many spaces).
    if let sp = UnsafeBufferPointer(rebasing: b[..<colon]).find(" <", from: es) { ee = sp }
    r.event = es..<ee
    r.message = colon + 2..<b.count
    if let v = UnsafeBufferPointer(rebasing: b[(colon + 2)...]).find("vhost_lock: ") { r.vhost = colon + 2 + v + 12 }
    return r
  }

  /// The event/caller name range of an ftrace line, with the same shape checks as `ftraceLine`
  /// but no decoding (count-only mode).
  static func ftraceEventName(_ b: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
    var i = b.skipSpaces(0)
    let ts = i
    while i < b.count, b[i] != 0x20 { i += 1 }
    guard i < b.count, i > ts, let dash = b.find(byte: 0x2D, from: ts, to: i), dash > ts else { return nil }
    var k = i - 1
    while k > ts, Bytes.isDigit(b[k]) { k -= 1 }
    guard b[k] == 0x2D, k < i - 1 else { return nil }
    i = b.skipSpaces(i)
    guard i < b.count, Bytes.isDigit(b[i]) || b[i] == 0x5B else { return nil }
    // Timestamp ends with "us" + mark + " : " (latency) or ": " (default format).
    guard let sep = b.find(": ", from: i) else { return nil }
    var es = b.skipSpaces(sep + 1)
    if es < b.count, b[es] == 0x3A { es = b.skipSpaces(es + 1) }
    guard es < b.count else { return nil }
    var ee = es
    while ee < b.count, b[ee] != 0x3A, b[ee] != 0x20 { ee += 1 }
    return es..<ee
  }

  /// 64-bit FNV-1a over `b[r]`.
  static func fnv1a(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for i in r {
      h ^= UInt64(b[i])
      h = h &* 0x100_0000_01b3
    }
    return h
  }

  /// `vhost_lock: <op> <lock> key=value ...` message body (after `vhost_lock: `). Tokens with `=`
  /// are fields; the first bare token is the operation, the second the lock name.
  static func vhostLock(_ b: UnsafeBufferPointer<UInt8>) -> VhostLockOp {
    var fields: [VhostField] = []
    let (op, lock) = vhostTokens(b) { fields.append(VhostField(key: b.text($0), value: b.text($1))) }
    return VhostLockOp(operation: op.map { b.text($0) } ?? "", lock: lock.map { b.text($0) }, fields: fields)
  }

  /// Splits a `vhost_lock:` message into its `key=value` fields (passed to `field` in order)
  /// and returns the first two bare words: the operation and the lock name.
  @inline(__always)
  static func vhostTokens(_ b: UnsafeBufferPointer<UInt8>, field: (Range<Int>, Range<Int>) -> Void) -> (op: Range<Int>?, lock: Range<Int>?) {
    var op: Range<Int>?
    var lock: Range<Int>?
    var i = 0
    while i < b.count {
      i = b.skipSpaces(i)
      let s = i
      // The token's end and its first `=` in one pass (a memchr call per token cost more).
      let (end, eq) = b.tokenEnd(from: i)
      i = end
      guard i > s else { break }
      // A token starting with `=` has no key: treat it as a bare word (fuzz finding).
      if eq > s {
        field(s..<eq, eq + 1..<i)
      } else if op == nil {
        op = s..<i
      } else if lock == nil {
        lock = s..<i
      }
    }
    return (op, lock)
  }
}
