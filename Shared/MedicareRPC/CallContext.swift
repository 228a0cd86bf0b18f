public import Logging

/// What a handler knows about the call it is serving.
public struct CallContext: Sendable {
    public let method: MethodDescriptor
    public let callID: UInt64
    /// The verified caller.
    public let peer: PeerIdentity
    public let metadata: Metadata
    /// When the caller stops waiting; the server cancels the handler then.
    public let deadline: ContinuousClock.Instant?
    /// Carries service, method, call id, trace id and caller as metadata.
    public var logger: Logger

    public init(
        method: MethodDescriptor, callID: UInt64, peer: PeerIdentity, metadata: Metadata,
        deadline: ContinuousClock.Instant?, logger: Logger
    ) {
        self.method = method
        self.callID = callID
        self.peer = peer
        self.metadata = metadata
        self.deadline = deadline
        // Values are formatted only if something is logged. The connection's logger already
        // carries the peer.
        var logger = logger
        logger[metadataKey: "rpc.method"] = .stringConvertible(method)
        logger[metadataKey: "rpc.call_id"] = .stringConvertible(callID)
        if let trace = metadata[Metadata.traceID] { logger[metadataKey: "trace.id"] = .string(trace) }
        self.logger = logger
    }

    public var traceID: String? { metadata[Metadata.traceID] }
    public var idempotencyKey: String? { metadata[Metadata.idempotencyKey] }
}
