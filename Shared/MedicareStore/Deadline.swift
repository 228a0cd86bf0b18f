import Synchronization

/// The operation's result, or the error `expired` makes once `bound` has passed. An
/// abandoned operation is cancelled and left to end on its own: the caller does not wait for
/// it (a statement on a connection the server dropped, or a SQLite read queued behind a
/// stuck writer, may not notice cancellation). Cancelling the caller cancels both.
public func withinDeadline<T: Sendable>(
    _ bound: Duration, orThrow expired: @escaping @Sendable () -> any Error, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let outcome = OnceOutcome<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let work = Task {
                do { outcome.finish(.success(try await operation()), continuation) } catch { outcome.finish(.failure(error), continuation) }
            }
            let timer = Task {
                try? await Task.sleep(for: bound)
                guard !Task.isCancelled else { return }
                outcome.finish(.failure(expired()), continuation)
            }
            outcome.track([work, timer])
        }
    } onCancel: {
        outcome.cancel()
    }
}

/// The first of an operation's result and its timeout, delivered once; the tasks that race
/// for it are cancelled as soon as it is decided or the caller is cancelled.
final class OnceOutcome<T: Sendable>: Sendable {
    private struct State {
        var done = false
        var cancelled = false
        var tasks: [Task<Void, Never>] = []
    }
    private let state = Mutex(State())

    /// Resumes `continuation` with `result` unless an outcome was delivered already.
    func finish(_ result: Result<T, any Error>, _ continuation: CheckedContinuation<T, any Error>) {
        let tasks = state.withLock { state -> [Task<Void, Never>]? in
            guard !state.done else { return nil }
            state.done = true
            return state.tasks
        }
        guard let tasks else { return }
        continuation.resume(with: result)
        for task in tasks { task.cancel() }
    }

    /// The tasks to cancel when the outcome is decided or the caller is cancelled; at once if
    /// either happened already.
    func track(_ tasks: [Task<Void, Never>]) {
        let now = state.withLock { state -> Bool in
            if state.done || state.cancelled { return true }
            state.tasks = tasks
            return false
        }
        if now { for task in tasks { task.cancel() } }
    }

    /// The caller was cancelled.
    func cancel() {
        let tasks = state.withLock { state -> [Task<Void, Never>] in
            state.cancelled = true
            return state.tasks
        }
        for task in tasks { task.cancel() }
    }
}
