// snapbench: in-process engine operations on the reflink file backend, printed as numbers.
// Usage: snapbench [--snapshots N] [--samples N] [--state-dir DIR]   (root: loop devices, mkfs)
import Foundation
import Glibc
import KBSSystem
import Logging
import StorageCore

struct Options {
    var snapshots = 10_000
    var samples = 200
    var stateDirectory = "/tmp/snapbench-\(getpid())"

    init(_ arguments: [String]) {
        var i = 1
        while i < arguments.count {
            let value = i + 1 < arguments.count ? arguments[i + 1] : ""
            switch arguments[i] {
            case "--snapshots": snapshots = max(20, Int(value) ?? snapshots)
            case "--samples": samples = Int(value) ?? samples
            case "--state-dir": stateDirectory = value
            default:
                FileHandle.standardError.write(Data("usage: snapbench [--snapshots N] [--samples N] [--state-dir DIR]\n".utf8))
                exit(2)
            }
            i += 2
        }
    }
}

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Nanoseconds per call of each sample.
struct Samples {
    var values: [Double] = []

    mutating func time(_ body: () async throws -> Void) async rethrows {
        let start = now()
        try await body()
        values.append(Double(now() - start))
    }

    func percentile(_ p: Double) -> Double {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }

    var median: Double { percentile(0.5) }
}

struct Row {
    var operation: String
    var count: Int
    var median: Double
    var p90: Double
    var opsPerSecond: Double
    var target: String
}

func record(_ rows: inout [Row], _ name: String, _ samples: Samples, target: String = "") {
    let total = samples.values.reduce(0, +)
    rows.append(Row(operation: name, count: samples.values.count, median: samples.median, p90: samples.percentile(0.9),
                    opsPerSecond: Double(samples.values.count) / (total / 1e9), target: target))
    progress("\(name): median \(String(format: "%.1f", samples.median / 1000)) µs")
}

/// Throughput of a tight loop, for calls too fast to time one by one.
func recordThroughput(_ rows: inout [Row], _ name: String, count: Int, target: String, _ body: (Int) async throws -> Void) async rethrows {
    let start = now()
    for i in 0..<count { try await body(i) }
    let elapsed = Double(now() - start)
    rows.append(Row(operation: name, count: count, median: elapsed / Double(count), p90: .nan,
                    opsPerSecond: Double(count) / (elapsed / 1e9), target: target))
    progress("\(name): \(Int(Double(count) / (elapsed / 1e9))) ops/s")
}

/// A check of the benchmark's own results; failing it ends the run (its pool is destroyed).
func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw StorageError(.internal, "snapbench: \(message())") }
}

func progress(_ message: String) {
    FileHandle.standardError.write(Data("snapbench: \(message)\n".utf8))
}

/// The shell-out peer: the same clone + attach + detach through `cp --reflink` and `losetup`.
func shellPeer(imageDirectory: String, base: String, samples: Int) async throws -> Samples {
    var result = Samples()
    for i in 0..<samples {
        let image = "\(imageDirectory)/peer-\(i).img"
        try await result.time {
            try runTool("/usr/bin/cp", ["--reflink=always", base, image])
            let device = try runTool("/usr/sbin/losetup", ["--find", "--show", "--direct-io=on", "--sector-size", "4096", image])
            try runTool("/usr/sbin/losetup", ["-d", device.trimmingCharacters(in: .whitespacesAndNewlines)])
        }
        unlink(image)
    }
    return result
}

@discardableResult
func runTool(_ path: String, _ arguments: [String]) throws -> String {
    try Subprocess.run(path, arguments, captureOutput: true)
}

/// Every measurement. It runs on the engine's own executor, as an in-process frontend's requests
/// do, so that calls pay no switch between threads (from the main actor each call would pay two,
/// and from the cooperative pool one round trip: on this virtual machine each costs up to 0.3 ms).
func measure(_ engine: StorageEngine, _ options: Options) async throws -> [Row] {
    var rows: [Row] = []
    let snapshots = engine.snapshots(in: "snapbench")
    let n = options.samples

    // prepare (graph + reflink clone + loop attach), commit (detach), remove (detach + delete)
    var prepare = Samples()
    for i in 0..<n { try await prepare.time { _ = try await snapshots.prepare("bench/prepare/\(i)") } }
    record(&rows, "prepare (graph + clone + loop attach)", prepare, target: "median <= 2 ms")

    var commit = Samples()
    for i in 0..<n { try await commit.time { try await snapshots.commit("bench/layer/\(i)", key: "bench/prepare/\(i)") } }
    record(&rows, "commit (graph + loop detach)", commit)

    var prepareOnParent = Samples()
    for i in 0..<n { try await prepareOnParent.time { _ = try await snapshots.prepare("bench/child/\(i)", parent: "bench/layer/\(i)") } }
    record(&rows, "prepare on a parent", prepareOnParent, target: "median <= 2 ms")

    var view = Samples()
    for i in 0..<n { try await view.time { _ = try await snapshots.view("bench/view/\(i)", parent: "bench/layer/\(i)") } }
    record(&rows, "view", view)

    var mounts = Samples()
    for i in 0..<n { try await mounts.time { _ = try await snapshots.mounts("bench/child/\(i)") } }
    record(&rows, "mounts", mounts)

    // Host mount and unmount of a committed layer (containers/storage's Get and Put).
    var getPut = Samples()
    for i in 0..<min(n, 100) {
        try await getPut.time {
            _ = try await snapshots.mountFilesystem("bench/layer/\(i)")
            try await snapshots.unmountFilesystem("bench/layer/\(i)")
        }
    }
    record(&rows, "host mount + unmount of a layer (Get + Put)", getPut, target: "median < 5 ms")

    var remove = Samples()
    for i in 0..<n {
        try await remove.time { try await snapshots.remove("bench/view/\(i)") }
    }
    record(&rows, "remove (detach + delete)", remove)
    for i in 0..<n {
        try await snapshots.remove("bench/child/\(i)")
        try await snapshots.remove("bench/layer/\(i)")
    }

    // A store of `snapshots` committed snapshots, for stat and walk.
    progress("filling the store with \(options.snapshots) snapshots")
    for i in 0..<options.snapshots {
        _ = try await snapshots.prepare("fill/\(i)", labels: ["containerd.io/snapshot.ref": "sha256:\(i)"])
        try await snapshots.commit("fill/committed/\(i)", key: "fill/\(i)", labels: ["containerd.io/snapshot.ref": "sha256:\(i)"])
        if i % 1000 == 999 { progress("  \(i + 1) / \(options.snapshots)") }
    }
    try await recordThroughput(&rows, "stat", count: 200_000, target: ">= 100k/s") { i in
        _ = try snapshots.stat("fill/committed/\(i % options.snapshots)")
    }
    var walk = Samples()
    for _ in 0..<20 {
        try await walk.time {
            var count = 0
            try snapshots.walk { _ in count += 1 }
            try expect(count >= options.snapshots, "the walk saw \(count) snapshots")
        }
    }
    record(&rows, "walk over \(options.snapshots)", walk)
    var filtered = Samples()
    for i in 0..<20 {
        try await filtered.time {
            let hits = try snapshots.list(SnapshotFilter(anyOf: [[.init(.label("containerd.io/snapshot.ref"), .equals("sha256:\(i)"))]]))
            try expect(hits.count == 1, "the label filter found \(hits.count) snapshots")
        }
    }
    record(&rows, "walk over \(options.snapshots) with a label filter", filtered)

    // prepare time against chain depth
    progress("building a chain 1,000 deep")
    var parent: String?
    for depth in 1...1_000 {
        _ = try await snapshots.prepare("chain/active/\(depth)", parent: parent)
        try await snapshots.commit("chain/\(depth)", key: "chain/active/\(depth)")
        parent = "chain/\(depth)"
    }
    for depth in [1, 100, 1_000] {
        var atDepth = Samples()
        for i in 0..<min(n, 100) {
            try await atDepth.time { _ = try await snapshots.prepare("chain/top/\(depth)/\(i)", parent: "chain/\(depth)") }
        }
        record(&rows, "prepare at chain depth \(depth)", atDepth, target: "flat")
        // Same number of attached devices for every depth.
        for i in 0..<min(n, 100) { try await snapshots.remove("chain/top/\(depth)/\(i)") }
    }

    // The peer: what a tool that shells out to cp and losetup pays for the same clone + attach + detach.
    let imageDirectory = "\(options.stateDirectory)/pool/xfs/images"
    guard let baseImage = try FileManager.default.contentsOfDirectory(atPath: imageDirectory).filter({ $0.hasSuffix(".img") }).sorted()
        .map({ "\(imageDirectory)/\($0)" }).first else { throw StorageError(.internal, "snapbench: no image in \(imageDirectory)") }
    var ours = Samples()
    for i in 0..<min(n, 100) {
        try await ours.time {
            _ = try await snapshots.prepare("peer/ours/\(i)")
            try await snapshots.commit("peer/ours/committed/\(i)", key: "peer/ours/\(i)")
        }
    }
    record(&rows, "ours: prepare + commit (clone, attach, detach)", ours)
    record(&rows, "peer: cp --reflink + losetup attach + detach", try await shellPeer(imageDirectory: imageDirectory, base: baseImage, samples: min(n, 100)))

    return rows
}

let options = Options(CommandLine.arguments)
guard getuid() == 0 else {
    progress("needs root (loop devices, mkfs, mount)")
    exit(1)
}
var logger = Logger(label: "snapbench")
logger.logLevel = .warning
var configuration = EngineConfiguration()
configuration.backend = "file"
configuration.file.poolSize = 64 << 30
let engine = try await StorageEngine.create(at: options.stateDirectory, configuration: configuration, logger: logger)
// A failed run still destroys its pool (and its loop devices and mounts).
do {
    let rows = try await withTaskExecutorPreference(engine.taskExecutor) { try await measure(engine, options) }
    print("")
    print("snapbench: reflink file backend (XFS pool file on loop), ext4 devices, \(options.snapshots) snapshots in the store")
    let header = ["operation", "count", "median µs", "p90 µs", "ops/s", "target"]
    let table = rows.map { row in
        [row.operation, "\(row.count)", String(format: "%.1f", row.median / 1000),
         row.p90.isNaN ? "-" : String(format: "%.1f", row.p90 / 1000), String(format: "%.0f", row.opsPerSecond), row.target]
    }
    let widths = header.indices.map { c in ([header] + table).map { $0[c].count }.max()! }
    for line in [header] + table {
        print(line.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  "))
    }
} catch {
    progress("failed: \(error)")
    try? await engine.close(destroy: true)
    exit(1)
}
try await engine.close(destroy: true)
