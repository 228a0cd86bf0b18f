import NIOCore
import Synchronization

/// Items handed to an event loop from other threads, delivered in batches: only the first
/// item of a batch schedules a hop to the loop, so that many calls finishing (or starting)
/// together cost one wake-up of the loop instead of one each.
final class LoopInbox<Item: Sendable>: Sendable {
    private let state = Mutex<(items: [Item], scheduled: Bool)>(([], false))

    /// Adds an item; runs `deliver` on `eventLoop` with the batch if none is scheduled yet.
    func push(_ item: Item, on eventLoop: any EventLoop, deliver: @escaping @Sendable ([Item]) -> Void) {
        let schedule = state.withLock { state -> Bool in
            state.items.append(item)
            defer { state.scheduled = true }
            return !state.scheduled
        }
        guard schedule else { return }
        eventLoop.execute {
            let batch = self.state.withLock { state -> [Item] in
                state.scheduled = false
                defer { state.items.removeAll(keepingCapacity: true) }
                return state.items
            }
            deliver(batch)
        }
    }
}
