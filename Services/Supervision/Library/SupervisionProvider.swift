import Foundation
import MedicareContracts
import Metrics
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareWire

/// medicare.v1.Supervision (3101 review, the rule sets, the audit chain).
public struct SupervisionProvider: SupervisionService {
    let store: SupervisionStore
    let catalogueHolder: CatalogueHolder
    /// The catalogue in force (read once per review).
    var catalogue: Catalogue { catalogueHolder.current }
    /// The published rule sets, compiled.
    let rules: RuleBook
    /// Visits reviewed here whose postings the relay has not delivered yet.
    let recent: RecentVisits
    /// Signs the chain's head at intervals (nil: no checkpoints, and none can be verified).
    let checkpointer: AuditCheckpointer?
    /// Real-time monitoring over the postings recorded here.
    let monitor: InstitutionMonitor
    let raised = Counter(label: "medicare_supervision_alerts_total")
    static let reviewed = CounterFamily("medicare_supervision_review_total", dimensions: ["outcome"])
    static let findingsByRule = CounterFamily("medicare_supervision_review_findings_total", dimensions: ["rule", "verdict"])
    /// From a posting to its monitoring (the relay's delay included): the oldest of each batch.
    let monitorLag = Metrics.Timer(label: "medicare_supervision_monitor_lag_seconds")
    let monitorFailures = Counter(label: "medicare_supervision_monitor_failures_total")
    /// Applies case actions in the registry and settlement (nil: they stay pending).
    let actions: CaseActionApplier?
    /// Institutions' kinds (levels), for the rules scoped by kind and level restrictions.
    let kinds: InstitutionKinds

    public init(
        store: SupervisionStore, catalogue: [CatalogueItem], rules: RuleBook, recent: RecentVisits, checkpointer: AuditCheckpointer? = nil,
        actions: CaseActionApplier? = nil, timeZone: TimeZone = .current, kinds: InstitutionKinds = InstitutionKinds()
    ) {
        self.init(store: store, catalogue: CatalogueHolder(Catalogue(catalogue)), rules: rules, recent: recent, checkpointer: checkpointer,
                  actions: actions, timeZone: timeZone, kinds: kinds)
    }

    /// A provider whose catalogue is replaced while it serves (``CatalogueHolder``, refreshed
    /// from settlement's publications).
    public init(
        store: SupervisionStore, catalogue: CatalogueHolder, rules: RuleBook, recent: RecentVisits, checkpointer: AuditCheckpointer? = nil,
        actions: CaseActionApplier? = nil, timeZone: TimeZone = .current, kinds: InstitutionKinds = InstitutionKinds()
    ) {
        self.store = store
        self.kinds = kinds
        self.actions = actions
        self.monitor = InstitutionMonitor(timeZone: timeZone)
        self.catalogueHolder = catalogue
        self.rules = rules
        self.recent = recent
        self.checkpointer = checkpointer
    }

    /// The most findings a review answers (the worst verdict is kept whatever is cut).
    public static let maxFindings = 1_000

    /// A provider over `store` with the bundled rule set (``RuleBook/bundled()``) published
    /// and loaded: for tests, benchmarks and tools that run supervision in process.
    public static func bundled(
        store: SupervisionStore, catalogue: [CatalogueItem], checkpointer: AuditCheckpointer? = nil, recentWindow: Duration = .seconds(60)
    ) async throws -> SupervisionProvider {
        let rules = RuleBook()
        _ = try await store.publish(try RuleBook.bundled(), by: "bundled")
        try await rules.refresh(from: store)
        return SupervisionProvider(store: store, catalogue: catalogue, rules: rules, recent: RecentVisits(window: recentWindow), checkpointer: checkpointer)
    }

    /// 3101: runs the rule set in force on the visit day (``RuleBook/inForce(on:)``) and
    /// answers every finding, the set's version and the worst verdict. Reads the person's
    /// settled visits when a history rule is in force, and the settling visits reviewed here
    /// in the last `review.recent-seconds`; a settling review (`settling`, from a service: the
    /// gateway's 2207) remembers its visit among them unless it is blocked.
    /// The same item billed to a person on a day by another settlement is refused by
    /// settlement in the posting's transaction, where two claims sent together cannot both
    /// pass it (a block that refuses a settlement is recorded with ``recordBlock(_:context:)``).
    /// Errors: INVALID_ARGUMENT naming the field for a claim out of form (``Claim/validated()``);
    /// FAILED_PRECONDITION when no rule set is in force on the visit day.
    public func review(_ request: ReviewRequest, context: CallContext) async throws -> ReviewResponse {
        var request = request
        guard let claim = request.claim else { throw DomainError(field: "claim", "is required") }
        let canonical = try Self.canonical(claim)
        request.claim = canonical
        // Optional here (zero: not given); anything else must be a declared status.
        if request.designationStatus != .unspecified { _ = try request.designationStatus.required("designation_status") }
        let day = try CivilDate(canonical.visitDate, field: "claim.visit_date")
        guard let set = rules.inForce(on: day) else {
            throw DomainError(.precondition, field: "claim.visit_date", "no review rule set is in force on \(canonical.visitDate)")
        }
        var history: [PastVisit] = []
        // A settling review (the gateway's 2207) counts its visit at once, until its posting
        // arrives or the window passes; other reviews (pre-settlement, a supervisor's) only read.
        let settling = request.settling && context.peer.role == PeerIdentity.Role.service
        let visit = PastVisit(fixmedinsCode: canonical.fixmedinsCode, mdtrtID: canonical.mdtrtID, visitDate: canonical.visitDate)
        if set.historyDays > 0 {
            let first = set.historyStart(endingOn: day).description
            // Memory first, then the store: a visit leaves memory only after its posting is
            // committed, so one missing from the memory read is in the store read that follows
            // (the other order lost a visit whose posting was chained between the two reads).
            history = recent.visits(of: canonical.psnNo, remembering: settling ? visit : nil)
            history += try await store.visits(psnNo: canonical.psnNo, from: first, to: canonical.visitDate)
        }
        var response = set.evaluate(try ReviewInput(request, catalogue: catalogue, history: history, institutionKind: kinds.kind(of: canonical.fixmedinsCode)))
        if settling, set.historyDays > 0, response.verdict == .block { recent.forget([(canonical.psnNo, visit.fixmedinsCode, visit.mdtrtID)]) }
        // Review outcomes by rule (bounded by the rule set, never by claims).
        Self.reviewed.increment(response.verdict == .unspecified ? "pass" : response.verdict.code)
        var counted = Set<[String]>()
        for finding in response.findings where counted.insert([finding.ruleID, finding.verdict.code]).inserted {
            Self.findingsByRule.increment(String(finding.ruleID.prefix(16)), finding.verdict.code)
        }
        if response.findings.count > Self.maxFindings {
            response.findings.removeLast(response.findings.count - Self.maxFindings)
            response.findingsTruncated = true
        }
        return response
    }

    /// Checks a rule set whole (``RuleBook/validated(_:)``) and publishes it; the book is
    /// reloaded at once here and within `review.refresh-ms` on other replicas.
    public func publishRuleSet(_ request: PublishRuleSetRequest, context: CallContext) async throws -> PublishRuleSetResponse {
        guard let sent = request.ruleSet else { throw DomainError(field: "rule_set", "is required") }
        let set = try RuleBook.validated(sent)
        let (stored, replay) = try await store.publish(set, by: try context.actingName())
        try await rules.refresh(from: store)
        return PublishRuleSetResponse(ruleSet: stored, replay: replay)
    }

    /// A rule set by version, or the one in force on `date` (today when empty).
    public func getRuleSet(_ request: GetRuleSetRequest, context: CallContext) async throws -> RuleSet {
        if !request.version.isEmpty {
            guard let found = rules.all.last(where: { $0.set.version == request.version }) else {
                throw DomainError(.notFound, field: "version", "no rule set \(request.version.prefix(64)) is published")
            }
            return found.set
        }
        let day = request.date.isEmpty ? CivilDate.today() : try CivilDate(request.date, field: "date")
        guard let set = rules.inForce(on: day) else { throw DomainError(.notFound, field: "date", "no rule set is in force on \(day)") }
        return set.set
    }

    /// Every published version, oldest first, without rules.
    public func listRuleSets(_ request: ListRuleSetsRequest, context: CallContext) async throws -> ListRuleSetsResponse {
        ListRuleSetsResponse(ruleSets: rules.all.sorted { $0.seq < $1.seq }.map { compiled in
            var set = compiled.set
            set.rules = []
            return set
        })
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
        guard review.findings.count <= Self.maxFindings else { throw DomainError(field: "review.findings", "at most \(Self.maxFindings)") }
        let rules = Set(review.findings.filter { $0.verdict == .block }.map { String($0.ruleID.prefix(8)) }).sorted().joined(separator: ",")
        var canonical = request
        canonical.claim = claim
        return try await store.recordBlock(claim: claim, rules: rules, content: try canonical.encodedBytes())
    }

    public func record(_ request: RecordRequest, context: CallContext) async throws -> AuditRecord {
        let recordable = try Self.recordable(request)
        try Self.mayRecord(recordable, caller: context.peer)
        let recorded = try await store.recordCounting(batch: [recordable])
        let record = recorded.records[0]
        if case .designation = recordable { try? await kinds.refresh(from: store) }
        await chained([recordable], days: recorded.days, context: context)
        return record
    }

    /// After postings are chained: their visits leave the settling-review memory (the store's
    /// history has them now), and they go through real-time monitoring, the monitoring rules
    /// of the set in force today: the window kinds over the postings, the volume spikes over
    /// the institutions' day counts the batch moved (`days`). The alerts raised are stored
    /// (``listAlerts(_:context:)``) and counted (`medicare_supervision_alerts_total`); the time
    /// from the oldest posting to here is `medicare_supervision_monitor_lag_seconds`. A failure
    /// to store alerts is logged and counted, never the relay's failure (the chain already
    /// holds the postings).
    func chained(_ recorded: [SupervisionStore.Recordable], days: [InstitutionDay], context: CallContext) async {
        let now = Date()
        let postings = recorded.compactMap { item -> InstitutionMonitor.Posting? in
            guard case .posting(let settlement, _, let postedMs) = item else { return nil }
            return InstitutionMonitor.Posting(settlement, postedAt: postedMs > 0 ? Date(timeIntervalSince1970: Double(postedMs) / 1000) : now)
        }
        recent.forget(postings.map { ($0.settlement.psnNo, $0.settlement.fixmedinsCode, $0.settlement.mdtrtID) })
        guard let set = rules.inForce(on: CivilDate.today()) else { return }
        var alerts: [(alert: Alert, onceKey: String?)] = monitor.observe(postings, set: set, wall: now).map { ($0, nil) }
        do {
            for day in days {
                guard let date = try? CivilDate(day.day, field: "setl_date") else { continue }
                alerts += try await monitor.spike((day.fixmedinsCode, day.day, day.settlements), set: set, wall: now) { baselineDays in
                    try await store.baseline(day.fixmedinsCode, before: date, days: baselineDays)
                }.map { ($0.alert, $0.onceKey) }
            }
            if let oldest = postings.map(\.postedAt).min() { monitorLag.recordMilliseconds(max(0, Int64(Date().timeIntervalSince(oldest) * 1000))) }
            guard !alerts.isEmpty else { return }
            for alert in try await store.raise(alerts) {
                raised.increment()
                context.logger.notice("monitoring alert", metadata: ["alert": "\(alert.alertID)", "rule": "\(alert.ruleID)", "fixmedins_code": "\(alert.fixmedinsCode)"])
            }
        } catch {
            monitorFailures.increment()
            context.logger.error("monitoring alerts not stored", metadata: ["error": "\(error)"])
        }
    }

    /// Alerts in a region after a cursor, oldest first. INVALID_ARGUMENT for a region that is
    /// not 0-6 digits or a limit over 1,000.
    public func listAlerts(_ request: ListAlertsRequest, context: CallContext) async throws -> ListAlertsResponse {
        let region = try SupervisionStore.countyPrefix(request.region, field: "region")
        guard request.limit <= 1_000 else { throw DomainError(field: "limit", "at most 1000") }
        return ListAlertsResponse(alerts: try await store.alerts(region: region, after: request.after, limit: request.limit == 0 ? 100 : Int(request.limit)))
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
        let recorded: (records: [AuditRecord], days: [InstitutionDay]) = valid.isEmpty ? ([], []) : try await store.recordCounting(batch: valid)
        let records = recorded.records
        if valid.contains(where: { if case .designation = $0 { true } else { false } }) { try? await kinds.refresh(from: store) }
        await chained(valid, days: recorded.days, context: context)
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
        guard request.postedMs >= 0 else { throw DomainError(field: "posted_ms", "must not be negative") }
        return .posting(settlement, request.claim, postedMs: request.postedMs)
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
        let region = try SupervisionStore.countyPrefix(request.region, field: "region")
        return ReviewStats(blocked: UInt32(try await store.blockedCount(region: region, date: date)))
    }
}
