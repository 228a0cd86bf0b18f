internal import CMedicareProto
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A borrowed C arena for one pack or unpack, with the conversions the generated glue uses.
///
/// Allocation failure traps, as Swift's own allocations do.
struct WireArena {
    let raw: OpaquePointer

    static func acquire() -> WireArena {
        guard let raw = mc_arena_acquire() else { fatalError("out of memory allocating a wire arena") }
        return WireArena(raw: raw)
    }

    func release() { mc_arena_release(raw) }

    var allocator: UnsafeMutablePointer<ProtobufCAllocator> { mc_arena_allocator(raw) }

    /// Zeroed, 16-byte-aligned memory for `count` values of a C type.
    func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        guard let memory = mc_arena_alloc(raw, MemoryLayout<T>.stride * count) else {
            fatalError("out of memory in a wire arena")
        }
        return memory.bindMemory(to: T.self, capacity: count)
    }

    // MARK: Swift -> C

    func cString(_ string: String, field: StaticString) throws(WireError) -> UnsafeMutablePointer<CChar> {
        var string = string
        let copied: UnsafeMutablePointer<CChar>? = string.withUTF8 { utf8 in
            let out = allocate(CChar.self, count: utf8.count + 1)
            guard let base = utf8.baseAddress, utf8.count > 0 else { return out }
            if memchr(base, 0, utf8.count) != nil { return nil }
            UnsafeMutableRawPointer(out).copyMemory(from: base, byteCount: utf8.count)
            return out
        }
        guard let copied else { throw .embeddedNUL(field: "\(field)") }
        return copied
    }

    func binary(_ bytes: [UInt8]) -> ProtobufCBinaryData {
        guard !bytes.isEmpty else { return ProtobufCBinaryData(len: 0, data: nil) }
        let out = allocate(UInt8.self, count: bytes.count)
        bytes.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: $0.count) }
        return ProtobufCBinaryData(len: bytes.count, data: out)
    }

    func cArray<S, C>(_ values: [S], _ convert: (S) -> C) -> (Int, UnsafeMutablePointer<C>?) {
        guard !values.isEmpty else { return (0, nil) }
        let out = allocate(C.self, count: values.count)
        for (i, value) in values.enumerated() { (out + i).initialize(to: convert(value)) }
        return (values.count, out)
    }

    func cStringArray(
        _ values: [String], field: StaticString
    ) throws(WireError) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
        guard !values.isEmpty else { return (0, nil) }
        let out = allocate(UnsafeMutablePointer<CChar>?.self, count: values.count)
        for (i, value) in values.enumerated() { out[i] = try cString(value, field: field) }
        return (values.count, out)
    }

    func cMessage<M: CMessage>(_ message: M) throws(WireError) -> UnsafeMutablePointer<M.CStruct> {
        let c = allocate(M.CStruct.self, count: 1)
        M.cInit(c)
        try message.fill(c, arena: self)
        return c
    }

    func cMessageArray<M: CMessage>(
        _ values: [M]
    ) throws(WireError) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<M.CStruct>?>?) {
        guard !values.isEmpty else { return (0, nil) }
        let out = allocate(UnsafeMutablePointer<M.CStruct>?.self, count: values.count)
        for (i, value) in values.enumerated() { out[i] = try cMessage(value) }
        return (values.count, out)
    }

    // MARK: C -> Swift

    func string(_ pointer: UnsafeMutablePointer<CChar>?, field: StaticString) throws(WireError) -> String {
        guard let pointer else { return "" }
        let length = mc_arena_string_length(raw, pointer)
        guard length >= 0 else { throw .embeddedNUL(field: "\(field)") }
        if length == 0 { return "" }
        // The length check above proved there is no NUL before the terminator, so the C
        // string is the whole field; this initialiser validates UTF-8 on the fast path.
        guard let string = String(validatingCString: pointer) else {
            throw .invalidUTF8(field: "\(field)")
        }
        return string
    }

    func bytes(_ data: ProtobufCBinaryData) -> [UInt8] {
        guard data.len > 0, let base = data.data else { return [] }
        return Array(UnsafeBufferPointer(start: base, count: data.len))
    }

    func array<C, S>(
        _ pointer: UnsafeMutablePointer<C>?, _ count: Int, field: StaticString,
        _ convert: (C) throws(WireError) -> S
    ) throws(WireError) -> [S] {
        guard count > 0 else { return [] }
        guard let pointer else { throw .missingElements(field: "\(field)") }
        var out: [S] = []
        out.reserveCapacity(count)
        for i in 0..<count { out.append(try convert(pointer[i])) }
        return out
    }

    func stringArray(
        _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ count: Int, field: StaticString
    ) throws(WireError) -> [String] {
        try array(pointer, count, field: field) { (p) throws(WireError) in try string(p, field: field) }
    }

    func messageArray<M: CMessage>(
        _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<M.CStruct>?>?, _ count: Int,
        field: StaticString, as type: M.Type
    ) throws(WireError) -> [M] {
        try array(pointer, count, field: field) { (p) throws(WireError) in
            guard let p else { throw .missingElements(field: "\(field)") }
            return try M(c: p, arena: self)
        }
    }
}
