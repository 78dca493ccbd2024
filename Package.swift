// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "switchyard",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "switchyard", targets: ["switchyard"]),
        .library(name: "SwitchyardCore", targets: ["SwitchyardCore"]),
        .library(name: "SwitchyardServer", targets: ["SwitchyardServer"]),
        .library(name: "SwitchyardMemory", targets: ["SwitchyardMemory"]),
        .library(name: "SwitchyardSQLite", targets: ["SwitchyardSQLite"]),
        .library(name: "SwitchyardPostgres", targets: ["SwitchyardPostgres"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
    ],
    targets: [
        // Event model, configuration, the store and destination protocols, ingestion and delivery.
        // No HTTP server code and no database driver.
        .target(
            name: "SwitchyardCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Metrics", package: "swift-metrics"),
                // SHA-256 for the privacy settings' salted hashes.
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The embedded store: one node's queue, delivery log and dead letters in SQLite files (GRDB).
        .target(
            name: "SwitchyardSQLite",
            dependencies: [
                "SwitchyardCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // A store in memory: the readable specification every store is held to, and the delivery
        // engine's tests' store.
        .target(
            name: "SwitchyardMemory",
            dependencies: [
                "SwitchyardCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The shared store: several nodes' queue, log and dead letters in one PostgreSQL (postgres-nio).
        .target(
            name: "SwitchyardPostgres",
            dependencies: [
                "SwitchyardCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Debian's JavaScriptCore (libjavascriptcoregtk-4.1-dev), with the few exported functions
        // its public headers leave out (the execution time limit, heap statistics).
        .systemLibrary(
            name: "CJavaScriptCore",
            pkgConfig: "javascriptcoregtk-4.1",
            providers: [.apt(["libjavascriptcoregtk-4.1-dev"])]
        ),
        // glibc's `malloc_trim`, which Swift's Glibc module leaves out: the server hands freed heap
        // back to the system after a burst.
        .systemLibrary(name: "CMalloc"),
        // Users' transformations (RudderStack's JavaScript API, unmodified) in sandboxed
        // JavaScriptCore contexts on threads of their own, with time and memory limits.
        .target(
            name: "SwitchyardJavaScript",
            dependencies: ["CJavaScriptCore"],
            swiftSettings: swiftSettings
        ),
        // The HTTP face: ingestion routes, health, and the application wiring.
        .target(
            name: "SwitchyardServer",
            dependencies: [
                "SwitchyardCore",
                "SwitchyardJavaScript",
                "SwitchyardArchive",
                .target(name: "CMalloc", condition: .when(platforms: [.linux])),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // AWS Signature Version 4 on swift-crypto (there is no AWS SDK for Swift here); shared by AWS destinations.
        .target(
            name: "AWSSigV4",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Where AWS credentials come from, as the AWS SDKs find them (environment, web identity,
        // profiles with assumed roles and credential_process, container and instance roles), cached
        // and refreshed ahead of expiry.
        .target(
            name: "AWSCredentialProviders",
            dependencies: [
                "SwitchyardCore",
                "AWSSigV4",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: swiftSettings
        ),
        // The client every AWS destination shares: JSON 1.1 calls signed with SigV4, answers read
        // within one deadline, AWS's error bodies and which codes are retried or mean a bad configuration.
        .target(
            name: "AWSClient",
            dependencies: [
                "SwitchyardCore",
                "AWSSigV4",
                "AWSCredentialProviders",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The archive: stored events as gzip NDJSON files per source and hour, in a directory or an
        // S3 bucket (REST calls signed with SigV4 through the shared client), written in the background.
        .target(
            name: "SwitchyardArchive",
            dependencies: [
                "SwitchyardCore",
                "AWSSigV4",
                "AWSClient",
                "AWSCredentialProviders",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Destination plugins: each depends on SwitchyardCore (and the shared AWS client) only, so adding one never touches the server.
        .target(
            name: "SwitchyardEventBridge",
            dependencies: [
                "SwitchyardCore",
                "AWSSigV4",
                "AWSClient",
                "AWSCredentialProviders",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Destinations/EventBridge",
            exclude: ["vectors"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SwitchyardKinesis",
            dependencies: [
                "SwitchyardCore",
                "AWSSigV4",
                "AWSClient",
                "AWSCredentialProviders",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Destinations/Kinesis",
            swiftSettings: swiftSettings
        ),
        // What the local AWS emulators share: SigV4 checked as AWS checks it, AWS's error shape, the
        // JSON-lines file of what they accepted.
        .target(
            name: "AWSEmulator",
            dependencies: [
                "SwitchyardCore",
                "AWSSigV4",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // A local PutEvents endpoint that checks signatures and validation like EventBridge, for the
        // quickstart, demos and drills (faults on demand).
        .target(
            name: "EventBridgeEmulator",
            dependencies: [
                "SwitchyardCore",
                "AWSSigV4",
                "AWSEmulator",
                "SwitchyardEventBridge",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // A local PutRecords endpoint: signatures, Kinesis's validation and per-record errors, shards
        // by the MD5 of the partition key, and faults on demand.
        .target(
            name: "KinesisEmulator",
            dependencies: [
                "SwitchyardCore",
                "AWSSigV4",
                "AWSEmulator",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "switchyard",
            dependencies: [
                "SwitchyardCore",
                "SwitchyardServer",
                "SwitchyardMemory",
                "SwitchyardSQLite",
                "SwitchyardPostgres",
                "SwitchyardArchive",
                "SwitchyardEventBridge",
                "SwitchyardKinesis",
                "EventBridgeEmulator",
                "KinesisEmulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Benchmark helpers: the bare Hummingbird baseline server, the floor server (the least a
        // durable pipeline does on this stack) and the transform micro-benchmark.
        // Built in release by Benchmarks/run; not part of the product.
        .executableTarget(
            name: "switchyard-bench",
            dependencies: [
                "SwitchyardCore",
                "SwitchyardEventBridge",
                "SwitchyardSQLite",
                "AWSClient",
                "AWSSigV4",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/Tool",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SwitchyardCoreTests",
            dependencies: [
                "SwitchyardCore", "SwitchyardMemory", "SwitchyardEventBridge", "SwitchyardTestSupport",
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SwitchyardJavaScriptTests",
            dependencies: ["SwitchyardJavaScript"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EventBridgeTests",
            dependencies: [
                "SwitchyardEventBridge", "AWSSigV4", "SwitchyardCore", "EventBridgeEmulator",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AWSCredentialsTests",
            dependencies: [
                "AWSCredentialProviders", "AWSSigV4", "SwitchyardCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KinesisTests",
            dependencies: [
                "SwitchyardKinesis", "AWSClient", "AWSSigV4", "SwitchyardCore", "KinesisEmulator",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SwitchyardServerTests",
            dependencies: [
                "SwitchyardServer",
                "SwitchyardSQLite",
                "SwitchyardEventBridge",
                "SwitchyardTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ArchiveTests",
            dependencies: [
                "SwitchyardArchive", "SwitchyardCore", "SwitchyardMemory", "SwitchyardTestSupport", "AWSSigV4",
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // What the store and delivery tests share (temporary folders, numbered events).
        .target(
            name: "SwitchyardTestSupport",
            dependencies: [
                "SwitchyardCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/Support",
            swiftSettings: swiftSettings
        ),
        // The behaviour every store must have, run against each one.
        .testTarget(
            name: "StoreConformanceTests",
            dependencies: [
                "SwitchyardCore", "SwitchyardMemory", "SwitchyardSQLite", "SwitchyardPostgres", "SwitchyardTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // What only the embedded store does: its files, lock, crash safety, index plans, upgrades.
        .testTarget(
            name: "SQLiteStoreTests",
            dependencies: [
                "SwitchyardCore", "SwitchyardSQLite", "SwitchyardTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
