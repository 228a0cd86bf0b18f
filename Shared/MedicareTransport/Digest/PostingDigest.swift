/// The order-free digest of postings: XOR of SM3("<kind>\n<setl_id>"), 32 bytes.
public struct PostingDigest: Sendable, Equatable {
    public private(set) var bytes = [UInt8](repeating: 0, count: 32)
    public init() {}

    public mutating func add(kind: String, setlID: String) {
        let d = SM3.digest(Array("\(kind)\n\(setlID)".utf8))
        for i in 0..<32 { bytes[i] ^= d[i] }
    }

    public var hex: String { SM3.hex(bytes) }
}
