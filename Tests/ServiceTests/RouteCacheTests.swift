@testable import GatewayService
import MedicareContracts
import MedicareWire
import Testing

@Suite struct RouteCacheTests {
    let key = RouteCache.Key(clinic: "H33080200101", date: "2024-06-01")
    let route = SettlementRoute(canSettle: true, settleVia: "H33080200001", mode: .integrated, designationStatus: .designated)

    @Test func aRouteIsReusedUntilItExpires() {
        let cache = RouteCache(ttl: .seconds(1))
        let start = ContinuousClock.now
        let (missing, generation, _) = cache.lookup(key, now: start)
        #expect(missing == nil)
        cache.store(route, for: key, generation: generation, now: start)
        #expect(cache.lookup(key, now: start + .milliseconds(999)).route == route)
        #expect(cache.lookup(key, now: start + .seconds(1)).route == nil)
        #expect(cache.count == 0)
    }

    @Test func aRouteInTheSecondHalfOfItsLifeIsAnsweredAndRefreshedByOneLookup() {
        let cache = RouteCache(ttl: .seconds(1))
        let start = ContinuousClock.now
        cache.store(route, for: key, generation: cache.lookup(key, now: start).generation, now: start)
        #expect(cache.lookup(key, now: start + .milliseconds(499)).refresh == false)
        let due = cache.lookup(key, now: start + .milliseconds(500))
        #expect(due.route == route && due.refresh)
        // Others meanwhile are answered without a second refresh.
        let other = cache.lookup(key, now: start + .milliseconds(950))
        #expect(other.route == route && !other.refresh)
        // The refreshed route lives a whole TTL from its fetch; the old one never outlives its own.
        cache.store(route, for: key, generation: due.generation, now: start + .milliseconds(960))
        #expect(cache.lookup(key, now: start + .milliseconds(1_900)).route == route)
        #expect(cache.lookup(key, now: start + .milliseconds(1_960)).route == nil)
    }

    @Test func aRegistryWriteForgetsRoutesAndOneResolvedDuringItIsNotKept() {
        let cache = RouteCache(ttl: .seconds(60))
        cache.store(route, for: key, generation: cache.lookup(key).generation)
        let before = cache.lookup(RouteCache.Key(clinic: "H33080200102", date: "2024-06-01")).generation
        cache.invalidate()
        #expect(cache.lookup(key).route == nil)
        // Resolved before the write finished: possibly stale, so not kept.
        cache.store(route, for: key, generation: before)
        #expect(cache.lookup(key).route == nil)
    }

    @Test func onlyRegistryWritesInvalidate() {
        #expect(RegistryMethods.changeDesignation.policy.invalidatesRoutes)
        #expect(RegistryMethods.importInstitutions.policy.invalidatesRoutes)
        #expect(!RegistryMethods.resolveSettlementRoute.policy.invalidatesRoutes)
        #expect(!RegistryMethods.getCoverage.policy.invalidatesRoutes)
        #expect(!SettlementMethods.settle.policy.invalidatesRoutes)
    }

    @Test func aZeroTTLKeepsNothing() {
        let cache = RouteCache(ttl: .zero)
        cache.store(route, for: key, generation: cache.lookup(key).generation)
        #expect(!cache.isEnabled && cache.count == 0)
    }
}
