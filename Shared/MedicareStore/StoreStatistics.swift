import Synchronization

/// Counters a store keeps about itself, for benchmarks, tests and logs.
public final class StoreStatistics: Sendable {
    private let commits = Atomic<Int>(0)
    private let transactions = Atomic<Int>(0)

    /// Counters at zero.
    public init() {}

    func recordCommit(transactions count: Int) {
        commits.add(1, ordering: .relaxed)
        transactions.add(count, ordering: .relaxed)
    }

    /// Durable commits (fsyncs of the log on SQLite).
    public var commitCount: Int { commits.load(ordering: .relaxed) }
    /// Transactions acknowledged by those commits.
    public var transactionCount: Int { transactions.load(ordering: .relaxed) }
}

import Metrics

extension Metrics.Timer {
    /// Records the time since `start`.
    public func record(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
