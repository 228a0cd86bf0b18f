public import Logging

/// What a handler knows about the call it is serving.
public struct CallContext: Sendable {
    /// The method being served, with its declared ``MethodPolicy``.
    public let method: MethodDescriptor
    /// The call id of the request frame (the client numbers calls per connection; in process, per channel), for logs.
    public let callID: UInt64
    /// The verified caller.
    public let peer: PeerIdentity
    /// The call's validated metadata (trace id, idempotency key, acting caller).
    public private(set) var metadata: Metadata
    /// When the caller stops waiting; the server cancels the handler then.
    public let deadline: ContinuousClock.Instant?
    /// The part of the data the caller may touch, as the gateway's access check granted it for
    /// this method; nil where no such check ran (the backends, which admit only services).
    public var accessScope: AccessScope?
    private let connectionLogger: Logger

    /// Makes the context for one call; `logger` is the connection's, and ``logger`` adds the call's
    /// method, call id and trace id to it.
    public init(
        method: MethodDescriptor, callID: UInt64, peer: PeerIdentity, metadata: Metadata,
        deadline: ContinuousClock.Instant?, logger: Logger
    ) {
        self.method = method
        self.callID = callID
        self.peer = peer
        self.metadata = metadata
        self.deadline = deadline
        self.connectionLogger = logger
    }

    /// The connection's logger (which carries the peer) with the method, call id and trace id
    /// as metadata. Built when asked for: most calls log nothing, and setting metadata on
    /// every call cost the gateway 4% of its CPU.
    public var logger: Logger {
        var logger = connectionLogger
        logger[metadataKey: "rpc.method"] = .stringConvertible(method)
        logger[metadataKey: "rpc.call_id"] = .stringConvertible(callID)
        if let trace = metadata[Metadata.traceID] { logger[metadataKey: "trace.id"] = .string(trace) }
        return logger
    }

    /// The metadata `trace-id`, if the caller sent one.
    public var traceID: String? { metadata[Metadata.traceID] }

    /// This context with `traceID` as its trace id (the gateway mints one for a caller that
    /// sent none, so that every service's log lines for the call share it).
    public func tracing(_ traceID: String) -> CallContext {
        var copy = self
        copy.metadata[Metadata.traceID] = traceID
        return copy
    }

    /// Who is acting: the caller a service forwards for (metadata `acting-caller`, believed
    /// only when the verified peer is a `service` certificate), else the verified peer itself.
    /// Stores, idempotency scopes and the audit trail record this identity, not the gateway's.
    public var actor: PeerIdentity {
        guard Self.believesActingCaller(peer), let value = metadata[Metadata.actingCaller],
              let acting = PeerIdentity(actingCallerValue: value) else { return peer }
        return acting
    }

    /// ``actor``, strictly: an `acting-caller` sent by a service but malformed is refused
    /// (`INVALID_ARGUMENT`) rather than taken as the service itself, so that callers never
    /// share the service's idempotency scope by accident.
    public func actingCaller() throws(RPCError) -> PeerIdentity {
        guard Self.believesActingCaller(peer), let value = metadata[Metadata.actingCaller] else { return peer }
        guard let acting = PeerIdentity(actingCallerValue: value) else {
            throw RPCError(code: .invalidArgument, message: "metadata 'acting-caller' is not role, name, department and region separated by tabs")
        }
        return acting
    }

    /// ``actingCaller()`` as a record keeps it (who published, decided, posted): its
    /// description, at most 200 characters. Throws as ``actingCaller()``.
    public func actingName() throws(RPCError) -> String { String(try actingCaller().description.prefix(200)) }

    /// Only a medical-insurance service certificate may say whom it acts for.
    static func believesActingCaller(_ peer: PeerIdentity) -> Bool {
        peer.role == PeerIdentity.Role.service && peer.department == PeerIdentity.Department.medicalInsurance
    }
    /// The metadata `idempotency-key` as sent (unvalidated; see `IdempotencyKey` in MedicareDomain), or nil.
    public var idempotencyKey: String? { metadata[Metadata.idempotencyKey] }

    /// ``accessScope``, required: a handler behind the gateway's access check asks for it, and
    /// a missing one (a router built without the check) fails closed.
    public func grantedScope() throws(RPCError) -> AccessScope {
        guard let accessScope else { throw RPCError(code: .permissionDenied, message: "\(method.fullName): no access decision for this call") }
        return accessScope
    }
}

/// How much of the data a caller may touch through a method: everything, its region (the
/// certificate's `ST`), or its institution (the certificate's `CN`, and for a township centre
/// the clinics it settles for, where the handler can tell).
public enum AccessScope: String, Sendable, Codable {
    /// `all`: no confinement; `region`: the certificate's `ST`; `institution`: the certificate's
    /// `CN` (and, for a township centre, the clinics it settles for).
    case all, region, institution
}
