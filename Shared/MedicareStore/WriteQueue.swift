import Synchronization

/// Writes waiting for the single writer, taken in batches.
final class WriteQueue: Sendable {
    struct Job: Sendable {
        let body: @Sendable (any SQLTransaction) async throws -> any Sendable
        let continuation: CheckedContinuation<any Sendable, any Error>
    }

    private struct State {
        var jobs: [Job] = []
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
    }

    private let state = Mutex(State())

    /// Queues a job; false when the queue is finished (the store is closing).
    func submit(_ job: Job) -> Bool {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>?? in
            guard !state.finished else { return .none }
            state.jobs.append(job)
            defer { state.waiter = nil }
            return .some(state.waiter)
        }
        guard let waiter else { return false }
        waiter?.resume()
        return true
    }

    /// Up to `max` jobs, waiting for the first; nil once finished and empty.
    func nextBatch(max: Int) async -> [Job]? {
        while true {
            enum Next { case batch([Job]), done, wait }
            let next = state.withLock { state -> Next in
                if !state.jobs.isEmpty {
                    let count = min(max, state.jobs.count)
                    let batch = Array(state.jobs.prefix(count))
                    state.jobs.removeFirst(count)
                    return .batch(batch)
                }
                return state.finished ? .done : .wait
            }
            switch next {
            case .batch(let batch): return batch
            case .done: return nil
            case .wait:
                await withCheckedContinuation { continuation in
                    let resumeNow = state.withLock { state -> Bool in
                        if !state.jobs.isEmpty || state.finished { return true }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }
    }

    /// No more jobs are accepted; those queued still run.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Fails everything still queued (the writer is gone).
    func failRemaining(_ error: any Error) {
        let jobs = state.withLock { state -> [Job] in
            state.finished = true
            defer { state.jobs = [] }
            return state.jobs
        }
        for job in jobs { job.continuation.resume(throwing: error) }
    }
}
