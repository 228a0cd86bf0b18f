// swift-tools-version: 6.0
import PackageDescription

// Dependencies point one way: domain <- wire <- rpc/contracts <- transport <- services.
// Only MedicareWire touches protobuf-c (through CMedicareProto); only MedicareTransport
// touches OpenSSL (through COpenSSL).
let package = Package(
    name: "medicare",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "medicare-certs", targets: ["MedicareCerts"]),
        .executable(name: "medicare-echo", targets: ["MedicareEcho"]),
        .executable(name: "rpc-bench", targets: ["RPCBench"]),
        .executable(name: "codec-bench", targets: ["CodecBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
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
            dependencies: ["MedicareWire", "MedicareRPC"],
            path: "Shared/MedicareContracts"
        ),

        // MARK: transport: framing, OpenSSL mutual TLS, connections
        .target(
            name: "COpenSSL",
            path: "Shared/COpenSSL",
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        .target(
            name: "MedicareTransport",
            dependencies: [
                "COpenSSL",
                "MedicareWire",
                "MedicareRPC",
                "MedicareContracts",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/MedicareTransport"
        ),

        // MARK: executables
        .executableTarget(
            name: "MedicareCerts",
            dependencies: [
                "MedicareTransport",
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
            name: "CodecBench",
            dependencies: ["MedicareWire"],
            path: "Benchmarks/CodecBench"
        ),

        // MARK: tests
        .testTarget(
            name: "WireTests",
            dependencies: ["MedicareWire"],
            path: "Tests/WireTests"
        ),
        .testTarget(
            name: "TransportTests",
            dependencies: [
                "MedicareTransport",
                "MedicareContracts",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/TransportTests"
        ),
    ]
)
