import MedicareDomain
import MedicareRPC
import MedicareStore

extension DomainError: RPCErrorConvertible {
    public var rpcError: RPCError {
        switch kind {
        case .invalid: RPCError(code: .invalidArgument, message: description)
        case .notFound: RPCError(code: .notFound, message: description)
        case .precondition: RPCError(code: .failedPrecondition, message: description)
        case .conflict: RPCError(code: .alreadyExists, message: description)
        }
    }
}

extension StoreError: RPCErrorConvertible {
    /// Store failures are never described to peers: they carry SQL and paths.
    public var rpcError: RPCError {
        switch self {
        case .unavailable, .closed: RPCError(code: .unavailable, message: "the store is unavailable; retry later", cause: self)
        default: RPCError(code: .internal, message: "internal error", cause: self)
        }
    }
}
