import Logging
import MedicareRPC
import MedicareWire
import NIOCore

/// Asks a connection to stop taking calls, finish those in flight, then close.
struct DrainConnection: Sendable {}

/// Tells a connection its drain time is over: calls still in flight are cancelled and
/// answered `unavailable`, then it closes.
struct AbortConnection: Sendable {}

/// One server connection's calls: a state machine on the event loop.
///
/// The loop frames and routes. Each call's payload is decoded, handled and its response
/// encoded in its own task. A small request's task prefers the connection's event loop as its
/// executor (`limits.inlineRequestMaxBytes`): it runs on the loop that read it and resumes
/// there after every await, because on a small machine hopping to the cooperative pool and
/// back costs more than the work; a large request (an import) runs on the cooperative pool so
/// that it cannot hold up the loop's other connections. The finished bytes come back to the
/// loop to be written. Writes are flushed once per loop tick, so that many calls finishing
/// together share one TLS record flush.
final class ServerConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Limits {
        var maxFrameSize: Int
        var maxConcurrentCalls: Int
        var maxTimeout: Duration
        var inlineRequestMaxBytes: Int
        /// How long calls may go on once the peer has finished sending (TLS close_notify):
        /// the drain bound, besides each call's own deadline.
        var drainTimeout: Duration
    }

    private struct ActiveCall {
        let task: Task<Void, Never>
        let deadline: NIODeadline?
    }

    private let router: RPCRouter
    private let limits: Limits
    private var logger: Logger
    private var peer: PeerIdentity?
    private var calls: [UInt64: ActiveCall] = [:]
    private var draining = false
    private var closed = false
    /// The peer sent close_notify: no more frames will come, answers still go out.
    private var peerFinished = false
    private var drainTimer: Scheduled<Void>?
    private var highestCallID: UInt64 = 0
    private let flusher = FlushCoalescer()
    private var deadlines = DeadlineSweep()
    /// Runs this connection's handlers on its event loop; set when the handler is added.
    private var executor: EventLoopExecutor?
    private var context: ChannelHandlerContext?
    private let completions = LoopInbox<(UInt64, ByteBuffer)>()

    init(router: RPCRouter, limits: Limits, logger: Logger) {
        self.router = router
        self.limits = limits
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        executor = EventLoopExecutor(context.eventLoop)
        if let remote = context.remoteAddress { logger[metadataKey: "net.peer"] = "\(remote)" }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelAll()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        cancelAll()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let completed as TLSHandshakeCompleted:
            peer = completed.peer
            logger[metadataKey: "rpc.peer"] = "\(completed.peer)"
            logger.debug("connection authenticated")
        case is DrainConnection:
            drain(context: context)
        case is AbortConnection:
            abort(context: context, reason: "the server is shutting down and did not finish the call in time; retry")
        case let event as ChannelEvent where event == .inputClosed:
            peerFinishedSending(context: context)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case let error as FrameError:
            logger.notice("closing connection: framing error", metadata: ["rpc.error": "\(error)"])
            let code: RPCError.Code = if case .tooLarge = error { .resourceExhausted } else { .invalidArgument }
            goAwayAndClose(context: context, RPCError(code: code, message: error.description))
        case let error as TLSError:
            logger.notice("closing connection: TLS", metadata: ["rpc.error": "\(error)"])
            context.close(promise: nil)
        default:
            logger.debug("closing connection", metadata: ["rpc.error": "\(error)"])
            context.close(promise: nil)
        }
    }

    // MARK: inbound frames

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closed else { return }
        let frame: Frame
        do {
            frame = try Frame(decoding: unwrapInboundIn(data))
        } catch {
            goAwayAndClose(context: context, RPCError(code: .invalidArgument, message: "malformed frame: \(error)"))
            return
        }
        switch frame.kind {
        case .request:
            startCall(context: context, frame)
        case .cancel:
            if let call = calls.removeValue(forKey: frame.callID) {
                call.task.cancel()
                finishDrainIfIdle(context: context)
            }
        case .ping:
            write(context: context, try! FrameCodec.encode(Frame(callID: frame.callID, kind: .pong), allocator: context.channel.allocator))
        case .pong, .goaway:
            break
        default:
            goAwayAndClose(context: context, RPCError(code: .invalidArgument, message: "unexpected frame kind \(frame.kind)"))
        }
    }

    private func startCall(context: ChannelHandlerContext, _ frame: Frame) {
        let id = frame.callID
        guard calls[id] == nil else {
            goAwayAndClose(context: context, RPCError(code: .invalidArgument, message: "call id \(id) is already in flight"))
            return
        }
        highestCallID = max(highestCallID, id)
        guard let peer else {
            reject(context: context, id, RPCError(code: .unauthenticated, message: "no verified client certificate"))
            return
        }
        guard !draining else {
            reject(context: context, id, RPCError(code: .unavailable, message: "the server is shutting down; retry on a new connection"))
            return
        }
        guard calls.count < limits.maxConcurrentCalls else {
            reject(context: context, id, RPCError(
                code: .resourceExhausted, message: "too many calls in flight on this connection (limit \(limits.maxConcurrentCalls))"
            ))
            return
        }
        guard let route = router.route(for: frame.method) else {
            reject(context: context, id, RPCError(code: .unimplemented, message: "method '\(frame.method.prefix(200))' is not implemented"))
            return
        }
        let metadata: Metadata
        do {
            metadata = try Metadata(wire: frame.metadata)
        } catch {
            reject(context: context, id, error)
            return
        }

        let maxMicros = limits.maxTimeout.components.seconds * 1_000_000
        let timeoutMicros = frame.timeoutMicros == 0 ? nil : Int64(min(frame.timeoutMicros, UInt64(maxMicros)))
        let deadline = timeoutMicros.map { ContinuousClock.now + .microseconds($0) }
        let callContext = CallContext(
            method: route.method, callID: id, peer: peer, metadata: metadata, deadline: deadline, logger: logger
        )
        let router = self.router
        let payload = ByteBuffer(bytes: frame.payload)
        let allocator = context.channel.allocator
        let maxFrameSize = limits.maxFrameSize
        let eventLoop = context.eventLoop
        let loopBound = NIOLoopBound(self, eventLoop: eventLoop)
        let completions = self.completions

        // Small requests are handled right here on the loop; a large one moves to the pool.
        let preference: (any TaskExecutor)? = frame.payload.count <= limits.inlineRequestMaxBytes ? executor : globalConcurrentExecutor
        let task = Task(executorPreference: preference) {
            var result = await router.dispatch(route, payload: payload, context: callContext)
            if case .failure(let error) = result, let safe = error.redactedForPeer() {
                // A message built without care for the peer: sent cut, logged whole.
                callContext.logger.warning("status message held internals; sent redacted", metadata: [
                    "rpc.code": "\(error.code)", "rpc.error": "\(error.message)", "rpc.sent": "\(safe.message)",
                ])
                result = .failure(safe)
            }
            let response = FrameCodec.response(callID: id, result: result, maxFrameSize: maxFrameSize, allocator: allocator)
            completions.push((id, response), on: eventLoop) { batch in
                for (id, response) in batch { loopBound.value.finish(id, response) }
            }
        }
        let expiry = timeoutMicros.map { NIODeadline.now() + .microseconds($0) }
        if let expiry { cover(expiry, on: eventLoop) }
        calls[id] = ActiveCall(task: task, deadline: expiry)
    }

    private func cover(_ deadline: NIODeadline, on loop: any EventLoop) {
        let loopBound = NIOLoopBound(self, eventLoop: loop)
        deadlines.cover(deadline, on: loop) { loopBound.value.expireDue() }
    }

    /// Expires the calls whose deadline has passed and re-arms for the next one.
    private func expireDue() {
        let (due, next) = deadlines.fired(calls.lazy.map { ($0.key, $0.value.deadline) })
        for id in due { expire(id) }
        if let next, let context { cover(next, on: context.eventLoop) }
    }

    private func finish(_ id: UInt64, _ response: ByteBuffer) {
        // Absent when the call expired or was cancelled first: its answer was already given.
        guard calls.removeValue(forKey: id) != nil, let context else { return }
        write(context: context, response)
        finishDrainIfIdle(context: context)
    }

    private func expire(_ id: UInt64) {
        guard let call = calls.removeValue(forKey: id), let context else { return }
        call.task.cancel()
        reject(context: context, id, RPCError(code: .deadlineExceeded, message: "deadline exceeded"))
        finishDrainIfIdle(context: context)
    }

    private func reject(context: ChannelHandlerContext, _ id: UInt64, _ error: RPCError) {
        write(context: context, FrameCodec.status(callID: id, error, allocator: context.channel.allocator))
    }

    // MARK: writes

    private func write(context: ChannelHandlerContext, _ buffer: ByteBuffer) {
        guard !closed else { return }
        flusher.write(wrapOutboundOut(buffer), context: context)
    }

    // MARK: shutdown

    private func drain(context: ChannelHandlerContext) {
        guard !draining, !closed else { return }
        draining = true
        logger.debug("draining connection", metadata: ["rpc.in_flight": "\(calls.count)"])
        write(context: context, try! FrameCodec.encode(Frame(kind: .goaway, lastCallID: highestCallID), allocator: context.channel.allocator))
        finishDrainIfIdle(context: context)
    }

    /// The peer's close_notify (RFC 8446 §6.1): it sends nothing more but still reads. The
    /// calls it already sent are finished and answered, then the connection closes (our
    /// close_notify), within each call's deadline and at most `drainTimeout`.
    private func peerFinishedSending(context: ChannelHandlerContext) {
        guard !peerFinished, !closed else { return }
        peerFinished = true
        logger.debug("peer finished sending", metadata: ["rpc.in_flight": "\(calls.count)"])
        if !draining {
            draining = true
            armDrainTimer(context: context)
        }
        finishDrainIfIdle(context: context)
    }

    /// Bounds a drain the connection started itself (the peer's close_notify); a server
    /// drain is bounded by the server (`AbortConnection`).
    private func armDrainTimer(context: ChannelHandlerContext) {
        guard !calls.isEmpty else { return }
        let nanos = limits.drainTimeout.components.seconds * 1_000_000_000 + limits.drainTimeout.components.attoseconds / 1_000_000_000
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        drainTimer = context.eventLoop.scheduleTask(in: .nanoseconds(nanos)) {
            loopBound.value.drainTimedOut()
        }
    }

    private func drainTimedOut() {
        guard let context else { return }
        abort(context: context, reason: "the connection closed before the call finished; retry")
    }

    /// Cancels the calls still in flight, answers each `unavailable`, and closes.
    private func abort(context: ChannelHandlerContext, reason: String) {
        guard !closed else { return }
        draining = true
        if !calls.isEmpty {
            logger.notice("cancelling calls still in flight", metadata: ["rpc.in_flight": "\(calls.count)"])
        }
        let remaining = calls
        calls.removeAll()
        deadlines.cancel()
        for (id, call) in remaining.sorted(by: { $0.key < $1.key }) {
            call.task.cancel()
            reject(context: context, id, RPCError(code: .unavailable, message: reason))
        }
        finishDrainIfIdle(context: context)
    }

    private func finishDrainIfIdle(context: ChannelHandlerContext) {
        guard draining, calls.isEmpty, !closed else { return }
        closed = true
        drainTimer?.cancel()
        drainTimer = nil
        // The TLS handler closes only once everything written before has reached the socket.
        context.close(promise: nil)
    }

    private func goAwayAndClose(context: ChannelHandlerContext, _ error: RPCError) {
        guard !closed else { return }
        draining = true
        var frame = Frame(kind: .goaway, lastCallID: highestCallID)
        let safe = error.redactedForPeer() ?? error
        frame.statusCode = safe.code.status
        frame.statusMessage = safe.message
        closed = true
        cancelAll()
        let bytes = try! FrameCodec.encode(frame, allocator: context.channel.allocator)
        context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
        context.close(promise: nil)
    }

    private func cancelAll() {
        drainTimer?.cancel()
        drainTimer = nil
        deadlines.cancel()
        for call in calls.values { call.task.cancel() }
        calls.removeAll()
    }
}
