import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareStore
import MedicareWire
import Metrics

/// medicare.v1.Gateway: the composite operations.
public struct GatewayProvider: GatewayService {
    let access: AccessTable
    let registry: RegistryClient
    let settlement: SettlementClient
    let settlementReports: SettlementReportsClient
    let supervision: SupervisionClient
    let supervisionReports: SupervisionReportsClient
    let routes: RouteCache
    /// Where a composite settle spends its time: the parallel checks, then the settle.
    let checksTime = Metrics.Timer(label: "medicare_gateway_settle_stage_seconds", dimensions: [("stage", "checks")])
    let settleTime = Metrics.Timer(label: "medicare_gateway_settle_stage_seconds", dimensions: [("stage", "settle")])

    init(access: AccessTable, registry: any RPCChannel, settlement: any RPCChannel, supervision: any RPCChannel, routes: RouteCache) {
        self.access = access
        self.routes = routes
        self.registry = RegistryClient(registry)
        self.settlement = SettlementClient(settlement)
        self.settlementReports = SettlementReportsClient(settlement)
        self.supervision = SupervisionClient(supervision)
        self.supervisionReports = SupervisionReportsClient(supervision)
    }

    /// Route (registry) and review (supervision) in parallel, then settle. Fails closed: if
    /// either check cannot answer, nothing is posted. The audit record is not a call here:
    /// settlement writes it with the posting and its relay delivers it to supervision.
    public func settle(_ request: GatewaySettleRequest, context: CallContext) async throws -> GatewaySettleResponse {
        let scope = try access.authorize(context.peer, GatewayMethods.settle.fullName)
        guard var claim = request.claim else { throw DomainError(field: "claim", "is required") }
        _ = try InstitutionCode(claim.fixmedinsCode, field: "claim.fixmedins_code")
        let key = context.idempotencyKey
        if !request.preSettle, key?.isEmpty ?? true {
            throw DomainError(field: "idempotency-key", "metadata 'idempotency-key' is required so that a retry is not posted twice")
        }
        if scope == .institution, context.peer.role == PeerIdentity.Role.clinic, claim.fixmedinsCode != context.peer.commonName {
            throw RPCError(code: .permissionDenied, message: "clinic \(context.peer.commonName) may settle only its own claims")
        }
        let downstream = CallOptions.propagating(context)
        let submitted = claim
        async let routeResult = Self.attempt { try await self.route(clinic: submitted.fixmedinsCode, date: submitted.visitDate, options: downstream) }
        async let reviewResult = Self.attempt { try await supervision.review(ReviewRequest(claim: submitted), options: downstream) }
        let checksStart = ContinuousClock.now
        let (route, review) = await (routeResult, reviewResult)
        checksTime.record(since: checksStart)

        let settledRoute: SettlementRoute
        switch route {
        case .success(let value): settledRoute = value
        case .failure(let error) where error.code == .invalidArgument || error.code == .notFound: throw error
        case .failure(let error):
            throw RPCError(code: .unavailable, message: "cannot settle now: the registry did not answer (\(error.code)); nothing was posted", cause: error)
        }
        let reviewed: ReviewResponse
        switch review {
        case .success(let value): reviewed = value
        case .failure(let error) where error.code == .invalidArgument: throw error
        case .failure(let error):
            throw RPCError(code: .unavailable, message: "cannot settle now: supervision did not answer (\(error.code)); nothing was posted", cause: error)
        }
        if scope == .institution, context.peer.role == PeerIdentity.Role.townshipCentre,
           claim.fixmedinsCode != context.peer.commonName, settledRoute.settleVia != context.peer.commonName {
            throw RPCError(code: .permissionDenied, message: "township centre \(context.peer.commonName) does not settle for \(claim.fixmedinsCode)")
        }
        guard settledRoute.canSettle else {
            throw RPCError(code: .failedPrecondition, message: "cannot settle at \(claim.fixmedinsCode): \(settledRoute.refusal)")
        }
        guard reviewed.verdict != "block" else {
            let reasons = reviewed.findings.filter { $0.verdict == "block" }.map { "\($0.ruleID) \($0.evidence)" }.joined(separator: "; ")
            throw RPCError(code: .failedPrecondition, message: "claim blocked by review: \(reasons)")
        }
        claim.settleVia = settledRoute.settleVia
        if request.preSettle {
            let result = try await settlement.preSettle(SettleRequest(claim: claim), options: downstream)
            return GatewaySettleResponse(settlement: result, route: settledRoute, review: reviewed)
        }
        var options = downstream
        options.metadata[Metadata.idempotencyKey] = key
        let settleStart = ContinuousClock.now
        let result = try await settlement.settle(SettleRequest(claim: claim), options: options)
        settleTime.record(since: settleStart)
        return GatewaySettleResponse(settlement: result, route: settledRoute, review: reviewed)
    }

    /// The registry's route for a clinic on a day, from the cache when it is fresh (a cache
    /// with no TTL holds nothing, so every call asks the registry).
    func route(clinic: String, date: String, options: CallOptions) async throws -> SettlementRoute {
        let key = RouteCache.Key(clinic: clinic, date: date)
        let (cached, generation) = routes.lookup(key)
        if let cached { return cached }
        let route = try await registry.resolveSettlementRoute(ResolveSettlementRouteRequest(clinicCode: clinic, onDate: date), options: options)
        routes.store(route, for: key, generation: generation)
        return route
    }

    public func reverse(_ request: GatewayReverseRequest, context: CallContext) async throws -> ReverseResponse {
        let scope = try access.authorize(context.peer, GatewayMethods.reverse.fullName)
        guard let key = context.idempotencyKey, !key.isEmpty else {
            throw DomainError(field: "idempotency-key", "metadata 'idempotency-key' is required so that a retry is not posted twice")
        }
        let downstream = CallOptions.propagating(context)
        if scope == .institution {
            let original = try await settlement.getSettlement(GetSettlementRequest(setlID: request.setlID), options: downstream)
            guard original.fixmedinsCode == context.peer.commonName || original.settleVia == context.peer.commonName else {
                throw RPCError(code: .permissionDenied, message: "\(context.peer.commonName) may reverse only its own settlements")
            }
        }
        var options = downstream
        options.metadata[Metadata.idempotencyKey] = key
        return try await settlement.reverse(ReverseRequest(setlID: request.setlID, reason: request.reason), options: options)
    }

    public func getInstitutionProfile(_ request: InstitutionProfileRequest, context: CallContext) async throws -> InstitutionProfile {
        let scope = try access.authorize(context.peer, GatewayMethods.getInstitutionProfile.fullName)
        let code = try InstitutionCode(request.code, field: "code")
        let date = request.date.isEmpty ? Self.today() : try CivilDate(request.date, field: "date").description
        let county = String(code.value.dropFirst().prefix(6))
        if scope == .region { try RegionScope.institution(code.value, "code", region: context.peer.region) }
        let options = CallOptions.propagating(context)
        async let institution = Self.attempt { try await registry.getInstitution(GetInstitutionRequest(code: code.value), options: options) }
        async let totals = Self.attempt { try await settlementReports.getDayTotals(DayTotalsRequest(institution: code.value, date: date), options: options) }
        async let reviews = Self.attempt { try await supervisionReports.getReviewStats(ReviewStatsRequest(region: county, date: date), options: options) }
        let (i, t, r) = await (institution, totals, reviews)
        if scope == .institution, case .success(let found) = i,
           code.value != context.peer.commonName, found.record?.parentCode != context.peer.commonName {
            throw RPCError(code: .permissionDenied, message: "\(context.peer.commonName) may see only itself and its clinics")
        }
        if case .failure(let error) = i, error.code == .notFound { throw error }
        return InstitutionProfile(
            institution: try? i.get(), totals: try? t.get(), reviews: try? r.get(),
            sources: [Self.status("registry", i), Self.status("settlement", t), Self.status("supervision", r)]
        )
    }

    public func getRegionDashboard(_ request: RegionDashboardRequest, context: CallContext) async throws -> RegionDashboard {
        let scope = try access.authorize(context.peer, GatewayMethods.getRegionDashboard.fullName)
        let region = try DivisionCode.validatePrefix(request.region)
        if scope == .region { try RegionScope.inside(region, "region", region: context.peer.region) }
        let date = request.date.isEmpty ? Self.today() : try CivilDate(request.date, field: "date").description
        let county = String(region.prefix(6))
        let options = CallOptions.propagating(context)
        async let coverage = Self.attempt { try await registry.getCoverage(CoverageRequest(region: region, maxGaps: 20), options: options) }
        async let totals = Self.attempt { try await settlementReports.getDayTotals(DayTotalsRequest(region: county, date: date), options: options) }
        async let reviews = Self.attempt { try await supervisionReports.getReviewStats(ReviewStatsRequest(region: county, date: date), options: options) }
        let (c, t, r) = await (coverage, totals, reviews)
        return RegionDashboard(
            coverage: try? c.get(), totals: try? t.get(), reviews: try? r.get(),
            sources: [Self.status("registry", c), Self.status("settlement", t), Self.status("supervision", r)]
        )
    }

    // MARK: helpers

    static func attempt<T: Sendable>(_ body: @Sendable () async throws -> T) async -> Result<T, RPCError> {
        do { return .success(try await body()) } catch { return .failure(RPCError(mapping: error)) }
    }

    static func status<T>(_ source: String, _ result: Result<T, RPCError>) -> SourceStatus {
        switch result {
        case .success: SourceStatus(source: source, code: "ok")
        case .failure(let error): SourceStatus(source: source, code: error.code.description, message: error.message)
        }
    }

    static func today() -> String { String(Date().formatted(.iso8601).prefix(10)) }
}
