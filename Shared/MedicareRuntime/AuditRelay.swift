import Logging
import MedicareContracts
import MedicareRPC
import MedicareStore
import MedicareWire
import Metrics
import NIOCore
import Synchronization

/// Delivers an ``AuditOutbox`` to supervision: the records a decision (a settlement or
/// reversal, a designation change) wrote in its own transaction go, oldest first and many
/// per call, to `Supervision/RecordBatch`, and are deleted once supervision has appended them
/// to its chain; the signed checkpoint supervision answers with is kept beside them.
///
/// A decision and its audit record commit together, so none is ever made but unrecorded;
/// supervision receives it moments after the caller's answer instead of before it. A
/// redelivery (after a crash between delivery and delete, or by another replica over the
/// same PostgreSQL outbox) is answered with the link already made. Records supervision
/// rejects are set aside with its reason, counted and logged, never retried forever.
public final class AuditRelay: Sendable {
    let store: AuditOutbox
    let supervision: any RPCChannel
    let logger: Logger
    let batchLimit: Int
    /// The most bytes of records per call (at least one record goes), well under the 4 MiB
    /// frame limit: a batch of large claims must not become a call that can never be sent.
    let batchBytes: Int
    /// A record larger than this can never be sent (it would not fit a frame with its
    /// envelope): it is set aside at once, so that one poison record never stops the queue.
    let maxRecordBytes: Int
    /// After a batch was refused as a whole for something other than unavailability, records
    /// go one at a time until one is delivered, so that the culprit is found and set aside.
    private let singly = Atomic<Bool>(false)
    /// The newest checkpoint kept, so that each is written once.
    private let lastCheckpoint = Mutex<UInt64>(0)
    /// The least time between two passes: under a light load every posting would otherwise
    /// cost a pass of its own (a read, a call and a delete commit); waiting lets them gather.
    let pace: Duration
    /// At most one wake-up is kept: a burst of postings costs one pass, not one each.
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let relayed: Counter
    private let rejected: Counter
    private let deliveryTime: Metrics.Timer
    /// The outbox's span (oldest to newest row), refreshed every sweep: how far delivery lags.
    private let backlog: Gauge
    /// How long the oldest record of each delivered batch waited in the outbox before it was
    /// chained: the relay's lag behind the postings.
    private let lag: Metrics.Timer

    /// `service` names the metrics: `medicare_<service>_audit_relayed_total`,
    /// `_rejected_total`, `_delivery_seconds`, `_backlog`, `_lag_seconds`.
    public init(
        outbox: AuditOutbox, supervision: any RPCChannel, logger: Logger, service: String = "settlement", batchLimit: Int = 512,
        batchBytes: Int = 1 << 20, maxRecordBytes: Int = (4 << 20) - (64 << 10), pace: Duration = .milliseconds(50)
    ) {
        let store = outbox
        relayed = Counter(label: "medicare_\(service)_audit_relayed_total")
        rejected = Counter(label: "medicare_\(service)_audit_rejected_total")
        deliveryTime = Metrics.Timer(label: "medicare_\(service)_audit_delivery_seconds")
        backlog = Gauge(label: "medicare_\(service)_audit_backlog")
        lag = Metrics.Timer(label: "medicare_\(service)_audit_lag_seconds")
        self.maxRecordBytes = maxRecordBytes
        self.store = store
        self.supervision = supervision
        self.logger = logger
        self.batchLimit = batchLimit
        self.batchBytes = batchBytes
        self.pace = pace
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Something was posted: deliver soon.
    public func nudge() { wake.yield() }

    /// Delivers until cancelled: after every posting, and every `sweep` for records left
    /// by a crash or written by another replica.
    public func run(sweep: Duration = .seconds(1)) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [wake, store, backlog] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: sweep)
                    if let span = try? await store.span() { backlog.record(span) }
                    wake.yield()
                }
            }
            var failures = 0
            for await _ in wakeups {
                if Task.isCancelled { break }
                while !Task.isCancelled {
                    do {
                        let started = ContinuousClock.now
                        guard try await deliverOnce() else { break }
                        try? await Task.sleep(until: started + pace)
                        if failures > 0 { logger.notice("audit relay delivering again", metadata: ["relay.failures": "\(failures)"]) }
                        failures = 0
                    } catch {
                        failures += 1
                        if failures == 1 || failures.isMultiple(of: 50) {
                            logger.warning("audit relay cannot deliver; records wait in the outbox", metadata: [
                                "relay.failures": "\(failures)", "rpc.error": "\(error)",
                            ])
                        }
                        try? await Task.sleep(for: .milliseconds(min(5_000, 50 << min(failures, 7))))
                    }
                }
            }
            group.cancelAll()
        }
    }

    /// Delivers one batch; false when the outbox had nothing to deliver.
    public func deliverOnce() async throws -> Bool {
        let single = singly.load(ordering: .relaxed)
        let claimed = try await store.pending(limit: single ? 1 : batchLimit)
        guard !claimed.isEmpty else { return false }
        do {
            return try await deliver(claimed)
        } catch {
            // Nothing was delivered: the rows go back at once (their claim would lapse anyway).
            try? await store.release(claimed.map(\.seq))
            throw error
        }
    }

    /// Delivers claimed records (see ``deliverOnce()``); those left over (past the batch's
    /// byte bound) are released for the next round.
    private func deliver(_ claimed: [AuditOutbox.Pending]) async throws -> Bool {
        var pending = claimed
        let oversized = pending.filter { $0.record.count > maxRecordBytes }
        if !oversized.isEmpty {
            try await setAside(oversized.map { ($0.seq, "record of \($0.record.count) bytes exceeds the \(maxRecordBytes)-byte bound; it can never be delivered") })
            return true
        }
        var bytes = 0
        let fitting = pending.prefix { item in
            defer { bytes += item.record.count }
            return bytes == 0 || bytes + item.record.count <= batchBytes
        }
        pending = Array(fitting)
        if pending.count < claimed.count { try await store.release(claimed.dropFirst(pending.count).map(\.seq)) }
        let start = ContinuousClock.now
        // RecordBatchRequest is `repeated RecordRequest records = 1`, and each stored record
        // is an encoded RecordRequest: the request is their concatenation as field 1.
        var payload = ByteBuffer()
        payload.reserveCapacity(pending.reduce(0) { $0 + $1.record.count + 6 })
        for item in pending { payload.writeProtobufField(1, bytes: item.record) }
        let response: RecordBatchResponse
        do {
            let answer = try await supervision.call(SupervisionMethods.recordBatch, payload: payload, options: CallOptions(timeout: .seconds(10)))
            response = try RecordBatchResponse(decoding: answer)
        } catch {
            let mapped = RPCError(mapping: error)
            // Only a refusal of the content itself (a malformed record, or one too large to
            // send) narrows down to the record that causes it; anything else (supervision
            // away, slow, failing inside, or refusing this caller for now) is waited out: a
            // valid record is never set aside for a passing fault.
            guard mapped.code == .invalidArgument || mapped.code == .resourceExhausted else { throw error }
            if pending.count == 1 {
                try await setAside([(pending[0].seq, "the batch holding only this record was refused: \(mapped.code) \(mapped.message.prefix(200))")])
                singly.store(false, ordering: .relaxed)
                return true
            }
            singly.store(true, ordering: .relaxed)
            throw error
        }
        singly.store(false, ordering: .relaxed)
        var refused: [(seq: Int64, reason: String)] = []
        for rejection in response.rejected where Int(rejection.index) < pending.count {
            refused.append((pending[Int(rejection.index)].seq, rejection.reason))
            logger.error("supervision rejected an audit record; it is set aside in the outbox", metadata: [
                "relay.seq": "\(pending[Int(rejection.index)].seq)", "relay.reason": "\(rejection.reason)",
            ])
        }
        let refusedSeqs = Set(refused.map(\.seq))
        // A checkpoint newer than the last kept is kept with the delivery (outside supervision).
        let kept = lastCheckpoint.withLock { $0 }
        let checkpoint = response.checkpoint.flatMap { $0.seq > kept ? $0 : nil }
        try await store.delivered(pending.map(\.seq).filter { !refusedSeqs.contains($0) }, rejected: refused, checkpoint: checkpoint)
        // Only once it is written: a failed write keeps it due for the next delivery.
        if let checkpoint { lastCheckpoint.withLock { $0 = max($0, checkpoint.seq) } }
        relayed.increment(by: pending.count - refused.count)
        if !refused.isEmpty { rejected.increment(by: refused.count) }
        deliveryTime.record(since: start)
        if let oldest = pending.compactMap(\.createdMs).min() {
            lag.recordMilliseconds(max(0, AuditOutbox.nowMillis() - oldest))
        }
        return true
    }

    /// Sets records aside in the outbox with a reason, logged and counted: they stay for an
    /// operator (and ``AuditOutbox/backlog()``), never block the records after them.
    func setAside(_ records: [(seq: Int64, reason: String)]) async throws {
        for record in records {
            logger.error("audit record set aside in the outbox", metadata: ["relay.seq": "\(record.seq)", "relay.reason": "\(record.reason)"])
        }
        try await store.delivered([], rejected: records)
        rejected.increment(by: records.count)
    }
}
