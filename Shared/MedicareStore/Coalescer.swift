import Metrics
import Synchronization

/// Runs concurrent requests together: a request joins a queue, and up to `runners` tasks each
/// take what has queued (up to `maxCount` requests, or `maxWeight` of their weights) and run
/// it as one batch, so that round trips, statements and commit flushes are paid per batch
/// rather than per request. This is what SQLite's writer does for concurrent writes, done
/// for PostgreSQL, where each statement is a round trip and each transaction a commit: the
/// settlement posting (several settlements in one transaction) and supervision's review
/// history (several persons' visits in one statement) use it. Under light load a request
/// finds a runner free and goes alone, without waiting for company.
///
/// A caller that goes away (its deadline passes, it is cancelled) is answered at once with
/// `CancellationError`; if its request was already taken it may still be run (a write must
/// therefore be safe to replay, as a settlement under its idempotency key is). One not yet
/// taken is never run.
public final class Coalescer<Request: Sendable, Response: Sendable>: Sendable {
    /// One request's outcome.
    public typealias Outcome = Result<Response, any Error>

    /// One request waiting for its answer; answered once (by its batch, or by cancellation),
    /// whichever comes first, even before its continuation is in place.
    private final class Waiter: Sendable {
        private struct Slot {
            var continuation: CheckedContinuation<Response, any Error>?
            /// The answer, once decided: delivered when the continuation arrives if it was not yet there.
            var outcome: Outcome?
        }

        let request: Request
        private let slot = Mutex(Slot())

        init(_ request: Request) { self.request = request }

        /// Puts the continuation in place; false when the request was answered before (it
        /// was cancelled): the continuation is resumed with that answer at once.
        func wait(_ continuation: CheckedContinuation<Response, any Error>) -> Bool {
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
            let continuation = slot.withLock { slot -> CheckedContinuation<Response, any Error>? in
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
        var running = 0
    }

    private let state = Mutex(State())
    private let batchSize: Recorder
    private let runners: Int
    private let maxCount: Int
    private let maxWeight: Int
    private let weight: @Sendable (Request) -> Int
    private let run: @Sendable ([Request]) async -> [Outcome]

    /// A coalescer that runs batches with `run` (one outcome per request, in order), at most
    /// `runners` at a time, each of at most `maxCount` requests and `maxWeight` of their
    /// `weight`s (a request heavier than that alone still goes, alone). `metric` names the
    /// recorder of requests per batch: near 1 under light load, growing with the queue.
    public init(
        metric: String, runners: Int, maxCount: Int, maxWeight: Int = .max, weight: @escaping @Sendable (Request) -> Int = { _ in 1 },
        run: @escaping @Sendable ([Request]) async -> [Outcome]
    ) {
        self.batchSize = Recorder(label: metric)
        self.runners = max(1, runners)
        self.maxCount = max(1, maxCount)
        self.maxWeight = maxWeight
        self.weight = weight
        self.run = run
    }

    /// Runs `request` with whatever else is waiting and answers its outcome.
    /// - Throws: what running it threw, or `CancellationError` when the caller went away.
    public func submit(_ request: Request) async throws -> Response {
        let waiter = Waiter(request)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                guard waiter.wait(continuation) else { return }
                let start = state.withLock { state -> Bool in
                    state.queue.append(waiter)
                    guard state.running < runners else { return false }
                    state.running += 1
                    return true
                }
                if start { Task { await self.drain() } }
            }
        } onCancel: {
            waiter.answer(.failure(CancellationError()))
        }
    }

    /// Takes batches until the queue is empty.
    private func drain() async {
        while let batch = next() {
            batchSize.record(batch.count)
            let outcomes = await run(batch.map(\.request))
            for (index, waiter) in batch.enumerated() {
                // A `run` that answered fewer outcomes than requests leaves none waiting.
                waiter.answer(index < outcomes.count ? outcomes[index] : .failure(CancellationError()))
            }
        }
    }

    /// The next batch, skipping requests whose callers went away; nil (and one runner less)
    /// when nothing waits.
    private func next() -> [Waiter]? {
        state.withLock { state -> [Waiter]? in
            var batch: [Waiter] = [], weights = 0, taken = 0
            for waiter in state.queue {
                if waiter.isAnswered { taken += 1; continue }
                let count = weight(waiter.request)
                if !batch.isEmpty, batch.count == maxCount || weights + count > maxWeight { break }
                batch.append(waiter)
                weights += count
                taken += 1
            }
            state.queue.removeFirst(taken)
            if batch.isEmpty { state.running -= 1; return nil }
            return batch
        }
    }
}
