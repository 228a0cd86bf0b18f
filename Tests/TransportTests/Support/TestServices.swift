import MedicareContracts
import MedicareRPC
import MedicareWire
import NIOPosix
import Synchronization

/// Observes what happened to handlers on the server side.
final class HandlerProbe: Sendable {
    private let state = Mutex<(started: Int, cancelled: Int, finished: Int, peers: [PeerIdentity], metadata: [Metadata], onLoop: [Bool])>(
        (0, 0, 0, [], [], [])
    )

    var started: Int { state.withLock { $0.started } }
    var cancelled: Int { state.withLock { $0.cancelled } }
    var finished: Int { state.withLock { $0.finished } }
    var peers: [PeerIdentity] { state.withLock { $0.peers } }
    var metadata: [Metadata] { state.withLock { $0.metadata } }
    /// Whether each call's handler ran on an event loop.
    var onLoop: [Bool] { state.withLock { $0.onLoop } }

    func record(_ context: CallContext) {
        state.withLock {
            $0.started += 1
            $0.peers.append(context.peer)
            $0.metadata.append(context.metadata)
            $0.onLoop.append(MultiThreadedEventLoopGroup.currentEventLoop != nil)
        }
    }
    func cancel() { state.withLock { $0.cancelled += 1 } }
    func finish() { state.withLock { $0.finished += 1 } }

    /// Waits (briefly) until `condition` holds.
    func eventually(_ condition: (HandlerProbe) -> Bool) async -> Bool {
        for _ in 0..<200 {
            if condition(self) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition(self)
    }
}

/// An echo that records its calls, sleeps `delay_millis` and notices cancellation; text
/// "fail" throws an error whose description must never reach the peer.
struct ProbedEcho: EchoService {
    let probe: HandlerProbe

    struct Secret: Error, CustomStringConvertible {
        var description: String { "SELECT * FROM settlements -- /var/lib/medicare/settlement.sqlite" }
    }

    func echo(_ request: EchoMessage, context: CallContext) async throws -> EchoMessage {
        probe.record(context)
        if request.text == "fail" { throw Secret() }
        if request.text == "refuse" { throw RPCError(code: .failedPrecondition, message: "clinic H33080200101 is suspended") }
        if request.delayMillis > 0 {
            do {
                try await Task.sleep(for: .milliseconds(Int64(request.delayMillis)))
            } catch {
                probe.cancel()
                throw error
            }
        }
        probe.finish()
        return request
    }
}
