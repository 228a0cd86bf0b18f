public import MedicareWire

/// The one error model on the wire: a status code and a message that is safe to show to the
/// peer. The cause (SQL, paths, stack traces) stays in the server's log and never leaves it.
public struct RPCError: Error, Sendable, CustomStringConvertible {
    /// The status code.
    public var code: Code
    /// Peer-safe: names what was wrong (a field, a limit) but never internals.
    public var message: String
    /// Kept for the local log only; never encoded.
    public var cause: (any Error)?

    /// Makes an error; `message` must be peer-safe, `cause` is for the local log only.
    public init(code: Code, message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// `code: message`, without the cause.
    public var description: String { "\(code): \(message)" }

    /// A status code, numbered as gRPC's.
    ///
    /// Choosing one:
    /// - the caller sent something wrong in itself (a field, a format): `invalidArgument`;
    /// - the request is fine but the system is not in the state for it (a clinic not
    ///   designated, a settlement already reversed): `failedPrecondition`;
    /// - it names something that does not exist: `notFound`; creates something that does:
    ///   `alreadyExists`;
    /// - a concurrency conflict the caller may retry at a higher level: `aborted`;
    /// - who the caller is is unknown: `unauthenticated`; known but not allowed:
    ///   `permissionDenied`;
    /// - a limit (calls in flight, rate, size) was hit: `resourceExhausted`;
    /// - the service or a dependency cannot answer now and a retry may work: `unavailable`;
    /// - a bug or broken invariant on our side: `internal`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The gRPC status number, 1-16.
        public let rawValue: Int32

        private init(_ rawValue: Int32) { self.rawValue = rawValue }

        /// The code for a wire status; unknown values become `unknown`.
        public init(_ status: StatusCode) {
            self.rawValue = (1...16).contains(status.rawValue) ? status.rawValue : 2
        }

        /// The code as the wire's `StatusCode`.
        public var status: StatusCode { StatusCode(rawValue: rawValue) }
        /// The status's name.
        public var description: String { status.description }

        /// The call was cancelled (1).
        public static let cancelled = Code(1)
        /// An unknown error, or a wire status outside 1-16 (2).
        public static let unknown = Code(2)
        /// The request is wrong in itself (3).
        public static let invalidArgument = Code(3)
        /// The deadline passed before an answer (4).
        public static let deadlineExceeded = Code(4)
        /// Something named does not exist (5).
        public static let notFound = Code(5)
        /// What the request would create exists already (6).
        public static let alreadyExists = Code(6)
        /// The caller is known but not allowed (7).
        public static let permissionDenied = Code(7)
        /// A limit (calls in flight, rate, size) was hit (8).
        public static let resourceExhausted = Code(8)
        /// The system is not in the state the request needs (9).
        public static let failedPrecondition = Code(9)
        /// A concurrency conflict; the caller may retry at a higher level (10).
        public static let aborted = Code(10)
        /// A value out of the valid range (11).
        public static let outOfRange = Code(11)
        /// The method is not implemented here (12).
        public static let unimplemented = Code(12)
        /// A bug or broken invariant on our side (13).
        public static let `internal` = Code(13)
        /// The service or a dependency cannot answer now; a retry may work (14).
        public static let unavailable = Code(14)
        /// Data was lost or corrupted (15).
        public static let dataLoss = Code(15)
        /// The caller's identity is unknown (16).
        public static let unauthenticated = Code(16)
    }
}

/// A domain error that knows which status it maps to.
public protocol RPCErrorConvertible: Error {
    /// The status and peer-safe message this error maps to.
    var rpcError: RPCError { get }
}

extension RPCError {
    /// Maps any error thrown by a handler to what the peer may see.
    public init(mapping error: any Error) {
        switch error {
        case let error as RPCError:
            self = error
        case let error as any RPCErrorConvertible:
            self = error.rpcError
        case let error as WireError:
            self.init(code: .invalidArgument, message: error.description, cause: error)
        case is CancellationError:
            self.init(code: .cancelled, message: "the call was cancelled", cause: error)
        default:
            self.init(code: .internal, message: "internal error", cause: error)
        }
    }
}

// MARK: the last line of defence

extension RPCError {
    /// This error with internals cut from its message, or nil when the message is clean.
    ///
    /// Messages are built peer-safe where errors are made; this is the check at the edge,
    /// where a status is about to be sent to a peer, for a message that slipped through:
    /// network addresses, errno values, transport (NIO, TLS, PostgreSQL, SQLite) type names,
    /// file paths and SQL. The message is cut before the clause holding the first of them
    /// ("registry is unavailable: Connection errors: ...(127.0.0.1:7201)" becomes "registry
    /// is unavailable"); when nothing is left, a plain message for the code stands in. The
    /// original stays in `cause` for the log.
    public func redactedForPeer() -> RPCError? {
        let bytes = Array(message.utf8)
        guard let leak = Self.firstInternal(in: bytes) else { return nil }
        // back to the end of the last clause before the leak (all cut points are ASCII)
        var end = 0
        for separator in [": ", "; ", " ("] {
            if let at = Self.lastIndex(of: Array(separator.utf8), in: bytes[..<leak]) { end = max(end, at) }
        }
        var kept = bytes[..<end]
        while let last = kept.last, [UInt8(ascii: " "), UInt8(ascii: ":"), UInt8(ascii: ";"), UInt8(ascii: ",")].contains(last) {
            kept = kept.dropLast()
        }
        let safe = kept.isEmpty ? Self.plainMessage(for: code) : String(decoding: kept, as: UTF8.self)
        return RPCError(code: code, message: safe, cause: cause ?? MessageRedacted(original: message))
    }

    /// The message for a code when nothing of the original can be kept.
    static func plainMessage(for code: Code) -> String {
        switch code {
        case .unavailable: "the service is unavailable; retry later"
        case .deadlineExceeded: "deadline exceeded"
        case .cancelled: "the call was cancelled"
        case .invalidArgument: "the request is invalid"
        case .resourceExhausted: "a limit was reached; retry later"
        default: "internal error"
        }
    }

    private static let internalMarkers: [[UInt8]] = [
        "errno", "Errno", "[IPv4]", "[IPv6]", "[::", "Connection errors", "SingleConnectionFailure", "NIOConnectionError",
        "IOError", "ChannelError", "NIOSSL", "PSQLError", "SQLITE_", "sqlite3", "SQL error", "SELECT ", "INSERT INTO",
        "UPDATE ", "DELETE FROM", "localhost:",
    ].map { Array($0.utf8) }

    /// Where the first thing that must not reach a peer starts in `bytes`, if anywhere.
    static func firstInternal(in bytes: [UInt8]) -> Int? {
        var first: Int?
        func note(_ index: Int) { first = min(first ?? index, index) }
        for marker in internalMarkers {
            if let at = firstIndex(of: marker, in: bytes) { note(at) }
        }
        var i = 0
        while i < bytes.count {
            // a dotted IPv4 address, with or without a port
            if isDigit(bytes[i]), i == 0 || !(isDigit(bytes[i - 1]) || bytes[i - 1] == UInt8(ascii: ".")), isDottedQuad(bytes, from: i) {
                note(i)
                break
            }
            // an absolute path: "/word/..." at the start of a word
            if bytes[i] == UInt8(ascii: "/"), i == 0 || [UInt8(ascii: " "), UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "(")].contains(bytes[i - 1]) {
                var j = i + 1
                while j < bytes.count, isPathByte(bytes[j]) { j += 1 }
                if j > i + 1, j < bytes.count, bytes[j] == UInt8(ascii: "/") {
                    note(i)
                    break
                }
            }
            i += 1
        }
        return first
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    private static func isPathByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || isDigit(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
    }

    /// Four dotted groups of one to three digits starting at `start`.
    private static func isDottedQuad(_ bytes: [UInt8], from start: Int) -> Bool {
        var i = start
        for group in 0..<4 {
            let digits = i
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
            guard (1...3).contains(i - digits) else { return false }
            if group < 3 {
                guard i < bytes.count, bytes[i] == UInt8(ascii: ".") else { return false }
                i += 1
            }
        }
        // not a longer dotted run (a version such as 1.2.3.4.5)
        return !(i + 1 < bytes.count && bytes[i] == UInt8(ascii: ".") && isDigit(bytes[i + 1]))
    }

    private static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<start + needle.count].elementsEqual(needle) { return start }
        }
        return nil
    }

    private static func lastIndex(of needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in stride(from: haystack.endIndex - needle.count, through: haystack.startIndex, by: -1) {
            if haystack[start..<start + needle.count].elementsEqual(needle) { return start }
        }
        return nil
    }
}

/// The cause kept for the log when a message was redacted at the edge.
public struct MessageRedacted: Error, CustomStringConvertible {
    /// The message as it read before redaction.
    public let original: String
    /// Says the status message was redacted and quotes the original, for the log.
    public var description: String { "status message redacted before sending; it read: \(original)" }
}
