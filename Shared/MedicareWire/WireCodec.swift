internal import CMedicareProto
internal import NIOCore

/// Packs and unpacks generated messages through protobuf-c.
///
/// Every call borrows the calling thread's arena (see `CMedicareProto.h`): the C structs,
/// strings and arrays of one pack or unpack live there and are released together when the
/// call returns, so a round trip makes no malloc calls in the steady state.
enum WireCodec {
    static func encode<M: CMessage>(_ message: M, into buffer: inout ByteBuffer) throws(WireError) {
        let arena = WireArena.acquire()
        defer { arena.release() }
        let c = arena.allocate(M.CStruct.self, count: 1)
        M.cInit(c)
        try message.fill(c, arena: arena)
        let size = M.cPackedSize(c)
        guard size > 0 else { return }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            M.cPack(c, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// How deep messages may nest in anything decoded (the outermost message is level 1).
    static let maxDepth = Int(MC_WIRE_MAX_DEPTH)

    /// Every decode starts here: the bytes' nesting is bounded before protobuf-c, whose
    /// unpack recurses once per level, sees them (see `mc_wire_check_depth`).
    static func decode<M: CMessage>(_ type: M.Type, from bytes: UnsafeRawBufferPointer) throws(WireError) -> M {
        if let base = bytes.baseAddress, bytes.count > 0 {
            switch mc_wire_check_depth(M.cDescriptor, base.assumingMemoryBound(to: UInt8.self), bytes.count) {
            case Int32(MC_WIRE_SCAN_OK): break
            case Int32(MC_WIRE_SCAN_TOO_DEEP): throw .tooDeep(message: M.protoName, limit: maxDepth)
            default: throw .malformed(message: M.protoName)
            }
        }
        let arena = WireArena.acquire()
        defer { arena.release() }
        let unpacked: UnsafeMutablePointer<M.CStruct>?
        if let base = bytes.baseAddress, bytes.count > 0 {
            unpacked = M.cUnpack(arena.allocator, bytes.count, base.assumingMemoryBound(to: UInt8.self))
        } else {
            var empty: UInt8 = 0
            unpacked = M.cUnpack(arena.allocator, 0, &empty)
        }
        // The unpacked struct lives in the arena, freed by the `defer` above.
        guard let c = unpacked else { throw .malformed(message: M.protoName) }
        return try M(c: c, arena: arena)
    }
}
