import CLinux
import Glibc

/// Telling a block device that a range holds nothing any more (BLKDISCARD): a thin device unmaps
/// the range, and a pool that passes discards down hands the freed blocks to its data device.
public enum BlockDiscard {
    /// Discards the first `length` bytes of block device `device` (rounded down to 512 bytes).
    public static func discard(_ device: String, length: UInt64) throws(SystemCallError) {
        let bytes = length / 512 * 512
        guard bytes > 0 else { return }
        try FileDescriptor.withOpened(device, .writeOnly) { (fd) throws(SystemCallError) in
            let raw = fd.raw
            try syscall("ioctl(\(device), BLKDISCARD, \(bytes) bytes)") { kbs_blkdiscard(raw, 0, bytes) }
        }
    }
}
