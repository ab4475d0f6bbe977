// swift-tools-version: 6.2
import PackageDescription

/// Settings every Swift target shares: Swift 6 language mode is the package default; these add
/// `any` for existentials, explicit member imports, and warnings as errors.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "recstream",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "recstream", targets: ["recstream"]),
        .executable(name: "recstream-fuzz", targets: ["recstream-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // C doors: one per library, each imported by exactly one Swift module.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .systemLibrary(
            name: "CRocksDB",
            pkgConfig: "rocksdb",
            providers: [.apt(["librocksdb-dev"])]
        ),
        // Guarded access to the mock cluster's private partition limits (see docs/embedded-broker.md).
        .target(
            name: "CRdKafkaMock",
            dependencies: ["CRdKafka"]
        ),

        // Pure values and algorithms: no clock, files, threads or C.
        .target(
            name: "RecstreamCore",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf")
            ],
            exclude: ["Events/Generated/README.md"],
            swiftSettings: strictSettings + [.strictMemorySafety()]
        ),
        // Threads and clocks around the embedding core: the parallel trainer.
        .target(
            name: "RecstreamTraining",
            dependencies: ["RecstreamCore"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "RecstreamKafka",
            dependencies: [
                "CRdKafka", "CRdKafkaMock",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "RecstreamStorage",
            dependencies: ["CRocksDB", "RecstreamCore"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "RecstreamRuntime",
            dependencies: [
                "RecstreamCore", "RecstreamKafka", "RecstreamStorage", "RecstreamTraining",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "RecstreamQueryAPI",
            dependencies: [
                "RecstreamCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),
        // Every benchmark and offline evaluation (behind `recstream bench` and `recstream evaluate`), and
        // the child-process harness they and the integration tests start processes with. No
        // production module depends on it.
        .target(
            name: "RecstreamBench",
            dependencies: [
                "RecstreamCore", "RecstreamKafka", "RecstreamRuntime", "RecstreamTraining",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "RecstreamTesting",
            dependencies: [
                "RecstreamCore", "RecstreamKafka", "RecstreamRuntime", "RecstreamBench",
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "recstream",
            dependencies: [
                "RecstreamCore", "RecstreamKafka", "RecstreamStorage", "RecstreamRuntime", "RecstreamQueryAPI",
                "RecstreamBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),

        // libFuzzer target for the decoders; a corpus replayer when built normally.
        .executableTarget(
            name: "recstream-fuzz",
            dependencies: ["RecstreamCore"],
            swiftSettings: strictSettings
        ),

        .testTarget(
            name: "RecstreamCoreTests",
            dependencies: [
                "RecstreamCore", "RecstreamTesting",
                // The generated protobuf code is the reference the event decoder is tested against.
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RecstreamTrainingTests",
            dependencies: ["RecstreamTraining", "RecstreamCore", "RecstreamTesting"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RecstreamKafkaTests",
            dependencies: ["RecstreamKafka", "RecstreamTesting"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RecstreamStorageTests",
            dependencies: ["RecstreamStorage", "RecstreamCore", "RecstreamTesting"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RecstreamRuntimeTests",
            dependencies: [
                "RecstreamRuntime", "RecstreamCore", "RecstreamKafka", "RecstreamStorage", "RecstreamTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RecstreamBenchTests",
            dependencies: ["RecstreamBench", "RecstreamCore"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RecstreamQueryAPITests",
            dependencies: [
                "RecstreamQueryAPI", "RecstreamCore", "RecstreamTesting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "RecstreamCore", "RecstreamKafka", "RecstreamRuntime", "RecstreamBench", "RecstreamTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
    ]
)
