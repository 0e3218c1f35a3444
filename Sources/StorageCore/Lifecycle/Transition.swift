import Foundation
import KBSLMDB
import KBSSystem

typealias TransitionDurability = LMDBEnvironment.Durability

/// What the first step of a transition decided: the devices it moves to trying states (written
/// by `transition`, with this process as their owner) and whatever its later steps need.
protocol TransitionPlan {
    var moving: [DeviceRecord] { get }
}

/// The signal a transition's first step gives when a device it needs is in a trying state.
struct InFlightDevice: Error, Sendable, CustomStringConvertible {
    var id: UInt32
    var state: DeviceState
    var owner: ProcessIdentity?

    var description: String { "device \(id) is \(state)\(owner.map { " by \($0)" } ?? "")" }
}

/// The persisted device state machine as one primitive. Every change of a device, recovery
/// included, is:
///
/// 1. `begin`, in a write transaction: check, write the graph's side of the change, and name the
///    devices to move into trying states. They are written with this process as owner and
///    registered as in flight here before the transaction commits. A device already in a trying
///    state is another caller's work in progress (`StorageEngine` waits for it, bounded) or a
///    dead caller's leftover, recovered on the spot before `begin` runs again.
/// 2. `work`, with no lock held: the kernel and file calls.
/// 3. `finish`, in a write transaction: the outcome, with the backend's generation.
///
/// When `work` or `finish` fails, `revert` undoes the kernel side and `restore` writes the
/// records back; when `revert` fails too, the moved devices are recorded `faulty` with both
/// errors. Nothing is swallowed: if even that write fails, the trying records stay, owned by a
/// call that is no longer in flight, and the next recovery takes them over.
///
/// Durability. `finish` is durable unless the change does not outlive a reboot (host mounts).
/// `begin` may be only crash-safe (one sync fewer) when a power loss that undoes it leaves
/// nothing reconciliation cannot explain: a creation's undone record leaves a device no record
/// names, deleted as an orphan at the next boot's reconciliation (unless the pool is shared:
/// then it is durable); an undone commit mark leaves an active snapshot whose device the reboot
/// detached, attached again. A removal's mark is durable: undone, it would leave a snapshot
/// whose device is gone; but because recovery finishes a removal forwards, a removal's outcome
/// need not be durable itself (the durable mark stands for it).
extension Pool {
    @discardableResult
    func transition<Plan: TransitionPlan, Outcome>(
        _ operation: String,
        trying: TransitionDurability = .durable,
        outcome: TransitionDurability = .durable,
        begin: (borrowing GraphTransaction) throws(StorageError) -> Plan,
        work: (Plan) throws(StorageError) -> Outcome,
        finish: (Plan, Outcome, borrowing GraphTransaction) throws(StorageError) -> Void,
        revert: (Plan) throws(StorageError) -> Plan,
        restore: (Plan, borrowing GraphTransaction) throws(StorageError) -> Void
    ) throws(StorageError) -> Outcome {
        let plan = try beginRecovering(operation, trying, begin)
        defer { inFlight.withLock { $0.subtract(plan.moving.map(\.id)) } }
        do throws(StorageError) {
            let result = try work(plan)
            try store.write(outcome) { (txn) throws(StorageError) in
                try finish(plan, result, txn)
                try txn.recordGeneration(backend.generation)
            }
            return result
        } catch {
            rollBack(operation, plan, failure: error, revert: revert, restore: restore)
            throw error
        }
    }

    /// Step 1, retried after recovering devices that dead callers left in trying states.
    private func beginRecovering<Plan: TransitionPlan>(
        _ operation: String, _ durability: TransitionDurability, _ begin: (borrowing GraphTransaction) throws(StorageError) -> Plan
    ) throws(StorageError) -> Plan {
        var recovered: Set<UInt32> = []
        while true {
            var registered: [UInt32] = []
            do throws(StorageError) {
                return try store.write(durability) { (txn) throws(StorageError) -> Plan in
                    let plan = try begin(txn)
                    for var device in plan.moving {
                        device.owner = owner
                        try txn.putDevice(device)
                    }
                    // Registered before the commit, so that no thread of this process can take the
                    // records for a dead call's; a failed commit drops them again below.
                    registered = plan.moving.map(\.id)
                    inFlight.withLock { $0.formUnion(registered) }
                    return plan
                }
            } catch where error.code == .inFlight {
                guard let busy = error.cause as? InFlightDevice, isAbandoned(busy), !recovered.contains(busy.id) else { throw error }
                recovered.insert(busy.id)
                try recoverAbandoned(busy)
            } catch {
                inFlight.withLock { $0.subtract(registered) }
                throw error
            }
        }
    }

    /// Steps back from a failed `work` or `finish`; see the type's documentation.
    private func rollBack<Plan: TransitionPlan>(
        _ operation: String, _ plan: Plan, failure: StorageError,
        revert: (Plan) throws(StorageError) -> Plan, restore: (Plan, borrowing GraphTransaction) throws(StorageError) -> Void
    ) {
        var reverted = plan
        var revertFailure: StorageError?
        do throws(StorageError) {
            reverted = try revert(plan)
        } catch {
            revertFailure = error
        }
        let faults = revertFailure.map { revertError in
            plan.moving.map { $0.faulted("\(operation): \(failure.message); undoing it: \(revertError.message)") }
        } ?? []
        do throws(StorageError) {
            try store.write { (txn) throws(StorageError) in
                try restore(reverted, txn)
                for device in faults { try txn.putDevice(device) }
                try txn.recordGeneration(backend.generation)
            }
        } catch {
            logger.error("could not record the outcome of a failed call; its devices are recovered later", metadata: [
                "operation": "\(operation)", "error": "\(failure)", "recordError": "\(error)",
                "devices": "\(plan.moving.map(\.id))",
            ])
            return
        }
        if !faults.isEmpty {
            logger.error("a failed call could not be undone; its devices are faulty", metadata: [
                "operation": "\(operation)", "error": "\(failure)", "undoError": "\(revertFailure!)", "devices": "\(plan.moving.map(\.id))",
            ])
        }
    }

    /// Step 1's check of a device it needs: a device in a trying state stops the step.
    func requireSettled(_ device: DeviceRecord) throws(StorageError) {
        guard device.state.isTrying else { return }
        throw StorageError(.inFlight, "device \(device.id) is \(device.state)",
                           cause: InFlightDevice(id: device.id, state: device.state, owner: device.owner))
    }

    /// Whether a device seen in a trying state was left by a call that is no longer running.
    func isAbandoned(_ seen: InFlightDevice) -> Bool {
        guard let who = seen.owner else { return true }  // queued for the reaper, or schema 1's
        if who == owner { return !inFlight.withLock { $0.contains(seen.id) } }
        do throws(SystemCallError) {
            return try !who.isAlive()
        } catch {
            logger.warning("cannot tell whether a process is alive; taking it for alive", metadata: ["owner": "\(who)", "error": "\(error)"])
            return false
        }
    }
}

extension DeviceRecord {
    /// This record moved to `faulty` with `fault`, its owner gone.
    func faulted(_ fault: String) -> DeviceRecord {
        assert(state.canMove(to: .faulty), "a device in a trying state can always become faulty")
        var record = self
        record.state = .faulty
        record.owner = nil
        record.fault = fault
        return record
    }
}
