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
        let billed = try await store.billedKeys(psnNo: claim.psnNo, visitDate: claim.visitDate)
        return ReviewRules.evaluate(request, catalogue: catalogue, alreadyBilled: billed)
    }

    public func record(_ request: RecordRequest, context: CallContext) async throws -> AuditRecord {
        guard let settlement = request.settlement, !settlement.setlID.isEmpty else {
            throw DomainError(field: "settlement.setl_id", "is required")
        }
        guard ["settled", "reversed"].contains(settlement.status) else {
            throw DomainError(field: "settlement.status", "must be settled or reversed")
        }
        return try await store.record(settlement: settlement, claim: request.claim)
    }

    public func verifyAudit(_ request: VerifyAuditRequest, context: CallContext) async throws -> VerifyAuditResponse {
        try await store.verify()
    }
}
