import Driver
import Foundation

/// Invariants of the syzbot bug page (HTML and JSON) and attachment-link parsers on arbitrary
/// bytes. Shared (by symlink) with the libFuzzer harness.
enum DriverFuzzChecks {
  static func syzbotPage(_ input: UnsafeBufferPointer<UInt8>) -> [String] {
    var problems: [String] = []
    let page = SyzbotBugPage.parse(html: String(decoding: input, as: UTF8.self))
    for row in page.crashes {
      for t in row.texts {
        if t.tag.isEmpty { problems.append("text link with an empty tag: \(t.href)") }
        _ = SyzbotBugPage.textTag(t.href)
      }
      for a in row.assets {
        // The bundle names files after asset URLs: whatever the page says, a name accepted as
        // safe can never leave the bundle directory.
        let name = String(a.href.split(separator: "/", omittingEmptySubsequences: false).last ?? "")
        if SafeName.isSafeComponent(name), name.contains("/") || name == "." || name == ".." || name.isEmpty {
          problems.append("unsafe asset name accepted: '\(name)'")
        }
      }
      _ = row.hasReproducer
    }
    if let json = SyzbotBugJSON.parse(Array(input)) {
      for row in page.crashes { _ = json.crash(matching: row) }
    }
    return problems
  }
}
