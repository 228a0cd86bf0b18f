import MedicareRPC
import MedicareWire
import NIOCore
import Synchronization

/// One established, authenticated connection: many calls multiplexed on it.
final class ClientConnection: Sendable {
    let channel: any Channel
    private let handler: NIOLoopBound<ClientConnectionHandler>
    private let unusable = Atomic<Bool>(false)
    private let submissions = LoopInbox<Submission>()

    private struct Submission: Sendable {
        let id: UInt64
        let request: ByteBuffer
        let deadline: NIODeadline?
        let cancelled: CancellationFlag
        let continuation: CheckedContinuation<ByteBuffer, any Error>
    }

    init(channel: any Channel, handler: NIOLoopBound<ClientConnectionHandler>) {
        self.channel = channel
        self.handler = handler
    }

    var isUsable: Bool { !unusable.load(ordering: .acquiring) && channel.isActive }

    func markUnusable() { unusable.store(true, ordering: .releasing) }

    /// Throws `RPCError`, or `NotSent` when the request provably never reached the server.
    func call(id: UInt64, method: MethodDescriptor, payload: ByteBuffer, options: CallOptions, maxFrameSize: Int) async throws -> ByteBuffer {
        var frame = Frame(callID: id, kind: .request, method: method.fullName, metadata: options.metadata.wire)
        frame.payload = Array(payload.readableBytesView)
        var deadline: NIODeadline?
        if let instant = options.effectiveDeadline() {
            let remaining = (instant - .now).nanoseconds
            guard remaining > 0 else { throw RPCError(code: .deadlineExceeded, message: "deadline exceeded before the call was sent") }
            frame.timeoutMicros = UInt64(max(1, remaining / 1000))
            deadline = .now() + .nanoseconds(remaining)
        }
        let request: ByteBuffer
        do {
            request = try FrameCodec.encode(frame, allocator: channel.allocator)
        } catch {
            throw RPCError(code: .invalidArgument, message: "request: \(error)", cause: error)
        }
        guard request.readableBytes - 4 <= maxFrameSize else {
            throw RPCError(code: .resourceExhausted, message: "request of \(request.readableBytes - 4) bytes exceeds the frame limit of \(maxFrameSize) bytes")
        }
        let handler = self.handler
        let eventLoop = channel.eventLoop
        let sendDeadline = deadline
        let flag = CancellationFlag()
        let submissions = self.submissions
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let submission = Submission(id: id, request: request, deadline: sendDeadline, cancelled: flag, continuation: continuation)
                submissions.push(submission, on: eventLoop) { batch in
                    for s in batch {
                        handler.value.start(id: s.id, request: s.request, deadline: s.deadline, cancelled: s.cancelled, continuation: s.continuation)
                    }
                }
            }
        } onCancel: {
            flag.set()
            eventLoop.execute { handler.value.abandon(id, RPCError(code: .cancelled, message: "the call was cancelled")) }
        }
    }
}
