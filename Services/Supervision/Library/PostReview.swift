import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareWire

/// Post-settlement review (事后审核, notice §三; issue 14): sampling as claims reviewers do it,
/// then the sampled claims reviewed again, their findings queued for a reviewer.
public enum PostReview {
    /// The longest period one batch (or oversight view) covers, days.
    public static let maxDays = 92

    /// `from` and `to` (YYYY-MM-DD, inclusive) as a period of at most ``maxDays``.
    /// INVALID_ARGUMENT naming `from` or `to` otherwise.
    static func period(_ from: String, _ to: String) throws(DomainError) -> (from: CivilDate, to: CivilDate) {
        let first = try CivilDate(from, field: "from"), last = try CivilDate(to, field: "to")
        guard first <= last, first.days(to: last) < maxDays else { throw DomainError(field: "to", "must be on or after from and at most \(maxDays) days on") }
        return (first, last)
    }

    /// Why a claim is sampled, if it is (``SampleReason``: above the amount first, then far
    /// from its diagnosis's average, then the random draw). `averages` holds each first
    /// diagnosis's average amount over the period's claims (only diagnoses with at least 5).
    static func reason(_ claim: SupervisionStore.SettledClaim, _ sampling: Sampling, averages: [String: Int64]) -> SampleReason? {
        if sampling.aboveAmount > 0, claim.amount >= sampling.aboveAmount { return .aboveAmount }
        if sampling.deviationBp > 0, let average = averages[claim.diagnosis], average > 0 {
            // |amount - average| > deviation_bp/10000 × average, in integers.
            let distance = claim.amount > average ? claim.amount - average : average - claim.amount
            if distance.multipliedReportingOverflow(by: 10_000).partialValue > Int64(sampling.deviationBp) * average { return .deviation }
        }
        if sampling.randomBp > 0, draw(seed: sampling.seed, setlID: claim.setlID) < UInt64(sampling.randomBp) { return .random }
        return nil
    }

    /// A draw in 0..<10000 fixed by the seed and the settlement (FNV-1a 64): the same seed
    /// samples the same claims, on any replica, in any order.
    static func draw(seed: UInt64, setlID: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in withUnsafeBytes(of: seed.littleEndian, Array.init) + Array(setlID.utf8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash % 10_000
    }

    /// The average amount of each first diagnosis with at least 5 claims.
    static func averages(_ claims: [SupervisionStore.SettledClaim]) -> [String: Int64] {
        var sums: [String: (Int64, Int64)] = [:]
        for claim in claims { sums[claim.diagnosis, default: (0, 0)].0 &+= claim.amount; sums[claim.diagnosis, default: (0, 0)].1 += 1 }
        return sums.compactMapValues { $0.1 >= 5 ? $0.0 / $0.1 : nil }
    }
}

extension SupervisionProvider {
    /// Supervision/RunPostReview: documented on the RPC in supervision.proto.
    public func runPostReview(_ request: RunPostReviewRequest, context: CallContext) async throws -> PostReviewBatch {
        let region = try SupervisionStore.countyPrefix(request.region, field: "region", atLeast: 2)
        let (from, to) = try PostReview.period(request.from, request.to)
        let sampling = request.sampling ?? Sampling()
        guard sampling.randomBp <= 10_000 else { throw DomainError(field: "sampling.random_bp", "must be 0-10000 basis points, got \(sampling.randomBp)") }
        guard sampling.aboveAmount >= 0 else { throw DomainError(field: "sampling.above_amount", "must not be negative") }
        guard sampling.deviationBp <= 1_000_000 else { throw DomainError(field: "sampling.deviation_bp", "at most 1000000 basis points") }
        guard sampling.randomBp > 0 || sampling.aboveAmount > 0 || sampling.deviationBp > 0 else {
            throw DomainError(field: "sampling", "needs random_bp, above_amount or deviation_bp")
        }
        let claims = try await store.settledClaims(region: region, from: from.description, to: to.description)
        let averages = PostReview.averages(claims)
        var reasons: [String: SampleReason] = [:]
        for claim in claims { if let why = PostReview.reason(claim, sampling, averages: averages) { reasons[claim.setlID] = why } }
        var findings: [CaseFinding] = []
        let now = Date().formatted(.iso8601)
        for record in try await store.settledRecords(reasons.keys.sorted()) {
            guard let claim = record.claim, let settlement = record.settlement, let day = try? CivilDate(claim.visitDate, field: "claim.visit_date"),
                  let set = rules.inForce(on: day) else { continue }
            var history: [PastVisit] = []
            if set.historyDays > 0 {
                history = try await store.visits(psnNo: claim.psnNo, from: set.historyStart(endingOn: day).description, to: claim.visitDate)
            }
            let review = set.evaluate(try ReviewInput(ReviewRequest(claim: claim), catalogue: catalogue, history: history,
                                                      institutionKind: kinds.kind(of: claim.fixmedinsCode)))
            for finding in review.findings.prefix(Self.maxFindings) {
                findings.append(CaseFinding(
                    source: .postReview, fixmedinsCode: claim.fixmedinsCode, setlID: settlement.setlID, psnNo: claim.psnNo, visitDate: claim.visitDate,
                    finding: finding, sampleReason: reasons[settlement.setlID] ?? .unspecified, status: .open, foundAt: now
                ))
            }
        }
        // A caller gone (its deadline passed) does not learn of the batch: nothing is kept.
        if let deadline = context.deadline, ContinuousClock.now >= deadline {
            throw RPCError(code: .deadlineExceeded, message: "the batch ran past the call's deadline and was not kept: a shorter period or a smaller region")
        }
        let batch = PostReviewBatch(
            region: region, from: from.description, to: to.description, sampling: sampling, examined: UInt32(claims.count), sampled: UInt32(reasons.count),
            runAt: now, runBy: try context.actingName()
        )
        return try await store.storeBatch(batch, findings: findings)
    }

    /// Supervision/ListFindings: documented on the RPC in supervision.proto.
    public func listFindings(_ request: ListFindingsRequest, context: CallContext) async throws -> ListFindingsResponse {
        let region = try SupervisionStore.countyPrefix(request.region, field: "region")
        for (i, status) in request.statuses.enumerated() { _ = try status.required("statuses[\(i)]") }
        guard request.statuses.count <= 3 else { throw DomainError(field: "statuses", "at most 3") }
        guard request.limit <= 200 else { throw DomainError(field: "limit", "at most 200") }
        return ListFindingsResponse(findings: try await store.findings(
            region: region, statuses: request.statuses, batchID: request.batchID, inspectionID: request.inspectionID, after: request.after,
            limit: try Self.pageSize(request.limit)
        ))
    }

    /// Supervision/DecideFinding: documented on the RPC in supervision.proto.
    public func decideFinding(_ request: DecideFindingRequest, context: CallContext) async throws -> CaseFinding {
        let code = try InstitutionCode(request.fixmedinsCode, field: "fixmedins_code")
        let decision = try request.decision.required("decision")
        try FreeText.checked(request.note, field: "note")
        if decision == .dismiss, request.amountToRecover != 0 { throw DomainError(field: "amount_to_recover", "must be 0 to dismiss") }
        return try await store.decide(request.findingID, at: code.value, decision: decision, amount: request.amountToRecover, note: request.note,
                                      by: try context.actingName())
    }

    /// A list's `limit`: 1-1000, 0 meaning 100; INVALID_ARGUMENT above.
    static func pageSize(_ limit: UInt32) throws(DomainError) -> Int {
        guard limit <= 1_000 else { throw DomainError(field: "limit", "at most 1000") }
        return limit == 0 ? 100 : Int(limit)
    }

    /// Supervision/GetOversightView: documented on the RPC in supervision.proto.
    public func getOversightView(_ request: OversightRequest, context: CallContext) async throws -> OversightView {
        guard request.centre.isEmpty != request.region.isEmpty else { throw DomainError(field: "centre", "give a township centre or a region, one of them") }
        let centre = request.centre.isEmpty ? nil : try InstitutionCode(request.centre, field: "centre").value
        let region = try SupervisionStore.countyPrefix(request.region, field: "region", atLeast: centre == nil ? 2 : 0)
        let (from, to) = try PostReview.period(request.from, request.to)
        if !request.after.isEmpty { _ = try InstitutionCode(request.after, field: "after") }
        return try await store.oversight(centre: centre, region: region, from: from.description, to: to.description, after: request.after,
                                         limit: try Self.pageSize(request.limit))
    }
}
