public import MedicareContracts
public import MedicareRPC
public import MedicareWire

/// `medicare.v1.Echo`: answers with the request, after `delay_millis` (cancellable).
/// Used by connectivity checks, the transport's tests and rpc-bench.
public struct EchoProvider: EchoService {
    /// An echo service.
    public init() {}

    /// Returns the request unchanged after `delay_millis` milliseconds (none when 0).
    /// - Throws: `CancellationError` when the call is cancelled (deadline, drain) during the delay.
    public func echo(_ request: EchoMessage, context: CallContext) async throws -> EchoMessage {
        if request.delayMillis > 0 {
            try await Task.sleep(for: .milliseconds(Int64(request.delayMillis)))
        }
        return request
    }
}
