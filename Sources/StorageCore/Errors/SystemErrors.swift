import KBSArchive
import KBSDeviceMapper
import KBSLMDB
import KBSSystem

/// The one place where failures of the C layers become engine errors: errno to code, LMDB
/// conditions to code, device-mapper failures to code, libarchive failures to code.
extension StorageError {
    /// A tar stream the engine reads (a layer) that libarchive cannot: the input is at fault. One
    /// the engine writes: the code follows libarchive's errno (a full disk, a closed pipe).
    init(_ error: ArchiveError, _ message: String, reading: Bool) {
        if reading {
            self.init(.invalidArgument, "\(message): \(error.message)", remedy: .checkInput, cause: error)
        } else {
            let errno = Errno(rawValue: error.errno)
            self.init(error.errno == 0 ? .internal : Self.code(for: errno), "\(message): \(error.message)",
                      remedy: error.errno == 0 ? nil : Self.remedy(for: errno), cause: error)
        }
    }

    /// `message` says what the engine was doing; the code follows the errno.
    init(_ error: SystemCallError, _ message: String) {
        self.init(Self.code(for: error.errno), message, remedy: Self.remedy(for: error.errno), cause: error)
    }

    init(_ error: DeviceMapperError, _ message: String) {
        switch error.reason {
        case .unavailable:
            self.init(.unavailable, "device-mapper is not available in this kernel (\(message))", remedy: .installDependencies, cause: error)
        case .setUp:
            self.init(.internal, message, cause: error)
        case .kernel(let errno):
            self.init(Self.code(for: errno), message, remedy: Self.remedy(for: errno), cause: error)
        }
    }

    init(_ error: SubprocessError, _ message: String) {
        switch error.reason {
        case .notInstalled: self.init(.unavailable, "\(message): \(error)", remedy: .installDependencies, cause: error)
        case .notStarted, .failed: self.init(.internal, "\(message): \(error)", cause: error)
        }
    }

    /// The engine's code for an errno.
    static func code(for errno: Errno) -> Code {
        switch errno {
        case .noSuchFile, .noSuchDeviceOrAddress, .noSuchDevice: .notFound
        case .exists: .alreadyExists
        case .noSpace, .quotaExceeded, .fileTooLarge: .noSpace
        case .busy: .busy
        case .invalid, .nameTooLong: .invalidArgument
        case .notSupported, .notImplemented, .notTTY, .crossDevice, .notPermitted, .accessDenied, .readOnlyFilesystem: .unavailable
        default: .internal
        }
    }

    private static func remedy(for errno: Errno) -> Remedy? {
        switch errno {
        case .noSpace, .quotaExceeded, .fileTooLarge: .freeSpace
        case .busy: .release
        default: nil
        }
    }
}

extension StorageError: LMDBErrorConvertible {
    public init(lmdb error: LMDBError) {
        switch error.kind {
        case .mapFull:
            self.init(.noSpace, "the metadata store is full", remedy: .freeSpace, cause: error)
        case .readersFull:
            self.init(.unavailable, "too many concurrent readers of the metadata store", remedy: .retry, cause: error)
        case .damaged:
            self.init(.internal, "the metadata store is damaged or from another LMDB version", remedy: .checkPool, cause: error)
        case .other:
            self.init(.internal, "metadata store operation failed", cause: error)
        }
    }
}

/// Runs a system-layer call, turning its failure into an engine error that says `message`.
@discardableResult
func system<T>(_ message: @autoclosure () -> String, _ body: () throws(SystemCallError) -> T) throws(StorageError) -> T {
    do throws(SystemCallError) {
        return try body()
    } catch {
        throw StorageError(error, message())
    }
}

/// Runs a device-mapper call, turning its failure into an engine error that says `message`.
@discardableResult
func deviceMapper<T>(_ message: @autoclosure () -> String, _ body: () throws(DeviceMapperError) -> T) throws(StorageError) -> T {
    do throws(DeviceMapperError) {
        return try body()
    } catch {
        throw StorageError(error, message())
    }
}

/// Runs an external tool, turning its failure into an engine error that says `message`.
@discardableResult
func tool(_ message: @autoclosure () -> String, _ name: String, _ arguments: [String], captureOutput: Bool = false) throws(StorageError) -> String {
    do throws(SubprocessError) {
        return try Subprocess.run(name, arguments, captureOutput: captureOutput)
    } catch {
        throw StorageError(error, message())
    }
}

extension Optional {
    /// The value, or what `fallback` makes when there is none: `??` for fallbacks with typed throws.
    func or<E: Error>(_ fallback: () throws(E) -> Wrapped) throws(E) -> Wrapped {
        if let value = self { return value }
        return try fallback()
    }
}

/// Runs a libarchive call on a tar stream the engine reads (`reading`) or writes, turning its
/// failure into an engine error that says `message`.
@discardableResult
func archive<T>(_ message: @autoclosure () -> String, reading: Bool, _ body: () throws(ArchiveError) -> T) throws(StorageError) -> T {
    do throws(ArchiveError) {
        return try body()
    } catch {
        throw StorageError(error, message(), reading: reading)
    }
}
