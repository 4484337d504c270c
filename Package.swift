// swift-tools-version:6.0
import PackageDescription

// The Swift half of the pgscore extension, and its daemon.
//  * PgScoreJSON: a small JSON reader and writer, shared by the core and the daemon.
//  * PgScoreNumericText: the one rule of what text is a number (training, serving,
//    drift, and the daemon's feature check), shared by the core and the daemon.
//  * ScoreCore: machine-learning math, model codec. Pure Swift: no Foundation,
//    no PostgreSQL; fully tested by `swift test`.
//  * PgScoreABI: the @_cdecl functions the C glue (extension/) calls over plain
//    pointers; turns Swift errors into status codes + messages.
// The static library is linked into extension/pgscore.so by extension/Makefile.
//  * PgScoreServe (executable `pgscore`): the daemon. `pgscore serve` is a REST
//    gateway that turns JSON into SQL over a PostgreSQL connection pool; `pgscore keys`
//    manages its API keys. It speaks SQL only: no ML code, no dependency on ScoreCore (only on PgScoreJSON and PgScoreNumericText).
//    Its dependencies are compiled only when it is built (`make daemon`);
//    `swift build --product PgScoreABI` does not compile them.
let package = Package(
    name: "pgscore",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "PgScoreABI", type: .static, targets: ["PgScoreABI"]),
        .executable(name: "pgscore", targets: ["PgScoreServe"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", "2.101.0"..<"2.102.0"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", exact: "2.37.6"),
    ],
    targets: [
        .target(name: "PgScoreJSON"),
        .target(name: "PgScoreNumericText"),
        .target(name: "ScoreCore", dependencies: ["PgScoreJSON", "PgScoreNumericText"]),
        .target(name: "PgScoreABI", dependencies: ["ScoreCore"]),
        .testTarget(name: "ScoreCoreTests", dependencies: ["ScoreCore"], path: "SwiftTests/ScoreCoreTests"),
        .executableTarget(
            name: "PgScoreServe",
            dependencies: [
                "PgScoreJSON",
                "PgScoreNumericText",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            // GET /openapi.yaml and /openapi.json (symlinks to the repository's documents)
            resources: [.embedInCode("OpenAPI/openapi.yaml"), .embedInCode("OpenAPI/openapi.json")]
        ),
        .testTarget(
            name: "PgScoreServeTests",
            dependencies: [
                "PgScoreServe",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            path: "SwiftTests/PgScoreServeTests"
        ),
    ]
)
