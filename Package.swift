// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "KataBlockStorage",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "StorageCore", targets: ["StorageCore"]),
        .executable(name: "snapctl", targets: ["snapctl"]),
        .executable(name: "snapbench", targets: ["snapbench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // C at the edge: module map + shim header only.
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CDeviceMapper", pkgConfig: "devmapper", providers: [.apt(["libdevmapper-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CLinux"),

        .target(
            name: "StorageCore",
            dependencies: [
                "CLMDB", "CDeviceMapper", "CLinux",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "snapctl",
            dependencies: [
                "StorageCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "snapbench",
            dependencies: [
                "StorageCore",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/snapbench"
        ),
        .testTarget(
            name: "StorageCoreTests",
            dependencies: ["StorageCore"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
