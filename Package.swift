// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "KataBlockStorage",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "StorageCore", targets: ["StorageCore"]),
        .library(name: "SnapshotterAdapter", targets: ["SnapshotterAdapter"]),
        // The containers/storage graph driver's C ABI (Sources/CKataBlockDriver/kata_block_driver.h),
        // self-contained: the Swift runtime is linked in, so it needs only libc and libstdc++.
        .library(name: "kata-block-driver", type: .dynamic, targets: ["GraphDriverAdapter"]),
        .executable(name: "snapctl", targets: ["snapctl"]),
        .executable(name: "snapbench", targets: ["snapbench"]),
        .executable(name: "rpcfloor", targets: ["rpcfloor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.30.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        // C at the edge: module map + shim header only.
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CDeviceMapper", pkgConfig: "devmapper", providers: [.apt(["libdevmapper-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CLinux"),
        // The graph driver's C ABI: one hand-written header, which the adapter implements.
        .systemLibrary(name: "CKataBlockDriver"),
        // libdevmapper logs through a variadic callback Swift cannot implement: a C trampoline.
        .target(name: "CDeviceMapperLog", dependencies: ["CDeviceMapper"]),

        // The only Swift that imports C: one funnel each.
        .target(name: "KBSSystem", dependencies: ["CLinux"]),
        .target(name: "KBSLMDB", dependencies: ["CLMDB"]),
        .target(name: "KBSArchive", dependencies: ["CArchive"]),
        .target(
            name: "KBSDeviceMapper",
            dependencies: ["CDeviceMapper", "CDeviceMapperLog", "KBSSystem", .product(name: "Logging", package: "swift-log")]
        ),

        // The engine: Swift only.
        .target(
            name: "StorageCore",
            dependencies: [
                "KBSSystem", "KBSLMDB", "KBSDeviceMapper", "KBSArchive", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // containerd's snapshots gRPC service on our own small gRPC server (swift-nio-http2): decode, call the core, map errors. No C.
        .target(
            name: "SnapshotterAdapter",
            dependencies: [
                "StorageCore",
                "KBSSystem",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // containers/storage's graph driver as a C ABI: decode, call the core, map errors. No C library.
        .target(
            name: "GraphDriverAdapter",
            dependencies: ["StorageCore", "CKataBlockDriver", .product(name: "Logging", package: "swift-log")],
            // The Swift runtime and Foundation (which the engine uses) linked in; the group lets
            // Foundation's own static parts resolve each other.
            linkerSettings: [.unsafeFlags([
                "-static-stdlib", "-Xlinker", "--start-group", "-lFoundation", "-lFoundationInternationalization", "-lFoundationEssentials",
                "-lCoreFoundation", "-l_FoundationICU", "-l_FoundationCollections", "-l_FoundationCShims", "-Xlinker", "--end-group",
            ])]
        ),
        .executableTarget(
            name: "snapctl",
            dependencies: [
                "StorageCore",
                "KBSSystem",
                "SnapshotterAdapter",
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "snapbench",
            dependencies: [
                "StorageCore",
                "KBSSystem",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/snapbench",
            exclude: ["compare.sh", "compare.py"]
        ),
        // The snapshots API's floor: Stat answered with a constant by bare swift-nio-http2
        // (Benchmarks/rpcfloor/run.sh).
        .executableTarget(
            name: "rpcfloor",
            dependencies: [
                "SnapshotterAdapter",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ],
            path: "Benchmarks/rpcfloor",
            exclude: ["run.sh", "README.md"]
        ),
        .executableTarget(
            name: "kbs-stress",
            dependencies: ["StorageCore", .product(name: "Logging", package: "swift-log")],
            path: "Tests/Integration/Stress"
        ),
        .testTarget(name: "KBSSystemTests", dependencies: ["KBSSystem"]),
        .testTarget(
            name: "StorageCoreTests",
            dependencies: ["StorageCore", "KBSSystem", "KBSDeviceMapper", "KBSArchive", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "snapctlTests", dependencies: ["snapctl", "StorageCore"]),
        .testTarget(
            name: "SnapshotterAdapterTests",
            dependencies: [
                "SnapshotterAdapter",
                "StorageCore",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
