import StorageCore

/// Engine errors in snapctl's words: the engine names a remedy, the CLI says which command does it.
enum RemedyText {
    static func describe(_ error: StorageError) -> String {
        var text = "\(error.message)"
        if let remedy = error.remedy { text += "; \(words(for: remedy))" }
        if let cause = error.cause { text += " (\(cause))" }
        return text
    }

    static func words(for remedy: StorageError.Remedy) -> String {
        switch remedy {
        case .checkPool: "run `snapctl fsck` to see what is wrong (`snapctl cleanup` deletes leftovers)"
        case .createPool: "create one with `snapctl pool create --state-dir DIR` (or let `snapctl serve` make it)"
        case .upgrade: "this snapctl is older than the store; use the release that wrote it, or a newer one"
        case .retry: "retry in a moment"
        case .freeSpace: "remove unused images and snapshots (`snapctl snapshot rm`, `snapctl cleanup`) or grow the pool (`snapctl pool grow --size N`)"
        case .release: "unmount it or stop what uses it first"
        case .installDependencies: "run scripts/install-deps.sh, or load the kernel module (modprobe dm-thin-pool, loop)"
        case .chooseAnother: "choose another name, or remove the existing one first"
        case .checkInput: "the tar is malformed or reaches outside the layer; rebuild it or fetch it again"
        default: remedy.description
        }
    }
}
