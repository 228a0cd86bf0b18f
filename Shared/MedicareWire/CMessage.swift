internal import CMedicareProto

/// The generated bridge between a Swift message and protobuf-c's C struct for it.
/// Internal: no C type leaves this module.
protocol CMessage: WireMessage {
    associatedtype CStruct
    static func cInit(_ c: UnsafeMutablePointer<CStruct>)
    static func cPackedSize(_ c: UnsafePointer<CStruct>) -> Int
    static func cPack(_ c: UnsafePointer<CStruct>, _ out: UnsafeMutablePointer<UInt8>) -> Int
    static func cUnpack(
        _ allocator: UnsafeMutablePointer<ProtobufCAllocator>,
        _ count: Int,
        _ bytes: UnsafePointer<UInt8>
    ) -> UnsafeMutablePointer<CStruct>?

    /// Copies an unpacked C struct into Swift values, validating every string.
    init(c: UnsafePointer<CStruct>, arena: WireArena) throws(WireError)
    /// Fills an initialised C struct from Swift values; memory comes from `arena`.
    func fill(_ c: UnsafeMutablePointer<CStruct>, arena: WireArena) throws(WireError)
}

extension CMessage {
    /// protobuf-c's descriptor of this message type: the first member of every protobuf-c
    /// message struct, read from an initialised value on the stack (no allocation).
    static var cDescriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        withUnsafeTemporaryAllocation(of: CStruct.self, capacity: 1) { buffer in
            let c = buffer.baseAddress!
            cInit(c)
            return UnsafeRawPointer(c).load(as: UnsafePointer<ProtobufCMessageDescriptor>.self)
        }
    }
}
