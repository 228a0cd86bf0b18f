import MedicareDomain
import MedicareRPC
import MedicareStore

extension DomainError: RPCErrorConvertible {
    /// The status for the error's kind, with `field: message` as the message: `invalid` →
    /// INVALID_ARGUMENT, `notFound` → NOT_FOUND, `precondition` → FAILED_PRECONDITION,
    /// `conflict` → ALREADY_EXISTS, `permissionDenied` → PERMISSION_DENIED.
    public var rpcError: RPCError {
        switch kind {
        case .invalid: RPCError(code: .invalidArgument, message: description)
        case .notFound: RPCError(code: .notFound, message: description)
        case .precondition: RPCError(code: .failedPrecondition, message: description)
        case .conflict: RPCError(code: .alreadyExists, message: description)
        case .permissionDenied: RPCError(code: .permissionDenied, message: description)
        case .exhausted: RPCError(code: .resourceExhausted, message: description)
        }
    }
}

extension StoreError: RPCErrorConvertible {
    /// Store failures are never described to peers: they carry SQL and paths. A store that
    /// cannot work now (a full disk, failing storage, its database out of reach, closing)
    /// is `unavailable`, which callers may retry; `internal` is for our own defects (a
    /// statement the engine refuses, a row not as expected).
    public var rpcError: RPCError {
        switch self {
        case .resources(let kind, _): RPCError(code: .unavailable, message: kind.peerMessage, cause: self)
        case .unavailable, .closed: RPCError(code: .unavailable, message: "the store is unavailable; retry later", cause: self)
        // Lost to a concurrent change (and again when run anew): nothing applied, safe to retry.
        case .conflict: RPCError(code: .aborted, message: "the change conflicted with a concurrent one and was not applied; retry", cause: self)
        default: RPCError(code: .internal, message: "internal error", cause: self)
        }
    }
}
