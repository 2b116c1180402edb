import Ingest

/// How sure the analysis is about an edge. Derived from the number and kind of independent
/// sources (see docs/locks.md): never "high" from a single heuristic.
public enum Confidence: String, Sendable, Hashable, Codable, Comparable {
  case none, low, medium, high

  private var rank: Int {
    switch self {
    case .none: 0
    case .low: 1
    case .medium: 2
    case .high: 3
    }
  }
  public static func < (a: Confidence, b: Confidence) -> Bool { a.rank < b.rank }
}

/// One log line that supports (or contradicts) a conclusion.
public struct Evidence: Sendable, Hashable, Codable, Comparable {
  public var file: String
  public var line: Int
  /// What the line says, in a few words (`trace: acquire dev->mutex, no release`).
  public var fact: String

  public init(file: String, line: Int, fact: String) {
    self.file = file
    self.line = line
    self.fact = fact
  }
  public static func < (a: Evidence, b: Evidence) -> Bool {
    (a.file, a.line, a.fact) < (b.file, b.line, b.fact)
  }
}

/// A lock as far as the log identifies it.
public struct LockIdentity: Sendable, Hashable, Codable {
  /// Lock expression as the trace or the lockdep class names it (`dev->mutex`).
  public var name: String?
  /// Lockdep class as printed (`&dev->mutex#3`).
  public var lockdepClass: String?
  /// Address of the lock itself (trace lines print `&mutex`), hex without 0x.
  public var address: String?
  /// Address lockdep printed (`&mutex->dep_map`), hex without 0x.
  public var lockdepAddress: String?
  /// `mutex`, `rwsem`, `completion`, … when known from the stack.
  public var primitive: String?

  public init(
    name: String? = nil, lockdepClass: String? = nil, address: String? = nil,
    lockdepAddress: String? = nil, primitive: String? = nil
  ) {
    self.name = name
    self.lockdepClass = lockdepClass
    self.address = address
    self.lockdepAddress = lockdepAddress
    self.primitive = primitive
  }

  /// `dev->mutex (ffffffffc0203440)` or `a mutex` when unnamed.
  public var display: String {
    let label = name ?? lockdepClass.map(lockExpression) ?? "an unidentified \(primitive ?? "lock")"
    if let a = address ?? lockdepAddress { return "\(label) (\(a))" }
    return label
  }
}

/// A task as the report shows it.
public struct TaskSummary: Sendable, Hashable, Codable {
  public var pid: Int
  public var comm: String
  /// One-letter state from the last `task:` line (`D`, `S`, `R`, …).
  public var state: String?
  /// Seconds from `blocked for more than N seconds`, if the task was reported hung.
  public var blockedSeconds: Int?
  /// What the task is doing: the first frame above the scheduler (`lockhog_sleep_forever_d`).
  public var sleepsIn: String?
  /// Its top frames (reliable, scheduler frames dropped), innermost first.
  public var stack: [String]

  public init(pid: Int, comm: String) {
    self.pid = pid
    self.comm = comm
    self.stack = []
  }
}

/// A possible holder that the evidence does not prove.
public struct HolderCandidate: Sendable, Hashable, Codable {
  public var pid: Int
  public var comm: String
  public var why: String
  public var evidence: [Evidence]
}

/// One hop of a wait chain: `task` waits on `lock`, which `heldBy` holds.
public struct ChainLink: Sendable, Hashable, Codable {
  public var pid: Int
  public var comm: String
  /// The lock this task waits on, nil for the root (a holder that waits on no lock).
  public var waitsOn: String?
  public var heldBy: Int?
}

/// A task that is blocked, and what the log says about why.
public struct BlockedTask: Sendable, Hashable, Codable {
  public var pid: Int
  public var comm: String
  public var task: TaskSummary
  /// The primitive it sleeps in (`mutex`, `completion`, …), nil when not a known primitive.
  public var primitive: String?
  /// The caller of the primitive (`lockhog_lock+0x64/0xa0 [lockhog]`).
  public var waitSite: String?
  /// The lock it waits on, when identified.
  public var lock: LockIdentity?
  /// The holder, only when the evidence proves it (see `confidence`).
  public var holder: TaskSummary?
  public var holderCandidates: [HolderCandidate]
  /// Locks this task holds (that others may wait for).
  public var holds: [LockIdentity]
  /// This task, its holder, the holder's holder … to the root (or around a cycle).
  public var chain: [ChainLink]
  public var isInCycle: Bool
  /// Line numbers of every supporting line (sorted, unique); details in `evidenceDetail`.
  public var evidence: [Int]
  public var evidenceDetail: [Evidence]
  /// Confidence in the holder (none when there is no holder).
  public var confidence: Confidence
  /// Gaps and contradictions, in words.
  public var notes: [String]
  /// The evidence that names the holder (a subset of `evidenceDetail`; not encoded separately).
  public var holderEvidence: [Evidence] = []

  private enum CodingKeys: String, CodingKey {
    case pid, comm, task, primitive, waitSite, lock, holder, holderCandidates, holds, chain,
      isInCycle, evidence, evidenceDetail, confidence, notes
  }

  /// `lock` and `holder` are written as `null` when unknown (consumers test for it).
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(pid, forKey: .pid)
    try c.encode(comm, forKey: .comm)
    try c.encode(task, forKey: .task)
    try c.encode(primitive, forKey: .primitive)
    try c.encode(waitSite, forKey: .waitSite)
    try c.encode(lock, forKey: .lock)
    try c.encode(holder, forKey: .holder)
    try c.encode(holderCandidates, forKey: .holderCandidates)
    try c.encode(holds, forKey: .holds)
    try c.encode(chain, forKey: .chain)
    try c.encode(isInCycle, forKey: .isInCycle)
    try c.encode(evidence, forKey: .evidence)
    try c.encode(evidenceDetail, forKey: .evidenceDetail)
    try c.encode(confidence, forKey: .confidence)
    try c.encode(notes, forKey: .notes)
  }
}

/// A lock with a proven holder and the tasks waiting for it.
public struct LockHolding: Sendable, Hashable, Codable {
  public var lock: LockIdentity
  public var holder: TaskSummary
  /// Trace timestamp (seconds, trace clock) of the acquire without a release.
  public var since: Double?
  public var waiters: [Int]
  public var confidence: Confidence
  public var evidence: [Evidence]
}

/// A deadlock: a cycle in the wait-for graph (tasks), or a lockdep circular dependency (classes).
public struct LockCycle: Sendable, Hashable, Codable {
  /// `wait_for` (tasks waiting on each other now) or `lockdep` (an ordering cycle lockdep saw).
  public var kind: String
  public var tasks: [ChainLink]
  /// Lock names around the cycle, in order.
  public var locks: [String]
  public var isDeadlock: Bool
  public var evidence: [Int]
  public var evidenceDetail: [Evidence]
  public var description: String
}

/// Result of `LockCorrelator.analyze`.
public struct LockAnalysis: Sendable, Hashable, Codable {
  public var blocked: [BlockedTask]
  public var holders: [LockHolding]
  public var cycles: [LockCycle]
  /// Facts about the log as a whole (lockdep turned off, no trace, dep_map offset learnt, …).
  public var notes: [String]
  /// Which kinds of evidence the log had: `hung_task`, `lockdep`, `trace`, `blocker`, `sysrq`.
  public var sources: [String]
}
