import Testing
@testable import StorageCore

/// Many snapshots, long keys and deep chains (graph only: memory backend).
@Suite("Scale", .serialized)
struct ScaleTests {
    @Test("10,000 snapshots with 4 KiB keys: stat, walk and prepare still work")
    func manyLongKeys() async throws {
        try await withTestPool(.memory) { pool in
            let s = pool.snapshots
            let pad = String(repeating: "k", count: 4096 - 16)
            func key(_ i: Int) -> String { "\(pad)/\(String(i).leftPad(8))" }
            #expect(key(1).utf8.count == 4096 - 16 + 1 + 8)
            for i in 0..<10_000 {
                _ = try await s.prepare(key(i), labels: ["i": "\(i)"])
            }
            for i in stride(from: 0, to: 10_000, by: 97) {
                let info = try s.stat(key(i))
                #expect(info.name == key(i))
                #expect(info.labels["i"] == "\(i)")
            }
            var seen = 0
            try s.walk { _ in seen += 1 }
            #expect(seen == 10_000)
            #expect(try s.list(SnapshotFilter(anyOf: [[.init(.label("i"), .equals("4242"))]])).map(\.name) == [key(4242)])
            // Keys that share the first 4 KiB - 8 bytes still resolve to themselves.
            try await s.commit("\(pad)/committed", key: key(7))
            _ = try await s.prepare("\(pad)/child", parent: "\(pad)/committed")
            #expect(try s.stat("\(pad)/child").parent == "\(pad)/committed")
        }
    }

    @Test("a chain 1,000 deep")
    func deepChain() async throws {
        try await withTestPool(.memory) { pool in
            let s = pool.snapshots
            var parent: String?
            for depth in 0..<1_000 {
                _ = try await s.prepare("active-\(depth)", parent: parent)
                try await s.commit("layer-\(depth)", key: "active-\(depth)")
                parent = "layer-\(depth)"
            }
            _ = try await s.prepare("top", parent: "layer-999")
            #expect(try s.stat("top").parent == "layer-999")
            #expect(try s.stat("layer-500").parent == "layer-499")
            #expect(try s.list().count == 1_001)
            await #expect(throws: StorageError.self) { try await s.remove("layer-998") }
        }
    }

    @Test("keys beyond LMDB's 511-byte limit that differ only at the end are distinct")
    func longKeyCollisions() async throws {
        try await withTestPool(.memory) { pool in
            let s = pool.snapshots
            let stem = String(repeating: "s", count: 2000)
            _ = try await s.prepare(stem + "a")
            _ = try await s.prepare(stem + "b")
            await #expect(throws: StorageError.self) { _ = try await s.prepare(stem + "a") }
            try await s.remove(stem + "a")
            #expect(try s.stat(stem + "b").name == stem + "b")
        }
    }
}

extension String {
    func leftPad(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
