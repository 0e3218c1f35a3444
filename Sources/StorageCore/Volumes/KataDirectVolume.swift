import Foundation
import KBSSystem

/// Kata Containers' direct-assigned volumes: a pod volume at path P whose directory
/// `<root>/<base64url(P)>/` holds `mountInfo.json` describing a block device is handed to the
/// guest as that device (virtio-blk) instead of being shared over a filesystem. This is the file
/// `kata-runtime direct-volume add` writes.
public struct KataDirectVolume: Sendable, Equatable {
    /// Where Kata looks (Kata's own constant).
    public static let defaultRoot = "/run/kata-containers/shared/direct-volumes"
    static let fileName = "mountInfo.json"

    /// The directory of direct-volume descriptions.
    public var root: String

    public init(root: String = KataDirectVolume.defaultRoot) { self.root = root }

    /// What `mountInfo.json` says, in Kata's field names.
    public struct MountInfo: Codable, Sendable, Equatable {
        public var volumeType: String
        public var device: String
        public var fsType: String
        public var metadata: [String: String]
        public var options: [String]

        enum CodingKeys: String, CodingKey {
            case volumeType = "volume-type", device, fsType = "fstype", metadata, options
        }
    }

    /// The directory describing the volume at `volumePath`.
    public func directory(for volumePath: String) -> String {
        "\(root)/\(Data(volumePath.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_"))"
    }

    /// What is described at `volumePath`, nil when nothing is.
    public func read(_ volumePath: String) throws(StorageError) -> MountInfo? {
        let file = "\(directory(for: volumePath))/\(Self.fileName)"
        guard let text = try system("cannot read \(file)", { () throws(SystemCallError) in try Files.readIfPresent(file) }) else { return nil }
        do {
            return try JSONDecoder().decode(MountInfo.self, from: Data(text.utf8))
        } catch {
            throw StorageError(.failedPrecondition, "\(file) is not a Kata mount description (\(error)); remove it if nothing uses it", remedy: .checkInput)
        }
    }

    /// Describes `info` at `volumePath`: the directory owner-only, the file replaced in one step.
    public func write(_ info: MountInfo, at volumePath: String) throws(StorageError) {
        let directory = directory(for: volumePath)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bytes: [UInt8]
        do {
            bytes = Array(try encoder.encode(info))
        } catch {
            throw StorageError(.internal, "cannot encode the Kata mount description: \(error)")
        }
        try system("cannot write \(directory)/\(Self.fileName)") { () throws(SystemCallError) in
            try Files.makeDirectory(directory)
            try Files.setMode(directory, 0o700)
            try Files.writeAtomically("\(directory)/\(Self.fileName)", bytes, mode: 0o600)
        }
    }

    /// Removes the description at `volumePath` and its directory; nothing there is fine.
    public func remove(_ volumePath: String) throws(StorageError) {
        let directory = directory(for: volumePath)
        try system("cannot remove \(directory)") { () throws(SystemCallError) in
            _ = try Files.remove("\(directory)/\(Self.fileName)")
            _ = try Files.removeDirectory(directory)
        }
    }
}
