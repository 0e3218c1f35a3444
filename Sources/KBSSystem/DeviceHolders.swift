import Glibc

/// Which processes have a block device open, found the way `fuser` finds them: every process's
/// open descriptors, compared by device number. A mount does not show here (the kernel holds it,
/// not a process); a hypervisor that was handed the device does.
public enum DeviceHolders {
    public struct Holder: Sendable, Equatable {
        public var pid: Int32
        /// The process's command name (`/proc/PID/comm`).
        public var command: String
    }

    /// Processes other than this one with the block device at `path` open.
    public static func holders(of path: String) throws(SystemCallError) -> [Holder] {
        guard let number = try Files.status(path)?.deviceNumber else { return [] }
        let own = getpid()
        var found: [Holder] = []
        for entry in try Files.directoryEntries("/proc") {
            guard let pid = Int32(entry.name), pid != own else { continue }
            let descriptors: [(name: String, isDirectory: Bool)]
            do throws(SystemCallError) {
                descriptors = try Files.directoryEntries("/proc/\(pid)/fd")
            } catch {
                continue  // ended meanwhile, or not ours to look at
            }
            let holds = descriptors.contains { fd in
                (try? Files.status("/proc/\(pid)/fd/\(fd.name)"))??.deviceNumber == number
            }
            guard holds else { continue }
            let command = (try? Files.readIfPresent("/proc/\(pid)/comm")).flatMap { $0 }?.trimmingTrailingNewline ?? "?"
            found.append(Holder(pid: pid, command: command))
        }
        return found
    }
}

extension String {
    fileprivate var trimmingTrailingNewline: String { hasSuffix("\n") ? String(dropLast()) : self }
}
