import MedicareRPC
import MedicareWire
import NIOCore

/// Encodes frames with their length prefix, ready for the TLS handler.
enum FrameCodec {
    static func encode(_ frame: Frame, allocator: ByteBufferAllocator) throws(WireError) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 48 + frame.method.utf8.count + frame.payload.count)
        buffer.writeInteger(UInt32(0))
        try frame.encode(into: &buffer)
        buffer.setInteger(UInt32(buffer.readableBytes - 4), at: buffer.readerIndex)
        return buffer
    }

    /// A response frame for a handler's result. A response that cannot be encoded or is
    /// larger than the peer accepts becomes an error status instead. Every status sent to a
    /// peer passes here, so its message is checked once more for internals (addresses,
    /// errno, paths, SQL) and cut before them (`RPCError.redactedForPeer`).
    static func response(callID: UInt64, result: Result<ByteBuffer, RPCError>, maxFrameSize: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        var frame = Frame(callID: callID, kind: .response)
        switch result {
        case .success(let payload):
            frame.payload = Array(payload.readableBytesView)
        case .failure(let error):
            let safe = error.redactedForPeer() ?? error
            frame.statusCode = safe.code.status
            frame.statusMessage = safe.message
        }
        if let encoded = try? encode(frame, allocator: allocator), encoded.readableBytes - 4 <= maxFrameSize {
            return encoded
        }
        let tooLarge = frame.payload.count > maxFrameSize
        let fallback = Frame(
            callID: callID, kind: .response,
            statusCode: tooLarge ? .resourceExhausted : .internal,
            statusMessage: tooLarge ? "response of \(frame.payload.count) bytes exceeds the frame limit of \(maxFrameSize) bytes" : "internal error"
        )
        return try! encode(fallback, allocator: allocator)
    }

    static func status(callID: UInt64, _ error: RPCError, allocator: ByteBufferAllocator) -> ByteBuffer {
        response(callID: callID, result: .failure(error), maxFrameSize: .max, allocator: allocator)
    }
}
