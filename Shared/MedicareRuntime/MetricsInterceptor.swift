import Metrics
import MedicareRPC
import NIOCore

/// Counts calls by method and status, times them, and tracks calls in flight. Labels are
/// bounded: method names come from the router, codes from a fixed set.
public struct MetricsInterceptor: RPCInterceptor {
    private let inFlight = Meter(label: "medicare_rpc_in_flight")

    public init() {}

    public func intercept(
        _ request: ByteBuffer, context: CallContext, next: @Sendable (ByteBuffer, CallContext) async throws -> ByteBuffer
    ) async throws -> ByteBuffer {
        let start = ContinuousClock.now
        let method = context.method.fullName
        inFlight.increment()
        defer {
            inFlight.decrement()
            let elapsed = ContinuousClock.now - start
            Metrics.Timer(label: "medicare_rpc_duration_seconds", dimensions: [("method", method)])
                .recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        }
        do {
            let response = try await next(request, context)
            Counter(label: "medicare_rpc_calls_total", dimensions: [("method", method), ("code", "ok")]).increment()
            return response
        } catch {
            let code = RPCError(mapping: error).code.description
            Counter(label: "medicare_rpc_calls_total", dimensions: [("method", method), ("code", code)]).increment()
            throw error
        }
    }
}
