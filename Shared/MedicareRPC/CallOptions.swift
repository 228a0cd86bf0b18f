/// Per-call settings on the client side.
public struct CallOptions: Sendable {
    /// How long the caller will wait; also sent to the server, which stops at the same moment.
    public var timeout: Duration?
    /// A deadline inherited from an incoming call; the earlier of this and `timeout` wins.
    public var deadline: ContinuousClock.Instant?
    /// Metadata sent with the call (`trace-id`, `idempotency-key`, `acting-caller`).
    public var metadata: Metadata

    /// Makes options; with neither `timeout` nor `deadline` the call has no deadline.
    public init(timeout: Duration? = nil, deadline: ContinuousClock.Instant? = nil, metadata: Metadata = Metadata()) {
        self.timeout = timeout
        self.deadline = deadline
        self.metadata = metadata
    }

    /// Options for a downstream call made while serving `context`: its deadline, trace id and
    /// acting caller (``CallContext/actor``, so that the service called records who acted)
    /// carry over.
    public static func propagating(_ context: CallContext, timeout: Duration? = nil) -> CallOptions {
        var metadata = Metadata()
        if let trace = context.metadata[Metadata.traceID] { metadata[Metadata.traceID] = trace }
        metadata[Metadata.actingCaller] = context.actor.actingCallerValue
        return CallOptions(timeout: timeout, deadline: context.deadline, metadata: metadata)
    }

    /// The effective deadline, measured from `now`.
    public func effectiveDeadline(now: ContinuousClock.Instant = .now) -> ContinuousClock.Instant? {
        let fromTimeout = timeout.map { now + $0 }
        switch (fromTimeout, deadline) {
        case (let a?, let b?): return min(a, b)
        case (let a?, nil): return a
        case (nil, let b?): return b
        case (nil, nil): return nil
        }
    }
}
