import Ingest

/// Everything the HTML report shows. Built by the caller; rendering is pure.
public struct HTMLReportInput: Sendable {
  public var logPaths: [String]
  public var events: [Event]
  /// Lock analyses, one per independent log (or one for logs read as one boot).
  public var locks: [(name: String, analysis: LockAnalysis)]
  /// Title per report (syzbot-style when the title engine is available).
  public var titles: [SourcePosition: String]
  /// Redacted excerpt text per log, shown in a collapsed section.
  public var excerpts: [(name: String, text: String)]
  public var version: String

  public init(
    logPaths: [String], events: [Event], locks: [(name: String, analysis: LockAnalysis)], titles: [SourcePosition: String] = [:],
    excerpts: [(name: String, text: String)] = [], version: String = ""
  ) {
    self.logPaths = logPaths
    self.events = events
    self.locks = locks
    self.titles = titles
    self.excerpts = excerpts
    self.version = version
  }
}

/// Renders one self-contained HTML file: no network, no external assets, inline CSS/SVG, and
/// `<details>` for collapsing, so everything essential works with JavaScript off.
public enum HTMLReport {
  public static func render(_ input: HTMLReportInput) -> String {
    let reports = input.events.compactMap { e -> CrashReport? in
      if case .report(let r) = e { return r }
      return nil
    }
    var h = HTMLBuilder()
    h.raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
    h.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    h.raw("<title>repro-analyze: \(esc(input.logPaths.map(baseName).joined(separator: ", ")))</title>")
    h.raw("<style>\(css)</style></head><body>")
    h.raw("<header><h1>repro-analyze report</h1><p class=\"sub\">")
    h.text(input.logPaths.joined(separator: " · "))
    if !input.version.isEmpty { h.raw(" · repro-analyze \(esc(input.version))") }
    h.raw("</p></header><main>")

    summary(&h, input, reports)
    h.raw("<section id=\"graph\"><h2>Wait-for graph</h2>")
    for (i, l) in input.locks.enumerated() {
      if input.locks.count > 1 { h.raw("<h3>\(esc(baseName(l.name)))</h3>") }
      graph(&h, l.analysis, namespace: "g\(i)")
    }
    h.raw("</section>")
    if input.locks.contains(where: { !$0.analysis.blocked.isEmpty || !$0.analysis.cycles.isEmpty }) {
      h.raw("<section id=\"locks\"><h2>Who holds what</h2>")
      for l in input.locks where !l.analysis.blocked.isEmpty || !l.analysis.cycles.isEmpty {
        if input.locks.count > 1 { h.raw("<h3>\(esc(baseName(l.name)))</h3>") }
        diagnosis(&h, l.analysis)
      }
      h.raw("</section>")
    }
    reportsSection(&h, input, reports)
    timeline(&h, input.events, reports, titles: input.titles)
    if !input.excerpts.isEmpty {
      h.raw("<section id=\"excerpt\"><h2>Excerpt (redacted)</h2>")
      for e in input.excerpts {
        h.raw("<details><summary>\(esc(e.name)) — \(e.text.utf8.count) bytes</summary><pre class=\"log\">")
        h.text(e.text)
        h.raw("</pre></details>")
      }
      h.raw("</section>")
    }
    h.raw("</main>")
    // Optional sugar: expand/collapse all. Everything above works without it.
    h.raw(
      "<script>document.querySelectorAll('[data-toggle]').forEach(b=>{b.hidden=false;b.onclick=()=>{const o=b.dataset.toggle==='open';document.querySelectorAll('details').forEach(d=>d.open=o)}})</script>"
    )
    h.raw("</body></html>\n")
    return h.out
  }

  static func title(_ r: CrashReport, _ titles: [SourcePosition: String]) -> String {
    titles[r.position] ?? r.headline
  }

  // MARK: sections

  static func summary(_ h: inout HTMLBuilder, _ input: HTMLReportInput, _ reports: [CrashReport]) {
    let hung = reports.filter { $0.kind == .hungTask }.count
    let trace = input.events.reduce(0) { n, e in if case .ftrace = e { n + 1 } else { n } }
    let blocked = input.locks.reduce(0) { $0 + $1.analysis.blocked.count }
    // A deadlock seen both as a wait-for cycle and as a lockdep report counts once.
    let cycles = input.locks.reduce(0) { $0 + $1.analysis.cycles.filter { $0.kind == "wait_for" }.count }
    let orderCycles = input.locks.reduce(0) { $0 + $1.analysis.cycles.filter { $0.kind == "lockdep" }.count }
    let possible = input.locks.reduce(0) { $0 + $1.analysis.cycles.filter { $0.kind == "possible" }.count }
    h.raw("<section id=\"summary\"><h2>Summary</h2><div class=\"cards\">")
    for (label, value, bad) in [
      ("reports", reports.count, reports.count > 0), ("hung tasks", hung, hung > 0),
      ("blocked tasks", blocked, blocked > 0), ("deadlocks", cycles, cycles > 0),
      ("possible deadlocks", possible, possible > 0), ("lockdep order cycles", orderCycles, orderCycles > 0),
      ("trace lines", trace, false),
    ] {
      h.raw("<div class=\"card\(bad ? " bad" : "")\"><b>\(value)</b><span>\(label)</span></div>")
    }
    h.raw("</div>")
    if !reports.isEmpty {
      h.raw("<table class=\"list\"><thead><tr><th>#</th><th>kind</th><th>title</th><th>task</th><th>line</th></tr></thead><tbody>")
      for (i, r) in reports.enumerated() {
        h.raw("<tr><td>\(i + 1)</td><td><span class=\"kind k-\(r.kind.rawValue)\">\(esc(r.kind.rawValue))</span></td>")
        h.raw("<td><a href=\"#report-\(i + 1)\" class=\"report-title\">\(esc(title(r, input.titles)))</a></td>")
        h.raw("<td>\(esc(r.task.map { "\($0.comm) (\($0.pid))" } ?? "")) </td>")
        h.raw("<td class=\"num\">\(esc(baseName(r.position.file))):\(r.position.line)</td></tr>")
      }
      h.raw("</tbody></table>")
    }
    h.raw("</section>")
  }

  static func diagnosis(_ h: inout HTMLBuilder, _ a: LockAnalysis) {
    for c in a.cycles {
      h.raw("<p class=\"cycle\">")
      h.text(c.description)
      h.raw(" <span class=\"ev\">lines \(c.evidence.map(String.init).joined(separator: ", "))</span></p>")
    }
    h.raw("<table class=\"list\"><thead><tr><th>blocked task</th><th>waits for</th><th>holder</th><th>confidence</th><th>evidence</th></tr></thead><tbody>")
    for b in a.blocked {
      h.raw("<tr><td>\(esc("\(b.comm) (\(b.pid))"))<br><small>\(esc(b.task.state.map { "state \($0)" } ?? ""))\(esc(b.task.blockedSeconds.map { ", \($0) s" } ?? ""))</small></td>")
      h.raw("<td>\(esc(b.lock?.display ?? (b.task.sleepsIn.map { "— (in \($0))" } ?? "—")))</td><td>")
      if let hd = b.holder {
        h.text("\(hd.comm) (\(hd.pid))")
        if let s = hd.sleepsIn { h.raw("<br><small>\(esc(s))</small>") }
      } else if !b.holderCandidates.isEmpty {
        h.raw("<i>not proven; candidates:</i> ")
        h.text(b.holderCandidates.map { "\($0.comm) (\($0.pid))" }.joined(separator: ", "))
      } else {
        h.raw("—")
      }
      h.raw("</td><td><span class=\"conf c-\(b.confidence.rawValue)\">\(b.confidence.rawValue)</span></td><td>")
      h.raw("<details><summary>\(b.evidence.count) lines</summary><ul class=\"ev\">")
      for e in b.evidenceDetail { h.raw("<li>\(esc(baseName(e.file))):\(e.line) — \(esc(e.fact))</li>") }
      for n in b.notes { h.raw("<li class=\"note\">note: \(esc(n))</li>") }
      h.raw("</ul></details></td></tr>")
    }
    h.raw("</tbody></table>")
    for n in a.notes { h.raw("<p class=\"note\">note: \(esc(n))</p>") }
  }

  static func reportsSection(_ h: inout HTMLBuilder, _ input: HTMLReportInput, _ reports: [CrashReport]) {
    guard !reports.isEmpty else { return }
    h.raw("<section id=\"reports\"><h2>Reports <button data-toggle=\"open\" hidden>expand all</button> <button data-toggle=\"close\" hidden>collapse all</button></h2>")
    for (i, r) in reports.enumerated() {
      h.raw("<article id=\"report-\(i + 1)\" class=\"report\"><h3>\(i + 1). ")
      h.text(title(r, input.titles))
      h.raw("</h3><p class=\"meta\">")
      h.text("\(r.kind.rawValue) · \(baseName(r.position.file)):\(r.position.line)–\(r.endLine)")
      if let t = r.prefix.timestamp { h.text(" · \(fmt(t)) s") }
      if let task = r.task { h.text(" · task \(task.comm) (\(task.pid))") }
      if r.isTruncated { h.raw(" · <b>truncated</b>") }
      h.raw("</p><p class=\"headline\"><code>")
      h.text(r.headline)
      h.raw("</code></p>")
      let frames = r.frames
      if !frames.isEmpty {
        let reliable = frames.filter(\.isReliable).count
        h.raw("<details\(i == 0 ? " open" : "")><summary>stack: \(reliable) frames")
        if reliable < frames.count { h.raw(" + \(frames.count - reliable) unreliable (?)") }
        h.raw("</summary><ol class=\"stack\">")
        var ctx: StackContext?
        for f in frames {
          if f.context != ctx {
            ctx = f.context
            h.raw("<li class=\"ctx\" aria-hidden=\"true\">&lt;\(esc(f.context.rawValue.uppercased()))&gt;</li>")
          }
          h.raw("<li class=\"\(f.isReliable ? "" : "unrel")\(f.isInline ? " inl" : "")\">")
          if !f.isReliable { h.raw("<span class=\"q\">?</span> ") }
          h.raw("<span class=\"fn\">\(esc(f.function ?? "?"))</span>")
          var rest = ""
          if let o = f.offset { rest += "+0x" + String(o, radix: 16) }
          if let s = f.size { rest += "/0x" + String(s, radix: 16) }
          h.raw("<span class=\"off\">\(esc(rest))</span>")
          if let m = f.module { h.raw(" <span class=\"mod\">[\(esc(m))]</span>") }
          if let src = f.source { h.raw(" <span class=\"src\">\(esc(src))</span>") }
          if f.isInline { h.raw(" <span class=\"mod\">[inline]</span>") }
          h.raw("</li>")
        }
        h.raw("</ol></details>")
      }
      h.raw("</article>")
    }
    h.raw("</section>")
  }

  // MARK: wait-for graph

  struct GNode {
    var id: String
    var label: String
    var sub: String
    var isLock: Bool
    var column: Int
    var row = 0
    var isCycle = false
    var isHolder = false
  }

  struct GEdge {
    var from: String
    var to: String
    var label: String
    var isCandidate: Bool
    var isCycle: Bool
    var tip: String
  }

  /// Layered SVG: blocked tasks → locks → holders; chains continue to the right, cycle edges
  /// loop back in red, unproven holders are dashed.
  static func graph(_ h: inout HTMLBuilder, _ a: LockAnalysis, namespace: String) {
    guard !a.blocked.isEmpty else {
      h.raw("<p>No blocked tasks.</p>")
      return
    }
    var nodes: [String: GNode] = [:]
    var order: [String] = []
    var edges: [GEdge] = []
    let cyclePids = Set(a.cycles.filter { $0.kind == "wait_for" }.flatMap { $0.tasks.map(\.pid) })
    let byPid = Dictionary(a.blocked.map { ($0.pid, $0) }, uniquingKeysWith: { x, _ in x })
    func addNode(_ n: GNode) {
      // First placement wins: chains are walked from the outermost waiters, so a node keeps
      // the column of the first chain that reached it and cycles close with a back edge.
      if var old = nodes[n.id] {
        old.isHolder = old.isHolder || n.isHolder
        nodes[n.id] = old
      } else {
        nodes[n.id] = n
        order.append(n.id)
      }
    }
    func taskNode(_ pid: Int, _ comm: String, column: Int, holder: Bool) {
      let b = byPid[pid]
      var sub = b?.task.state.map { "state \($0)" } ?? ""
      if let s = b?.task.blockedSeconds { sub += (sub.isEmpty ? "" : ", ") + "\(s) s" }
      var n = GNode(id: "t\(pid)", label: "\(comm) (\(pid))", sub: sub, isLock: false, column: column)
      n.isCycle = cyclePids.contains(pid)
      n.isHolder = holder
      addNode(n)
    }
    // Columns from chain positions; a cycle's first revisit stops the walk.
    // Holders and candidate holders go right of the tasks that wait for them.
    let holders = Set(a.blocked.compactMap { $0.holder?.pid } + a.blocked.flatMap { $0.holderCandidates.map(\.pid) })
    let outerFirst = a.blocked.filter { !holders.contains($0.pid) } + a.blocked.filter { holders.contains($0.pid) }
    for b in outerFirst {
      let start = b.chain.isEmpty ? [ChainLink(pid: b.pid, comm: b.comm, waitsOn: nil, heldBy: nil)] : b.chain
      for (k, link) in start.enumerated() where k < 6 {
        taskNode(link.pid, link.comm, column: 2 * k, holder: k > 0)
      }
    }
    for b in outerFirst {
      guard let lock = b.lock else { continue }
      let lockID = "l" + (lock.address ?? lock.lockdepAddress ?? "\(b.pid)-\(lock.primitive ?? "")")
      let tcol = nodes["t\(b.pid)"]?.column ?? 0
      addNode(
        GNode(
          id: lockID, label: lock.name ?? lock.lockdepClass ?? "a \(lock.primitive ?? "lock")",
          sub: lock.address ?? lock.lockdepAddress ?? (b.waitSite ?? ""), isLock: true, column: tcol + 1))
      let inCycle = b.isInCycle
      edges.append(GEdge(from: "t\(b.pid)", to: lockID, label: "waits", isCandidate: false, isCycle: inCycle, tip: "\(b.comm) (\(b.pid)) waits for \(lock.display)"))
      if let hd = b.holder {
        taskNode(hd.pid, hd.comm, column: tcol + 2, holder: true)
        edges.append(GEdge(from: lockID, to: "t\(hd.pid)", label: "held by", isCandidate: false, isCycle: inCycle, tip: "held by \(hd.comm) (\(hd.pid)), confidence \(b.confidence.rawValue)"))
      } else {
        for c in b.holderCandidates.prefix(3) {
          taskNode(c.pid, c.comm, column: tcol + 2, holder: true)
          edges.append(GEdge(from: lockID, to: "t\(c.pid)", label: "candidate", isCandidate: true, isCycle: false, tip: c.why))
        }
      }
    }
    // Rows per column in insertion order.
    var rows: [Int: Int] = [:]
    for id in order {
      let c = nodes[id]!.column
      nodes[id]!.row = rows[c, default: 0]
      rows[c, default: 0] += 1
    }
    let colW = 240
    let rowH = 78
    let boxW = 176
    let boxH = 48
    let cols = (nodes.values.map(\.column).max() ?? 0) + 1
    let width = cols * colW + 40
    let height = (rows.values.max() ?? 1) * rowH + 60
    func pos(_ n: GNode) -> (x: Int, y: Int) { (20 + n.column * colW, 30 + n.row * rowH) }
    h.raw("<div class=\"graph\"><svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"wait-for graph\" style=\"max-width:100%;height:auto\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\">")
    h.raw("<defs><marker id=\"\(namespace)arr\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0L10,5L0,10z\" fill=\"#555\"/></marker>")
    h.raw("<marker id=\"\(namespace)arrc\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0L10,5L0,10z\" fill=\"#c62828\"/></marker></defs>")
    for e in edges {
      guard let f = nodes[e.from], let t = nodes[e.to] else { continue }
      let (fx, fy) = pos(f)
      let (tx, ty) = pos(t)
      let cls = e.isCycle ? "edge cyc" : e.isCandidate ? "edge cand" : "edge"
      let marker = e.isCycle ? "arrc" : "arr"
      if t.column > f.column {
        let x1 = fx + boxW
        let y1 = fy + boxH / 2
        let x2 = tx
        let y2 = ty + boxH / 2
        h.raw("<path class=\"\(cls)\" d=\"M\(x1),\(y1) C\(x1 + 30),\(y1) \(x2 - 30),\(y2) \(x2),\(y2)\" marker-end=\"url(#\(namespace)\(marker))\"><title>\(esc(e.tip))</title></path>")
        h.raw("<text class=\"elabel\" x=\"\((x1 + x2) / 2)\" y=\"\((y1 + y2) / 2 - 5)\" text-anchor=\"middle\">\(esc(e.label))</text>")
      } else {
        // Back edge (cycle): loop under the boxes.
        let x1 = fx + boxW / 2
        let y1 = fy + boxH
        let x2 = tx + boxW / 2
        let y2 = ty + boxH
        let dip = max(y1, y2) + 34
        h.raw("<path class=\"\(cls)\" d=\"M\(x1),\(y1) C\(x1),\(dip) \(x2),\(dip) \(x2),\(y2)\" marker-end=\"url(#\(namespace)\(marker))\"><title>\(esc(e.tip))</title></path>")
        h.raw("<text class=\"elabel\" x=\"\((x1 + x2) / 2)\" y=\"\(dip - 6)\" text-anchor=\"middle\">\(esc(e.label))</text>")
      }
    }
    for id in order {
      let n = nodes[id]!
      let (x, y) = pos(n)
      let cls = (n.isLock ? "node lock" : (n.isHolder ? "node task holder" : "node task")) + (n.isCycle ? " cyc" : "")
      h.raw("<g class=\"\(cls)\">")
      if n.isLock {
        h.raw("<rect x=\"\(x)\" y=\"\(y)\" width=\"\(boxW)\" height=\"\(boxH)\" rx=\"24\"/>")
      } else {
        h.raw("<rect x=\"\(x)\" y=\"\(y)\" width=\"\(boxW)\" height=\"\(boxH)\" rx=\"4\"/>")
      }
      h.raw("<text x=\"\(x + boxW / 2)\" y=\"\(y + 20)\" text-anchor=\"middle\" class=\"nlabel\">\(esc(clip(n.label, 26)))</text>")
      h.raw("<text x=\"\(x + boxW / 2)\" y=\"\(y + 37)\" text-anchor=\"middle\" class=\"nsub\">\(esc(clip(n.sub, 30)))</text></g>")
    }
    h.raw("</svg></div><p class=\"legend\"><span class=\"lg task\">task</span> <span class=\"lg lock\">lock</span> <span class=\"lg cyc\">deadlock cycle</span> thick border: holder · dashed: candidate holder (not proven) · hover an edge for its confidence</p>")
  }

  // MARK: timeline

  static func timeline(_ h: inout HTMLBuilder, _ events: [Event], _ reports: [CrashReport], titles: [SourcePosition: String]) {
    struct Item {
      var t: Double
      var lane: Int  // 0 printk clock, 1 trace clock
      var kind: String
      var text: String
      var line: Int
    }
    var items: [Item] = []
    for e in events {
      switch e {
      case .report(let r):
        if let t = r.prefix.timestamp { items.append(Item(t: t, lane: 0, kind: r.kind.rawValue, text: title(r, titles), line: r.position.line)) }
      case .marker(let m):
        if let t = m.timestamp, m.kind != .linuxVersion || t > 0 { items.append(Item(t: t, lane: 0, kind: m.kind.rawValue, text: m.text, line: m.position.line)) }
      case .taskDump(let d):
        if let t = d.timestamp, d.info.state == "D" {
          items.append(Item(t: t, lane: 0, kind: "task_dump", text: "task \(d.info.comm) state D", line: d.position.line))
        }
      case .ftrace(let f):
        if let op = f.vhostLock {
          items.append(Item(t: f.timestamp, lane: 1, kind: "vhost_lock " + op.operation, text: "\(op.field("comm") ?? f.comm) \(op.operation) \(op.lock ?? "")", line: f.position.line))
        }
      default: break
      }
    }
    guard !items.isEmpty else { return }
    h.raw("<section id=\"timeline\"><h2>Timeline</h2>")
    let width = 1000
    let lanes = Set(items.map(\.lane)).sorted()
    let laneH = 70
    let height = lanes.count * laneH + 30
    h.raw("<div class=\"graph\"><svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"timeline\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\">")
    for (li, lane) in lanes.enumerated() {
      let its = items.filter { $0.lane == lane }
      let lo = its.map(\.t).min()!
      let hi = max(its.map(\.t).max()!, lo + 1e-6)
      let y = 30 + li * laneH
      h.raw("<text class=\"nsub\" x=\"4\" y=\"\(y - 12)\">\(lane == 0 ? "console (printk time)" : "vhost_lock trace (trace clock)")  \(fmt(lo)) s – \(fmt(hi)) s</text>")
      h.raw("<line class=\"axis\" x1=\"20\" y1=\"\(y)\" x2=\"\(width - 20)\" y2=\"\(y)\"/>")
      for it in its.prefix(4000) {
        let x = 20 + Int(Double(width - 40) * (it.t - lo) / (hi - lo))
        let cls = it.kind.hasPrefix("vhost_lock") ? "tl-" + it.kind.replacingSpaces : "tl-\(it.kind)"
        h.raw("<circle class=\"dot \(cls)\" cx=\"\(x)\" cy=\"\(y)\" r=\"\(lane == 0 ? 6 : 3)\"><title>\(esc("\(fmt(it.t)) s  \(it.text)  (line \(it.line))"))</title></circle>")
      }
    }
    h.raw("</svg></div>")
    h.raw("<details><summary>\(items.count) timed events</summary><table class=\"list\"><thead><tr><th>time (s)</th><th>clock</th><th>kind</th><th>what</th><th>line</th></tr></thead><tbody>")
    for it in items.sorted(by: { ($0.lane, $0.t, $0.line) < ($1.lane, $1.t, $1.line) }).prefix(5000) {
      h.raw("<tr><td class=\"num\">\(fmt(it.t))</td><td>\(it.lane == 0 ? "printk" : "trace")</td><td>\(esc(it.kind))</td><td>\(esc(it.text))</td><td class=\"num\">\(it.line)</td></tr>")
    }
    h.raw("</tbody></table></details></section>")
  }

  // MARK: helpers

  static func fmt(_ t: Double) -> String {
    let micros = Int((t * 1_000_000).rounded())
    let frac = String(micros % 1_000_000)
    return "\(micros / 1_000_000)." + String(repeating: "0", count: 6 - frac.count) + frac
  }

  static func clip(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n - 1)) + "…" }

  static func baseName(_ p: String) -> String { p.split(separator: "/").last.map(String.init) ?? p }

  static let css = """
    :root{--fg:#1d1f21;--mute:#666;--bd:#d8dbe0;--bg:#fafbfc;--bad:#c62828;--lock:#fff4d6;--task:#e8f0fe}
    *{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:#fff}
    header{padding:14px 24px;background:#263238;color:#fff}header h1{margin:0;font-size:20px}.sub{margin:2px 0 0;color:#cfd8dc;font-size:12px;word-break:break-all}
    main{max-width:1280px;margin:0 auto;padding:8px 24px 40px}h2{font-size:17px;border-bottom:1px solid var(--bd);padding-bottom:4px;margin-top:26px}
    h3{font-size:15px;margin:0 0 2px}.cards{display:flex;gap:10px;flex-wrap:wrap}.card{border:1px solid var(--bd);border-radius:6px;padding:8px 14px;min-width:120px;background:var(--bg)}
    .card b{display:block;font-size:22px}.card span{color:var(--mute);font-size:12px}.card.bad b{color:var(--bad)}
    table.list{border-collapse:collapse;width:100%;margin-top:10px;font-size:13px}table.list th,table.list td{border-bottom:1px solid var(--bd);padding:5px 8px;text-align:left;vertical-align:top}
    table.list th{background:var(--bg);font-weight:600}.num{font-variant-numeric:tabular-nums;white-space:nowrap}
    .kind{font-size:11px;padding:1px 6px;border-radius:8px;background:#eceff1}.k-hung_task,.k-lockdep{background:#ffe0e0}.k-panic{background:#ffd7a8}
    .conf{font-size:11px;padding:1px 6px;border-radius:8px}.c-high{background:#c8e6c9}.c-medium{background:#fff3c4}.c-low{background:#ffe0b2}.c-none{background:#eceff1}
    .report{border:1px solid var(--bd);border-radius:6px;padding:10px 14px;margin:10px 0;background:#fff}.meta{color:var(--mute);margin:0;font-size:12px}
    .headline code{background:var(--bg);padding:2px 4px}ol.stack{font:12px/1.5 ui-monospace,Menlo,Consolas,monospace;margin:6px 0;padding-left:36px;counter-reset:fr;list-style:none}
    ol.stack li:not(.ctx){counter-increment:fr}ol.stack li:not(.ctx)::before{content:counter(fr) ". ";color:#999;display:inline-block;width:30px;margin-left:-34px;text-align:right;padding-right:4px}
    ol.stack .unrel{color:#999}ol.stack .ctx{list-style:none;color:var(--mute)}.fn{font-weight:600}.off,.mod,.src{color:var(--mute)}.q{color:#999}
    summary{cursor:pointer;color:#1a5fb4}details{margin:4px 0}.ev{font-size:12px;color:var(--mute)}ul.ev{margin:4px 0;padding-left:18px}.note{color:var(--mute);font-size:12px}
    .cycle{color:var(--bad);font-weight:600}.graph{overflow-x:auto;border:1px solid var(--bd);border-radius:6px;background:var(--bg)}
    .node rect{stroke:#546e7a;stroke-width:1.2}.node.task rect{fill:var(--task)}.node.lock rect{fill:var(--lock)}.node.holder rect{stroke-width:2.2}
    .node.cyc rect{stroke:var(--bad);stroke-width:2.5}.nlabel{font:600 12px system-ui,sans-serif}.nsub{font:11px system-ui,sans-serif;fill:#555}
    .edge{fill:none;stroke:#555;stroke-width:1.4}.edge.cand{stroke-dasharray:5 4}.edge.cyc{stroke:var(--bad);stroke-width:2}.elabel{font:10px system-ui,sans-serif;fill:#444}
    .legend{font-size:12px;color:var(--mute)}.lg{padding:1px 6px;border:1px solid #546e7a;border-radius:4px}.lg.task{background:var(--task)}.lg.lock{background:var(--lock);border-radius:10px}.lg.cyc{border-color:var(--bad);color:var(--bad)}
    .axis{stroke:#90a4ae}.dot{fill:#546e7a}.tl-hung_task,.tl-lockdep{fill:var(--bad)}.tl-panic,.tl-end_trace{fill:#ef6c00}.tl-vhost_lock_acquire{fill:#2e7d32}.tl-vhost_lock_release{fill:#90a4ae}.tl-vhost_lock_wait{fill:#f9a825}
    pre.log{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace;background:var(--bg);border:1px solid var(--bd);padding:8px;overflow-x:auto;max-height:70vh}
    button{font-size:12px;margin-left:8px}
    """
}

extension String {
  fileprivate var replacingSpaces: String { String(map { $0 == " " ? "_" : $0 }) }
}

/// HTML escaping for text and attribute values.
func esc(_ s: String) -> String {
  var out = ""
  out.reserveCapacity(s.utf8.count)
  for c in s.unicodeScalars {
    switch c {
    case "&": out += "&amp;"
    case "<": out += "&lt;"
    case ">": out += "&gt;"
    case "\"": out += "&quot;"
    case "'": out += "&#39;"
    default:
      // Control characters (ANSI escapes in serial logs) are not valid in HTML text.
      if c.value < 0x20 && c != "\n" && c != "\t" { out += "\u{FFFD}" } else { out.unicodeScalars.append(c) }
    }
  }
  return out
}

struct HTMLBuilder {
  var out = ""
  mutating func raw(_ s: String) { out += s }
  mutating func text(_ s: String) { out += esc(s) }
}
