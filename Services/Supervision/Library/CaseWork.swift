import Foundation
import Logging
import MedicareContracts
import MedicareCrypto
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareWire

/// Inspections (履约核查, 重点巡查, 专项检查) and cases (立案 to 结案) with their actions by the
/// agreement's terms (notice §三; issue 14). Every step is chained with the acting person.
extension SupervisionProvider {
    /// Supervision/PlanInspection: documented on the RPC in supervision.proto.
    public func planInspection(_ request: PlanInspectionRequest, context: CallContext) async throws -> Inspection {
        let kind = try request.kind.required("kind")
        try FreeText.checked(request.title, field: "title", max: 200)
        let region = try SupervisionStore.countyPrefix(request.region, field: "region", atLeast: 2)
        guard (1...1_000).contains(request.fixmedinsCodes.count) else { throw DomainError(field: "fixmedins_codes", "must name 1-1000 institutions") }
        var seen = Set<String>()
        for (i, code) in request.fixmedinsCodes.enumerated() {
            let field = "fixmedins_codes[\(i)]"
            _ = try InstitutionCode(code, field: field)
            guard code.dropFirst().hasPrefix(region) else { throw DomainError(field: field, "\(code) is not in region \(region)") }
            guard seen.insert(code).inserted else { throw DomainError(field: field, "\(code) is named twice") }
        }
        let from = try CivilDate(request.plannedFrom, field: "planned_from"), to = try CivilDate(request.plannedTo, field: "planned_to")
        guard from <= to else { throw DomainError(field: "planned_to", "must be on or after planned_from") }
        return try await store.plan(Inspection(
            kind: kind, title: request.title, region: region, fixmedinsCodes: request.fixmedinsCodes, plannedFrom: from.description, plannedTo: to.description,
            status: .planned, plannedBy: try context.actingName(), plannedAt: Date().formatted(.iso8601)
        ))
    }

    /// Supervision/AdvanceInspection: documented on the RPC in supervision.proto.
    public func advanceInspection(_ request: AdvanceInspectionRequest, context: CallContext) async throws -> Inspection {
        let region = try SupervisionStore.countyPrefix(request.region, field: "region")
        let status = try request.toStatus.required("to_status")
        guard status != .planned else { throw DomainError(field: "to_status", "must be in_progress or closed") }
        try FreeText.checked(request.conclusion, field: "conclusion", max: 2_000, required: status == .closed)
        return try await store.advance(request.inspectionID, inside: region, to: status, conclusion: request.conclusion)
    }

    /// Supervision/RecordInspectionFinding: documented on the RPC in supervision.proto.
    public func recordInspectionFinding(_ request: RecordInspectionFindingRequest, context: CallContext) async throws -> CaseFinding {
        let code = try InstitutionCode(request.fixmedinsCode, field: "fixmedins_code")
        try FreeText.checked(request.evidence, field: "evidence", max: 2_000)
        try FreeText.checked(request.basis, field: "basis", max: 200)
        let severity = try request.severity.required("severity")
        guard (0...Receivable.maxAmount).contains(request.amountAtIssue) else { throw DomainError(field: "amount_at_issue", "must be 0 to 10^12 fen") }
        guard request.setlID.utf8.count <= 64, request.setlID.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw DomainError(field: "setl_id", "at most 64 printable ASCII characters")
        }
        let by = try context.actingName(), now = Date().formatted(.iso8601)
        return try await store.record(CaseFinding(
            source: .inspection, inspectionID: request.inspectionID, fixmedinsCode: code.value, setlID: request.setlID,
            finding: Finding(verdict: .flag, evidence: request.evidence, amountAtIssue: request.amountAtIssue, severity: severity, source: request.basis),
            status: .confirmed, amountToRecover: request.amountAtIssue, decidedBy: by, decidedAt: now, foundAt: now
        ), inspection: request.inspectionID)
    }

    /// Supervision/ListInspections: documented on the RPC in supervision.proto.
    public func listInspections(_ request: ListInspectionsRequest, context: CallContext) async throws -> ListInspectionsResponse {
        ListInspectionsResponse(inspections: try await store.inspections(
            region: try SupervisionStore.countyPrefix(request.region, field: "region"), after: request.after, limit: try Self.pageSize(request.limit)
        ))
    }

    /// Supervision/OpenCase: documented on the RPC in supervision.proto.
    public func openCase(_ request: OpenCaseRequest, context: CallContext) async throws -> SupervisionCase {
        let code = try InstitutionCode(request.fixmedinsCode, field: "fixmedins_code")
        try FreeText.checked(request.summary, field: "summary")
        guard request.findingIds.count <= 1_000 else { throw DomainError(field: "finding_ids", "at most 1000") }
        guard Set(request.findingIds).count == request.findingIds.count else { throw DomainError(field: "finding_ids", "names a finding twice") }
        guard !request.findingIds.isEmpty || request.alertID > 0 else { throw DomainError(field: "finding_ids", "a case opens on findings or an alert") }
        return try await store.open(SupervisionCase(
            fixmedinsCode: code.value, status: .open, summary: request.summary, findingIds: request.findingIds, alertID: request.alertID,
            openedBy: try context.actingName(), openedAt: Date().formatted(.iso8601)
        ))
    }

    /// Supervision/TakeCaseAction: documented on the RPC in supervision.proto. The action is
    /// kept (PENDING when it applies elsewhere) before anything is asked of the registry or
    /// settlement, then applied at once within the call's time; what is not applied by then
    /// the applier (``CaseActionApplier/run(every:)``) retries.
    public func takeCaseAction(_ request: TakeCaseActionRequest, context: CallContext) async throws -> SupervisionCase {
        let code = try InstitutionCode(request.fixmedinsCode, field: "fixmedins_code")
        let kind = try request.kind.required("kind")
        try FreeText.checked(request.reason, field: "reason", max: 400)
        let moves = kind == .recovery || kind == .withholding
        if moves {
            guard (1...Receivable.maxAmount).contains(request.amount) else { throw DomainError(field: "amount", "must be 1 to 10^12 fen for \(kind.code)") }
        } else if request.amount != 0 {
            throw DomainError(field: "amount", "only recovery and withholding take an amount")
        }
        let designation = kind == .suspension || kind == .termination
        if !request.effectiveDate.isEmpty {
            guard designation else { throw DomainError(field: "effective_date", "only suspension and termination take a date") }
            _ = try CivilDate(request.effectiveDate, field: "effective_date")
        }
        let applies = moves || designation
        let acting = try context.actingCaller()
        guard let key = context.idempotencyKey, !key.isEmpty else {
            throw DomainError(field: "idempotency-key", "metadata 'idempotency-key' is required so that a retry does not take the action twice")
        }
        let digest = SM3.hex(SM3.digest(Array("\(acting.idempotencyScope)\t\(try IdempotencyKey(key).value)".utf8))).prefix(32)
        // Netted from, or held against, what the institution settling for the clinic is paid:
        // fixed now, so that every retry posts the same receivable.
        let payee = moves ? try await store.settleVia(code.value) ?? code.value : ""
        var taken = try await store.take(
            CaseAction(kind: kind, amount: request.amount, reason: request.reason, effectiveDate: request.effectiveDate,
                       state: applies ? .pending : .recorded, takenBy: try context.actingName(), takenAt: Date().formatted(.iso8601),
                       requestDigest: String(digest), payee: payee),
            case: request.caseID, at: code.value, acting: acting.actingCallerValue
        )
        if applies, let applier = actions, let action = taken.actions.first(where: { $0.requestDigest == digest }), action.state == .pending {
            // Within the caller's time, less a margin for the answer (the applier retries the rest).
            let budget = min(Duration.seconds(5), (context.deadline.map { ContinuousClock.now.duration(to: $0) } ?? .seconds(5)) - .milliseconds(500))
            if budget > .zero {
                await applier.apply(case: taken.caseID, action: action.n, at: code.value, acting: acting.actingCallerValue, within: budget)
                taken = try await store.supervisionCase(taken.caseID, at: code.value)
            }
        }
        return taken
    }

    /// Supervision/GetCase: documented on the RPC in supervision.proto.
    public func getCase(_ request: GetCaseRequest, context: CallContext) async throws -> SupervisionCase {
        try await store.supervisionCase(request.caseID, at: try InstitutionCode(request.fixmedinsCode, field: "fixmedins_code").value)
    }

    /// Supervision/CloseCase: documented on the RPC in supervision.proto.
    public func closeCase(_ request: CloseCaseRequest, context: CallContext) async throws -> SupervisionCase {
        let code = try InstitutionCode(request.fixmedinsCode, field: "fixmedins_code")
        try FreeText.checked(request.conclusion, field: "conclusion", max: 2_000)
        return try await store.close(request.caseID, at: code.value, conclusion: request.conclusion)
    }

    /// Supervision/ListCases: documented on the RPC in supervision.proto.
    public func listCases(_ request: ListCasesRequest, context: CallContext) async throws -> ListCasesResponse {
        ListCasesResponse(cases: try await store.cases(
            region: try SupervisionStore.countyPrefix(request.region, field: "region"), after: request.after, limit: try Self.pageSize(request.limit)
        ))
    }

}

/// Applies case actions where they take effect: recovery and withholding in settlement's
/// ledger (`Settlement/PostReceivable`, once per action ref), suspension and termination in
/// the registry (`Registry/ChangeDesignation`, the case in the reason), on behalf of the
/// officer who took them. An action stays pending in supervision's store until the other
/// service answers: an answer is recorded (APPLIED, or REFUSED with its reason), a failure
/// to reach it is retried by ``run(every:)``, on whichever replica gets there first.
public final class CaseActionApplier: Sendable {
    let store: SupervisionStore
    let registry: RegistryClient
    let settlement: SettlementClient
    let logger: Logger

    public init(store: SupervisionStore, registry: any RPCChannel, settlement: any RPCChannel, logger: Logger) {
        self.store = store
        self.registry = RegistryClient(registry)
        self.settlement = SettlementClient(settlement)
        self.logger = logger
    }

    /// The ref an action is applied under: posted once per ref in settlement, and named in the
    /// registry's reason (how a retry recognises a change it already made).
    static func ref(case id: UInt64, action n: UInt32) -> String { "case-\(id)-\(n)" }

    /// Retries pending actions every `interval` until cancelled.
    public func run(every interval: Duration = .seconds(2)) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            do {
                for pending in try await store.pendingActions() {
                    await apply(case: pending.caseID, action: pending.n, at: pending.code, acting: pending.acting, within: .seconds(10))
                }
            } catch {
                logger.warning("pending case actions not read", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Applies one pending action and records the outcome; leaves it pending when the other
    /// service cannot be reached within `within`.
    func apply(case id: UInt64, action n: UInt32, at code: String, acting: String, within: Duration) async {
        do {
            let found = try await store.supervisionCase(id, at: code)
            guard Int(n) <= found.actions.count, case let action = found.actions[Int(n) - 1], action.state == .pending else { return }
            let ref = Self.ref(case: id, action: n)
            var options = CallOptions(timeout: within)
            options.metadata[Metadata.actingCaller] = acting
            let outcome: (ActionState, String)
            do {
                outcome = (.applied, try await perform(action, ref: ref, case: id, at: code, options: options))
            } catch let error as RPCError where Self.isFinal(error.code) {
                if try await alreadyApplied(action, ref: ref, at: code, options: options) {
                    outcome = (.applied, "already applied (\(ref))")
                } else {
                    outcome = (.refused, "\(error.code): \(error.message)")
                }
            }
            try await store.settle(action: n, in: id, at: code, state: outcome.0, outcome: outcome.1)
        } catch {
            logger.warning("case action not applied yet; retried", metadata: ["case": "\(id)", "action": "\(n)", "error": "\(error)"])
        }
    }

    /// A refusal that a retry would only repeat.
    /// (Not PERMISSION_DENIED: a registry or settlement older than supervision, not yet
    /// granting it the method, is retried until it does.)
    static func isFinal(_ code: RPCError.Code) -> Bool {
        [.invalidArgument, .notFound, .failedPrecondition, .alreadyExists].contains(code)
    }

    private func perform(_ action: CaseAction, ref: String, case id: UInt64, at code: String, options: CallOptions) async throws -> String {
        let reason = "[\(ref)] case \(id): \(action.reason)"
        switch action.kind {
        case .recovery, .withholding:
            let payee = action.payee.isEmpty ? code : action.payee
            let posted = try await settlement.postReceivable(PostReceivableRequest(receivable: Receivable(
                actionRef: ref, fixmedinsCode: code, kind: action.kind == .recovery ? .recovery : .withholding, amount: action.amount, reason: reason,
                payee: payee
            )), options: options)
            return "posted in settlement's ledger at \(posted.postedAt): \(posted.kind.code) of \(posted.amount) fen"
        case .suspension, .termination:
            let changed = try await registry.changeDesignation(ChangeDesignationRequest(
                fixmedinsCode: code, action: action.kind == .suspension ? .suspend : .terminate, reason: reason, effectiveDate: action.effectiveDate
            ), options: options)
            return "designation \(changed.designationStatus.code) from \(changed.history.last?.effectiveDate ?? "")"
        default:
            return "recorded"
        }
    }

    /// Whether a refused designation change was made by an earlier try of this action (its
    /// ref is in the institution's history); a receivable's repeat is answered as a replay.
    private func alreadyApplied(_ action: CaseAction, ref: String, at code: String, options: CallOptions) async throws -> Bool {
        guard action.kind == .suspension || action.kind == .termination else { return false }
        let institution = try await registry.getInstitution(GetInstitutionRequest(fixmedinsCode: code), options: options)
        return institution.history.contains { $0.reason.hasPrefix("[\(ref)]") }
    }
}
