import Foundation
import MedicareContracts
import MedicareCrypto
import MedicareDomain
import MedicareRuntime
import MedicareStore
import MedicareWire
import NIOCore

/// The settlement service's data on either engine. Every posting happens inside one write
/// transaction: the settlement row, its balanced ledger entries and the person's
/// accumulators and account change together or not at all.
public struct SettlementStore: Sendable {
    public let database: any SQLDatabase
    /// Groups concurrent settle requests into shared postings (a ``Coalescer``), on either
    /// engine; nil on the store its batches run on.
    let batcher: Coalescer<PendingSettle, SettlementResult>?
    /// The sign-ins known to be stored, so that visit steps need not read them.
    let signIns: SignInMemory

    /// Most claims in one posting.
    static let batchClaims = 64
    /// Most fee lines in one posting (a claim holds at most 500).
    static let batchLines = 2_000

    /// A store on `database`. Settle requests are posted together by up to `writers`
    /// postings at a time (a ``Coalescer`` of at most ``batchClaims`` claims and
    /// ``batchLines`` fee lines, its batch sizes recorded as `medicare_settlement_batch_size`;
    /// below 1 counts as 1, and the configuration key `store.settle-writers` allows 1-16): on
    /// PostgreSQL each posting is a transaction of a fixed number of statements; on SQLite a
    /// job of the writer's group commit, whose statements then serve the whole batch instead
    /// of each settle its own (measured: 1.10 and 1.11 times the visit flow's rate).
    public init(database: any SQLDatabase, writers: Int = 1) {
        self.database = database
        let signIns = SignInMemory()
        self.signIns = signIns
        let alone = SettlementStore(database: database, batcher: nil, signIns: signIns)
        self.batcher = Coalescer(metric: "medicare_settlement_batch_size", runners: writers, maxCount: Self.batchClaims, maxWeight: Self.batchLines,
                                 weight: { $0.claim.lines.count }) { await alone.settleTogether($0) }
    }

    private init(database: any SQLDatabase, batcher: Coalescer<PendingSettle, SettlementResult>?, signIns: SignInMemory) {
        self.database = database
        self.batcher = batcher
        self.signIns = signIns
    }

    /// A person's year for a medical type: deductible used and fund paid so far, fen.
    /// A person's year on one visit type's terms, fen: deductible used and pooling paid; the
    /// in-scope amount left borne after pooling and what serious illness, the civil-servant
    /// subsidy and medical assistance paid (those funds count the year over every visit type:
    /// ``year(of:)``).
    struct Accumulator: Sendable {
        var deductibleUsed: Int64
        var fundPaid: Int64
        var borne: Int64 = 0
        var hifmiPaid: Int64 = 0
        var cvlservPaid: Int64 = 0
        var mafPaid: Int64 = 0

        /// Nothing used or paid yet.
        static let zero = Accumulator(deductibleUsed: 0, fundPaid: 0)
    }

    /// Upserts `persons` (checked: ``InsuredPerson/forImport(_:at:)``) by `psn_no` in one
    /// transaction, each person's insurance records replacing those held.
    /// - Throws: ``StoreError/constraint(_:)`` when a `certno` belongs to another `psn_no`.
    public func importPersons(_ persons: [InsuredPerson]) async throws {
        // A few statements for the whole batch, not three a person: a province is ten million.
        let personRows = persons.map { p -> [SQLValue] in
            [.text(p.psnNo), .text(p.certno), .text(p.name), .text(String(p.insutype.rawValue)), .text(p.insuAdmdvs), p.psnInsuStas.stored,
             .integer(p.accountBalance), .integer(p.cvlservFlag ? 1 : 0), .integer(Int64(p.psnIdetType.rawValue))]
        }
        let recordRows = persons.flatMap { p in
            p.insuinfo.map { r -> [SQLValue] in
                [.text(p.psnNo), .text(String(r.insutype.rawValue)), .text(r.insuplcAdmdvs), r.psnInsuStas.stored, .text(r.psnInsuDate), .text(r.pausInsuDate)]
            }
        }
        let dialect = database.dialect
        try await database.write { tx in
            try await tx.insert(
                into: "persons",
                columns: ["psn_no", "certno", "name", "insutype", "insu_admdvs", "status", "account_balance", "cvlserv_flag", "psn_idet_type"],
                rows: personRows,
                tail: """
                    ON CONFLICT (psn_no) DO UPDATE SET certno = excluded.certno, name = excluded.name, insutype = excluded.insutype,
                    insu_admdvs = excluded.insu_admdvs, status = excluded.status, account_balance = excluded.account_balance,
                    cvlserv_flag = excluded.cvlserv_flag, psn_idet_type = excluded.psn_idet_type
                    """
            )
            // The records given replace those held (the flat columns above summarize the newest basic one).
            for start in stride(from: 0, to: persons.count, by: 5_000) {
                var binds: [SQLValue] = []
                let these = SQLPlaceholders.isIn("psn_no", persons[start..<min(start + 5_000, persons.count)].map { .text($0.psnNo) }, dialect: dialect, binds: &binds)
                try await tx.execute("DELETE FROM insurance_records WHERE \(these)", binds)
            }
            try await tx.insert(
                into: "insurance_records", columns: ["psn_no", "insutype", "insuplc_admdvs", "status", "psn_insu_date", "paus_insu_date"], rows: recordRows)
        }
    }

    /// Records an operator's sign-in for its day, unless one is recorded for the same
    /// institution, operator and day: then that one is answered (its number and time), so a
    /// retry or a second terminal gets the day's number.
    func signIn(_ signIn: OperatorSignIn) async throws -> OperatorSignIn {
        try await database.write { tx in
            try await tx.execute(
                """
                INSERT INTO sign_ins (sign_no, fixmedins_code, opter_no, opter_name, sign_date, signed_at, mac, ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (fixmedins_code, opter_no, sign_date) DO NOTHING
                """,
                [.text(signIn.signNo), .text(signIn.fixmedinsCode), .text(signIn.opterNo), .text(signIn.opterName), .text(signIn.signDate),
                 .text(signIn.signedAt), .text(signIn.mac), .text(signIn.ip)]
            )
            let row = try await tx.queryOne(
                "SELECT sign_no, signed_at FROM sign_ins WHERE fixmedins_code = $1 AND opter_no = $2 AND sign_date = $3",
                [.text(signIn.fixmedinsCode), .text(signIn.opterNo), .text(signIn.signDate)]
            )
            // The insert, or the row it yielded to, is there: the unique key waits for the other's commit.
            guard let row else { throw StoreError.decoding("sign_ins: the day's sign-in of \(signIn.opterNo) at \(signIn.fixmedinsCode) is missing") }
            var recorded = signIn
            recorded.signNo = try row.string("sign_no")
            recorded.signedAt = try row.string("signed_at")
            return recorded
        }
    }

    /// The person with a resident ID and all their insurance records (newest first), or nil.
    public func person(certno: String) async throws -> InsuredPerson? {
        try await database.lookup { tx in
            guard var person = try await tx.queryOne("SELECT * FROM persons WHERE certno = $1", [.text(certno)]).map(Self.person) else { return nil }
            person.insuinfo = try await Self.insuranceRecords(of: person, tx)
            return person
        }
    }

    /// The person numbered `psnNo` and all their insurance records (newest first), or nil.
    public func person(psnNo: String) async throws -> InsuredPerson? {
        try await database.lookup { tx in
            guard var person = try await tx.queryOne("SELECT * FROM persons WHERE psn_no = $1", [.text(psnNo)]).map(Self.person) else { return nil }
            person.insuinfo = try await Self.insuranceRecords(of: person, tx)
            return person
        }
    }

    /// A person's insurance records, newest first; one running record made of the flat
    /// columns for a person stored without any.
    static func insuranceRecords(of person: InsuredPerson, _ tx: any SQLTransaction) async throws -> [InsuInfo] {
        let records = try await tx.query(
            "SELECT * FROM insurance_records WHERE psn_no = $1 ORDER BY psn_insu_date DESC", [.text(person.psnNo)]
        ).map(insuranceRecord)
        return records.isEmpty ? [InsuInfo(insutype: person.insutype, insuplcAdmdvs: person.insuAdmdvs, psnInsuStas: person.psnInsuStas)] : records
    }

    static func insuranceRecord(_ row: SQLRow) throws -> InsuInfo {
        InsuInfo(
            insutype: Insutype(rawValue: Int32(try row.string("insutype")) ?? 0), insuplcAdmdvs: try row.string("insuplc_admdvs"),
            psnInsuStas: try row.code("status"), psnInsuDate: try row.string("psn_insu_date"), pausInsuDate: try row.string("paus_insu_date"))
    }

    /// A person's year-to-date accumulators for a visit type and, for the funds that count by
    /// year, over every visit type (zero when none yet), unlocked.
    func accumulator(psnNo: String, year: Int64, visitType: String) async throws -> (Accumulator, year: Accumulator) {
        try await database.lookup { tx in
            var byType: [String: Accumulator] = [:]
            for row in try await tx.query(
                "SELECT visit_type, deductible_used, fund_paid, borne, hifmi_paid, cvlserv_paid, maf_paid FROM accumulators WHERE psn_no = $1 AND year = $2",
                [.text(psnNo), .integer(year)]
            ) {
                byType[try row.string("visit_type")] = Accumulator(
                    deductibleUsed: try row.int("deductible_used"), fundPaid: try row.int("fund_paid"), borne: try row.int("borne"),
                    hifmiPaid: try row.int("hifmi_paid"), cvlservPaid: try row.int("cvlserv_paid"), mafPaid: try row.int("maf_paid"))
            }
            return (byType[visitType] ?? .zero, Accumulator.year(of: byType.values))
        }
    }

    static func person(_ row: SQLRow) throws -> InsuredPerson {
        InsuredPerson(
            psnNo: try row.string("psn_no"), certno: try row.string("certno"), name: try row.string("name"),
            // insutype is kept as its national code (310), status as the stable code ("enrolled").
            insutype: Insutype(rawValue: Int32(try row.string("insutype")) ?? 0), insuAdmdvs: try row.string("insu_admdvs"), psnInsuStas: try row.code("status"),
            accountBalance: try row.int("account_balance"), cvlservFlag: try row.int("cvlserv_flag") == 1,
            psnIdetType: PsnIdetType(rawValue: Int32(truncatingIfNeeded: try row.int("psn_idet_type")))
        )
    }

    /// What makes a settle request itself: who asks (the idempotency scope), under which key,
    /// for which claim (its digest), and the business day it happens on.
    struct SettleIdentity: Sendable {
        /// ``PeerIdentity/idempotencyScope`` of the acting caller.
        var scope: String
        var key: String
        var digest: String
        /// The business day the money moves (settlement's time zone), YYYY-MM-DD.
        var day: String

        /// The stored key: the scope and the key, space-separated (keys hold no spaces).
        var scopedKey: String { scope + " " + key }
    }

    /// The stored answer for a request, if there is one; nil when it is new. Replays first:
    ///
    /// - the same scope and key: the stored settlement when the claim is the same, else
    ///   `FAILED_PRECONDITION` on `idempotency-key` (nothing about the earlier request is told);
    /// - the same live visit (`fixmedins_code`, `mdtrt_id`) under another key: the stored
    ///   settlement when the claim is the same (a HIS retrying with a fresh message number),
    ///   else `ALREADY_EXISTS` naming the live `setl_id`.
    static func replay(_ tx: any SQLTransaction, _ identity: SettleIdentity, claim: ValidatedClaim) async throws -> SettlementResult? {
        // One statement for both (an index each): the key's row, else the visit's live one.
        let rows = try await tx.query(
            """
            SELECT idempotency_key, setl_id, claim_digest, status, result FROM settlements
            WHERE idempotency_key = $1 OR (fixmedins_code = $2 AND mdtrt_id = $3 AND status = '\(SettlementStatus.settled.code)')
            """,
            [.text(identity.scopedKey), .text(claim.clinic.value), .text(claim.claim.mdtrtID)]
        )
        let key = try rows.first { try $0.string("idempotency_key") == identity.scopedKey }
        let visit = try rows.first { try $0.string("idempotency_key") != identity.scopedKey }
        return try replayed(byKey: try key.map(Prior.init(row:)), byVisit: try visit.map(Prior.init(row:)), identity, claim: claim)
    }

    static func stored(_ row: SQLRow) throws -> SettlementResult {
        var result = try SettlementResult(decoding: row.blob("result"))
        result.status = try row.code("status")
        result.replay = true
        return result
    }

    /// The stored answer for a request without posting anything (`Settlement/Replay`): NOT_FOUND
    /// when there is none.
    func replay(_ identity: SettleIdentity, claim: ValidatedClaim) async throws -> SettlementResult {
        try await database.lookup { tx in
            guard let result = try await Self.replay(tx, identity, claim: claim) else {
                throw DomainError(.notFound, field: "idempotency-key", "no settlement is stored for this key or visit")
            }
            return result
        }
    }

    /// Settles a visit at most once: replays come first (see ``replay(_:_:claim:)``), then the
    /// duplicate-billing rule (R003: the same person, catalogue item and visit day billed by
    /// another live settlement) is checked in this same transaction, so that two claims sent
    /// together cannot both pass it. What to post is `settling`'s decision, made inside the
    /// transaction from the person's locked state; the store persists it (see
    /// ``post(_:_:)``). Concurrent requests are posted together, several a posting (a
    /// ``Coalescer``): a request that finds the posting free goes alone, without waiting.
    /// `claimBytes`: the claim as its audit record carries it (``ValidatedClaim/encodedWithoutRoute()``).
    func settle(
        _ identity: SettleIdentity, settling: Settling, claimBytes: [UInt8]
    ) async throws -> SettlementResult {
        let request = PendingSettle(identity: identity, settling: settling, claimBytes: claimBytes)
        if let batcher { return try await batcher.submit(request) }
        return try await settleAlone(request)
    }

    /// Posts requests together; when a replica raced one of them to a key or visit (a unique
    /// index refused the batch, nothing kept), each is posted on its own instead.
    func settleTogether(_ requests: [PendingSettle]) async -> [Result<SettlementResult, any Error>] {
        func alone(_ request: PendingSettle) async -> Result<SettlementResult, any Error> {
            do { return .success(try await settleAlone(request)) } catch { return .failure(error) }
        }
        guard requests.count > 1 else { return [await alone(requests[0])] }
        do {
            return try await database.write { tx in try await Self.post(tx, requests) }
        } catch StoreError.constraint {
            var outcomes: [Result<SettlementResult, any Error>] = []
            for request in requests { outcomes.append(await alone(request)) }
            return outcomes
        } catch {
            return requests.map { _ in .failure(error) }
        }
    }

    /// Posts one request in its own transaction. A unique index that refuses it means a
    /// replica raced it to the key or the visit: the winner is replayed. (Duplicate billing
    /// never reaches the index: ``post(_:_:)`` reads the person's billed items after taking
    /// the person's lock, which every writer of them holds.)
    func settleAlone(_ request: PendingSettle) async throws -> SettlementResult {
        do {
            return try await database.write { tx in try await Self.post(tx, [request])[0].get() }
        } catch let error as StoreError {
            guard case .constraint = error else { throw error }
            let claim = request.claim
            // The transaction that lost sees the winner's row now.
            guard let winner = try await database.lookup({ tx in try await Self.replay(tx, request.identity, claim: claim) }) else { throw error }
            return winner
        }
    }

    static func duplicate(item: String?, claim: ValidatedClaim) -> DomainError {
        DomainError(
            .precondition, field: "claim.lines",
            "R003: \(item ?? "an item") is already billed to \(claim.claim.psnNo) for \(claim.visitDate) by another settlement"
        )
    }

    /// Reverses a settlement once. Keys are scoped like settle's: the same scope and key for
    /// the same `setl_id` gets the stored answer (marked as a replay); for another `setl_id`
    /// it is refused without naming it. The reversal counts on `day`, the day it happens.
    func reverse(scope: String, key: String, setlID: String, reason: String, day: String) async throws -> ReverseResponse {
        let scopedKey = scope + " " + key
        return try await database.write { tx in
            // Row locks on PostgreSQL, where replicas write concurrently; SQLite's single writer
            // already serialises transactions.
            let lock = tx.dialect.forUpdate
            if let existing = try await tx.queryOne("SELECT reversal_id, setl_id FROM reversals WHERE idempotency_key = $1", [.text(scopedKey)]) {
                guard try existing.string("setl_id") == setlID else {
                    throw DomainError(.precondition, field: "idempotency-key", "was already used for a different request; a new request needs a new key")
                }
                let original = try await tx.queryOne("SELECT result FROM settlements WHERE setl_id = $1", [.text(setlID)])
                var result = try SettlementResult(decoding: original?.blob("result") ?? [])
                result.status = .reversed
                return ReverseResponse(setlID: setlID, reversalID: try existing.string("reversal_id"), original: result, replay: true)
            }
            guard let row = try await tx.queryOne("SELECT * FROM settlements WHERE setl_id = $1\(lock)", [.text(setlID)]) else {
                throw DomainError(.notFound, field: "setl_id", "no such settlement")
            }
            guard try row.code("status", as: SettlementStatus.self) == .settled else {
                // On PostgreSQL a retry may have waited on the row lock for its own first try.
                if let mine = try await tx.queryOne("SELECT reversal_id FROM reversals WHERE idempotency_key = $1 AND setl_id = $2", [.text(scopedKey), .text(setlID)]) {
                    var result = try SettlementResult(decoding: row.blob("result"))
                    result.status = .reversed
                    return ReverseResponse(setlID: setlID, reversalID: try mine.string("reversal_id"), original: result, replay: true)
                }
                throw DomainError(.precondition, field: "setl_id", "settlement \(setlID) is already reversed")
            }
            // The person before the accumulators, in the order settle takes them (no deadlock).
            if !lock.isEmpty { _ = try await tx.queryOne("SELECT psn_no FROM persons WHERE psn_no = $1\(lock)", [.text(try row.string("psn_no"))]) }
            var result = try SettlementResult(decoding: row.blob("result"))
            let reversalID = timeOrderedID(prefix: "R")
            try await tx.insert(into: "ledger", columns: Self.ledgerColumns, rows: Self.ledger(txn: reversalID, setlID: setlID, result: result, reverse: true))
            // What the posting counted, `borne` as its row holds it (none for one posted before
            // migration 21 that ``countBorneOfOlderSettlements(thisYear:)`` has not reached).
            let counted = Accumulator(result, borne: try row.optionalInt("borne") ?? 0)
            let n = Accumulator.counts.count
            try await tx.execute(
                "UPDATE accumulators SET \(Accumulator.counts.enumerated().map { "\($1.column) = \($1.column) - $\($0 + 1)" }.joined(separator: ", ")) "
                    + "WHERE psn_no = $\(n + 1) AND year = $\(n + 2) AND visit_type = $\(n + 3)",
                counted.values + [.text(result.psnNo), .integer(try row.int("year")), .text(try row.string("visit_type"))]
            )
            if result.acctPay > 0 {
                try await tx.execute("UPDATE persons SET account_balance = account_balance + $1 WHERE psn_no = $2", [.integer(result.acctPay), .text(result.psnNo)])
            }
            try await tx.execute("UPDATE settlements SET status = $1 WHERE setl_id = $2", [SettlementStatus.reversed.stored, .text(setlID)])
            // By the table's key (no index on setl_id to keep up on every posting).
            for item in Set(result.lines.map(\.itemCode)) {
                try await tx.execute(
                    "DELETE FROM billed_items WHERE psn_no = $1 AND visit_date = $2 AND item_code = $3 AND setl_id = $4",
                    [.text(result.psnNo), .text(try row.string("visit_date")), .text(item), .text(setlID)]
                )
            }
            try await tx.execute(
                "INSERT INTO reversals (reversal_id, idempotency_key, setl_id, reason, created_at, caller, rev_date) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                [.text(reversalID), .text(scopedKey), .text(setlID), .text(reason), .text(Date().formatted(.iso8601)), .text(scope), .text(day)]
            )
            result.status = .reversed
            try await tx.insert(into: "audit_outbox", columns: Self.auditColumns, rows: [Self.auditRow(setlID: setlID, kind: .reversal, settlement: try result.encodedBytes())])
            return ReverseResponse(setlID: setlID, reversalID: reversalID, original: result)
        }
    }

    // MARK: audit outbox

    /// What pins supervision's chain from here: the latest 1,000 checkpoints received and the
    /// summary of the postings already delivered (all postings, less those in the outbox).
    public func auditEvidence() async throws -> AuditEvidence {
        let checkpoints = try await outbox.checkpoints()
        return try await database.read { tx in
            // One statement, so one snapshot on either engine: every posting, and the outbox.
            let rows = try await tx.query(
                """
                SELECT '\(AuditKind.settlement.code)' AS kind, setl_id, 0 AS pending FROM settlements
                UNION ALL SELECT '\(AuditKind.reversal.code)' AS kind, setl_id, 0 AS pending FROM reversals
                UNION ALL SELECT kind, setl_id, 1 AS pending FROM audit_outbox
                """, []
            )
            var pending = Set<String>()
            for row in rows where try row.int("pending") == 1 {
                pending.insert(PostingDigest.line(kind: try row.string("kind"), setlID: try row.string("setl_id")))
            }
            var digest = PostingDigest()
            var summary = PostingSummary()
            for row in rows where try row.int("pending") == 0 {
                let kind = try row.string("kind"), setlID = try row.string("setl_id")
                guard !pending.contains(PostingDigest.line(kind: kind, setlID: setlID)) else { continue }
                digest.add(kind: kind, setlID: setlID)
                if kind == "reversal" { summary.reversals += 1 } else { summary.settlements += 1 }
            }
            summary.digest = digest.hex
            summary.pending = Array(pending.sorted().prefix(10_000))
            return AuditEvidence(checkpoints: checkpoints, postings: summary, undelivered: UInt64(pending.count))
        }
    }

    /// The audit outbox this store's postings write to (delivered by the relay).
    public var outbox: AuditOutbox { AuditOutbox(database: database) }

    /// See ``AuditOutbox/span()``.
    public func auditSpan() async throws -> Int64 { try await outbox.span() }

    /// See ``AuditOutbox/backlog()``.
    public func auditBacklog() async throws -> (pending: Int64, rejected: Int64) { try await outbox.backlog() }

    public func settlement(_ setlID: String) async throws -> SettlementResult? {
        try await database.lookup { tx in
            guard let row = try await tx.queryOne("SELECT status, result FROM settlements WHERE setl_id = $1", [.text(setlID)]) else { return nil }
            var result = try SettlementResult(decoding: row.blob("result"))
            result.status = try row.code("status")
            return result
        }
    }

    /// Counts the amount borne after pooling (serious illness's base) of settlements posted
    /// before migration 21, this year's and last year's, from their stored results, and adds
    /// it to their persons' accumulators, so that the year's total toward the threshold holds
    /// what they bore before the upgrade. A page of 1,000 rows a transaction; each row once
    /// (a replica doing the same at once takes the rows the other has not). Returns how many.
    @discardableResult
    public func countBorneOfOlderSettlements(thisYear: Int) async throws -> Int {
        var last = "", counted = 0
        while true {
            let page = try await database.read { [last] tx in
                try await tx.query(
                    "SELECT setl_id, psn_no, year, visit_type, status, result FROM settlements WHERE setl_id > $1 AND borne IS NULL AND year >= $2 ORDER BY setl_id LIMIT 1000",
                    [.text(last), .integer(Int64(thisYear - 1))]
                )
            }
            guard let end = page.last else { return counted }
            last = try end.string("setl_id")
            let rows = try page.map { row in
                let result = try SettlementResult(decoding: row.blob("result"))
                return (setlID: try row.string("setl_id"), psnNo: try row.string("psn_no"), year: try row.int("year"), visitType: try row.string("visit_type"),
                        settled: try row.code("status", as: SettlementStatus.self) == .settled, borne: result.borne)
            }
            counted += try await database.write { tx in
                var done = 0
                for row in rows {
                    guard try await tx.queryOne("UPDATE settlements SET borne = $1 WHERE setl_id = $2 AND borne IS NULL RETURNING setl_id",
                                                [.integer(row.borne), .text(row.setlID)]) != nil else { continue }
                    if row.settled {
                        try await tx.execute("UPDATE accumulators SET borne = borne + $1 WHERE psn_no = $2 AND year = $3 AND visit_type = $4",
                                             [.integer(row.borne), .text(row.psnNo), .integer(row.year), .text(row.visitType)])
                    }
                    done += 1
                }
                return done
            }
        }
    }

    /// Which settlements a day's totals count.
    enum TotalsScope: Sendable {
        /// Every one.
        case all
        /// An institution's own claims, and those it settled for its clinics.
        case institution(InstitutionCode)
        /// Institutions whose county digits start with these (up to 6 digits).
        case region(String)
    }

    /// One business day's totals, by the day the money moved (settlements by `setl_date`,
    /// reversals by `rev_date`, of settlements from any day), sums net of the reversals.
    func dayTotals(on day: CivilDate, scope: TotalsScope) async throws -> DayTotals {
        let sums = "COUNT(*) AS n, SUM(s.medfee_sumamt) AS medfee, SUM(s.hifp_pay + s.hifmi_pay + s.cvlserv_pay + s.maf_pay) AS fund, SUM(s.acct_pay) AS acct, "
            + "SUM(s.psn_cash_pay) AS cash"
        let posted = "SELECT \(sums) FROM settlements s WHERE s.setl_date = $1"
        let reversed = "SELECT \(sums) FROM reversals r JOIN settlements s ON s.setl_id = r.setl_id WHERE r.rev_date = $1"
        var filters: [String] = [""]
        var binds: [SQLValue] = [.text(day.description)]
        switch scope {
        case .all: break
        case .institution(let code):
            // Its own claims, plus those it settled for its clinics.
            filters = [" AND s.fixmedins_code = $2", " AND s.settle_via = $2 AND s.fixmedins_code <> $2"]
            binds.append(.text(code.value))
        case .region(let region):
            // A range, not LIKE, so that the (setl_date, fixmedins_code) index serves it.
            filters = [" AND s.fixmedins_code >= $2 AND s.fixmedins_code < $3"]
            // Bounds of digits and letters only: they hold under any collation (DivisionCode.textRange).
            let range = DivisionCode.textRange(prefix: region)
            binds.append(.text("H" + range.lower))
            binds.append(.text("H" + range.upper))
        }
        let queries = filters.flatMap { [(posted + $0, Int64(1)), (reversed + $0, Int64(-1))] }, finalBinds = binds
        return try await database.read { tx in
            var totals = DayTotals()
            for (query, sign) in queries {
                guard let row = try await tx.queryOne(query, finalBinds) else { continue }
                let n = UInt32(try row.optionalInt("n") ?? 0)
                if sign > 0 { totals.settlements += n } else { totals.reversed += n }
                totals.medfeeSumamt += sign * (try row.optionalInt("medfee") ?? 0)
                totals.fundPaySumamt += sign * (try row.optionalInt("fund") ?? 0)
                totals.acctPay += sign * (try row.optionalInt("acct") ?? 0)
                totals.psnCashPay += sign * (try row.optionalInt("cash") ?? 0)
            }
            return totals
        }
    }

    /// Settlements posted on a business day by or through an institution, after `setlID` in
    /// setl_id order, at most `limit`, without fee lines (indexes settlements_day_clinic and
    /// settlements_day_via).
    func settlements(of institution: String, on day: String, after setlID: String, limit: Int) async throws -> [SettlementResult] {
        try await database.read { tx in
            try await tx.query(
                """
                SELECT status, result FROM settlements WHERE setl_date = $1 AND (fixmedins_code = $2 OR settle_via = $2) AND setl_id > $3
                ORDER BY setl_id LIMIT $4
                """, [.text(day), .text(institution), .text(setlID), .integer(Int64(limit))]
            ).map { row in
                var result = try SettlementResult(decoding: row.blob("result"))
                result.status = try row.code("status")
                result.lines = []
                return result
            }
        }
    }

    /// Proves the ledger balances, entry by entry and in total, and that the accumulators
    /// equal what the ledger's live settlements paid.
    public func checkLedger() async throws -> LedgerCheckResponse {
        try await database.read { tx in
            var response = LedgerCheckResponse()
            let totals = try await tx.queryOne("SELECT COALESCE(SUM(debit), 0) AS d, COALESCE(SUM(credit), 0) AS c FROM ledger", [])
            response.totalDebits = try totals?.int("d") ?? 0
            response.totalCredits = try totals?.int("c") ?? 0
            for row in try await tx.query("SELECT txn_id FROM ledger GROUP BY txn_id HAVING SUM(debit) <> SUM(credit)", []) {
                response.problems.append("transaction \(try row.string("txn_id")) does not balance")
            }
            // Each accumulator equals the sums over the live settlements it counts.
            let counted = Accumulator.counts.map { (key: $0.column, value: $0.settlement) }
            let mismatches = try await tx.query(
                """
                SELECT a.psn_no, a.year, a.visit_type, \(counted.map { "a.\($0.key)" }.joined(separator: ", ")),
                  \(counted.map { "COALESCE(s.\($0.value), 0) AS s_\($0.key)" }.joined(separator: ", "))
                FROM accumulators a LEFT JOIN (
                  SELECT psn_no, year, visit_type, \(counted.map { "SUM(\($0.value)) AS \($0.value)" }.joined(separator: ", ")) FROM settlements
                  WHERE status = '\(SettlementStatus.settled.code)' GROUP BY psn_no, year, visit_type
                ) s ON s.psn_no = a.psn_no AND s.year = a.year AND s.visit_type = a.visit_type
                """, []
            )
            for row in mismatches where try counted.contains(where: { try row.int($0.key) != row.int("s_\($0.key)") }) {
                response.problems.append("accumulators of \(try row.string("psn_no")) \(try row.int("year")) \(try row.string("visit_type")) do not match the settlements")
            }
            // Each fund's ledger account equals what live settlements paid from it.
            for (account, column, _) in LedgerEntry.funds {
                let fund = try await tx.queryOne("SELECT COALESCE(SUM(debit) - SUM(credit), 0) AS net FROM ledger WHERE account = $1", [.text(account)])
                let live = try await tx.queryOne("SELECT COALESCE(SUM(\(column)), 0) AS paid FROM settlements WHERE status = '\(SettlementStatus.settled.code)'", [])
                if try fund?.int("net") != live?.int("paid") { response.problems.append("the ledger's \(account) does not match live settlements") }
            }
            response.settlements = UInt32(try await tx.queryOne("SELECT COUNT(*) AS n FROM settlements", [])?.int("n") ?? 0)
            response.reversals = UInt32(try await tx.queryOne("SELECT COUNT(*) AS n FROM reversals", [])?.int("n") ?? 0)
            response.balanced = response.totalDebits == response.totalCredits && response.problems.isEmpty
            return response
        }
    }
}

