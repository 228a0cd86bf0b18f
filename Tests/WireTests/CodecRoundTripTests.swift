import MedicareWire
import NIOCore
import Testing

@Suite("Codec round trips")
struct CodecRoundTripTests {
    static let sample = EchoMessage(
        text: "村卫生室 H33080200001",
        number: -9_007_199_254_740_993,
        blob: [0, 1, 2, 255],
        tags: ["甲", "乙", "", "丙"],
        children: [EchoMessage(text: "child", number: 1), EchoMessage(tags: ["x"])],
        flag: true,
        ratio: 0.65,
        delayMillis: 7
    )

    @Test func everyFieldTypeSurvives() throws {
        let bytes = try Self.sample.encodedBytes()
        let decoded = try EchoMessage(decoding: bytes)
        #expect(decoded == Self.sample)
    }

    @Test func encodedPartsFramedAsFieldsMakeTheWholeMessage() throws {
        // Long enough that the lengths need two varint bytes.
        let result = SettlementResult(setlID: "S" + String(repeating: "0", count: 150), medfeeSumamt: 2_000, status: .settled)
        let claim = Claim(mdtrtID: "M1", lines: (0..<8).map { FeeLine(itemCode: "XA01AAA00\($0)", quantity: 2, unitPrice: 50) })
        var framed = ByteBuffer()
        framed.writeProtobufField(1, bytes: try result.encodedBytes())
        framed.writeProtobufField(2, bytes: try claim.encodedBytes())
        let whole = try RecordRequest(settlement: result, claim: claim).encodedBytes()
        #expect(Array(framed.readableBytesView) == whole)
        #expect(try RecordRequest(decoding: framed) == RecordRequest(settlement: result, claim: claim))
        // A varint field after them, as protoc-c writes it (a one-byte and a ten-byte value).
        for value: Int64 in [5, 1_767_225_600_123, -1] {
            var withTime = framed
            withTime.writeProtobufField(4, varint: value)
            #expect(Array(withTime.readableBytesView) == (try RecordRequest(settlement: result, claim: claim, postedMs: value).encodedBytes()))
        }
    }

    @Test func emptyMessageEncodesToNothingAndBack() throws {
        let bytes = try EchoMessage().encodedBytes()
        #expect(bytes.isEmpty)
        #expect(try EchoMessage(decoding: bytes) == EchoMessage())
    }

    @Test func envelopeWithMetadataAndPayload() throws {
        let frame = Frame(
            callID: UInt64.max, kind: .request, method: "medicare.v1.Registry/GetInstitution",
            timeoutMicros: 250_000,
            metadata: [MetadataEntry(key: "trace-id", value: "abc"), MetadataEntry(key: "idempotency-key", value: "k1")],
            payload: Array(repeating: 0xAB, count: 300), statusCode: .ok
        )
        #expect(try Frame(decoding: frame.encodedBytes()) == frame)
    }

    @Test func unknownEnumValuesSurviveARoundTrip() throws {
        let frame = Frame(kind: FrameKind(rawValue: 42), statusCode: StatusCode(rawValue: 99))
        let decoded = try Frame(decoding: frame.encodedBytes())
        #expect(decoded.kind.rawValue == 42)
        #expect(decoded.statusCode.rawValue == 99)
    }

    @Test func largeBytesField() throws {
        let big = EchoMessage(blob: (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0) })
        #expect(try EchoMessage(decoding: big.encodedBytes()) == big)
    }

    @Test func manyCodecCallsReuseTheArenaWithoutLeakingState() throws {
        // Interleave big and small messages: a reset arena must not leak old strings.
        for i in 0..<200 {
            let message = EchoMessage(text: String(repeating: "x", count: i % 2 == 0 ? 40_000 : 3), number: Int64(i))
            #expect(try EchoMessage(decoding: message.encodedBytes()) == message)
        }
    }
}
