public import Logging
public import NIOCore
import Synchronization

/// Calls a router directly, without sockets or TLS: for fast service tests and for
/// composing services inside one process. Requests and responses still go through the
/// codec, and deadlines, metadata limits and unknown methods behave as over the network;
/// status messages are not redacted for a peer (the network server does that last step).
public struct InProcessChannel: RPCChannel {
    /// The router whose methods this channel calls.
    public let router: RPCRouter
    /// The identity every call is made as (no certificate is checked in process).
    public let peer: PeerIdentity
    /// The logger handed to calls, with the peer as `rpc.peer` metadata.
    public let logger: Logger
    private let callIDs = CallIDs()

    /// Makes a channel that calls `router` as `peer`.
    public init(router: RPCRouter, peer: PeerIdentity, logger: Logger = Logger(label: "medicare.inprocess")) {
        self.router = router
        self.peer = peer
        var logger = logger
        logger[metadataKey: "rpc.peer"] = .stringConvertible(peer)
        self.logger = logger
    }

    /// Runs one call on the router: the metadata is validated as from the wire, and the
    /// effective deadline (``CallOptions/effectiveDeadline(now:)``) is enforced by cancelling the
    /// handler.
    /// - Throws: ``RPCError`` `unimplemented` for a method the router lacks, `invalidArgument`
    ///   for metadata over the limits, `deadlineExceeded` when the deadline passes first, else
    ///   the handler's error as ``RPCRouter/dispatch(_:payload:context:)`` maps it (unredacted).
    public func call(_ method: MethodDescriptor, payload: ByteBuffer, options: CallOptions) async throws(RPCError) -> ByteBuffer {
        guard let route = router.route(for: method.fullName) else {
            throw RPCError(code: .unimplemented, message: "method '\(method.fullName)' is not implemented")
        }
        let metadata = try Metadata(wire: options.metadata.wire)
        let deadline = options.effectiveDeadline()
        let context = CallContext(
            method: route.method, callID: callIDs.next(), peer: peer, metadata: metadata, deadline: deadline, logger: logger
        )
        let router = self.router
        guard let deadline else {
            return try await router.dispatch(route, payload: payload, context: context).get()
        }
        let result = await withTaskGroup(of: Result<ByteBuffer, RPCError>?.self) { group in
            group.addTask { await router.dispatch(route, payload: payload, context: context) }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                return Task.isCancelled ? nil : .failure(RPCError(code: .deadlineExceeded, message: "deadline exceeded"))
            }
            let first = await group.next()!
            group.cancelAll()
            return first!
        }
        return try result.get()
    }
}

final class CallIDs: Sendable {
    private let counter = Mutex<UInt64>(0)
    func next() -> UInt64 { counter.withLock { $0 += 1; return $0 } }
}
