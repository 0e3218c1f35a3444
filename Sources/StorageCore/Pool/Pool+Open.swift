import Foundation
import KBSSystem
import Logging

/// Making a pool and opening one.
extension Pool {
    private struct BasePlan: TransitionPlan {
        var device: DeviceRecord
        var moving: [DeviceRecord] { [device] }
    }

    /// Makes a new pool in `stateDirectory` as `configuration` says: the backend, the base device
    /// formatted once, and the pool record. One creator at a time, across processes.
    static func create(at stateDirectory: String, configuration: EngineConfiguration, backends: BackendRegistry, logger: Logger) throws(StorageError) -> Pool {
        try configuration.validate()
        let factory = try backends.resolve(configuration.backend)
        try system("cannot create \(stateDirectory)") { () throws(SystemCallError) in try Files.makeDirectory(metadataDirectory(stateDirectory)) }
        return try FileLock.withExclusive("\(stateDirectory)/create.lock", mapError: { StorageError($0, "cannot lock \(stateDirectory)") }) {
            () throws(StorageError) -> Pool in
            let store = try GraphStore(directory: metadataDirectory(stateDirectory))
            try store.write { (txn) throws(StorageError) in
                if try txn.pool() != nil {
                    throw StorageError(.alreadyExists, "a pool already exists in \(stateDirectory)", remedy: .chooseAnother)
                }
                if try txn.metaInteger("schema", as: UInt32.self) != nil {
                    throw StorageError(.failedPrecondition, "a pool creation in \(stateDirectory) did not finish; remove the directory and create the pool again")
                }
                try txn.setMetaInteger("schema", Schema.current)
            }
            let context = BackendContext(poolDirectory: poolDirectory(stateDirectory), logger: logger)
            let backend: any BlockBackend
            let settings: [UInt8]
            do throws(StorageError) {
                (backend, settings) = try factory.create(configuration, in: context)
            } catch {
                forgetCreation(stateDirectory)
                throw error
            }
            // A pool shared with another user (an existing thin-pool) may hold devices already: ids start above theirs.
            let taken = backend.ownsEveryDevice ? [] : try backend.deviceIDs()
            let record = try store.write { (txn) throws(StorageError) -> PoolRecord in
                if let highest = taken.max(), highest < GraphTransaction.maxDeviceID { try txn.setMetaInteger("nextDeviceID", highest + 1) }
                return PoolRecord(backendKind: factory.kind, backendSettings: settings, filesystem: configuration.filesystem,
                                  defaultDeviceSize: configuration.defaultDeviceSize, baseDeviceID: try txn.allocateDeviceID())
            }
            let pool = try Pool(stateDirectory: stateDirectory, store: store, backend: backend, record: record, logger: logger)
            do throws(StorageError) {
                try pool.makeBaseDevice()
            } catch {
                _ = try? backend.shutDown()  // the thin-pool device or the mounted pool file goes too
                forgetCreation(stateDirectory)
                throw error
            }
            logger.info("pool created", metadata: [
                "state": "\(stateDirectory)", "backend": "\(backend.kind)", "layout": "\(backend.layout)",
                "filesystem": "\(configuration.filesystem.rawValue)", "deviceSize": "\(configuration.defaultDeviceSize)",
            ])
            return pool
        }
    }

    /// After a creation that made nothing lasting: the store goes, so the directory can be used again.
    private static func forgetCreation(_ stateDirectory: String) {
        _ = try? Files.removeTree(metadataDirectory(stateDirectory))
    }

    /// The base device every empty snapshot is cloned from: created, formatted, detached; the
    /// pool record is stored with its outcome, so a pool exists only once it has one.
    private func makeBaseDevice() throws(StorageError) {
        let size = record.defaultDeviceSize
        var created = false  // a device id taken by another user of a shared pool is not ours to delete
        try transition("create pool") { (txn) throws(StorageError) -> BasePlan in
            BasePlan(device: DeviceRecord(id: record.baseDeviceID, snapshotID: 0, originID: 0, sizeBytes: size, state: .creating))
        } work: { (plan) throws(StorageError) in
            try backend.createDevice(plan.device.id, size: size)
            created = true
            guard backend.providesBlockDevices else { return }
            let path = try attachDevice(plan.device.id, size: size, readOnly: false)
            let formatted = Result { () throws(StorageError) in try filesystem.makeEmptyRoot(path, scratch: "\(mountsDirectory)/base") }
            try detachDevice(plan.device.id, path: path)
            try formatted.get()
        } finish: { (plan, _, txn) throws(StorageError) in
            var base = plan.device
            try base.move(to: .inactive)
            try txn.putDevice(base)
            try txn.setPool(record)
            try txn.setMetaString("boot", try system("cannot read the boot id") { () throws(SystemCallError) in try ProcessIdentity.currentBootID() })
        } revert: { (plan) throws(StorageError) -> BasePlan in
            if created { try detachAndDelete(plan.device) }
            return plan
        } restore: { (plan, txn) throws(StorageError) in
            try txn.deleteDevice(id: plan.device.id)
        }
    }

    /// Opens the pool in `stateDirectory`: upgrades its store if an older release wrote it,
    /// brings its backend up, and reconciles what dead callers (or a reboot) left.
    static func open(stateDirectory: String, backends: BackendRegistry, logger: Logger) throws(StorageError) -> Pool {
        let metadata = metadataDirectory(stateDirectory)
        guard try system("cannot read \(stateDirectory)", { () throws(SystemCallError) in try Files.exists(metadata) }) else {
            throw StorageError(.notFound, "no pool in \(stateDirectory)", remedy: .createPool)
        }
        let store = try GraphStore(directory: metadata)
        try Schema.upgrade(store, directory: stateDirectory) { (labels, backendLabels) throws(StorageError) -> PoolRecord in
            try legacyPoolRecord(labels, backendLabels, backends)
        }
        guard let record = try store.read({ (txn) throws(StorageError) in try txn.pool() }) else {
            throw StorageError(.notFound, "no pool in \(stateDirectory) (its creation did not finish); remove the directory and create the pool again")
        }
        let context = BackendContext(poolDirectory: poolDirectory(stateDirectory), logger: logger)
        let backend = try backends.factory(record.backendKind).open(settings: record.backendSettings, in: context)
        let pool = try Pool(stateDirectory: stateDirectory, store: store, backend: backend, record: record, logger: logger)
        try pool.reconcile()
        return pool
    }

    /// Schema 1's pool labels as a pool record.
    private static func legacyPoolRecord(_ labels: [String: String], _ backendLabels: [String: String]?, _ backends: BackendRegistry) throws(StorageError) -> PoolRecord {
        guard let kind = labels["backend"], let fs = labels["filesystem"].flatMap(FilesystemType.init(rawValue:)),
              let size = labels["defaultDeviceSize"].flatMap(UInt64.init), let base = labels["baseDevice"].flatMap(UInt32.init) else {
            throw StorageError.inconsistent("the schema 1 pool settings are incomplete")
        }
        return PoolRecord(backendKind: kind, backendSettings: try backends.factory(kind).settings(fromLegacyLabels: labels, backend: backendLabels),
                          filesystem: fs, defaultDeviceSize: size, baseDeviceID: base)
    }

    /// Deletes a device, waiting up to 30 s for a last user that still has it open (a device
    /// whose detach was deferred, held a moment longer by an opener nothing else shows: seen in
    /// the VM). The wait is here, not in the backend's delete: a remove meeting a device a guest
    /// holds queues it at once; destroying is rare and explicit, and a user that keeps the device
    /// open longer gets the busy error.
    private func deleteWhenClosed(_ id: UInt32) throws(StorageError) {
        var tries = 0
        while true {
            do throws(StorageError) {
                return try backend.deleteDevice(id)
            } catch where error.code == .busy && tries < 60 {
                tries += 1
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
    }

    /// Detaches and deletes every device and the pool, and removes the state directory.
    func destroy() throws(StorageError) {
        backend.prepareToDestroy()
        let devices = try store.read { (txn) throws(StorageError) in try txn.allDevices() }
        let attached = try backend.attachedDevices()
        for device in devices {
            if let mount = device.hostMount { try unmountHostMount(mount, of: device) }
            if let path = attached[device.id] { try detachDevice(device.id, path: path) }
            try deleteWhenClosed(device.id)
        }
        // Attached with no record: a process killed between attaching a device and recording it,
        // or after deleting a record and before detaching. Left attached, it keeps the pool busy.
        let recorded = Set(devices.map(\.id))
        for (id, path) in attached where !recorded.contains(id) { try detachDevice(id, path: path) }
        try backend.shutDown()
        try system("cannot remove \(stateDirectory)") { () throws(SystemCallError) in try Files.removeTree(stateDirectory) }
        logger.info("pool destroyed", metadata: ["state": "\(stateDirectory)"])
    }
}
