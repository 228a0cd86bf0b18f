@testable import MedicareTransport
import NIOCore
import NIOEmbedded
import Testing

@Suite("Framing")
struct FramingTests {
    private func framed(_ payloads: [[UInt8]]) -> [UInt8] {
        payloads.flatMap { payload in
            withUnsafeBytes(of: UInt32(payload.count).bigEndian, Array.init) + payload
        }
    }

    @Test func framesSurviveBeingFedOneByteAtATime() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrameSize: 1024)))
        let payloads: [[UInt8]] = [[1, 2, 3], [], Array(repeating: 7, count: 1000), [9]]
        for byte in framed(payloads) {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        for payload in payloads {
            let frame = try #require(try channel.readInbound(as: ByteBuffer.self))
            #expect(Array(frame.readableBytesView) == payload)
        }
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        #expect(try channel.finish().isClean)
    }

    @Test func manyFramesInOneRead() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrameSize: 1024)))
        let payloads = (0..<50).map { i in [UInt8](repeating: UInt8(i), count: i) }
        try channel.writeInbound(ByteBuffer(bytes: framed(payloads)))
        for payload in payloads {
            #expect(try channel.readInbound(as: ByteBuffer.self).map { Array($0.readableBytesView) } == payload)
        }
        _ = try channel.finish()
    }

    @Test func oversizedFrameIsRefusedFromItsHeaderAlone() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrameSize: 1024)))
        // Only the 4-byte header of a 1025-byte frame: refused before any payload arrives.
        #expect(throws: FrameError.tooLarge(size: 1025, limit: 1024)) {
            try channel.writeInbound(ByteBuffer(bytes: [0, 0, 4, 1]))
        }
        _ = try? channel.finish()
    }

    @Test func aFrameOfExactlyTheLimitIsAccepted() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrameSize: 1024)))
        try channel.writeInbound(ByteBuffer(bytes: framed([Array(repeating: 1, count: 1024)])))
        #expect(try channel.readInbound(as: ByteBuffer.self)?.readableBytes == 1024)
        _ = try channel.finish()
    }

    @Test func closingMidFrameIsReported() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrameSize: 1024)))
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 10, 1, 2]))
        #expect(throws: FrameError.truncated(bytes: 6)) { try channel.finish() }
    }
}
