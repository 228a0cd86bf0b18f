import MedicareContracts
import MedicareWire
import Synchronization

/// Settlement routes recently resolved by the registry, so that a busy clinic's claims do not
/// each cost a registry round trip.
///
/// Freshness: every registry write that passes through this gateway (a method whose policy
/// says `invalidates_routes`: import, designation change, divisions) empties the cache when it completes, and a route resolved while such
/// a write was in flight is not kept. A write made through another gateway replica is seen
/// here once the entry expires (`ttl`). A zero `ttl` turns the cache off.
///
/// Refresh ahead: in the second half of an entry's `ttl`, the next lookup still answers it
/// and is told to fetch it again in the background (one lookup per entry), so that a clinic
/// that keeps settling keeps a fresh entry and its claims do not wait on the registry when the
/// entry would have expired. No route is answered older than `ttl`. (A window of the last
/// tenth left a third of a demo clinic's entries, at 11 claims/s each, to expire unasked and
/// their next claim to wait on the registry; half the life costs at most one registry lookup
/// per busy entry every `ttl / 2`.)
final class RouteCache: Sendable {
    struct Key: Hashable, Sendable {
        let clinic: String
        let date: String
    }

    private struct Entry {
        let route: SettlementRoute
        let expires: ContinuousClock.Instant
        /// From when a lookup asks for a refresh.
        let refreshFrom: ContinuousClock.Instant
        var refreshing = false
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var generation: UInt64 = 0
    }

    let ttl: Duration
    let capacity: Int
    private let state = Mutex(State())

    init(ttl: Duration, capacity: Int = 100_000) {
        self.ttl = ttl
        self.capacity = capacity
    }

    var isEnabled: Bool { ttl > .zero }

    /// A fresh route, or the generation to hand back to `store` with the route fetched
    /// instead; `refresh` is true for the one lookup that should fetch a route in the second half of its
    /// life again (and `store` it under `generation`) while the cached one is answered.
    func lookup(_ key: Key, now: ContinuousClock.Instant = .now) -> (route: SettlementRoute?, generation: UInt64, refresh: Bool) {
        state.withLock { state in
            if var entry = state.entries[key] {
                if entry.expires > now {
                    guard now >= entry.refreshFrom, !entry.refreshing else { return (entry.route, state.generation, false) }
                    entry.refreshing = true
                    state.entries[key] = entry
                    return (entry.route, state.generation, true)
                }
                state.entries[key] = nil
            }
            return (nil, state.generation, false)
        }
    }

    /// Keeps a route fetched since `lookup` returned `generation`, unless a registry write
    /// completed in between.
    func store(_ route: SettlementRoute, for key: Key, generation: UInt64, now: ContinuousClock.Instant = .now) {
        guard isEnabled else { return }
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
            state.entries[key] = Entry(route: route, expires: now + ttl, refreshFrom: now + ttl / 2)
        }
    }

    /// Forgets every route: called after any registry write.
    func invalidate() {
        state.withLock { state in
            state.generation &+= 1
            state.entries.removeAll(keepingCapacity: true)
        }
    }

    var count: Int { state.withLock { $0.entries.count } }
}
