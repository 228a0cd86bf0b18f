public import MedicareWire

/// The one error model on the wire: a status code and a message that is safe to show to the
/// peer. The cause (SQL, paths, stack traces) stays in the server's log and never leaves it.
public struct RPCError: Error, Sendable, CustomStringConvertible {
    public var code: Code
    /// Peer-safe: names what was wrong (a field, a limit) but never internals.
    public var message: String
    /// Kept for the local log only; never encoded.
    public var cause: (any Error)?

    public init(code: Code, message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

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
        public let rawValue: Int32

        private init(_ rawValue: Int32) { self.rawValue = rawValue }

        /// The code for a wire status; unknown values become `unknown`.
        public init(_ status: StatusCode) {
            self.rawValue = (1...16).contains(status.rawValue) ? status.rawValue : 2
        }

        public var status: StatusCode { StatusCode(rawValue: rawValue) }
        public var description: String { status.description }

        public static let cancelled = Code(1)
        public static let unknown = Code(2)
        public static let invalidArgument = Code(3)
        public static let deadlineExceeded = Code(4)
        public static let notFound = Code(5)
        public static let alreadyExists = Code(6)
        public static let permissionDenied = Code(7)
        public static let resourceExhausted = Code(8)
        public static let failedPrecondition = Code(9)
        public static let aborted = Code(10)
        public static let outOfRange = Code(11)
        public static let unimplemented = Code(12)
        public static let `internal` = Code(13)
        public static let unavailable = Code(14)
        public static let dataLoss = Code(15)
        public static let unauthenticated = Code(16)
    }
}

/// A domain error that knows which status it maps to.
public protocol RPCErrorConvertible: Error {
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
