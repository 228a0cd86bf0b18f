public import NIOCore

/// A protobuf message with a typed Swift side, encoded and decoded through protobuf-c.
///
/// Conforming types are generated from `Proto/` by `scripts/generate-proto.sh`; nothing is
/// written by hand per message.
public protocol WireMessage: Sendable, Hashable {
    /// The message's full protobuf name, `medicare.v1.Frame`.
    static var protoName: String { get }

    /// Appends the message's protobuf encoding to `buffer`.
    ///
    /// Throws ``WireError/embeddedNUL(field:)`` for a string holding a NUL character:
    /// protobuf-c strings are C strings and would silently cut it.
    func encode(into buffer: inout ByteBuffer) throws(WireError)

    /// Decodes a message from its protobuf encoding. Strings must be valid UTF-8 without NUL.
    init(decoding bytes: UnsafeRawBufferPointer) throws(WireError)
}

extension WireMessage {
    /// Decodes the readable bytes of `buffer` (without moving its reader index).
    @inlinable
    public init(decoding buffer: ByteBuffer) throws(WireError) {
        var result: Result<Self, WireError>!
        buffer.withUnsafeReadableBytes { bytes in
            result = Result { () throws(WireError) in try Self(decoding: bytes) }
        }
        self = try result.get()
    }

    /// Decodes a message from bytes.
    @inlinable
    public init(decoding bytes: [UInt8]) throws(WireError) {
        var result: Result<Self, WireError>!
        bytes.withUnsafeBytes { raw in
            result = Result { () throws(WireError) in try Self(decoding: raw) }
        }
        self = try result.get()
    }

    /// The message's protobuf encoding in a new buffer.
    @inlinable
    public func encoded(allocator: ByteBufferAllocator = ByteBufferAllocator()) throws(WireError) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 128)
        try self.encode(into: &buffer)
        return buffer
    }

    /// The message's protobuf encoding as bytes.
    @inlinable
    public func encodedBytes() throws(WireError) -> [UInt8] {
        let buffer = try self.encoded()
        return Array(buffer.readableBytesView)
    }
}

extension ByteBuffer {
    /// Appends an already encoded message (or bytes) as length-delimited field `number`.
    ///
    /// Protobuf messages concatenate: a message whose fields are embedded messages is the
    /// sequence of those fields, so a record stored encoded can go into a larger message
    /// (a `repeated` field, a wrapper) without decoding and encoding it again.
    public mutating func writeProtobufField(_ number: UInt32, bytes: some Collection<UInt8>) {
        let key = UInt64(number) << 3 | 2  // wire type 2: length-delimited
        for value in [key, UInt64(bytes.count)] {
            var rest = value
            while rest >= 0x80 {
                writeInteger(UInt8(truncatingIfNeeded: rest) | 0x80)
                rest >>= 7
            }
            writeInteger(UInt8(rest))
        }
        writeBytes(bytes)
    }

    /// Appends a varint field (`int64`, `uint64`, `bool`, an enum) `number` holding `value`
    /// (a negative `int64` as protobuf writes it: ten bytes, two's complement).
    public mutating func writeProtobufField(_ number: UInt32, varint value: Int64) {
        for field in [UInt64(number) << 3, UInt64(bitPattern: value)] {  // wire type 0: varint
            var rest = field
            while rest >= 0x80 {
                writeInteger(UInt8(truncatingIfNeeded: rest) | 0x80)
                rest >>= 7
            }
            writeInteger(UInt8(rest))
        }
    }
}

/// A proto enum as the generator maps it: one Swift case per declared value, plus
/// `unrecognized` for a number this build does not know (kept, so that a newer peer's value
/// survives a round trip). The zero value is the proto's `*_UNSPECIFIED`: in our contracts it
/// means "not given" and validation refuses it, as it refuses `unrecognized`.
public protocol ProtoEnum: RawRepresentable, Hashable, Sendable, CustomStringConvertible where RawValue == Int32 {
    /// The value for a number: a declared case, or `unrecognized` keeping the number.
    init(rawValue: Int32)
    /// The zero value (`*_UNSPECIFIED`, "not given").
    init()
    /// The proto's full name, `medicare.v1.DesignationStatus`.
    static var protoName: String { get }
    /// Every declared value except the zero value.
    static var known: [Self] { get }
    /// The prefix every value's proto name has before its code, upper case
    /// (`MED_TYPE_` for `MED_TYPE_GENERAL_OUTPATIENT`); empty when the names have none.
    static var valueNamePrefix: String { get }
    /// The value's name without the enum's prefix, lower case (`not_designated`); the number
    /// for an unrecognized value.
    var code: String { get }
}

extension ProtoEnum {
    /// The value's ``code``.
    public var description: String { code }

    /// A declared value other than the zero value.
    public var isKnown: Bool { Self.known.contains(self) }

    /// The value whose ``code`` is `code`, if it is a declared value other than zero.
    public init?(code: String) {
        guard let found = Self.known.first(where: { $0.code == code }) else { return nil }
        self = found
    }
}
