// kbs-stress: one process of the multi-process test (Tests/Integration/multi-process.sh).
//
//   kbs-stress work STATE NAME SECONDS JOURNAL   random prepares, commits, views, mounts, unmounts
//                                                (of any process's mounts), removes and fscks in
//                                                namespace "stress", each journalled before and after
//   kbs-stress verify STATE JOURNAL...           every acknowledged snapshot is there, every
//                                                acknowledged removal is not, and the pool is consistent
//   kbs-stress unmount STATE NAMESPACE KEY       one Put, from this process
import Foundation
import Logging
import StorageCore

let namespace = "stress"
var logger = Logger(label: "kbs-stress")
logger.logLevel = .warning

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("kbs-stress: \(message)\n".utf8))
    exit(1)
}

/// Appends lines to the journal and flushes each (a SIGKILL must not lose an acknowledged line).
final class Journal {
    private let handle: FileHandle
    init(_ path: String) {
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else { fail("cannot open \(path)") }
        handle.seekToEndOfFile()
        self.handle = handle
    }
    func write(_ line: String) {
        handle.write(Data((line + "\n").utf8))
        handle.synchronizeFile()
    }
}

/// One worker's snapshots and its journal.
struct Worker {
    let snapshots: SnapshotNamespace
    let engine: StorageEngine
    let journal: Journal
    var active: [String] = []
    var committed: [String] = []
    var views: [String] = []
    var generator = SystemRandomNumberGenerator()

    /// One random call; returns false when it was refused (allowed: busy, waited too long).
    mutating func step(_ key: String) async throws -> Bool {
        switch Int.random(in: 0..<10, using: &generator) {
        case 0, 1:
            let parent = committed.randomElement(using: &generator) ?? "base"
            journal.write("intent prepare \(key)")
            _ = try await snapshots.prepare(key, parent: parent)
            journal.write("ok prepare \(key)")
            active.append(key)
        case 2:
            guard let source = active.popLast() else { return true }
            let layer = "\(key)/layer"
            journal.write("intent commit \(layer) \(source)")
            do throws(StorageError) {
                try await snapshots.commit(layer, key: source)
            } catch {
                if error.code == .busy { active.append(source) }  // mounted: a Put first
                throw error
            }
            journal.write("ok commit \(layer) \(source)")
            committed.append(layer)
        case 3:
            journal.write("intent view \(key)")
            _ = try await snapshots.view(key, parent: committed.randomElement(using: &generator) ?? "base")
            journal.write("ok view \(key)")
            views.append(key)
        case 4:
            // A Get on one of ours; the Put may come from any process.
            guard let target = (active + committed).randomElement(using: &generator) else { return true }
            _ = try await snapshots.mountFilesystem(target)
            journal.write("ok mount \(target)")
        case 5:
            // A Put of a mount any process made.
            try await unmountOne()
        case 6:
            guard let view = views.popLast() else { return true }
            journal.write("intent remove \(view)")
            try await snapshots.remove(view)
            journal.write("ok remove \(view)")
        case 7:
            guard let target = active.popLast() else { return true }
            journal.write("intent remove \(target)")
            do throws(StorageError) {
                try await snapshots.remove(target)
            } catch {
                if error.code == .busy { active.append(target) }  // mounted: a Put first
                throw error
            }
            journal.write("ok remove \(target)")
        case 8:
            let real = try await engine.checkConsistency().filter { !$0.problem.contains("interrupted call") }
            if !real.isEmpty { journal.write("fsck-problem \(real.map(\.description).joined(separator: " | "))") }
        default:
            _ = try snapshots.list()
            if let some = (active + committed + views).randomElement(using: &generator) { _ = try snapshots.stat(some) }
        }
        return true
    }

    /// Drops one host mount of a snapshot of the namespace, whichever process made it.
    mutating func unmountOne() async throws {
        for info in try snapshots.list().shuffled(using: &generator) {
            guard let device = try snapshots.inspect(info.name).device, device.mountUsers > 0 else { continue }
            do throws(StorageError) {
                try await snapshots.unmountFilesystem(info.name)
                journal.write("ok unmount \(info.name)")
            } catch {
                guard error.code == .failedPrecondition else { throw error }  // else another process took the last one
            }
            return
        }
    }

    /// Drops every host mount left in the namespace.
    func unmountAll() async throws {
        for info in try snapshots.list() {
            var users = try snapshots.inspect(info.name).device?.mountUsers ?? 0
            while users > 0 {
                try await snapshots.unmountFilesystem(info.name)
                users -= 1
            }
        }
    }
}

/// The committed layer every worker starts from; made by whichever worker comes first.
func makeBase(_ snapshots: SnapshotNamespace) async {
    do {
        _ = try await snapshots.prepare("base")
        try await snapshots.commit("base", key: "base")
    } catch {
        // another worker made it (or is making it: its prepares then wait for it)
    }
}

func work(state: String, name: String, seconds: Double, journalPath: String) async throws {
    let engine = try await StorageEngine.open(stateDirectory: state, logger: logger)
    let snapshots = engine.snapshots(in: namespace)
    var worker = Worker(snapshots: snapshots, engine: engine, journal: Journal(journalPath))
    let run = "\(name)-\(getpid())"
    let deadline = Date().addingTimeInterval(seconds)
    var calls = 0
    var refused: [String: Int] = [:]
    await makeBase(snapshots)
    while Date() < deadline {
        calls += 1
        do {
            _ = try await worker.step("\(run)/\(calls)")
        } catch let error as StorageError {
            refused[error.code.name, default: 0] += 1
            // Busy (mounted) and a parent removed meanwhile are what concurrent callers meet;
            // anything else is a defect.
            if error.code != .busy && error.code != .notFound && error.code != .failedPrecondition {
                worker.journal.write("error \(error)")
            }
        }
    }
    // Our mounts go before we stop, so that removals are not refused forever.
    try await worker.unmountAll()
    try await engine.close()
    print("\(name): \(calls) calls, refused: \(refused.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))")
}

func verify(state: String, journals: [String]) async throws {
    var mustExist: Set<String> = ["base"]
    var mustNotExist: Set<String> = []
    var problems: [String] = []
    for path in journals {
        for line in (try String(contentsOfFile: path, encoding: .utf8)).split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            switch (f.first, f.count > 1 ? f[1] : "") {
            case ("ok", "prepare"), ("ok", "view"):
                mustExist.insert(f[2])
            case ("ok", "commit"):
                mustExist.remove(f[3])
                mustNotExist.insert(f[3])
                mustExist.insert(f[2])
            case ("intent", "commit"):
                mustExist.remove(f[3])  // either name, until acknowledged
            case ("intent", "remove"):
                mustExist.remove(f[2])
            case ("ok", "remove"):
                mustNotExist.insert(f[2])
            case ("fsck-problem", _), ("error", _):
                problems.append(String(line))
            default:
                break
            }
        }
    }
    let engine = try await StorageEngine.open(stateDirectory: state, logger: logger)
    let present = Set(try engine.list(namespace: namespace).map(\.name))
    let missing = mustExist.subtracting(present)
    let resurrected = mustNotExist.intersection(present)
    let inconsistencies = try await engine.checkConsistency()
    print("verify: \(present.count) snapshots; \(mustExist.count) acknowledged present, \(mustNotExist.count) acknowledged removed")
    for name in missing.sorted() { print("  MISSING acknowledged snapshot \(name)") }
    for name in resurrected.sorted() { print("  PRESENT after an acknowledged removal: \(name)") }
    for problem in inconsistencies { print("  FSCK \(problem)") }
    for problem in problems { print("  DURING THE RUN \(problem)") }
    try await engine.close()
    if !missing.isEmpty || !resurrected.isEmpty || !inconsistencies.isEmpty || !problems.isEmpty { exit(1) }
}

let arguments = CommandLine.arguments
do {
    switch arguments.count > 1 ? arguments[1] : "" {
    case "work" where arguments.count == 6:
        guard let seconds = Double(arguments[4]) else { fail("SECONDS must be a number") }
        try await work(state: arguments[2], name: arguments[3], seconds: seconds, journalPath: arguments[5])
    case "verify" where arguments.count >= 4:
        try await verify(state: arguments[2], journals: Array(arguments[3...]))
    case "unmount" where arguments.count == 5:
        let engine = try await StorageEngine.open(stateDirectory: arguments[2], logger: logger)
        try await engine.snapshots(in: arguments[3]).unmountFilesystem(arguments[4])
        try await engine.close()
    default:
        fail("usage: kbs-stress work STATE NAME SECONDS JOURNAL | verify STATE JOURNAL... | unmount STATE NAMESPACE KEY")
    }
} catch {
    fail("\(error)")
}
