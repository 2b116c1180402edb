import Driver
import Forensics
import Foundation

@testable import Ingest

#if canImport(Glibc)
  import Glibc
#endif

// libFuzzer entry points for every byte-level parser. One binary, many targets: the target is
// chosen by $FUZZ_TARGET (see `FuzzTarget`), so `make fuzz` builds and links once. Each target
// checks invariants (bounds, ordering, valid JSON), not outputs: an invariant failure traps, and
// libFuzzer saves the input as a crash reproducer.
//
// Build and run: `make fuzz` / `make fuzz-smoke` (mk/hardening.mk).

/// The parsers under test. Raw values are the names `FUZZ_TARGET` takes.
enum FuzzTarget: String, CaseIterable {
  /// Line splitter (memchr, CR stripping, per-line cap) + printk prefix parser.
  case lines
  /// Call-trace frames and `RIP:` lines.
  case frame
  /// Lockdep held-lock headers/entries, lock descriptions, `-> #N` chain headers.
  case lockdep
  /// `task:` lines of sched_show_task, `CPU:` lines, register dumps.
  case task
  /// ftrace dump lines, event names, `vhost_lock:` messages.
  case ftrace
  /// The whole EventParser state machine, detailed and count-only.
  case events
  /// EventParser → JSON Lines writer; every record must parse back as a JSON object.
  case jsonl
  /// The `.xz` reader (liblzma streaming decoder) on arbitrary bytes.
  case xz
  /// The title engine (syzbot-style titles, report boundaries) on whole logs.
  case title
  /// The redactor, line by line: no newline added, idempotent.
  case redact
  /// The syzbot bug page parser (HTML + JSON forms, attachment and asset links).
  case syzbot
}

nonisolated(unsafe) private var target: FuzzTarget = .events
nonisolated(unsafe) private var rules: IngestRules?
nonisolated(unsafe) private var titler: Titler?
nonisolated(unsafe) private var redaction: RedactionRules?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(
  _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
  let name = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? ""
  guard let t = FuzzTarget(rawValue: name) else {
    let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
    say("repro-fuzz: set FUZZ_TARGET to one of: \(names)\n")
    exit(2)
  }
  target = t
  do {
    let dir = try RulesDirectory.locate()
    rules = try IngestRules.load(directory: dir)
    if t == .title { titler = try Titler(rulesDirectory: dir) }
    if t == .redact { redaction = try RedactionRules.load(rulesDirectory: dir) }
  } catch {
    say("repro-fuzz: \(error)\n")
    exit(2)
  }
  return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let input = UnsafeBufferPointer(start: data, count: size)
  let problems: [String]
  switch target {
  case .lines: problems = FuzzChecks.lines(input)
  case .frame: problems = FuzzChecks.eachLine(input, FuzzChecks.frame)
  case .lockdep: problems = FuzzChecks.eachLine(input, FuzzChecks.lockdep)
  case .task: problems = FuzzChecks.eachLine(input, FuzzChecks.task)
  case .ftrace: problems = FuzzChecks.eachLine(input, FuzzChecks.ftrace)
  case .events: problems = FuzzChecks.events(input, rules: rules!)
  case .jsonl: problems = FuzzChecks.jsonl(input, rules: rules!)
  case .xz: problems = FuzzChecks.xz(Array(input))
  case .title: problems = ForensicsFuzzChecks.title(input, titler: titler!)
  case .redact: problems = ForensicsFuzzChecks.redact(input, rules: redaction!)
  case .syzbot: problems = DriverFuzzChecks.syzbotPage(input)
  }
  if !problems.isEmpty {
    // An invariant broke: report it and abort, so libFuzzer saves the input as a reproducer.
    say("repro-fuzz[\(target.rawValue)]: " + problems.prefix(5).joined(separator: "\n  ") + "\n")
    abort()
  }
  return 0
}

private func say(_ s: String) {
  var s = s
  s.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

// SwiftPM links executables with `main` aliased to `<module>_main`; provide it and hand control
// to libFuzzer's driver (the same one its own `main` calls).
@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(
  _ argc: UnsafeMutablePointer<CInt>,
  _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
  _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

@_cdecl("repro_fuzz_main")
public func fuzzMain(
  _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> CInt {
  var argc = argc
  var argv = argv
  return runDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) }
}
