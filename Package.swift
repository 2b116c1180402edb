// swift-tools-version:6.1
import PackageDescription

#if canImport(Glibc)
  import Glibc
#endif

let package = Package(
  name: "repro-analyze",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "repro-analyze", targets: ["repro-analyze"])
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
  ],
  targets: [
    .systemLibrary(name: "CDW", pkgConfig: "libdw", providers: [.apt(["libdw-dev"])]),
    .systemLibrary(name: "CLZMA", pkgConfig: "liblzma", providers: [.apt(["liblzma-dev"])]),
    .systemLibrary(name: "CPCRE2", pkgConfig: "libpcre2-8", providers: [.apt(["libpcre2-dev"])]),
    .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    // System calls Swift's Glibc module does not declare, and SSE2 byte scans (csupport.h).
    .target(name: "CSupport"),
    .target(
      name: "Ingest", dependencies: ["CLZMA", "CPCRE2", "CZlib", "CSupport"],
      // The parser's state lives in classes; dynamic exclusivity checks cost ~8% of ingest time
      // and guard nothing the single-threaded parser can violate.
      swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]
    ),
    .target(name: "Forensics", dependencies: ["Ingest", "CDW"]),
    // The repro workflow: syzbot downloads, QEMU runner, serial-log watcher, kernel builds.
    .target(name: "Driver", dependencies: ["Ingest", "Forensics"]),
    .target(name: "TestSupport", path: "Tests/TestSupport"),
    .executableTarget(
      name: "repro-analyze",
      dependencies: [
        "Ingest", "Forensics", "Driver", "CSupport",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    .testTarget(name: "IngestTests", dependencies: ["Ingest", "TestSupport"]),
    .testTarget(name: "ForensicsTests", dependencies: ["Forensics", "Ingest", "TestSupport"]),
    .testTarget(name: "DriverTests", dependencies: ["Driver", "Ingest", "TestSupport"]),
    .testTarget(name: "CLITests", dependencies: ["repro-analyze", "TestSupport"]),
  ]
)

// libFuzzer harness (Tests/Fuzz/Harness): only in the package graph when REPRO_ANALYZE_FUZZ is
// set, so normal builds and `swift test` never compile or link it. `make fuzz` builds it with
// `-sanitize=fuzzer,address` in its own scratch path (.build-fuzz); see mk/hardening.mk.
#if canImport(Glibc)
  if getenv("REPRO_ANALYZE_FUZZ") != nil {
    package.targets.append(
      .executableTarget(
        name: "repro-fuzz", dependencies: ["Ingest", "Forensics", "Driver"], path: "Tests/Fuzz/Harness"))
    package.products.append(.executable(name: "repro-fuzz", targets: ["repro-fuzz"]))
  }
#endif
