import MedicareWire
import Testing

@Suite("Codec garbage input")
struct CodecGarbageTests {
    @Test func truncatedMessagesAreRefused() throws {
        let bytes = try CodecRoundTripTests.sample.encodedBytes()
        var refused = 0
        for cut in 1..<bytes.count {
            // Some prefixes are themselves valid messages (they end on a field boundary);
            // none may decode to the original, and any refusal must be `malformed`.
            do {
                let decoded = try EchoMessage(decoding: Array(bytes[..<cut]))
                #expect(decoded != CodecRoundTripTests.sample)
            } catch {
                #expect(error == .malformed(message: "medicare.v1.EchoMessage"))
                refused += 1
            }
        }
        #expect(refused > bytes.count / 2)
    }

    @Test func wrongWireTypeForAKnownFieldIsRefused() {
        // field 1 (text, a string) sent as a varint
        #expect(throws: WireError.malformed(message: "medicare.v1.EchoMessage")) {
            try EchoMessage(decoding: [0x08, 0x01])
        }
    }

    @Test func lengthRunningPastTheEndIsRefused() {
        // field 3 (blob) claims 100 bytes, 2 follow
        #expect(throws: WireError.malformed(message: "medicare.v1.EchoMessage")) {
            try EchoMessage(decoding: [0x1A, 0x64, 0x01, 0x02])
        }
    }

    @Test func hugeLengthPrefixIsRefused() {
        // a 10-byte varint length of 2^63
        #expect(throws: WireError.malformed(message: "medicare.v1.EchoMessage")) {
            try EchoMessage(decoding: [0x1A, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01])
        }
    }

    @Test(arguments: [
        [UInt8]([0xC3, 0x28]),  // bad continuation
        [0xE6, 0x9D],  // truncated 3-byte sequence
        [0xED, 0xA0, 0x80],  // UTF-16 surrogate
        [0xC0, 0xAF],  // overlong '/'
        [0xFF],
    ])
    func invalidUTF8IsRefusedNamingTheField(bad: [UInt8]) {
        let bytes: [UInt8] = [0x0A, UInt8(bad.count)] + bad
        #expect(throws: WireError.invalidUTF8(field: "medicare.v1.EchoMessage.text")) {
            try EchoMessage(decoding: bytes)
        }
    }

    @Test func invalidUTF8InANestedRepeatedFieldNamesThatField() {
        let child: [UInt8] = [0x22, 0x01, 0xFF]  // tags = ["\xFF"]
        let bytes: [UInt8] = [0x2A, UInt8(child.count)] + child  // children = [child]
        #expect(throws: WireError.invalidUTF8(field: "medicare.v1.EchoMessage.tags")) {
            try EchoMessage(decoding: bytes)
        }
    }

    @Test func embeddedNULOnTheWireIsRefused() {
        #expect(throws: WireError.embeddedNUL(field: "medicare.v1.EchoMessage.text")) {
            try EchoMessage(decoding: [0x0A, 0x03, 0x61, 0x00, 0x62])
        }
    }

    @Test func embeddedNULIsNotEncoded() {
        #expect(throws: WireError.embeddedNUL(field: "medicare.v1.MetadataEntry.value")) {
            try Frame(metadata: [MetadataEntry(key: "k", value: "a\u{0}b")]).encodedBytes()
        }
    }

    @Test func randomGarbageNeverCrashes() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            let count = Int.random(in: 0..<64, using: &generator)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? Frame(decoding: bytes)
            _ = try? EchoMessage(decoding: bytes)
        }
    }
}
