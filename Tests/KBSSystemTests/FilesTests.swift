import Foundation
import Synchronization
import Testing
@testable import KBSSystem

@Suite("Files and locks")
struct FilesTests {
    private func scratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kbs-files-\(UUID().uuidString)").path
        try Files.makeDirectory(path + "/a/b")
        return path
    }

    @Test("directories, sparse files, listing and tree removal")
    func files() throws {
        let root = try scratch()
        try Files.sizeFile("\(root)/a/img", to: 1 << 30, creating: true)
        #expect(try Files.status("\(root)/a/img")?.size == 1 << 30)
        try Files.sizeFile("\(root)/a/img", to: 1 << 20, creating: false)
        #expect(try Files.status("\(root)/a/img")?.size == 1 << 30, "never shrinks")
        #expect(throws: SystemCallError.self) { try Files.sizeFile("\(root)/a/img", to: 1, creating: true) }
        let names = Set(try Files.directoryEntries("\(root)/a").map(\.name))
        #expect(names == ["b", "img"])
        #expect(try Files.remove("\(root)/nothing") == false)
        try Files.removeTree(root)
        #expect(try !Files.exists(root))
    }

    @Test("errors carry the operation and the errno read right after the call")
    func errors() {
        let error = #expect(throws: SystemCallError.self) { _ = try Files.read("/proc/definitely-missing") }
        #expect(error?.errno == .noSuchFile)
        #expect(error?.operation.contains("/proc/definitely-missing") == true)
    }

    @Test("an exclusive file lock keeps threads of one process apart too")
    func lock() async throws {
        let root = try scratch()
        defer { try? Files.removeTree(root) }
        let counts = Counts()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try? FileLock.withExclusive("\(root)/lock", mapError: { $0 }) { () throws(SystemCallError) in
                        counts.enter()
                        Thread.sleep(forTimeInterval: 0.01)
                        counts.leave()
                    }
                }
            }
        }
        #expect(counts.most == 1)
    }

    @Test("a slot lock keeps holders of one slot apart and lets other slots' holders in")
    func slotLock() throws {
        let root = try scratch()
        defer { try? Files.removeTree(root) }
        /// Most threads inside at once when four threads take slot `slot(i)` for 0.1 s each.
        func mostInside(_ slot: @escaping @Sendable (UInt32) -> UInt32) -> Int {
            let counts = Counts()
            let group = DispatchGroup()
            for i in 0..<4 as Range<UInt32> {
                group.enter()
                Thread.detachNewThread {
                    try? FileLock.withExclusive("\(root)/slots", slot: slot(i), mapError: { $0 }) { () throws(SystemCallError) in
                        counts.enter()
                        Thread.sleep(forTimeInterval: 0.1)
                        counts.leave()
                    }
                    group.leave()
                }
            }
            group.wait()
            return counts.most
        }
        #expect(mostInside { _ in 7 } == 1)
        #expect(mostInside { $0 } > 1)
    }
}

/// How many threads were inside at most.
final class Counts: Sendable {
    private let state = Mutex((inside: 0, most: 0))
    func enter() { state.withLock { $0.inside += 1; $0.most = max($0.most, $0.inside) } }
    func leave() { state.withLock { $0.inside -= 1 } }
    var most: Int { state.withLock { $0.most } }
}
