import NIOCore

/// Expires a connection's calls at their deadlines with one timer for the connection instead
/// of one per call. Calls almost always finish long before their deadline, and scheduling
/// then cancelling a timer for each cost the gateway about 4% of its CPU.
///
/// The timer is armed at the earliest deadline known; when it fires, the owner expires what
/// is due and re-arms at the earliest deadline left. Confined to the connection's event loop.
struct DeadlineSweep {
    private var timer: Scheduled<Void>?
    private var armedAt: NIODeadline?

    /// Makes sure the sweep runs no later than `deadline`.
    mutating func cover(_ deadline: NIODeadline, on loop: any EventLoop, sweep: @escaping @Sendable () -> Void) {
        if let armedAt, armedAt <= deadline { return }
        timer?.cancel()
        armedAt = deadline
        timer = loop.scheduleTask(deadline: deadline, sweep)
    }

    /// Called when the timer fires, with the connection's calls and their deadlines: the
    /// calls now due, and the earliest deadline left (for the owner to `cover` again).
    mutating func fired<Calls: Sequence>(_ calls: Calls) -> (due: [UInt64], next: NIODeadline?)
    where Calls.Element == (UInt64, NIODeadline?) {
        timer = nil
        armedAt = nil
        let now = NIODeadline.now()
        var due: [UInt64] = []
        var next: NIODeadline?
        for (id, deadline) in calls {
            guard let deadline else { continue }
            if deadline <= now { due.append(id) } else if next.map({ deadline < $0 }) ?? true { next = deadline }
        }
        return (due, next)
    }

    mutating func cancel() {
        timer?.cancel()
        timer = nil
        armedAt = nil
    }
}
