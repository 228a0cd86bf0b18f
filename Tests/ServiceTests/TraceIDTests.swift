@testable import GatewayService
import Testing

/// The trace ids the gateway mints for calls that come without one.
@Suite struct TraceIDTests {
    @Test func mintedTraceIDsAreDistinctW3CTraceIDs() {
        let ids = (0..<100_000).map { _ in GatewayAccess.newTraceID() }
        #expect(Set(ids).count == ids.count)
        let hex = Set("0123456789abcdef".utf8)
        #expect(ids.allSatisfy { $0.utf8.count == 32 && $0.utf8.allSatisfy(hex.contains) && $0 != String(repeating: "0", count: 32) })
        // One process's random half, then the scrambled counter.
        #expect(Set(ids.map { $0.prefix(16) }).count == 1)
        #expect(Set(ids.map { $0.suffix(16) }).count == ids.count)
    }

    @Test func theScrambleIsABijectionThatSpreadsNeighbours() {
        let outputs = (UInt64(0)..<50_000).map(GatewayAccess.scramble)
        #expect(Set(outputs).count == outputs.count)
        // Consecutive counters differ in about half their bits.
        let flipped = zip(outputs, outputs.dropFirst()).map { ($0 ^ $1).nonzeroBitCount }
        #expect((24...40).contains(flipped.reduce(0, +) / flipped.count))
        #expect(GatewayAccess.hex16(0x1f) == "000000000000001f")
    }
}
