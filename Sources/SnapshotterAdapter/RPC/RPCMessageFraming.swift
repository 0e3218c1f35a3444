import NIOCore

/// gRPC's length-prefixed message: a compressed flag (always 0 here) and a big-endian 4-byte
/// length before the message bytes.
enum RPCMessageFraming {
    static let prefixLength = 5

    static func frame(_ message: [UInt8], allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var framed = allocator.buffer(capacity: message.count + prefixLength)
        framed.writeInteger(UInt8(0))
        framed.writeInteger(UInt32(message.count))
        framed.writeBytes(message)
        return framed
    }
}
