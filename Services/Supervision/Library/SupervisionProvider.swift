import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareWire

/// medicare.v1.Supervision (3101 review).
public struct SupervisionProvider: SupervisionService {
    let store: SupervisionStore
    let catalogue: [String: CatalogueItem]
    /// Signs the chain's head at intervals (nil: no checkpoints, and none can be verified).
    let checkpointer: AuditCheckpointer?

    public init(store: SupervisionStore, catalogue: [CatalogueItem], checkpointer: AuditCheckpointer? = nil) {
        self.store = store
        self.catalogue = Dictionary(uniqueKeysWithValues: catalogue.map { ($0.code, $0) })
        self.checkpointer = checkpointer
    }

    /// 3101: evaluates every rule and answers the findings. A pure check of the claim itself:
    /// it reads and writes nothing (the same item billed to a person on a day by another
    /// settlement, R003 across claims, is refused by settlement in the posting's transaction,
    /// where two claims sent together cannot both pass it)
    /// (a block that refuses a settlement is recorded with ``recordBlock(_:context:)``).
    /// INVALID_ARGUMENT, naming the field, for a claim out of form (``Claim/validated()``).
    public func review(_ request: ReviewRequest, context: CallContext) async throws -> ReviewResponse {
        var request = request
        guard let claim = request.claim else { throw DomainError(field: "claim", "is required") }
        request.claim = try Self.canonical(claim)
        // Optional here (zero: not given); anything else must be a declared status.
        if request.designationStatus != .unspecified { _ = try request.designationStatus.required("designation_status") }
        return ReviewRules.evaluate(request, catalogue: catalogue)
    }

    /// The claim checked and canonical (``Claim/validated()``): the same refusal as every
    /// other path a claim takes.
    static func canonical(_ sent: Claim) throws -> Claim {
        try sent.validated()
    }

    /// Records a review block that refused a settlement: counted in the day's statistics and
    /// appended to the audit chain. INVALID_ARGUMENT unless the review's verdict is BLOCK.
    public func recordBlock(_ request: RecordBlockRequest, context: CallContext) async throws -> AuditRecord {
        guard let sent = request.claim else { throw DomainError(field: "claim", "is required") }
        let claim = try Self.canonical(sent)
        guard let review = request.review, review.verdict == .block else { throw DomainError(field: "review.verdict", "must be block") }
        guard review.findings.count <= 5_000 else { throw DomainError(field: "review.findings", "at most 5000") }
        let rules = Set(review.findings.filter { $0.verdict == .block }.map { String($0.ruleID.prefix(8)) }).sorted().joined(separator: ",")
        var canonical = request
        canonical.claim = claim
        return try await store.recordBlock(claim: claim, rules: rules, content: try canonical.encodedBytes())
    }

    public func record(_ request: RecordRequest, context: CallContext) async throws -> AuditRecord {
        let recordable = try Self.recordable(request)
        try Self.mayRecord(recordable, caller: context.peer)
        return try await store.record(batch: [recordable])[0]
    }

    /// Each service chains only its own decisions: settlement its postings, the registry its
    /// designation changes (other peers are refused at the door by ServiceAccess).
    package static func mayRecord(_ recordable: SupervisionStore.Recordable, caller: PeerIdentity) throws(DomainError) {
        guard caller.role == PeerIdentity.Role.service else { return }
        switch recordable {
        case .posting where caller.commonName == "registry":
            throw DomainError(field: "settlement", "the registry chains designation changes only")
        case .designation where caller.commonName == "settlement":
            throw DomainError(field: "designation", "settlement chains postings only")
        default: return
        }
    }

    /// The valid records appended in order, in one transaction; invalid ones rejected by index.
    public func recordBatch(_ request: RecordBatchRequest, context: CallContext) async throws -> RecordBatchResponse {
        guard request.records.count <= 10_000 else { throw DomainError(field: "records", "at most 10000 per call") }
        var valid: [SupervisionStore.Recordable] = []
        var rejected: [RejectedRecord] = []
        for (i, record) in request.records.enumerated() {
            do {
                let recordable = try Self.recordable(record)
                try Self.mayRecord(recordable, caller: context.peer)
                valid.append(recordable)
            } catch let error as DomainError {
                rejected.append(RejectedRecord(index: UInt32(i), reason: "records[\(i)].\(error.field): \(error.message)"))
            }
        }
        let records = valid.isEmpty ? [] : try await store.record(batch: valid)
        let head = records.max { $0.seq < $1.seq }
        return RecordBatchResponse(records: records, rejected: rejected, checkpoint: checkpointer?.after(head: head))
    }

    static func recordable(_ request: RecordRequest) throws -> SupervisionStore.Recordable {
        if let designation = request.designation {
            guard request.settlement == nil, request.claim == nil else { throw DomainError(field: "designation", "comes alone") }
            _ = try InstitutionCode(designation.fixmedinsCode, field: "designation.fixmedins_code")
            guard designation.n > 0, let event = designation.event, event.toStatus.isKnown else {
                throw DomainError(field: "designation.event", "needs a position and a status")
            }
            return .designation(designation)
        }
        guard let settlement = request.settlement, !settlement.setlID.isEmpty else {
            throw DomainError(field: "settlement.setl_id", "is required")
        }
        guard settlement.status == .settled || settlement.status == .reversed else {
            throw DomainError(field: "settlement.status", "must be settled or reversed")
        }
        return .posting(settlement)
    }

    /// Re-walks the chain; see ``SupervisionStore/verify(checkpoints:postings:checkpointer:)``.
    /// INVALID_ARGUMENT for more than 10,000 checkpoints.
    public func verifyAudit(_ request: VerifyAuditRequest, context: CallContext) async throws -> VerifyAuditResponse {
        guard request.checkpoints.count <= 10_000 else { throw DomainError(field: "checkpoints", "at most 10000") }
        guard (request.postings?.pending.count ?? 0) <= 10_000 else { throw DomainError(field: "postings.pending", "at most 10000") }
        return try await store.verify(checkpoints: request.checkpoints, postings: request.postings, checkpointer: checkpointer)
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
