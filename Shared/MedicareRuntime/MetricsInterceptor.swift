import Metrics
import MedicareRPC
import NIOCore
import Synchronization

/// Counts calls by method and status, times them, and tracks calls in flight. Labels are
/// bounded: method names come from the router, codes from a fixed set. Metric handles are
/// made once per (method, code) and reused.
public struct MetricsInterceptor: RPCInterceptor {
    private let inFlight = Meter(label: "medicare_rpc_in_flight")
    private let handles = Handles()

    final class Handles: Sendable {
        private let timers = Mutex<[String: Metrics.Timer]>([:])
        private let counters = Mutex<[String: Counter]>([:])

        func timer(_ method: String) -> Metrics.Timer {
            timers.withLock { timers in
                if let timer = timers[method] { return timer }
                let timer = Metrics.Timer(label: "medicare_rpc_duration_seconds", dimensions: [("method", method)])
                timers[method] = timer
                return timer
            }
        }

        func counter(_ method: String, _ code: String) -> Counter {
            counters.withLock { counters in
                let key = method + "|" + code
                if let counter = counters[key] { return counter }
                let counter = Counter(label: "medicare_rpc_calls_total", dimensions: [("method", method), ("code", code)])
                counters[key] = counter
                return counter
            }
        }
    }

    /// An interceptor with its own handle caches (metrics go to the bootstrapped metrics system).
    public init() {}

    /// Runs the call, counting it in `medicare_rpc_calls_total{method,code}` (`ok` or the mapped
    /// status), timing it in `medicare_rpc_duration_seconds{method}` and tracking it in
    /// `medicare_rpc_in_flight`; rethrows the call's error unchanged.
    public func intercept(
        _ request: ByteBuffer, context: CallContext, next: @Sendable (ByteBuffer, CallContext) async throws -> ByteBuffer
    ) async throws -> ByteBuffer {
        let start = ContinuousClock.now
        let method = context.method.fullName
        inFlight.increment()
        defer {
            inFlight.decrement()
            let elapsed = ContinuousClock.now - start
            handles.timer(method).recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        }
        do {
            let response = try await next(request, context)
            handles.counter(method, "ok").increment()
            return response
        } catch {
            handles.counter(method, RPCError(mapping: error).code.description).increment()
            throw error
        }
    }
}
