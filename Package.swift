// swift-tools-version: 6.0
import PackageDescription

// Dependencies point one way: domain <- wire <- rpc/contracts <- transport <- services.
// Only MedicareWire touches protobuf-c (through CMedicareProto); only MedicareTransport (TLS)
// and MedicareCrypto (SM3, SM2) touch OpenSSL (through COpenSSL).
// The servers and the CLI (its load generator) allocate through TCMalloc (gperftools'
// tcmalloc_minimal; Debian libgoogle-perftools-dev to build, libtcmalloc-minimal4 to run):
// glibc's malloc and free were a tenth of the machine in the visit flow's profile, and the
// flow ran 4-8% faster with TCMalloc, ahead of mimalloc and jemalloc (docs/scaling.md).
// Linked rather than preloaded, so that every start has it.
let tcmalloc: [LinkerSetting] = [.linkedLibrary("tcmalloc_minimal", .when(platforms: [.linux]))]

let package = Package(
    name: "medicare",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "medicare-certs", targets: ["MedicareCerts"]),
        .executable(name: "medicare-echo", targets: ["MedicareEcho"]),
        .executable(name: "rpc-bench", targets: ["RPCBench"]),
        .executable(name: "codec-bench", targets: ["CodecBench"]),
        .executable(name: "store-bench", targets: ["StoreBench"]),
        .executable(name: "service-bench", targets: ["ServiceBench"]),
        .executable(name: "province-bench", targets: ["ProvinceBench"]),
        .executable(name: "registry", targets: ["Registry"]),
        .executable(name: "settlement", targets: ["Settlement"]),
        .executable(name: "supervision", targets: ["Supervision"]),
        .executable(name: "gateway", targets: ["Gateway"]),
        .executable(name: "medicare", targets: ["MedicareCLI"]),
        .executable(name: "console", targets: ["Console"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // CSV for the data files (RFC 4180: quoted fields, CRLF line ends from spreadsheet exports).
        .package(url: "https://github.com/swiftcsv/SwiftCSV", from: "0.10.0"),
        // The operator console: HTTP serving and server-rendered pages (Mustache escapes HTML).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // MARK: domain: codes, money, policy, benefit rules (pure Swift)
        .target(
            name: "MedicareDomain",
            path: "Shared/MedicareDomain",
            resources: [.copy("Resources/zhejiang-2024.json"), .copy("Resources/campaign-2024.json")]
        ),

        // MARK: wire
        .target(
            name: "CMedicareProto",
            path: "Shared/CMedicareProto",
            sources: ["generated", "support"],
            publicHeadersPath: "include",
            linkerSettings: [.linkedLibrary("protobuf-c")]
        ),
        .target(
            name: "MedicareWire",
            dependencies: [
                "CMedicareProto",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Shared/MedicareWire"
        ),

        // MARK: rpc core and contracts (no sockets, no TLS)
        .target(
            name: "MedicareRPC",
            dependencies: [
                "MedicareWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/MedicareRPC"
        ),
        .target(
            name: "MedicareContracts",
            dependencies: ["MedicareWire", "MedicareRPC", "MedicareDomain"],
            path: "Shared/MedicareContracts"
        ),

        // MARK: data files as people export them (CSV per RFC 4180 through SwiftCSV; UTF-8 or GBK)
        .target(
            name: "MedicareFiles",
            dependencies: ["MedicareContracts", "MedicareWire", .product(name: "SwiftCSV", package: "SwiftCSV")],
            path: "Shared/MedicareFiles"
        ),

        // MARK: transport: framing, OpenSSL mutual TLS, connections
        .target(
            name: "COpenSSL",
            path: "Shared/COpenSSL",
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        // SM3 and SM2 (GB/T 32905, 32918) from the system OpenSSL, and the posting digest: what
        // the audit chain needs, without the network stack.
        .target(
            name: "MedicareCrypto",
            dependencies: ["COpenSSL"],
            path: "Shared/MedicareCrypto"
        ),
        .target(
            name: "MedicareTransport",
            dependencies: [
                "COpenSSL",
                "MedicareCrypto",
                "MedicareWire",
                "MedicareRPC",
                "MedicareContracts",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                // HTTP/1.1 for the JSON bridge (JSONBridgeServer), over the same OpenSSL TLS.
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/MedicareTransport"
        ),

        // MARK: storage and the service runtime
        .target(
            name: "CSQLite",
            path: "Shared/CSQLite",
            linkerSettings: [.linkedLibrary("sqlite3")]
        ),
        .target(
            name: "MedicareStore",
            dependencies: [
                "CSQLite",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/MedicareStore"
        ),
        .target(
            name: "MedicareRuntime",
            dependencies: [
                "MedicareTransport",
                "MedicareStore",
                "MedicareRPC",
                "MedicareContracts",
                "MedicareDomain",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Shared/MedicareRuntime"
        ),

        // MARK: services: a library each (handlers, stores) and a thin executable
        .target(name: "RegistryService", dependencies: [
            "MedicareRuntime", "MedicareContracts", "MedicareCrypto", "MedicareDomain", "MedicareStore", "MedicareTransport",
        ], path: "Services/Registry/Library"),
        .executableTarget(name: "Registry", dependencies: ["RegistryService"], path: "Services/Registry/Main", linkerSettings: tcmalloc),
        .target(
            name: "SettlementService",
            dependencies: [
                "MedicareRuntime", "MedicareContracts", "MedicareCrypto", "MedicareDomain", "MedicareStore", "MedicareTransport",
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Services/Settlement/Library"
        ),
        .executableTarget(name: "Settlement", dependencies: ["SettlementService"], path: "Services/Settlement/Main", linkerSettings: tcmalloc),
        .target(
            name: "SupervisionService", dependencies: [
                "MedicareRuntime", "MedicareContracts", "MedicareCrypto", "MedicareDomain", "MedicareStore", "MedicareTransport",
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Services/Supervision/Library", resources: [.copy("Resources/rules-zhejiang-2024.json")]
        ),
        .executableTarget(name: "Supervision", dependencies: ["SupervisionService"], path: "Services/Supervision/Main", linkerSettings: tcmalloc),
        .target(
            name: "GatewayService", dependencies: [
                "MedicareRuntime", "MedicareContracts", "MedicareCrypto", "MedicareDomain", "MedicareStore", "MedicareTransport",
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Services/Gateway/Library", resources: [.copy("Resources/access.json")]
        ),
        .executableTarget(name: "Gateway", dependencies: ["GatewayService"], path: "Services/Gateway/Main", linkerSettings: tcmalloc),

        // MARK: executables
        .executableTarget(
            name: "MedicareCLI",
            dependencies: [
                "MedicareTransport", "MedicareContracts", "MedicareRPC", "MedicareWire", "MedicareDomain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                "MedicareFiles",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Services/CLI",
            linkerSettings: tcmalloc
        ),
        .executableTarget(
            name: "MedicareCerts",
            dependencies: [
                "MedicareTransport", "MedicareRPC", "MedicareDomain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/Certs"
        ),
        .executableTarget(
            name: "MedicareEcho",
            dependencies: [
                "MedicareTransport",
                "MedicareContracts",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Services/Echo"
        ),
        // MARK: the operator console (a gateway caller with its own certificate)
        .target(
            name: "ConsoleService",
            dependencies: [
                "GatewayService", "MedicareContracts", "MedicareCrypto", "MedicareDomain", "MedicareRPC", "MedicareRuntime", "MedicareTransport", "MedicareWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            path: "Services/Console/Library"
        ),
        .executableTarget(name: "Console", dependencies: ["ConsoleService"], path: "Services/Console/Main", linkerSettings: tcmalloc),
        .executableTarget(
            name: "RPCBench",
            dependencies: [
                "MedicareTransport",
                "MedicareContracts",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Benchmarks/RPCBench"
        ),
        .executableTarget(
            name: "StoreBench",
            dependencies: ["MedicareStore", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            path: "Benchmarks/StoreBench"
        ),
        .executableTarget(
            name: "ServiceBench",
            dependencies: ["SettlementService", "SupervisionService", "MedicareStore", "MedicareDomain", "MedicareRPC", "MedicareContracts", "MedicareWire"],
            path: "Benchmarks/ServiceBench"
        ),
        .executableTarget(
            name: "ProvinceBench",
            dependencies: ["SettlementService", "MedicareStore", "MedicareDomain", "MedicareContracts", "MedicareWire",
                           .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/ProvinceBench"
        ),
        .executableTarget(
            name: "CodecBench",
            dependencies: ["MedicareWire"],
            path: "Benchmarks/CodecBench"
        ),

        // MARK: tests
        .testTarget(
            name: "FileTests",
            dependencies: ["MedicareFiles", "MedicareContracts", "MedicareWire"],
            path: "Tests/FileTests"
        ),
        .testTarget(
            name: "WireTests",
            dependencies: ["MedicareWire"],
            path: "Tests/WireTests"
        ),
        .target(
            name: "MedicareTestSupport",
            dependencies: [
                "MedicareStore", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "StoreTests",
            dependencies: [
                "MedicareStore", "MedicareRuntime", "MedicareTestSupport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/StoreTests"
        ),
        .testTarget(
            name: "RuntimeTests",
            dependencies: ["MedicareRuntime", "MedicareTransport", "MedicareContracts", "MedicareStore", "MedicareTestSupport", "MedicareDomain", "MedicareWire", "MedicareRPC", "MedicareCrypto"],
            path: "Tests/RuntimeTests"
        ),
        .testTarget(
            name: "ServiceTests",
            dependencies: [
                "RegistryService", "SettlementService", "SupervisionService", "GatewayService", "MedicareDomain", "MedicareRPC", "MedicareTestSupport",
                "MedicareContracts", "MedicareCrypto", "MedicareStore", "MedicareRuntime", "MedicareWire", "MedicareTransport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/ServiceTests"
        ),
        .testTarget(
            name: "TransportTests",
            dependencies: [
                "MedicareTransport",
                "MedicareContracts",
                "MedicareTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/TransportTests"
        ),
    ]
)
