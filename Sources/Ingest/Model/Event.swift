/// One structured fact parsed from a log. Each payload carries its own `SourcePosition`.
///
/// JSON form: `{"kind": "<case>", "<case>": {payload}}` so a consumer can switch on `kind`
/// without knowing every payload.
public enum Event: Sendable, Hashable {
  case report(CrashReport)
  case taskDump(TaskDump)
  case heldLocks(HeldLockList)
  case blocker(BlockerNote)
  case ftrace(FtraceRecord)
  case marker(Marker)

  public var kind: EventKind {
    switch self {
    case .report: .report
    case .taskDump: .taskDump
    case .heldLocks: .heldLocks
    case .blocker: .blocker
    case .ftrace: .ftrace
    case .marker: .marker
    }
  }

  public var position: SourcePosition {
    switch self {
    case .report(let r): r.position
    case .taskDump(let t): t.position
    case .heldLocks(let l): l.position
    case .blocker(let b): b.position
    case .ftrace(let f): f.position
    case .marker(let m): m.position
    }
  }
}

public enum EventKind: String, Sendable, Hashable, Codable, CaseIterable {
  case report, taskDump = "task_dump", heldLocks = "held_locks", blocker, ftrace, marker
}

extension Event: Codable {
  // Camel-case keys: encoders/decoders with the snake_case strategy map them to
  // `task_dump` / `held_locks`, matching EventKind's raw values.
  private enum CodingKeys: String, CodingKey {
    case kind, report, taskDump, heldLocks, blocker, ftrace, marker
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    switch try c.decode(EventKind.self, forKey: .kind) {
    case .report: self = .report(try c.decode(CrashReport.self, forKey: .report))
    case .taskDump: self = .taskDump(try c.decode(TaskDump.self, forKey: .taskDump))
    case .heldLocks: self = .heldLocks(try c.decode(HeldLockList.self, forKey: .heldLocks))
    case .blocker: self = .blocker(try c.decode(BlockerNote.self, forKey: .blocker))
    case .ftrace: self = .ftrace(try c.decode(FtraceRecord.self, forKey: .ftrace))
    case .marker: self = .marker(try c.decode(Marker.self, forKey: .marker))
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(kind, forKey: .kind)
    switch self {
    case .report(let v): try c.encode(v, forKey: .report)
    case .taskDump(let v): try c.encode(v, forKey: .taskDump)
    case .heldLocks(let v): try c.encode(v, forKey: .heldLocks)
    case .blocker(let v): try c.encode(v, forKey: .blocker)
    case .ftrace(let v): try c.encode(v, forKey: .ftrace)
    case .marker(let v): try c.encode(v, forKey: .marker)
    }
  }
}

/// `comm` and `pid` of a task as the kernel names it (`comm:pid` in hung-task lines, `comm/pid`
/// in lockdep lines).
public struct TaskRef: Sendable, Hashable, Codable, CustomStringConvertible {
  public var comm: String
  public var pid: Int
  public init(comm: String, pid: Int) {
    self.comm = comm
    self.pid = pid
  }
  public var description: String { "\(comm) (pid \(pid))" }
}

/// The `task:%-15.15s state:%c stack:%-5lu pid:%-5d tgid:%-5d ppid:%-6d flags:0x%08lx` line of
/// `sched_show_task()` (kernel/sched/core.c). Fields are parsed as `key:value` pairs so older
/// (no `tgid:`) and newer (`task_flags:`) kernels both work.
public struct TaskInfo: Sendable, Hashable, Codable {
  public var comm: String
  /// One-letter state: D (uninterruptible), S, R, T, I, …
  public var state: String?
  public var stack: Int?
  public var pid: Int?
  public var tgid: Int?
  public var ppid: Int?
  public var flags: String?
  public var taskFlags: String?
  public init(comm: String) { self.comm = comm }
}

/// A kind of crash report, from its header line. Rules in `rules/ingest.toml` map headers here.
public enum ReportKind: String, Sendable, Hashable, Codable, CaseIterable {
  case bug, warning, hungTask = "hung_task", rcuStall = "rcu_stall", softLockup = "soft_lockup"
  case kasan, kmsan, kcsan, kfence, ubsan
  case generalProtection = "general_protection", pageFault = "page_fault", oops
  case panic, lockdep, memoryLeak = "memory_leak", other
}

/// A crash report: from its header line to its end (`---[ end trace`, the next report, the end
/// of the task's output or the end of the log).
public struct CrashReport: Sendable, Hashable, Codable {
  public var kind: ReportKind
  /// The header line's text without printk prefix.
  public var headline: String
  public var position: SourcePosition
  /// Last line (inclusive) that belongs to the report.
  public var endLine: Int
  public var prefix: LinePrefix
  /// The task the report is about (hung task, or `CPU: n PID: m Comm: x` line).
  public var task: TaskRef?
  public var cpu: Int?
  /// Kernel release and taint from the `CPU:`/`Tainted:` lines.
  public var taint: String?
  /// All frames of all stacks in the report, in print order, contexts marked per frame.
  public var frames: [Frame]
  public var rip: InstructionPointer?
  /// `Code:` bytes as printed.
  public var code: String?
  /// Register dump as name → value, in print order.
  public var registers: [Register]
  public var modules: [String]?
  /// Hung-task details when `kind == .hungTask`.
  public var hungTask: HungTaskDetails?
  /// Lockdep splat details when `kind == .lockdep`.
  public var lockdep: LockdepDetails?
  /// Frames beyond the per-report cap (hostile or runaway traces), counted but not kept.
  public var omittedFrameCount: Int?
  /// True when the log ended inside the report's stack (or before any frame was printed).
  public var isTruncated: Bool
  /// The end marker line (`---[ end trace ... ]---`), when present.
  public var endMarker: String?

  public init(kind: ReportKind, headline: String, position: SourcePosition, prefix: LinePrefix) {
    self.kind = kind
    self.headline = headline
    self.position = position
    self.endLine = position.line
    self.prefix = prefix
    self.frames = []
    self.registers = []
    self.isTruncated = false
  }

  /// Frames the unwinder vouched for (no `?`).
  public var reliableFrames: [Frame] { frames.filter(\.isReliable) }
}

public struct Register: Sendable, Hashable, Codable {
  public var name: String
  public var value: String
  public init(name: String, value: String) {
    self.name = name
    self.value = value
  }
}

/// `INFO: task comm:pid blocked for more than N seconds.` and what follows it.
public struct HungTaskDetails: Sendable, Hashable, Codable {
  public var task: TaskRef
  public var seconds: Int
  public var info: TaskInfo?
  /// `Not tainted …` / `Tainted: G …` line text.
  public var taint: String?
  public init(task: TaskRef, seconds: Int) {
    self.task = task
    self.seconds = seconds
  }
}

/// One `#N: addr (class){mask}-{w:w}, at: site` entry of a lockdep held-lock list.
public struct HeldLock: Sendable, Hashable, Codable {
  public var index: Int
  /// Address of the lock's `lockdep_map` (for a mutex: `&mutex->dep_map`), nil if hashed/absent.
  public var address: UInt64?
  public var name: String
  /// Usage mask such as `+.+.`.
  public var usage: String?
  /// Wait type `{inner:outer}` such as `4:4`, absent on older kernels.
  public var waitType: String?
  /// Acquire site (`func+off/size [mod]`).
  public var site: Frame?
  public var line: Int
  public init(index: Int, name: String, line: Int) {
    self.index = index
    self.name = name
    self.line = line
  }

  private enum CodingKeys: String, CodingKey { case index, address, name, usage, waitType, site, line }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    index = try c.decode(Int.self, forKey: .index)
    address = try KernelAddress.decode(c, .address)
    name = try c.decode(String.self, forKey: .name)
    usage = try c.decodeIfPresent(String.self, forKey: .usage)
    waitType = try c.decodeIfPresent(String.self, forKey: .waitType)
    site = try c.decodeIfPresent(Frame.self, forKey: .site)
    line = try c.decode(Int.self, forKey: .line)
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(index, forKey: .index)
    try KernelAddress.encode(address, &c, .address)
    try c.encode(name, forKey: .name)
    try c.encodeIfPresent(usage, forKey: .usage)
    try c.encodeIfPresent(waitType, forKey: .waitType)
    try c.encodeIfPresent(site, forKey: .site)
    try c.encode(line, forKey: .line)
  }
}

/// `N locks held by comm/pid:` and its entries (lockdep `lockdep_print_held_locks()`).
public struct HeldLockList: Sendable, Hashable, Codable {
  public var task: TaskRef
  /// The count the header announces; `locks.count` may be smaller (task running elsewhere).
  public var count: Int
  public var locks: [HeldLock]
  public var position: SourcePosition
  /// True inside `Showing all locks held in the system:`.
  public var isSystemDump: Bool
  public init(task: TaskRef, count: Int, position: SourcePosition, isSystemDump: Bool) {
    self.task = task
    self.count = count
    self.locks = []
    self.position = position
    self.isSystemDump = isSystemDump
  }
}

/// One `-> #N (class){....}-{w:w}:` block of a lockdep dependency chain with its stack.
public struct LockChainLink: Sendable, Hashable, Codable {
  public var index: Int
  public var name: String
  public var frames: [Frame]
  public var line: Int
  public init(index: Int, name: String, line: Int) {
    self.index = index
    self.name = name
    self.frames = []
    self.line = line
  }
}

/// Details of a lockdep splat (circular dependency, recursive locking, …).
public struct LockdepDetails: Sendable, Hashable, Codable {
  /// The task that triggered the splat (`comm/pid is trying to acquire lock:`).
  public var task: TaskRef?
  /// The lock being acquired.
  public var acquiring: HeldLock?
  /// The lock(s) already held (`but task is already holding lock:`).
  public var holding: [HeldLock]
  /// `-> #N` chain blocks, in print order.
  public var chain: [LockChainLink]
  /// True when `*** DEADLOCK ***` was printed.
  public var isDeadlock: Bool
  public init() {
    holding = []
    chain = []
    isDeadlock = false
  }
}

/// A `task:` block outside a hung-task report (sysrq-t dump, hung-task blocker owner).
public struct TaskDump: Sendable, Hashable, Codable {
  public var info: TaskInfo
  public var frames: [Frame]
  public var position: SourcePosition
  public var endLine: Int
  public var timestamp: Double?
  public init(info: TaskInfo, position: SourcePosition) {
    self.info = info
    self.frames = []
    self.position = position
    self.endLine = position.line
  }
}

/// `INFO: task A:pid is blocked on a mutex likely owned by task B:pid.` (kernel/hung_task.c
/// `debug_show_blocker()`, ≈ v6.15+; semaphore and rw-semaphore variants later).
public struct BlockerNote: Sendable, Hashable, Codable {
  public var waiter: TaskRef
  /// `mutex`, `semaphore`, `rw-semaphore`.
  public var primitive: String
  /// Nil when the kernel says the owner is not found.
  public var owner: TaskRef?
  /// `reader`/`writer` for rw-semaphores.
  public var waiterRole: String?
  public var ownerRole: String?
  public var position: SourcePosition
  public init(waiter: TaskRef, primitive: String, owner: TaskRef?, position: SourcePosition) {
    self.waiter = waiter
    self.primitive = primitive
    self.owner = owner
    self.position = position
  }
}

/// One line of an ftrace dump (kernel/trace/trace_output.c latency format).
public struct FtraceRecord: Sendable, Hashable, Codable {
  /// Comm as printed: truncated to 8 chars, or `<...>` when unknown.
  public var comm: String
  public var pid: Int
  public var cpu: Int
  /// Latency flags such as `1d..1.`; nil when the line had none.
  public var flags: String?
  /// Timestamp in seconds (ftrace prints µs in dumps).
  public var timestamp: Double
  /// Function or event name before the message (`lockhog_lock`, `bprint`, `bputs`, `sched_switch`).
  public var event: String
  public var message: String
  /// Parsed `vhost_lock:` message, when it is one.
  public var vhostLock: VhostLockOp?
  /// ` => func` lines following a `<stack trace>` record (ftrace `stacktrace` option).
  public var stack: [String]?
  public var position: SourcePosition
  public init(
    comm: String, pid: Int, cpu: Int, flags: String?, timestamp: Double, event: String,
    message: String, position: SourcePosition
  ) {
    self.comm = comm
    self.pid = pid
    self.cpu = cpu
    self.flags = flags
    self.timestamp = timestamp
    self.event = event
    self.message = message
    self.position = position
  }
}

/// `vhost_lock: <op> <lock> key=value ...` from the instrumented vhost driver or the lab module.
public struct VhostLockOp: Sendable, Hashable, Codable {
  /// `wait`, `acquire`, `release`, `acquiring`, `acquired`, … as printed.
  public var operation: String
  /// Lock name such as `dev->mutex`; nil if the message has none.
  public var lock: String?
  /// Remaining `key=value` fields in print order (`lock=ffff…`, `owner=104`, `comm=vhost-1234`).
  public var fields: [VhostField]
  public init(operation: String, lock: String?, fields: [VhostField]) {
    self.operation = operation
    self.lock = lock
    self.fields = fields
  }
  public func field(_ key: String) -> String? { fields.first { $0.key == key }?.value }
}

public struct VhostField: Sendable, Hashable, Codable {
  public var key: String
  public var value: String
  public init(key: String, value: String) {
    self.key = key
    self.value = value
  }
}

/// Single-line facts: banner, KASLR offset, end-of-trace, panic, ftrace dump boundaries.
public struct Marker: Sendable, Hashable, Codable {
  public var kind: MarkerKind
  public var text: String
  /// Parsed value: the offset for `Kernel Offset:`, the release for `Linux version`.
  public var value: String?
  public var position: SourcePosition
  public var timestamp: Double?
  public init(kind: MarkerKind, text: String, value: String? = nil, position: SourcePosition, timestamp: Double? = nil) {
    self.kind = kind
    self.text = text
    self.value = value
    self.position = position
    self.timestamp = timestamp
  }
}

public enum MarkerKind: String, Sendable, Hashable, Codable, CaseIterable {
  case linuxVersion = "linux_version", kernelOffset = "kernel_offset", endTrace = "end_trace"
  case panic, ftraceDumpStart = "ftrace_dump_start", ftraceDumpEnd = "ftrace_dump_end"
  case lockdepOff = "lockdep_off", printkDropped = "printk_dropped", reboot
}
