import NIOCore

/// Splits the plaintext stream into frames: a 4-byte big-endian length, then that many bytes.
///
/// The length is checked against the limit as soon as its 4 bytes arrive, before any of the
/// frame is buffered, so a peer cannot make us hold more than one maximum frame.
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    let maxFrameSize: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard Int(length) <= maxFrameSize else { throw FrameError.tooLarge(size: Int(length), limit: maxFrameSize) }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0 { throw FrameError.truncated(bytes: buffer.readableBytes) }
        return .needMoreData
    }
}

/// A framing violation; the connection is closed after it.
public enum FrameError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A frame's declared length is above the limit (checked before it is buffered).
    case tooLarge(size: Int, limit: Int)
    /// The connection ended with part of a frame still unread.
    case truncated(bytes: Int)

    /// What was violated, with sizes.
    public var description: String {
        switch self {
        case .tooLarge(let size, let limit): "frame of \(size) bytes exceeds the limit of \(limit) bytes"
        case .truncated(let bytes): "connection closed in the middle of a frame (\(bytes) bytes pending)"
        }
    }
}
