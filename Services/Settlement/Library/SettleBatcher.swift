import MedicareWire
import Metrics
import Synchronization

/// Posts concurrent settle requests together on PostgreSQL, the way SQLite's writer commits
/// concurrent writes together: a request joins a queue, and up to `writers` tasks each take
/// what has queued (up to ``maxClaims`` claims or ``maxLines`` fee lines) and post it in one
/// transaction (``SettlementStore/post(_:_:)``), so that round trips, statements and
/// commit flushes are paid per batch rather than per settlement. Under light load a request
/// finds a writer free and goes alone, without waiting for company.
///
/// A caller that goes away (its deadline passes, it is cancelled) is answered at once with
/// `CancellationError`; if its request was already taken it may still be posted, and its
/// retry with the same key replays it. One not yet taken is never posted.
final class SettleBatcher: Sendable {
    /// Most claims in one transaction.
    static let maxClaims = 64
    /// Most fee lines in one transaction (a claim holds at most 500).
    static let maxLines = 2_000

    typealias Outcome = Result<SettlementResult, any Error>

    /// One request waiting for its answer; answered once (by its batch, or by cancellation),
    /// whichever comes first, even before its continuation is in place.
    private final class Waiter: Sendable {
        private struct Slot {
            var continuation: CheckedContinuation<SettlementResult, any Error>?
            /// The answer, once decided: delivered when the continuation arrives if it was not yet there.
            var outcome: Outcome?
        }

        let request: PendingSettle
        private let slot = Mutex(Slot())

        init(_ request: PendingSettle) { self.request = request }

        /// Puts the continuation in place; false when the request was answered before (it
        /// was cancelled): the continuation is resumed with that answer at once.
        func wait(_ continuation: CheckedContinuation<SettlementResult, any Error>) -> Bool {
            let early = slot.withLock { slot -> Outcome? in
                if slot.outcome == nil { slot.continuation = continuation }
                return slot.outcome
            }
            guard let early else { return true }
            continuation.resume(with: early)
            return false
        }

        var isAnswered: Bool { slot.withLock { $0.outcome != nil } }

        /// Answers once; later answers are ignored.
        func answer(_ outcome: Outcome) {
            let continuation = slot.withLock { slot -> CheckedContinuation<SettlementResult, any Error>? in
                guard slot.outcome == nil else { return nil }
                slot.outcome = outcome
                defer { slot.continuation = nil }
                return slot.continuation
            }
            continuation?.resume(with: outcome)
        }
    }

    private struct State {
        var queue: [Waiter] = []
        var writing = 0
    }

    private let state = Mutex(State())
    /// Claims per posting transaction (`medicare_settlement_batch_size`): how much the
    /// batching gathers; near 1 under light load, growing with the queue.
    private let batchSize = Recorder(label: "medicare_settlement_batch_size")
    private let writers: Int
    private let post: @Sendable ([PendingSettle]) async -> [Outcome]

    /// A batcher that posts with `post` (one outcome per request, in order), at most
    /// `writers` batches at a time.
    init(writers: Int, post: @escaping @Sendable ([PendingSettle]) async -> [Outcome]) {
        self.writers = max(1, writers)
        self.post = post
    }

    /// Posts `request` with whatever else is waiting and answers its outcome.
    /// - Throws: what posting it threw, or `CancellationError` when the caller went away.
    func submit(_ request: PendingSettle) async throws -> SettlementResult {
        let waiter = Waiter(request)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                guard waiter.wait(continuation) else { return }
                let start = state.withLock { state -> Bool in
                    state.queue.append(waiter)
                    guard state.writing < writers else { return false }
                    state.writing += 1
                    return true
                }
                if start { Task { await self.write() } }
            }
        } onCancel: {
            waiter.answer(.failure(CancellationError()))
        }
    }

    /// Takes batches until the queue is empty.
    private func write() async {
        while let batch = next() {
            batchSize.record(batch.count)
            let outcomes = await post(batch.map(\.request))
            for (waiter, outcome) in zip(batch, outcomes) { waiter.answer(outcome) }
        }
    }

    /// The next batch, skipping requests whose callers went away; nil (and one writer less)
    /// when nothing waits.
    private func next() -> [Waiter]? {
        state.withLock { state -> [Waiter]? in
            var batch: [Waiter] = [], lines = 0, taken = 0
            for waiter in state.queue {
                if waiter.isAnswered { taken += 1; continue }
                let count = waiter.request.claim.lines.count
                if !batch.isEmpty, batch.count == Self.maxClaims || lines + count > Self.maxLines { break }
                batch.append(waiter)
                lines += count
                taken += 1
            }
            state.queue.removeFirst(taken)
            if batch.isEmpty { state.writing -= 1; return nil }
            return batch
        }
    }
}
