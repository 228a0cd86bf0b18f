import MedicareRPC
import MedicareWire
import NIOCore
import Synchronization

/// Set by a caller's task when it is cancelled, read on the event loop.
final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}

/// One client connection's calls in flight, on the event loop: request frames go out,
/// responses are matched to their waiting callers by call id, in any order.
final class ClientConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        let continuation: CheckedContinuation<ByteBuffer, any Error>
        let deadline: NIODeadline?
    }

    private let peerDescription: String
    private var pending: [UInt64: Pending] = [:]
    private var context: ChannelHandlerContext?
    private let flusher = FlushCoalescer()
    private var deadlines = DeadlineSweep()
    /// Set once the connection can take no new calls; the error they get.
    private(set) var refusal: RPCError?
    /// Why the connection failed, for the callers it strands (the error is their cause;
    /// their message says only what kind of failure it was).
    private var failure: (any Error)?
    let handshake: EventLoopPromise<Void>
    /// Called on the loop when the server sends GOAWAY or the connection closes.
    var onUnusable: (() -> Void)?

    init(peerDescription: String, handshake: EventLoopPromise<Void>) {
        self.peerDescription = peerDescription
        self.handshake = handshake
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is TLSHandshakeCompleted { handshake.succeed() }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failure = error
        handshake.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let reason = failure.map { "the connection failed: \(ConnectionFailure.describe($0))" } ?? "the connection closed"
        let cause = ConnectionLost(peer: peerDescription, underlying: failure)
        handshake.fail(RPCError(code: .unavailable, message: reason, cause: cause))
        markUnusable(RPCError(code: .unavailable, message: reason, cause: cause))
        failAll(RPCError(code: .unavailable, message: reason, cause: cause))
        context.fireChannelInactive()
    }

    // MARK: calls

    /// Sends a request frame and parks its caller until the response, the deadline, a
    /// cancel or the connection's end.
    func start(
        id: UInt64, request: ByteBuffer, deadline: NIODeadline?, cancelled: CancellationFlag,
        continuation: CheckedContinuation<ByteBuffer, any Error>
    ) {
        if cancelled.isSet {
            continuation.resume(throwing: RPCError(code: .cancelled, message: "the call was cancelled"))
            return
        }
        guard refusal == nil, let context else {
            continuation.resume(throwing: NotSent(error: refusal ?? RPCError(code: .unavailable, message: "connection closed")))
            return
        }
        if let deadline { cover(deadline, on: context.eventLoop) }
        pending[id] = Pending(continuation: continuation, deadline: deadline)
        write(context: context, request)
    }

    private func cover(_ deadline: NIODeadline, on loop: any EventLoop) {
        let loopBound = NIOLoopBound(self, eventLoop: loop)
        deadlines.cover(deadline, on: loop) { loopBound.value.expireDue() }
    }

    /// Abandons the calls whose deadline has passed and re-arms for the next one.
    private func expireDue() {
        let (due, next) = deadlines.fired(pending.lazy.map { ($0.key, $0.value.deadline) })
        for id in due { abandon(id, RPCError(code: .deadlineExceeded, message: "deadline exceeded")) }
        if let next, let context { cover(next, on: context.eventLoop) }
    }

    /// The caller gave up (deadline or cancellation): answer it and tell the server.
    func abandon(_ id: UInt64, _ error: RPCError) {
        guard let call = pending.removeValue(forKey: id) else { return }
        call.continuation.resume(throwing: error)
        if let context, failure == nil {
            write(context: context, try! FrameCodec.encode(Frame(callID: id, kind: .cancel), allocator: context.channel.allocator))
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame: Frame
        do {
            frame = try Frame(decoding: unwrapInboundIn(data))
        } catch {
            failure = MalformedFrame(underlying: error)
            context.close(promise: nil)
            return
        }
        switch frame.kind {
        case .response:
            guard let call = pending.removeValue(forKey: frame.callID) else { return }  // abandoned earlier
            if frame.statusCode == .ok {
                call.continuation.resume(returning: ByteBuffer(bytes: frame.payload))
            } else {
                call.continuation.resume(throwing: RPCError(code: RPCError.Code(frame.statusCode), message: frame.statusMessage))
            }
        case .goaway:
            if frame.statusCode != .ok {
                let error = RPCError(code: RPCError.Code(frame.statusCode), message: "server closed the connection: \(frame.statusMessage)")
                failure = error
                markUnusable(error)
                failAll(error)
            } else {
                // Calls up to last_call_id will be answered; later ones were never started.
                markUnusable(RPCError(code: .unavailable, message: "the server is shutting down"))
                for id in pending.keys where id > frame.lastCallID {
                    if let call = pending.removeValue(forKey: id) {
                        call.continuation.resume(throwing: NotSent(error: RPCError(code: .unavailable, message: "the server is shutting down")))
                    }
                }
            }
        case .ping:
            write(context: context, try! FrameCodec.encode(Frame(callID: frame.callID, kind: .pong), allocator: context.channel.allocator))
        default:
            break
        }
    }

    var inFlight: Int { pending.count }

    private func markUnusable(_ error: RPCError) {
        guard refusal == nil else { return }
        refusal = error
        onUnusable?()
    }

    private func failAll(_ error: RPCError) {
        let calls = pending
        pending.removeAll()
        deadlines.cancel()
        for call in calls.values {
            call.continuation.resume(throwing: error)
        }
    }

    private func write(context: ChannelHandlerContext, _ buffer: ByteBuffer) {
        flusher.write(wrapOutboundOut(buffer), context: context)
    }
}

/// The cause of the errors a lost connection leaves its callers: which server, and why.
struct ConnectionLost: Error, CustomStringConvertible {
    let peer: String
    let underlying: (any Error)?
    var description: String { "connection to \(peer) " + (underlying.map { "failed: \($0)" } ?? "closed") }
}

/// A frame from the server that could not be decoded.
struct MalformedFrame: Error, CustomStringConvertible {
    let underlying: any Error
    var description: String { "malformed frame from server: \(underlying)" }
}

/// A call that never reached the server: safe to send again on another connection.
struct NotSent: Error {
    let error: RPCError
}
