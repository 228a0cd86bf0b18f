import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareWire

/// medicare.v1.Supervision (3101 review).
public struct SupervisionProvider: SupervisionService {
    let store: SupervisionStore
    let catalogue: [String: CatalogueItem]

    public init(store: SupervisionStore, catalogue: [CatalogueItem]) {
        self.store = store
        self.catalogue = Dictionary(uniqueKeysWithValues: catalogue.map { ($0.code, $0) })
    }

    public func review(_ request: ReviewRequest, context: CallContext) async throws -> ReviewResponse {
        guard let claim = request.claim else { throw DomainError(field: "claim", "is required") }
        guard claim.lines.count <= 500 else { throw DomainError(field: "claim.lines", "at most 500 fee lines") }
        _ = try CivilDate(claim.visitDate, field: "claim.visit_date")
        for (i, line) in claim.lines.enumerated() where line.quantity <= 0 {
            throw DomainError(field: "claim.lines[\(i)].quantity", "must be positive, got \(line.quantity)")
        }
        let billed = try await store.billedKeys(psnNo: claim.psnNo, visitDate: claim.visitDate, excludingVisit: claim.mdtrtID)
        let response = ReviewRules.evaluate(request, catalogue: catalogue, alreadyBilled: billed)
        if response.verdict == "block" {
            let rules = Set(response.findings.filter { $0.verdict == "block" }.map(\.ruleID)).sorted().joined(separator: ",")
            try await store.recordBlock(claim: claim, rules: rules)
        }
        return response
    }

    public func record(_ request: RecordRequest, context: CallContext) async throws -> AuditRecord {
        let settlement = try Self.recordable(request)
        return try await store.record(batch: [(settlement, request.claim)])[0]
    }

    /// The valid records appended in order, in one transaction; invalid ones rejected by index.
    public func recordBatch(_ request: RecordBatchRequest, context: CallContext) async throws -> RecordBatchResponse {
        guard request.records.count <= 10_000 else { throw DomainError(field: "records", "at most 10000 per call") }
        var valid: [(settlement: SettlementResult, claim: Claim?)] = []
        var rejected: [RejectedRecord] = []
        for (i, record) in request.records.enumerated() {
            do {
                valid.append((try Self.recordable(record), record.claim))
            } catch let error as DomainError {
                rejected.append(RejectedRecord(index: UInt32(i), reason: "records[\(i)].\(error.field): \(error.message)"))
            }
        }
        let records = valid.isEmpty ? [] : try await store.record(batch: valid)
        return RecordBatchResponse(records: records, rejected: rejected)
    }

    static func recordable(_ request: RecordRequest) throws -> SettlementResult {
        guard let settlement = request.settlement, !settlement.setlID.isEmpty else {
            throw DomainError(field: "settlement.setl_id", "is required")
        }
        guard ["settled", "reversed"].contains(settlement.status) else {
            throw DomainError(field: "settlement.status", "must be settled or reversed")
        }
        return settlement
    }

    public func verifyAudit(_ request: VerifyAuditRequest, context: CallContext) async throws -> VerifyAuditResponse {
        try await store.verify()
    }
}

/// medicare.v1.SupervisionReports.
public struct SupervisionReportsProvider: SupervisionReportsService {
    let store: SupervisionStore

    public init(store: SupervisionStore) { self.store = store }

    public func getReviewStats(_ request: ReviewStatsRequest, context: CallContext) async throws -> ReviewStats {
        let date = try CivilDate(request.date, field: "date").description
        guard request.region.utf8.count <= 6, request.region.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw DomainError(field: "region", "must be up to 6 digits of the county code")
        }
        return ReviewStats(blocked: UInt32(try await store.blockedCount(region: request.region, date: date)))
    }
}
