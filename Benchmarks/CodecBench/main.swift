import Foundation
import MedicareWire

// Encode and decode cost of a ~200-byte message through protobuf-c, beside Foundation's
// JSON coders on the same content as a same-run baseline. Build with -c release.

struct JSONEcho: Codable, Equatable {
    var text: String
    var number: Int64
    var blob: [UInt8]
    var tags: [String]
    var flag: Bool
    var ratio: Double
}

let message = EchoMessage(
    text: "村卫生室 H33080200101 门诊统筹 甲类药品 阿莫西林胶囊 0.25g*24粒", number: 1_234_567_890,
    blob: Array(repeating: 0x5A, count: 48), tags: ["310", "330802", "H33080200001", "ZA01"],
    flag: true, ratio: 0.65, delayMillis: 0
)
let json = JSONEcho(text: message.text, number: message.number, blob: message.blob, tags: message.tags, flag: true, ratio: 0.65)
let encodedSize = try message.encodedBytes().count

@inline(never) func measure(_ name: String, iterations: Int, _ body: () throws -> Void) rethrows -> Double {
    for _ in 0..<(iterations / 10) { try body() }  // warm-up
    let start = ContinuousClock.now
    for _ in 0..<iterations { try body() }
    let elapsed = ContinuousClock.now - start
    let ns = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
    let per = ns / Double(iterations)
    print(String(format: "%-28@ %9.0f ns/op", name as NSString, per))
    return per
}

let iterations = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 500_000
print("message: \(encodedSize) bytes encoded, \(iterations) iterations")
let bytes = try message.encodedBytes()
var sink = 0
let encode = try measure("protobuf-c encode", iterations: iterations) { sink &+= try message.encodedBytes().count }
let decode = try measure("protobuf-c decode", iterations: iterations) { sink &+= try EchoMessage(decoding: bytes).tags.count }
let roundTrip = try measure("protobuf-c round trip", iterations: iterations) {
    sink &+= try EchoMessage(decoding: message.encodedBytes()).tags.count
}
let encoder = JSONEncoder(), decoder = JSONDecoder()
let jsonRoundTrip = try measure("JSON round trip (baseline)", iterations: iterations / 10) {
    sink &+= try decoder.decode(JSONEcho.self, from: encoder.encode(json)).tags.count
}
print(String(format: "round trip: %.2f µs (target ≤ 2 µs); %.1fx faster than Foundation JSON in the same run", roundTrip / 1000, jsonRoundTrip / roundTrip))
_ = (encode, decode, sink)
