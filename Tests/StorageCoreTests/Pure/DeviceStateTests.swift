import Testing
@testable import StorageCore

@Suite("Device state machine")
struct DeviceStateTests {
    @Test("every trying state can end faulty, and only trying states have an owner's work in them")
    func tryingStates() {
        for state in DeviceState.allCases where state.isTrying && state != .removing {
            #expect(state.canMove(to: .faulty), "\(state)")
        }
        #expect(DeviceState.removing.canMove(to: .faulty))
        #expect(Set(DeviceState.allCases.filter(\.isTrying)) == [.creating, .activating, .deactivating, .removing, .mounting, .unmounting])
    }

    @Test("nothing becomes `creating` again, and settled states move only through a trying state")
    func settledMoves() {
        for state in DeviceState.allCases { #expect(!state.canMove(to: .creating), "\(state)") }
        let settled: [DeviceState] = [.inactive, .active, .faulty]
        for from in settled {
            for to in settled where from != to {
                if (from, to) == (.faulty, .inactive) || (from, to) == (.faulty, .active) { continue }  // a repaired record
                if to == .faulty { continue }  // found missing from the backend
                #expect(!from.canMove(to: to), "\(from) -> \(to) skips the trying state")
            }
        }
    }

    @Test("the moves each operation makes are allowed")
    func operationMoves() {
        let moves: [(DeviceState, DeviceState)] = [
            (.creating, .active), (.inactive, .mounting), (.mounting, .active), (.active, .unmounting), (.unmounting, .inactive),
            (.active, .deactivating), (.inactive, .deactivating), (.deactivating, .inactive), (.active, .removing), (.inactive, .removing),
            (.faulty, .removing), (.inactive, .activating), (.active, .activating), (.activating, .active),
        ]
        for (from, to) in moves { #expect(from.canMove(to: to), "\(from) -> \(to)") }
    }

    @Test("a record's move clears its owner once the state is settled and refuses moves the machine forbids")
    func recordMoves() throws {
        var device = DeviceRecord(id: 1, snapshotID: 1, originID: 0, sizeBytes: 1, state: .creating, owner: .init(bootID: "b", pid: 1, startTime: 1))
        try device.move(to: .active, path: "/dev/loop1")
        #expect(device.owner == nil && device.path == "/dev/loop1")
        try device.move(to: .deactivating)
        try device.move(to: .inactive)
        #expect(device.path == "")
        let refused = #expect(throws: StorageError.self) { try device.move(to: .creating) }
        #expect(refused?.remedy == .checkPool)
    }
}
