import KBSSystem

/// A failed device-mapper call: the operation, the kernel's errno and libdevmapper's own message.
public struct DeviceMapperError: Error, CustomStringConvertible, Sendable {
    public enum Reason: Sendable, Equatable {
        /// The kernel has no device-mapper (no /dev/mapper/control, no dm module).
        case unavailable
        /// The task could not be filled in (a name too long, out of memory).
        case setUp
        /// The ioctl failed with this errno.
        case kernel(Errno)
    }

    public let operation: String
    public let reason: Reason
    public let message: String

    public var errno: Errno? {
        if case .kernel(let errno) = reason { return errno }
        return nil
    }

    public var description: String {
        switch reason {
        case .unavailable: "\(operation): device-mapper is not available in this kernel"
        case .setUp: "\(operation): cannot prepare the call: \(message)"
        case .kernel(let errno): "\(operation): \(message) (\(errno))"
        }
    }
}
