import MedicareWire
import Testing

/// Nesting is bounded before protobuf-c sees the bytes: its unpack recurses once per level
/// and a few tens of kilobytes of nested length prefixes used to overflow the stack
/// (case echo-nesting-crash: EchoMessage.children 12,000 deep killed the process).
@Suite("Codec nesting depth")
struct NestingDepthTests {
    static let limit = 64

    static func varint(_ value: Int) -> [UInt8] {
        var out: [UInt8] = []
        var rest = UInt64(value)
        while rest >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(rest))
        return out
    }

    /// `levels` messages each the only child of the one around it (level 1 is the outermost),
    /// built inside-out without recursion; the innermost carries `text`.
    static func nested(levels: Int, field: UInt8 = 0x2A, innermost: [UInt8] = [0x0A, 0x01, 0x78]) -> [UInt8] {
        var lengths = [innermost.count]
        for _ in 1..<levels { lengths.append(1 + varint(lengths.last!).count + lengths.last!) }
        var out: [UInt8] = []
        out.reserveCapacity(lengths.last!)
        for level in stride(from: levels - 1, to: 0, by: -1) { out += [field] + varint(lengths[level - 1]) }
        return out + innermost
    }

    @Test func nestingAtTheLimitDecodes() throws {
        let message = try EchoMessage(decoding: Self.nested(levels: Self.limit))
        var depth = 1
        var current = message
        while let child = current.children.first {
            depth += 1
            current = child
        }
        #expect(depth == Self.limit)
        #expect(current.text == "x")
    }

    @Test func oneLevelPastTheLimitIsRefusedNamingTheLimit() {
        #expect(throws: WireError.tooDeep(message: "medicare.v1.EchoMessage", limit: Self.limit)) {
            try EchoMessage(decoding: Self.nested(levels: Self.limit + 1))
        }
        #expect(WireError.tooDeep(message: "medicare.v1.EchoMessage", limit: 64).description
            == "medicare.v1.EchoMessage nests messages more than 64 levels deep")
    }

    @Test(arguments: [10_000, 12_000, 100_000])
    func deepNestingIsRefusedWithoutCrashing(levels: Int) {
        #expect(throws: WireError.tooDeep(message: "medicare.v1.EchoMessage", limit: Self.limit)) {
            try EchoMessage(decoding: Self.nested(levels: levels))
        }
    }

    @Test func deepNestingWithBrokenFramingBelowTheLimitIsStillRefused() {
        // 70 levels whose outermost length runs past the end: refused either way, never unpacked
        var bytes = Self.nested(levels: 70)
        bytes.removeLast()
        #expect(throws: WireError.self) { try EchoMessage(decoding: bytes) }
    }

    @Test func lengthDelimitedFieldsThatAreNotMessagesAreNotFollowed() throws {
        // tags (field 4, a string) holding bytes that look like 100 nested children: checked
        // as a string (the innermost length is a NUL), not as nesting
        let inner = Self.nested(levels: 100, innermost: [])
        let bytes: [UInt8] = [0x22] + Self.varint(inner.count) + inner
        #expect(throws: WireError.embeddedNUL(field: "medicare.v1.EchoMessage.tags")) { try EchoMessage(decoding: bytes) }
        // blob (field 3, bytes): any content is fine
        let blob = try EchoMessage(decoding: [0x1A] + Self.varint(inner.count) + inner)
        #expect(blob.blob == inner)
    }

    @Test func unknownFieldsAreSkippedWhateverTheyHold() throws {
        // field 99 (unknown to EchoMessage), length-delimited, holding deep "nesting"
        let inner = Self.nested(levels: 1_000)
        let key = Self.varint(99 << 3 | 2)
        let message = try EchoMessage(decoding: key + Self.varint(inner.count) + inner + [0x0A, 0x02, 0x6F, 0x6B])
        #expect(message.text == "ok")
    }

    @Test func everyMessageTypeIsChecked() throws {
        // The envelope: Frame.metadata (field 4) is a message; deeper levels inside an
        // entry are unknown fields to MetadataEntry and are skipped, so a Frame decodes.
        let deep = Self.nested(levels: 1_000)
        let entry = try MetadataEntry(key: "trace-id", value: "t").encodedBytes() + [0x1A] + Self.varint(deep.count) + deep
        let frame = try Frame(decoding: [0x2A] + Self.varint(entry.count) + entry)
        #expect(frame.metadata.first?.key == "trace-id")
        // A request whose claim is well formed decodes; each type's own message fields are
        // what the scan follows (GatewaySettleRequest.claim -> Claim.lines -> FeeLine).
        let settle = GatewaySettleRequest(claim: Claim(mdtrtID: "V1", lines: [FeeLine(itemCode: "A")]))
        #expect(try GatewaySettleRequest(decoding: settle.encodedBytes()) == settle)
    }

    @Test func roundTripsAreUnchanged() throws {
        let message = EchoMessage(text: "门诊", number: -7, blob: [0, 1], tags: ["a", "b"], children: [
            EchoMessage(text: "child", children: [EchoMessage(ratio: 0.5)]),
        ], flag: true, ratio: 1.5, delayMillis: 3)
        #expect(try EchoMessage(decoding: message.encodedBytes()) == message)
        #expect(try EchoMessage(decoding: [UInt8]()) == EchoMessage())
    }
}
