import Foundation
import MedicareContracts
import MedicareCrypto
import MedicareDomain
import MedicareRuntime
import MedicareStore
import MedicareWire

/// Post-settlement review, inspections and cases as supervision keeps them (migration 13):
/// each object whole (its encoded message) beside the columns it is found by, every step in
/// the same transaction as its audit-chain record (kind SUPERVISION, content the object after
/// the step).
extension SupervisionStore {
    /// A settled claim as post-settlement review samples it.
    struct SettledClaim: Sendable {
        let setlID: String
        let amount: Int64
        let diagnosis: String
    }

    /// The most claims one post-settlement batch examines.
    static let maxBatchClaims = 200_000

    /// The settled, unreversed claims (relayed with their claim) of institutions in `region`
    /// with a visit day in `from...to`, by setl_id; RESOURCE_EXHAUSTED past ``maxBatchClaims``.
    func settledClaims(region: String, from: String, to: String) async throws -> [SettledClaim] {
        try await database.read { tx in
            let rows = try await tx.query(
                """
                SELECT setl_id, medfee_sumamt, diagnosis FROM visits WHERE visit_date >= $1 AND visit_date <= $2
                  AND fixmedins_code >= $3 AND fixmedins_code < $4 AND record IS NOT NULL ORDER BY setl_id LIMIT $5
                """, [.text(from), .text(to)] + Self.institutions(in: region) + [.integer(Int64(Self.maxBatchClaims + 1))]
            )
            guard rows.count <= Self.maxBatchClaims else {
                throw DomainError(.exhausted, field: "from", "more than \(Self.maxBatchClaims) settled claims in the period: review a shorter period or a smaller region")
            }
            return try rows.map { SettledClaim(setlID: try $0.string("setl_id"), amount: try $0.int("medfee_sumamt"), diagnosis: try $0.string("diagnosis")) }
        }
    }

    /// The relayed records (settlement and claim) of settlements, by setl_id.
    func settledRecords(_ setlIDs: [String]) async throws -> [RecordRequest] {
        try await database.read { tx in
            var records: [RecordRequest] = []
            for start in stride(from: 0, to: setlIDs.count, by: 500) {
                var binds: [SQLValue] = []
                let predicate = SQLPlaceholders.isIn("setl_id", setlIDs[start..<min(start + 500, setlIDs.count)].map { .text($0) }, dialect: tx.dialect, binds: &binds)
                for row in try await tx.query("SELECT record FROM visits WHERE \(predicate) ORDER BY setl_id", binds) {
                    records.append(try RecordRequest(decoding: try row.blob("record")))
                }
            }
            return records
        }
    }

    /// The most actions one case takes (each is chained with the whole case).
    static let maxActions = 100

    /// An id from a request as a bind (ids above Int64's range match nothing).
    static func number(_ id: UInt64) -> SQLValue { .integer(Int64(min(id, UInt64(Int64.max)))) }

    /// Inserts a new object kept whole (its id, the column it is found by, its status, its
    /// encoding) and chains it as created.
    static func insert(_ tx: any SQLTransaction, _ object: some WireMessage, into table: String, id: (column: String, value: UInt64),
                       key: (column: String, value: String), status: SQLValue, subject: String) async throws {
        try await tx.execute("INSERT INTO \(table) (\(id.column), \(key.column), status, content) VALUES ($1, $2, $3, $4)",
                             [number(id.value), .text(key.value), status, .blob(try object.encodedBytes())])
        try await chainStep(tx, subject: "\(subject):\(id.value)", object)
    }

    /// The next number in `table`'s `column` (1, 2, ...). PostgreSQL: the table is locked
    /// until commit, so that replicas number one after another.
    static func nextNumber(_ tx: any SQLTransaction, _ table: String, _ column: String) async throws -> UInt64 {
        if tx.dialect == .postgres { try await tx.execute("LOCK TABLE \(table) IN EXCLUSIVE MODE", []) }
        return UInt64(try await tx.queryOne("SELECT COALESCE(MAX(\(column)), 0) + 1 AS n FROM \(table)", [])?.int("n") ?? 1)
    }

    /// Chains a step of supervision's own work (kind SUPERVISION) in the step's transaction.
    static func chainStep(_ tx: any SQLTransaction, subject: String, _ object: some WireMessage) async throws {
        _ = try await link(tx, kind: .supervision, subject: subject, content: try object.encodedBytes())
    }

    // MARK: post-settlement batches and findings

    /// Stores a batch and its findings, each (claim, rule) once: a finding an earlier batch
    /// already made is left out (and not counted). Answers the batch with its id and count.
    func storeBatch(_ batch: PostReviewBatch, findings: [CaseFinding]) async throws -> PostReviewBatch {
        try await database.write { tx in
            var batch = batch
            batch.batchID = try await Self.nextNumber(tx, "review_batches", "batch_id")
            var next = try await Self.nextNumber(tx, "findings", "finding_id")
            var known = Set<String>()
            let keys = findings.map(Self.onceKey)
            for start in stride(from: 0, to: keys.count, by: 500) {
                var binds: [SQLValue] = []
                let predicate = SQLPlaceholders.isIn("once_key", keys[start..<min(start + 500, keys.count)].map { .text($0) }, dialect: tx.dialect, binds: &binds)
                for row in try await tx.query("SELECT once_key FROM findings WHERE \(predicate)", binds) { known.insert(try row.string("once_key")) }
            }
            var rows: [[SQLValue]] = []
            for var finding in findings where known.insert(Self.onceKey(finding)).inserted {
                finding.findingID = next
                finding.batchID = batch.batchID
                next += 1
                rows.append([.integer(Int64(finding.findingID)), .text(finding.fixmedinsCode), finding.status.stored, .integer(Int64(batch.batchID)), .integer(0),
                             .integer(0), .text(Self.onceKey(finding)), .blob(try finding.encodedBytes()), .integer(finding.amountToRecover)])
            }
            for start in stride(from: 0, to: rows.count, by: 100) {
                try await tx.insert(into: "findings", columns: Self.findingColumns, rows: Array(rows[start..<min(start + 100, rows.count)]), tail: "")
            }
            batch.findings = UInt32(rows.count)
            try await tx.execute("INSERT INTO review_batches (batch_id, region, content) VALUES ($1, $2, $3)",
                                 [.integer(Int64(batch.batchID)), .text(batch.region), .blob(try batch.encodedBytes())])
            try await Self.chainStep(tx, subject: "batch:\(batch.batchID)", batch)
            return batch
        }
    }

    static let findingColumns = ["finding_id", "fixmedins_code", "status", "batch_id", "inspection_id", "case_id", "once_key", "content", "amount_to_recover"]

    /// A post-review finding is made once per settlement, rule, item and evidence (a rule
    /// that fires per line, such as a price above the reference, finds each line).
    static func onceKey(_ finding: CaseFinding) -> String {
        let found = finding.finding ?? Finding()
        return "\(finding.setlID)/\(found.ruleID)/\(found.itemCode)/" + SM3.hex(SM3.digest(Array(found.evidence.utf8))).prefix(16)
    }

    /// Findings of institutions in `region` after `after`, by id, filtered.
    func findings(region: String, statuses: [FindingStatus], batchID: UInt64, inspectionID: UInt64, after: UInt64, limit: Int) async throws -> [CaseFinding] {
        try await database.read { tx in
            var sql = "SELECT content FROM findings WHERE finding_id > $1 AND fixmedins_code >= $2 AND fixmedins_code < $3"
            var binds: [SQLValue] = [Self.number(after)] + Self.institutions(in: region)
            if batchID > 0 { binds.append(Self.number(batchID)); sql += " AND batch_id = $\(binds.count)" }
            if inspectionID > 0 { binds.append(Self.number(inspectionID)); sql += " AND inspection_id = $\(binds.count)" }
            if !statuses.isEmpty {
                sql += " AND status IN (" + statuses.map { status in binds.append(status.stored); return "$\(binds.count)" }.joined(separator: ", ") + ")"
            }
            binds.append(.integer(Int64(limit)))
            return try await tx.query(sql + " ORDER BY finding_id LIMIT $\(binds.count)", binds).map { try CaseFinding(decoding: try $0.blob("content")) }
        }
    }

    /// A finding at `code`, read for update in `tx`; NOT_FOUND naming `field` otherwise.
    static func finding(_ tx: any SQLTransaction, _ id: UInt64, at code: String, field: String) async throws -> CaseFinding {
        guard let row = try await tx.queryOne("SELECT content FROM findings WHERE finding_id = $1 AND fixmedins_code = $2" + tx.dialect.forUpdate,
                                              [Self.number(id), .text(code)]) else {
            throw DomainError(.notFound, field: field, "no finding \(id) at \(code)")
        }
        return try CaseFinding(decoding: try row.blob("content"))
    }

    static func save(_ tx: any SQLTransaction, finding: CaseFinding) async throws {
        try await tx.execute("UPDATE findings SET status = $1, case_id = $2, content = $3, amount_to_recover = $4 WHERE finding_id = $5",
                             [finding.status.stored, .integer(Int64(finding.caseID)), .blob(try finding.encodedBytes()), .integer(finding.amountToRecover),
                              .integer(Int64(finding.findingID))])
    }

    /// Confirms or dismisses an open finding (the same decision again answers it as it stands).
    func decide(_ id: UInt64, at code: String, decision: FindingDecision, amount: Int64, note: String, by: String) async throws -> CaseFinding {
        try await database.write { tx in
            var finding = try await Self.finding(tx, id, at: code, field: "finding_id")
            let status: FindingStatus = decision == .confirm ? .confirmed : .dismissed
            if finding.status == status {
                guard decision == .dismiss || finding.amountToRecover == amount else {
                    throw DomainError(.precondition, field: "amount_to_recover", "finding \(id) is confirmed already, with \(finding.amountToRecover) fen to recover")
                }
                return finding
            }
            guard finding.status == .open else {
                throw DomainError(.precondition, field: "decision", "finding \(id) is \(finding.status.code) already")
            }
            let atIssue = finding.finding?.amountAtIssue ?? 0
            guard decision == .dismiss || (0...max(atIssue, 0)).contains(amount) else {
                throw DomainError(field: "amount_to_recover", "must be 0 to the amount at issue (\(atIssue) fen), got \(amount)")
            }
            finding.status = status
            finding.amountToRecover = decision == .confirm ? amount : 0
            finding.note = note
            finding.decidedBy = by
            finding.decidedAt = Date().formatted(.iso8601)
            try await Self.save(tx, finding: finding)
            try await Self.chainStep(tx, subject: "finding:\(id)", finding)
            return finding
        }
    }

    // MARK: inspections

    func plan(_ inspection: Inspection) async throws -> Inspection {
        try await database.write { tx in
            var inspection = inspection
            inspection.inspectionID = try await Self.nextNumber(tx, "inspections", "inspection_id")
            try await Self.insert(tx, inspection, into: "inspections", id: ("inspection_id", inspection.inspectionID), key: ("region", inspection.region),
                                  status: inspection.status.stored, subject: "inspection")
            return inspection
        }
    }

    /// An inspection whose region lies inside `region` (the caller's confinement), read for update.
    static func inspection(_ tx: any SQLTransaction, _ id: UInt64, inside region: String) async throws -> Inspection {
        guard let row = try await tx.queryOne("SELECT content FROM inspections WHERE inspection_id = $1" + tx.dialect.forUpdate,
                                              [Self.number(id)]),
              case let inspection = try Inspection(decoding: try row.blob("content")), inspection.region.hasPrefix(region) else {
            throw DomainError(.notFound, field: "inspection_id", "no inspection \(id) in region \(region)")
        }
        return inspection
    }

    static func save(_ tx: any SQLTransaction, inspection: Inspection) async throws {
        try await tx.execute("UPDATE inspections SET status = $1, content = $2 WHERE inspection_id = $3",
                             [inspection.status.stored, .blob(try inspection.encodedBytes()), .integer(Int64(inspection.inspectionID))])
        try await chainStep(tx, subject: "inspection:\(inspection.inspectionID)", inspection)
    }

    /// Moves an inspection one step on (the same step again answers it as it stands).
    func advance(_ id: UInt64, inside region: String, to status: InspectionStatus, conclusion: String) async throws -> Inspection {
        try await database.write { tx in
            var inspection = try await Self.inspection(tx, id, inside: region)
            if inspection.status == status { return inspection }
            let now = Date().formatted(.iso8601)
            switch (inspection.status, status) {
            case (.planned, .inProgress): inspection.startedAt = now
            case (.inProgress, .closed):
                inspection.closedAt = now
                inspection.conclusion = conclusion
            default:
                throw DomainError(.precondition, field: "to_status", "inspection \(id) is \(inspection.status.code): it cannot go to \(status.code)")
            }
            inspection.status = status
            try await Self.save(tx, inspection: inspection)
            return inspection
        }
    }

    /// Records an inspector's finding (CONFIRMED) in an inspection in progress.
    func record(_ finding: CaseFinding, inspection id: UInt64) async throws -> CaseFinding {
        try await database.write { tx in
            // Found only when it covers the institution (whose region the caller may act in):
            // another region's inspection answers as one that does not exist.
            guard let row = try await tx.queryOne("SELECT content FROM inspections WHERE inspection_id = $1" + tx.dialect.forUpdate,
                                                  [Self.number(id)]),
                  case var inspection = try Inspection(decoding: try row.blob("content")), inspection.fixmedinsCodes.contains(finding.fixmedinsCode) else {
                throw DomainError(.notFound, field: "inspection_id", "no inspection \(id) of \(finding.fixmedinsCode)")
            }
            guard inspection.status == .inProgress else {
                throw DomainError(.precondition, field: "inspection_id", "inspection \(id) is \(inspection.status.code): findings are recorded while it is in progress")
            }
            var finding = finding
            finding.findingID = try await Self.nextNumber(tx, "findings", "finding_id")
            try await tx.insert(into: "findings", columns: Self.findingColumns, rows: [[
                .integer(Int64(finding.findingID)), .text(finding.fixmedinsCode), finding.status.stored, .integer(0), .integer(Int64(id)), .integer(0), .null,
                .blob(try finding.encodedBytes()), .integer(finding.amountToRecover),
            ]], tail: "")
            try await Self.chainStep(tx, subject: "finding:\(finding.findingID)", finding)
            inspection.findings += 1
            try await Self.save(tx, inspection: inspection)
            return finding
        }
    }

    func inspections(region: String, after: UInt64, limit: Int) async throws -> [Inspection] {
        try await database.read { tx in
            try await tx.query(
                "SELECT content FROM inspections WHERE inspection_id > $1 AND region >= $2 AND region < $3 ORDER BY inspection_id LIMIT $4",
                [Self.number(after), .text(region), .text(DivisionCode.textRange(prefix: region).upper), .integer(Int64(limit))]
            ).map { try Inspection(decoding: try $0.blob("content")) }
        }
    }

    // MARK: cases

    /// Opens a case on confirmed findings (each then belongs to it) and/or an alert at the
    /// institution.
    func open(_ sent: SupervisionCase) async throws -> SupervisionCase {
        try await database.write { tx in
            var opened = sent
            opened.caseID = try await Self.nextNumber(tx, "cases", "case_id")
            for (i, id) in sent.findingIds.enumerated() {
                var finding = try await Self.finding(tx, id, at: sent.fixmedinsCode, field: "finding_ids[\(i)]")
                guard finding.status == .confirmed else {
                    throw DomainError(.precondition, field: "finding_ids[\(i)]", "finding \(id) is \(finding.status.code): only confirmed findings open a case")
                }
                guard finding.caseID == 0 else { throw DomainError(.precondition, field: "finding_ids[\(i)]", "finding \(id) is in case \(finding.caseID) already") }
                finding.caseID = opened.caseID
                opened.amountToRecover += finding.amountToRecover
                try await Self.save(tx, finding: finding)
                try await Self.chainStep(tx, subject: "finding:\(id)", finding)
            }
            if sent.alertID > 0 {
                guard try await tx.queryOne("SELECT alert_id FROM alerts WHERE alert_id = $1 AND fixmedins_code = $2",
                                            [Self.number(sent.alertID), .text(sent.fixmedinsCode)]) != nil else {
                    throw DomainError(.notFound, field: "alert_id", "no alert \(sent.alertID) at \(sent.fixmedinsCode)")
                }
            }
            try await Self.insert(tx, opened, into: "cases", id: ("case_id", opened.caseID), key: ("fixmedins_code", opened.fixmedinsCode),
                                  status: opened.status.stored, subject: "case")
            return opened
        }
    }

    /// A case at `code`, read for update in `tx`; NOT_FOUND otherwise.
    static func supervisionCase(_ tx: any SQLTransaction, _ id: UInt64, at code: String) async throws -> SupervisionCase {
        guard let row = try await tx.queryOne("SELECT content FROM cases WHERE case_id = $1 AND fixmedins_code = $2" + tx.dialect.forUpdate,
                                              [Self.number(id), .text(code)]) else {
            throw DomainError(.notFound, field: "case_id", "no case \(id) at \(code)")
        }
        return try SupervisionCase(decoding: try row.blob("content"))
    }

    static func save(_ tx: any SQLTransaction, case saved: SupervisionCase) async throws {
        try await tx.execute("UPDATE cases SET status = $1, content = $2 WHERE case_id = $3",
                             [saved.status.stored, .blob(try saved.encodedBytes()), .integer(Int64(saved.caseID))])
        try await chainStep(tx, subject: "case:\(saved.caseID)", saved)
    }

    func supervisionCase(_ id: UInt64, at code: String) async throws -> SupervisionCase {
        try await database.read { tx in try await Self.supervisionCase(tx, id, at: code) }
    }

    /// Adds an action to an open case; one to apply elsewhere waits in `case_actions_pending`
    /// (with whom it is taken for) until ``settle(action:in:)`` records its outcome.
    func take(_ action: CaseAction, case id: UInt64, at code: String, acting: String) async throws -> SupervisionCase {
        try await database.write { tx in
            var taken = try await Self.supervisionCase(tx, id, at: code)
            // A retry under the same key: the case as it stands (the same action, or refused),
            // even once the case is closed or full.
            if let earlier = taken.actions.first(where: { $0.requestDigest == action.requestDigest }) {
                guard earlier.kind == action.kind, earlier.amount == action.amount, earlier.reason == action.reason, earlier.effectiveDate == action.effectiveDate else {
                    throw DomainError(.precondition, field: "idempotency-key", "was used for action \(earlier.n) (\(earlier.kind.code)) of case \(id)")
                }
                return taken
            }
            guard taken.status == .open else { throw DomainError(.precondition, field: "case_id", "case \(id) is closed") }
            guard taken.actions.count < Self.maxActions else {
                throw DomainError(.precondition, field: "case_id", "case \(id) has \(Self.maxActions) actions, the most a case takes: close it and open another")
            }
            var action = action
            action.n = UInt32(taken.actions.count + 1)
            taken.actions.append(action)
            if action.state == .pending {
                try await tx.execute("INSERT INTO case_actions_pending (case_id, n, acting) VALUES ($1, $2, $3)",
                                     [.integer(Int64(id)), .integer(Int64(action.n)), .text(acting)])
            }
            try await Self.save(tx, case: taken)
            return taken
        }
    }

    /// The actions waiting to be applied, oldest first: (case, action number, institution, acting caller).
    func pendingActions(limit: Int = 100) async throws -> [(caseID: UInt64, n: UInt32, code: String, acting: String)] {
        try await database.read { tx in
            try await tx.query(
                """
                SELECT p.case_id, p.n, p.acting, c.fixmedins_code FROM case_actions_pending p JOIN cases c ON c.case_id = p.case_id
                ORDER BY p.case_id, p.n LIMIT $1
                """, [.integer(Int64(limit))]
            ).map { (UInt64(try $0.int("case_id")), UInt32(try $0.int("n")), try $0.string("fixmedins_code"), try $0.string("acting")) }
        }
    }

    /// Records an applied or refused action's outcome once (a second replica's is ignored).
    func settle(action n: UInt32, in id: UInt64, at code: String, state: ActionState, outcome: String) async throws {
        try await database.write { tx in
            guard try await tx.queryOne("SELECT n FROM case_actions_pending WHERE case_id = $1 AND n = $2" + tx.dialect.forUpdate,
                                        [.integer(Int64(id)), .integer(Int64(n))]) != nil else { return }
            var settled = try await Self.supervisionCase(tx, id, at: code)
            guard Int(n) <= settled.actions.count else { return }
            settled.actions[Int(n) - 1].state = state
            settled.actions[Int(n) - 1].outcome = String(outcome.prefix(500))
            settled.actions[Int(n) - 1].appliedAt = Date().formatted(.iso8601)
            try await tx.execute("DELETE FROM case_actions_pending WHERE case_id = $1 AND n = $2", [.integer(Int64(id)), .integer(Int64(n))])
            try await Self.save(tx, case: settled)
        }
    }

    /// Closes a case once none of its actions is pending (closing again answers it as it stands).
    func close(_ id: UInt64, at code: String, conclusion: String) async throws -> SupervisionCase {
        try await database.write { tx in
            var closed = try await Self.supervisionCase(tx, id, at: code)
            if closed.status == .closed { return closed }
            if let pending = closed.actions.first(where: { $0.state == .pending }) {
                throw DomainError(.precondition, field: "case_id", "action \(pending.n) (\(pending.kind.code)) of case \(id) is still being applied")
            }
            closed.status = .closed
            closed.conclusion = conclusion
            closed.closedAt = Date().formatted(.iso8601)
            try await Self.save(tx, case: closed)
            return closed
        }
    }

    /// Who settles for a clinic (its township centre, or itself), as its latest counted day says.
    func settleVia(_ code: String) async throws -> String? {
        try await database.read { tx in
            try await tx.queryOne("SELECT settle_via FROM institution_days WHERE fixmedins_code = $1 ORDER BY day DESC LIMIT 1", [.text(code)])?.string("settle_via")
        }
    }

    func cases(region: String, after: UInt64, limit: Int) async throws -> [SupervisionCase] {
        try await database.read { tx in
            try await tx.query(
                "SELECT content FROM cases WHERE case_id > $1 AND fixmedins_code >= $2 AND fixmedins_code < $3 ORDER BY case_id LIMIT $4",
                [Self.number(after)] + Self.institutions(in: region) + [.integer(Int64(limit))]
            ).map { row in
                var listed = try SupervisionCase(decoding: try row.blob("content"))
                listed.actions = []
                return listed
            }
        }
    }
}
