import Metrics
import Synchronization

/// One counter family's counters by label values, made once each: a call on a hot path (a
/// settle, a review) increments a kept counter instead of asking the metrics factory for one
/// (a lookup under its lock and new label strings every time). The label values must be
/// bounded (counties, rules, codes), never persons or visits.
public final class CounterFamily: Sendable {
    public let label: String
    public let dimensions: [String]
    private let counters = Mutex<[[String]: Counter]>([:])

    /// A family `label` with label names `dimensions` (in the order values are given).
    public init(_ label: String, dimensions: [String] = []) {
        self.label = label
        self.dimensions = dimensions
    }

    /// Adds `amount` to the counter of `values` (one per dimension).
    public func increment(_ values: String..., by amount: Int64 = 1) {
        precondition(values.count == dimensions.count, "\(label): \(dimensions.count) label values expected")
        let counter = counters.withLock { counters in
            if let found = counters[values] { return found }
            let made = Counter(label: label, dimensions: Array(zip(dimensions, values)))
            counters[values] = made
            return made
        }
        counter.increment(by: amount)
    }
}
