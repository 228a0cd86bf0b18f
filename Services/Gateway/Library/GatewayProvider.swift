import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareStore
import MedicareWire
import Metrics

/// medicare.v1.Gateway: the composite operations. Each runs behind ``GatewayAccess``, which
/// authorized the call and put the caller's granted scope in the context.
public struct GatewayProvider: GatewayService {
    let registry: RegistryClient
    let settlement: SettlementClient
    let settlementReports: SettlementReportsClient
    let supervision: SupervisionClient
    let supervisionReports: SupervisionReportsClient
    let routes: RouteCache
    let visitClaims: VisitClaims
    /// Where a composite settle spends its time: the parallel checks, then the settle.
    let checksTime = Metrics.Timer(label: "medicare_gateway_settle_stage_seconds", dimensions: [("stage", "checks")])
    let settleTime = Metrics.Timer(label: "medicare_gateway_settle_stage_seconds", dimensions: [("stage", "settle")])

    init(registry: any RPCChannel, settlement: any RPCChannel, supervision: any RPCChannel, routes: RouteCache, visitClaims: VisitClaims) {
        self.routes = routes
        self.visitClaims = visitClaims
        self.registry = RegistryClient(registry)
        self.settlement = SettlementClient(settlement)
        self.settlementReports = SettlementReportsClient(settlement)
        self.supervision = SupervisionClient(supervision)
        self.supervisionReports = SupervisionReportsClient(supervision)
    }

    /// 2206/2207 for outside callers: route (registry) and review (supervision) in parallel,
    /// then settle. Fails closed: if either check cannot answer, nothing is posted.
    ///
    /// A settle that a check refuses is first asked of settlement as a replay (same caller and
    /// key, or the same visit with the same claim): a retry whose first answer was lost gets
    /// it even if the clinic was suspended or review would block the claim in between. A
    /// review block that refuses the call is recorded (statistics, audit chain) only then.
    /// The audit record of a posting is not a call here: settlement writes it with the posting
    /// and its relay delivers it to supervision.
    ///
    /// A visit settled by reference (`visit`) is settled with the claim its details make: for
    /// 2207, the one its last fee-detail upload through this gateway answered if kept
    /// (``VisitClaims``), else read from settlement (`GetVisit`). Should anything refuse a
    /// kept claim the visit no longer holds (settlement settles a registered visit only with
    /// the details it holds), the visit is read and its current claim settled instead.
    ///
    /// Errors: INVALID_ARGUMENT (a field, naming it; the `idempotency-key` metadata, required
    /// unless `pre_settle`), PERMISSION_DENIED (not the caller's institution), FAILED_PRECONDITION
    /// (route refused, review blocked, R003 duplicate, key reused for another request),
    /// ALREADY_EXISTS (the visit has a live settlement of a different claim), UNAVAILABLE (a
    /// check or settlement did not answer; nothing was posted, retry with the same key).
    public func settle(_ request: GatewaySettleRequest, context: CallContext) async throws -> GatewaySettleResponse {
        let scope = try context.grantedScope()
        let caller = context.peer.commonName
        /// The caller's scope on the institution a claim or visit names.
        func confine(_ code: String, _ field: String) throws {
            switch scope {
            case .all: break
            case .region: try CallerConfinement.institution(code, field, region: context.peer.region)
            case .institution:
                // A clinic settles its own visits; a township centre its own and, once the route
                // says it settles for the clinic, its clinics'.
                if context.peer.role != PeerIdentity.Role.townshipCentre, code != caller {
                    throw RPCError(code: .permissionDenied, message: "\(context.peer.role) \(caller) may settle only its own claims")
                }
            }
        }
        switch (request.claim, request.visit) {
        case (let claim?, nil): return try await settle(claim, request, context: context, scope: scope, confine: confine)
        case (nil, let visit?):
            // A visit registered through 2201: its uploaded diagnoses and details make the claim.
            // The caller is confined before the visit is read, so that whether another
            // institution's visit exists, or what it holds, is not its to learn.
            let code = try InstitutionCode(visit.fixmedinsCode, field: "visit.fixmedins_code").value
            try confine(code, "visit.fixmedins_code")
            let read = { try await settlement.getVisit(visit, options: .propagating(context)).claim ?? Claim() }
            // The claim of the visit's last fee-detail upload through here (``VisitClaims``), for a
            // settle (2207) only: settlement checks it against the visit's details, a preview
            // (2206) it does not. A keyless settle, refused anyway, leaves it kept.
            let usable = !request.preSettle && !(context.idempotencyKey ?? "").isEmpty
            guard usable, let kept = visitClaims.take(VisitClaims.Key(clinic: code, mdtrtID: visit.mdtrtID)) else {
                return try await settle(try await read(), request, context: context, scope: scope, confine: confine)
            }
            return try await settle(kept, request, context: context, scope: scope, confine: confine, stale: {
                guard let current = try? await read(), current != kept else { return nil }
                return current
            })
        case (.some, .some): throw DomainError(field: "visit", "give a claim or a visit, not both")
        case (nil, nil): throw DomainError(field: "claim", "is required (or a visit registered through 2201)")
        }
    }

    /// ``settle(_:context:)`` of a claim given whole or made by a visit's details. `stale`, for
    /// a claim kept from the visit's last upload, answers the visit's claim as it stands when
    /// that is another (nil: the kept one stands, or the visit cannot be read): asked before
    /// any refusal is answered or recorded (a form error, a check's refusal, settlement's), so
    /// that the visit's current claim is settled instead and nothing is said or recorded of
    /// the kept one.
    private func settle(
        _ sent: Claim, _ request: GatewaySettleRequest, context: CallContext, scope: AccessScope, confine: (String, String) throws -> Void,
        stale: (() async -> Claim?)? = nil
    ) async throws -> GatewaySettleResponse {
        func current() async -> Claim? { await stale?() }
        func again(_ claim: Claim) async throws -> GatewaySettleResponse {
            try await settle(claim, request, context: context, scope: scope, confine: confine)
        }
        let caller = context.peer.commonName
        // The one validation every path runs: a claim out of form is refused here exactly as
        // review and settlement would refuse it, before either is asked.
        let checked: CheckedClaim
        do {
            checked = try sent.checked()
        } catch {
            if let now = await current() { return try await again(now) }
            throw error
        }
        var claim = checked.claim
        let clinic = checked.clinic
        let key = context.idempotencyKey
        if !request.preSettle {
            guard let key, !key.isEmpty else {
                throw DomainError(field: "idempotency-key", "metadata 'idempotency-key' is required so that a retry is not posted twice")
            }
            _ = try IdempotencyKey(key)
        }
        try confine(clinic.value, "claim.fixmedins_code")
        let downstream = CallOptions.propagating(context)
        let submitted = claim
        async let routeResult = Self.attempt { try await self.route(clinic: submitted.fixmedinsCode, date: submitted.visitDate, options: downstream) }
        async let reviewResult = Self.attempt { try await supervision.review(ReviewRequest(claim: submitted, settling: !request.preSettle), options: downstream) }
        let checksStart = ContinuousClock.now
        let (route, review) = await (routeResult, reviewResult)
        checksTime.record(since: checksStart)

        // Input errors are the caller's, whichever check found them.
        if case .failure(let error) = route, error.code == .invalidArgument || error.code == .notFound { throw error }
        if case .failure(let error) = review, error.code == .invalidArgument { throw error }
        var options = downstream
        options.metadata[Metadata.idempotencyKey] = key
        // A township centre settling for a clinic must be the clinic's settling centre.
        let centre = scope == .institution && clinic.value != caller ? caller : nil
        // A clinic submitting its own claims (institution scope, the clinic's certificate).
        let submitter = scope == .institution && context.peer.role == PeerIdentity.Role.clinic ? caller : nil
        if let refusal = Self.refusal(route: route, review: review, clinic: clinic, centre: centre, medType: claim.medType, submitter: submitter) {
            if let now = await current() { return try await again(now) }
            // A retry whose answer was lost gets it, whatever today's checks say (a centre only
            // a settlement it settled).
            if !request.preSettle, let replayed = try await replay(claim, scope: scope, caller: caller, options: options) {
                return GatewaySettleResponse(settlement: replayed, replay: true)
            }
            // A block is recorded only when review decided the refusal.
            if refusal.byReview, case .success(let reviewed) = review, !request.preSettle {
                do {
                    _ = try await supervision.recordBlock(RecordBlockRequest(claim: submitted, review: reviewed), options: downstream)
                } catch {
                    context.logger.warning("review block not recorded", metadata: ["rpc.error": "\(RPCError(mapping: error).code)"])
                }
            }
            throw refusal.error
        }
        guard case .success(let settledRoute) = route, case .success(let reviewed) = review else { throw RPCError(code: .internal, message: "internal error") }
        claim.settleVia = settledRoute.settleVia
        if request.preSettle {
            let result = try await settlement.preSettle(SettleRequest(claim: claim, fixmedinsKind: settledRoute.kind), options: downstream)
            return GatewaySettleResponse(settlement: result, route: settledRoute, review: reviewed)
        }
        let settleStart = ContinuousClock.now
        let result: SettlementResult
        do {
            result = try await settlement.settle(SettleRequest(claim: claim, fixmedinsKind: settledRoute.kind), options: options)
        } catch let error as RPCError where Self.definiteRefusals.contains(error.code) {
            // A kept claim the visit no longer holds is refused here (FAILED_PRECONDITION), or
            // taken for another claim of its settled visit (ALREADY_EXISTS): not for an answer
            // that did not come, whose claim may have been posted.
            if let now = await current() { return try await again(now) }
            throw error
        }
        settleTime.record(since: settleStart)
        return GatewaySettleResponse(settlement: result, route: settledRoute, review: reviewed, replay: result.replay)
    }

    /// Settlement's answers that say it posted nothing for the claim it was sent.
    static let definiteRefusals: Set<RPCError.Code> = [.invalidArgument, .notFound, .failedPrecondition, .alreadyExists]

    /// Why the checks refuse a settle, if they do, in order: the registry's answer (unavailable,
    /// not the settling centre, the route refused, an integrating clinic submitting its own
    /// claim, the medical type outside the settling agreement's service scope), then review's
    /// (unavailable, blocked). `byReview` when
    /// review decided it. Input errors were thrown before.
    static func refusal(
        route: Result<SettlementRoute, RPCError>, review: Result<ReviewResponse, RPCError>, clinic: InstitutionCode, centre: String?, medType: MedType,
        submitter: String?
    ) -> (error: RPCError, byReview: Bool)? {
        switch route {
        case .failure(let error):
            return (RPCError(code: .unavailable, message: "cannot settle now: the registry did not answer (\(error.code)); nothing was posted", cause: error), false)
        case .success(let found) where centre != nil && !(found.canSettle && found.settleVia == centre):
            return (RPCError(code: .permissionDenied, message: "township centre \(centre ?? "") does not settle for \(clinic)"), false)
        case .success(let found) where !found.canSettle:
            return (RPCError(code: .failedPrecondition, message: "cannot settle at \(clinic): \(found.refusal)"), false)
        case .success(let found) where found.mode == .integrating && submitter == clinic.value:
            // Notice §二(二): under the temporary relationship the centre enters and uploads
            // the clinic's claims (录入并上传); the clinic does not submit them itself.
            return (RPCError(
                code: .permissionDenied,
                message: "\(clinic) is integrating under \(found.settleVia): its claims are submitted by the centre, not by the clinic"
            ), false)
        case .success(let found) where !found.scopes.isEmpty && !found.scopes.contains(medType.serviceScope):
            let covered = found.scopes.map(\.code).joined(separator: ", ")
            return (RPCError(
                code: .failedPrecondition,
                message: "claim.med_type: \(medType.rawValue) needs service scope \(medType.serviceScope.code), outside agreement \(found.agreementNo) of \(found.settleVia) (\(covered))"
            ), false)
        case .success: break
        }
        switch review {
        case .failure(let error):
            return (RPCError(code: .unavailable, message: "cannot settle now: supervision did not answer (\(error.code)); nothing was posted", cause: error), false)
        case .success(let reviewed) where reviewed.verdict == .block:
            let reasons = reviewed.findings.filter { $0.verdict == .block }.map { "\($0.ruleID) \($0.evidence)" }.joined(separator: "; ")
            return (RPCError(code: .failedPrecondition, message: "claim blocked by review: \(reasons.prefix(1000))"), true)
        case .success: return nil
        }
    }

    /// The stored answer for a settle a check now refuses, if settlement has one the caller
    /// may see (its own institution's, or one it settled for); nil otherwise.
    func replay(_ claim: Claim, scope: AccessScope, caller: String, options: CallOptions) async throws -> SettlementResult? {
        do {
            let stored = try await settlement.replay(SettleRequest(claim: claim), options: options)
            if scope == .institution, stored.fixmedinsCode != caller, stored.settleVia != caller { return nil }
            return stored
        } catch {
            let mapped = RPCError(mapping: error)
            // Nothing stored, or settlement away: the check's refusal stands. A key reused for
            // another request or a visit settled differently is the caller's to know.
            if mapped.code == .notFound || mapped.code == .unavailable || mapped.code == .deadlineExceeded { return nil }
            throw mapped
        }
    }

    /// The registry's route for a clinic on a day, from the cache when it is fresh (a cache
    /// with no TTL holds nothing, so every call asks the registry). A cached route in the second
    /// half of its life is answered and fetched again in the background (``RouteCache``), bounded by
    /// ``routeRefreshTimeout``; a refresh that fails leaves the entry to expire.
    static let routeRefreshTimeout: Duration = .seconds(2)

    func route(clinic: String, date: String, options: CallOptions) async throws -> SettlementRoute {
        let key = RouteCache.Key(clinic: clinic, date: date)
        // A route's life counts from when it was asked for, not from when the answer came.
        let asked = ContinuousClock.now
        let (cached, generation, refresh) = routes.lookup(key, now: asked)
        if let cached {
            if refresh { refreshRoute(key, generation: generation, asked: asked) }
            return cached
        }
        let route = try await registry.resolveSettlementRoute(ResolveSettlementRouteRequest(fixmedinsCode: clinic, onDate: date), options: options)
        routes.store(route, for: key, generation: generation, now: asked)
        return route
    }

    /// Asks the registry for a cached route again, keeping the answer unless a registry write
    /// came in between (`generation`).
    private func refreshRoute(_ key: RouteCache.Key, generation: UInt64, asked: ContinuousClock.Instant) {
        let (registry, routes) = (self.registry, self.routes)
        Task {
            let request = ResolveSettlementRouteRequest(fixmedinsCode: key.clinic, onDate: key.date)
            if let route = try? await registry.resolveSettlementRoute(request, options: CallOptions(timeout: Self.routeRefreshTimeout)) {
                routes.store(route, for: key, generation: generation, now: asked)
            }
        }
    }

    /// 2208 for outside callers: reverses a settlement once (the same key answers the stored
    /// reversal, marked as a replay). An institution reverses only its own settlements (or
    /// those it settled for its clinics); a region-scoped caller only its region's. Errors:
    /// INVALID_ARGUMENT (`setl_id`, `idempotency-key`), NOT_FOUND (no such settlement the
    /// caller may see), FAILED_PRECONDITION (already reversed), UNAVAILABLE.
    public func reverse(_ request: GatewayReverseRequest, context: CallContext) async throws -> ReverseResponse {
        let scope = try context.grantedScope()
        guard let key = context.idempotencyKey, !key.isEmpty else {
            throw DomainError(field: "idempotency-key", "metadata 'idempotency-key' is required so that a retry is not posted twice")
        }
        _ = try IdempotencyKey(key)
        guard !request.setlID.isEmpty, request.setlID.utf8.count <= 64 else { throw DomainError(field: "setl_id", "must be 1-64 characters") }
        let downstream = CallOptions.propagating(context)
        if scope != .all {
            let original = try await settlement.getSettlement(GetSettlementRequest(setlID: request.setlID), options: downstream)
            let mine = scope == .institution
                ? original.fixmedinsCode == context.peer.commonName || original.settleVia == context.peer.commonName
                : (try? CallerConfinement.institution(original.fixmedinsCode, "setl_id", region: context.peer.region)) != nil
            guard mine else {
                // Whether it exists elsewhere is not this caller's business.
                // The same answer as for a settlement that does not exist at all.
                throw RPCError(code: .notFound, message: SettlementMethods.getSettlement.policy.notFound)
            }
        }
        var options = downstream
        options.metadata[Metadata.idempotencyKey] = key
        return try await settlement.reverse(ReverseRequest(setlID: request.setlID, reason: request.reason), options: options)
    }

    public func getInstitutionProfile(_ request: InstitutionProfileRequest, context: CallContext) async throws -> InstitutionProfile {
        let scope = try context.grantedScope()
        let code = try InstitutionCode(request.fixmedinsCode, field: "fixmedins_code")
        let date = request.date.isEmpty ? Self.today() : try CivilDate(request.date, field: "date").description
        let county = String(code.value.dropFirst().prefix(6))
        if scope == .region { try CallerConfinement.institution(code.value, "fixmedins_code", region: context.peer.region) }
        let options = CallOptions.propagating(context)
        async let institution = Self.attempt { try await registry.getInstitution(GetInstitutionRequest(fixmedinsCode: code.value), options: options) }
        async let totals = Self.attempt { try await settlementReports.getDayTotals(DayTotalsRequest(institution: code.value, date: date), options: options) }
        async let reviews = Self.attempt { try await supervisionReports.getReviewStats(ReviewStatsRequest(region: county, date: date), options: options) }
        let (i, t, r) = await (institution, totals, reviews)
        // Fails closed: when the registry cannot say whose clinic this is, an institution
        // sees only itself.
        if scope == .institution, code.value != context.peer.commonName {
            switch i {
            case .success(let found) where found.record?.kind == .villageClinic
                && context.peer.standing(toward: code.value, parent: found.record?.parentCode) == .itsCentre:
                break
            case .failure(let error) where error.code == .unavailable || error.code == .deadlineExceeded:
                throw RPCError(code: .unavailable, message: "cannot check that \(code) is \(context.peer.commonName)'s clinic now: the registry did not answer")
            default:
                throw RPCError(code: .permissionDenied, message: "\(context.peer.commonName) may see only itself and its clinics")
            }
        }
        if case .failure(let error) = i, error.code == .notFound { throw error }
        return InstitutionProfile(
            institution: try? i.get(), totals: try? t.get(), reviews: try? r.get(),
            sources: [Self.status(.registry, i), Self.status(.settlement, t), Self.status(.supervision, r)]
        )
    }

    public func getRegionDashboard(_ request: RegionDashboardRequest, context: CallContext) async throws -> RegionDashboard {
        // The region was confined to the caller's by GatewayAccess (caller_scope REQUEST).
        let region = try DivisionCode.validatePrefix(request.region)
        let date = request.date.isEmpty ? Self.today() : try CivilDate(request.date, field: "date").description
        let county = String(region.prefix(6))
        let options = CallOptions.propagating(context)
        async let coverage = Self.attempt { try await registry.getCoverage(CoverageRequest(region: region, maxGaps: 20), options: options) }
        async let totals = Self.attempt { try await settlementReports.getDayTotals(DayTotalsRequest(region: county, date: date), options: options) }
        async let reviews = Self.attempt { try await supervisionReports.getReviewStats(ReviewStatsRequest(region: county, date: date), options: options) }
        let (c, t, r) = await (coverage, totals, reviews)
        return RegionDashboard(
            coverage: try? c.get(), totals: try? t.get(), reviews: try? r.get(),
            sources: [Self.status(.registry, c), Self.status(.settlement, t), Self.status(.supervision, r)]
        )
    }

    /// Verifies supervision's audit chain against what is kept outside it: settlement's
    /// signed checkpoints and its delivered postings. Errors: UNAVAILABLE when either service
    /// does not answer (nothing can be concluded then).
    public func verifyAuditTrail(_ request: VerifyAuditTrailRequest, context: CallContext) async throws -> VerifyAuditResponse {
        let options = CallOptions.propagating(context)
        // Settlement's summary and supervision's walk are two moments: a posting relayed in
        // between can make them differ while nothing is wrong, so a difference is looked at
        // again (up to five times, 200 ms apart) before it is reported.
        var verdict = VerifyAuditResponse()
        for attempt in 0..<5 {
            if attempt > 0 { try await Task.sleep(for: .milliseconds(200)) }
            let evidence = try await settlement.getAuditEvidence(AuditEvidenceRequest(), options: options)
            verdict = try await supervision.verifyAudit(VerifyAuditRequest(checkpoints: evidence.checkpoints, postings: evidence.postings), options: options)
            guard !verdict.intact, verdict.reason.hasSuffix("not one record per posting") else { break }
        }
        return verdict
    }

    // MARK: helpers

    static func attempt<T: Sendable>(_ body: @Sendable () async throws -> T) async -> Result<T, RPCError> {
        do { return .success(try await body()) } catch { return .failure(RPCError(mapping: error)) }
    }

    static func status<T>(_ source: Source, _ result: Result<T, RPCError>) -> SourceStatus {
        switch result {
        case .success: SourceStatus(source: source, code: .ok)
        // A message inside an answer passes the same last check as a status sent to a peer.
        case .failure(let error): SourceStatus(source: source, code: StatusCode(rawValue: error.code.rawValue), message: (error.redactedForPeer() ?? error).message)
        }
    }

    static func today() -> String { CivilDate.today().description }
}

extension MedType {
    /// The service scope (服务协议服务范围) an agreement must cover for a visit of this type
    /// (see `ServiceScope` in registry.proto): outpatient, registration and emergency visits are
    /// 普通门诊统筹; chronic outpatient visits (门诊慢特病, the 两病) need the 两病 drug scope.
    var serviceScope: ServiceScope {
        switch self {
        case .chronicOutpatient: .chronicDrugs
        default: .generalOutpatient
        }
    }
}
