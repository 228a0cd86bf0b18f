public import MedicareWire

/// Call metadata: ordered key/value pairs such as `trace-id` and `idempotency-key`.
///
/// Bounded so that a peer cannot make us hold arbitrary amounts: at most ``maxEntries``
/// entries, keys of 1...64 characters from `[a-z0-9._-]`, values of at most 4 KiB.
public struct Metadata: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    /// At most this many entries in one call's metadata.
    public static let maxEntries = 32
    /// At most this many bytes (UTF-8) in one metadata value.
    public static let maxValueBytes = 4096

    /// The key of the call's trace id, which logs and downstream calls carry.
    public static let traceID = "trace-id"
    /// The key of the caller's idempotency key for a settlement or reversal.
    public static let idempotencyKey = "idempotency-key"
    /// The identity a service acts for when it calls another service on a caller's behalf
    /// (see ``CallContext/actor``): trusted only from a peer whose certificate role is `service`.
    public static let actingCaller = "acting-caller"

    /// The entries in order; a key appears at most once when set through the subscript.
    public private(set) var entries: [(key: String, value: String)]

    /// Empty metadata.
    public init() { entries = [] }

    /// Metadata from a literal, in order; keys and sizes are not checked.
    public init(dictionaryLiteral elements: (String, String)...) {
        entries = elements.map { (key: $0.0, value: $0.1) }
    }

    /// The value of `key`, or nil. Setting removes every entry with the key and, unless the new
    /// value is nil, appends one at the end. Keys and sizes are not checked here.
    public subscript(key: String) -> String? {
        get { entries.first { $0.key == key }?.value }
        set {
            entries.removeAll { $0.key == key }
            if let newValue { entries.append((key: key, value: newValue)) }
        }
    }

    /// Iterates the entries in order.
    public func makeIterator() -> some IteratorProtocol<(key: String, value: String)> { entries.makeIterator() }

    /// Equal when the same entries are in the same order.
    public static func == (lhs: Metadata, rhs: Metadata) -> Bool {
        lhs.entries.elementsEqual(rhs.entries) { $0.key == $1.key && $0.value == $1.value }
    }

    /// Hashes the entries in order.
    public func hash(into hasher: inout Hasher) {
        for entry in entries {
            hasher.combine(entry.key)
            hasher.combine(entry.value)
        }
    }

    /// Validates metadata from the wire.
    public init(wire: [MetadataEntry]) throws(RPCError) {
        guard wire.count <= Self.maxEntries else {
            throw RPCError(code: .invalidArgument, message: "metadata has \(wire.count) entries; at most \(Self.maxEntries) are allowed")
        }
        entries = []
        entries.reserveCapacity(wire.count)
        for entry in wire {
            guard Self.isValidKey(entry.key) else {
                throw RPCError(code: .invalidArgument, message: "metadata key '\(entry.key.prefix(64))' is not 1-64 characters of [a-z0-9._-]")
            }
            guard entry.value.utf8.count <= Self.maxValueBytes else {
                throw RPCError(code: .invalidArgument, message: "metadata value of '\(entry.key)' is longer than \(Self.maxValueBytes) bytes")
            }
            entries.append((key: entry.key, value: entry.value))
        }
    }

    /// The entries as wire `MetadataEntry` values, in order.
    public var wire: [MetadataEntry] { entries.map { MetadataEntry(key: $0.key, value: $0.value) } }

    static func isValidKey(_ key: String) -> Bool {
        let utf8 = key.utf8
        guard (1...64).contains(utf8.count) else { return false }
        return utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
        }
    }
}
