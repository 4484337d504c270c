// swift-tools-version:6.0
import PackageDescription

// The Swift half of the pgscore extension.
//  * ScoreCore: machine-learning math, model codec, JSON. Pure Swift: no Foundation,
//    no PostgreSQL; fully tested by `swift test`.
//  * PgScoreABI: the @_cdecl functions the C glue (extension/) calls over plain
//    pointers; turns Swift errors into status codes + messages.
// The static library is linked into extension/pgscore.so by extension/Makefile.
let package = Package(
    name: "pgscore",
    products: [
        .library(name: "PgScoreABI", type: .static, targets: ["PgScoreABI"]),
    ],
    targets: [
        .target(name: "ScoreCore"),
        .target(name: "PgScoreABI", dependencies: ["ScoreCore"]),
        .testTarget(name: "ScoreCoreTests", dependencies: ["ScoreCore"]),
    ]
)
