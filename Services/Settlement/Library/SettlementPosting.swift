import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRuntime
import MedicareStore
import MedicareWire
import NIOCore

/// One settle request on its way to the store: who asks and under which key
/// (``SettlementStore/SettleIdentity``), what to decide (``Settling``), and the claim as its
/// audit record carries it.
struct PendingSettle: Sendable {
    let identity: SettlementStore.SettleIdentity
    let settling: Settling
    /// ``ValidatedClaim/encodedWithoutRoute()``.
    let claimBytes: [UInt8]
    /// The claim's distinct catalogue items, sorted (R003's keys).
    let items: [String]

    init(identity: SettlementStore.SettleIdentity, settling: Settling, claimBytes: [UInt8]) {
        self.identity = identity
        self.settling = settling
        self.claimBytes = claimBytes
        self.items = Array(Set(settling.claim.lines.map(\.item.code))).sorted()
    }

    var claim: ValidatedClaim { settling.claim }
    /// The live-visit key: `fixmedins_code` and `mdtrt_id`.
    var visit: VisitKey { VisitKey(clinic: claim.clinic.value, mdtrtID: claim.claim.mdtrtID) }
}

/// A visit as the `settlements_live_visit` index keys it.
struct VisitKey: Hashable, Sendable {
    let clinic: String
    let mdtrtID: String
}

/// A posting already stored, or made earlier in the same batch, that a request may replay.
struct Prior {
    let setlID: String
    let digest: String
    let answer: () throws -> SettlementResult

    init(row: SQLRow) throws {
        setlID = try row.string("setl_id")
        digest = try row.string("claim_digest")
        answer = { try SettlementStore.stored(row) }
    }

    init(posted result: SettlementResult, digest: String) {
        setlID = result.setlID
        self.digest = digest
        answer = {
            var replayed = result
            replayed.replay = true
            return replayed
        }
    }
}

extension SettlementStore {
    /// Posts `requests` in one transaction, as if one after another in order, answering each
    /// on its own: its settlement (new or replayed) or the error that refused it (a refused
    /// request writes nothing; the others still post). The work is done in a fixed number of
    /// statements whatever the batch's size: the persons are locked first (in `psn_no` order,
    /// so that concurrent batches cannot deadlock); then what the requests could replay, the
    /// persons' accumulators and their already billed items (R003) are read, all committed by
    /// earlier holders of those locks (on PostgreSQL the lock and the reads are one round trip,
    /// the function `settlement_batch_read` of migration 18, which also locks the registered
    /// visits settled), then the registered visits' details (their claims are checked against
    /// the requests'); the splits are decided in memory, each seeing the accumulators and account balances the earlier ones
    /// left; then settlements, billed items, ledger entries, accumulators and audit records
    /// are written (one statement on PostgreSQL), and account balances if any were used. Everything that writes a person's accumulators, balance or billed items
    /// (settle, reverse) holds the person's lock. On PostgreSQL, where replicas write concurrently, the reads lock what they
    /// read, and every statement has the same text whatever the batch's size (arrays bound
    /// as one parameter each), so that the server parses and plans little.
    ///
    /// A replica racing for the same key or visit fails a unique index (``StoreError/constraint(sql:message:)``
    /// thrown, nothing kept): the caller then posts the requests one by one.
    static func post(_ tx: any SQLTransaction, _ requests: [PendingSettle]) async throws -> [Result<SettlementResult, any Error>] {
        let dialect = tx.dialect
        var outcomes = [Result<SettlementResult, any Error>?](repeating: nil, count: requests.count)

        // 1. The persons, locked in `psn_no` order. Whoever posted for them before has
        // committed by now, so what follows reads everything that concerns them.
        // 2. Then, read after the locks are held: the postings the requests could replay (by
        // key, and live by visit number; the clinic is matched here), the persons'
        // accumulators, and what they were already billed on the visit days (only holders of
        // the person's lock change the last two). One round trip on PostgreSQL (the function
        // of migration 18, with the insurance records since 23), three statements on SQLite.
        var persons: [String: InsuredPerson] = [:], records: [String: [InsuInfo]] = [:]
        var byKey: [String: Prior] = [:], byVisit: [VisitKey: Prior] = [:]
        var accumulators: [AccumulatorKey: Accumulator] = [:]
        var billed = Set<BilledKey>()
        var locked: [VisitKey] = []
        do {
            let who = Set(requests.map(\.claim.claim.psnNo)).sorted()
            let settled = Set(requests.map(\.visit)).sorted { ($0.clinic, $0.mdtrtID) < ($1.clinic, $1.mdtrtID) }
            let keys = requests.map(\.identity.scopedKey)
            let visits = Set(requests.map(\.visit.mdtrtID)).sorted()
            // Exactly the (day, person, item) keys the requests bill, probed by primary key: a
            // filter by days, persons and items apart would read every item billed on those
            // days, a cost growing with the province's daily volume.
            let wanted = Set(requests.flatMap { request in
                request.items.map { BilledKey(psnNo: request.claim.claim.psnNo, day: request.claim.visitDate.description, item: $0) }
            }).sorted { ($0.day, $0.psnNo, $0.item) < ($1.day, $1.psnNo, $1.item) }
            let text = { (values: [String]) in SQLValue.list(values.map { .text($0) }) }
            var rows: [SQLRow]
            switch dialect {
            case .postgres:
                rows = try await tx.query(
                    "SELECT * FROM settlement_batch_read($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])",
                    [text(keys), text(visits), text(who), text(wanted.map(\.day)), text(wanted.map(\.psnNo)), text(wanted.map(\.item)),
                     text(settled.map(\.clinic)), text(settled.map(\.mdtrtID))]
                )
            case .sqlite:
                var binds: [SQLValue] = []
                let lockable = SQLPlaceholders.isIn("psn_no", who.map { .text($0) }, dialect: dialect, binds: &binds)
                rows = try await tx.query(
                    """
                    SELECT 0 AS part, psn_no AS t1, certno AS t2, name AS t3, insutype AS t4, insu_admdvs AS t5, status AS t6, NULL AS result,
                      account_balance AS n1, cvlserv_flag AS n2, psn_idet_type AS n3 FROM persons WHERE \(lockable) ORDER BY psn_no
                    """, binds)
                binds = []
                rows += try await tx.query(
                    "SELECT 5 AS part, r.psn_no AS t1, r.insutype AS t2, r.insuplc_admdvs AS t3, r.status AS t4, r.psn_insu_date AS t5, r.paus_insu_date AS t6 "
                        + SQLPlaceholders.probe("insurance_records", as: "r", by: [("psn_no", "text")], keys: who.map { [.text($0)] }, dialect: dialect, binds: &binds),
                    binds)
                // The registered visits among those settled: read with their details below
                // (``visits(_:_:)``), with nothing to lock on SQLite's one writer.
                locked = settled
                binds = []
                let one = { (values: [String]) in values.map { [SQLValue.text($0)] } }
                let keyProbe = SQLPlaceholders.probe("settlements", as: "s", by: [("idempotency_key", "text")], keys: one(keys), dialect: dialect, binds: &binds)
                let visitProbe = SQLPlaceholders.probe(
                    "settlements", as: "s", by: [("mdtrt_id", "text")], keys: one(visits), also: "status = '\(SettlementStatus.settled.code)'", dialect: dialect, binds: &binds)
                let accumulatorsOf = SQLPlaceholders.probe("accumulators", as: "a", by: [("psn_no", "text")], keys: one(who), dialect: dialect, binds: &binds)
                let billedTo = SQLPlaceholders.probe(
                    "billed_items", as: "b", by: [("visit_date", "text"), ("psn_no", "text"), ("item_code", "text")],
                    keys: wanted.map { [.text($0.day), .text($0.psnNo), .text($0.item)] }, dialect: dialect, binds: &binds)
                let posting = "s.idempotency_key AS t1, s.setl_id AS t2, s.claim_digest AS t3, s.status AS t4, s.fixmedins_code AS t5, s.mdtrt_id AS t6, s.result"
                rows += try await tx.query(
                    """
                    SELECT 1 AS part, \(posting), 0 AS n1, 0 AS n2, 0 AS n3, 0 AS n4, 0 AS n5, 0 AS n6, 0 AS n7 \(keyProbe)
                    UNION ALL SELECT 1, \(posting), 0, 0, 0, 0, 0, 0, 0 \(visitProbe)
                    UNION ALL SELECT 2, a.psn_no, a.visit_type, '', '', '', '', NULL, a.year, a.deductible_used, a.fund_paid, a.borne, a.hifmi_paid,
                      a.cvlserv_paid, a.maf_paid \(accumulatorsOf)
                    UNION ALL SELECT 3, b.psn_no, b.visit_date, b.item_code, '', '', '', NULL, 0, 0, 0, 0, 0, 0, 0 \(billedTo)
                    """,
                    binds
                )
            }
            for row in rows {
                switch try row.int("part") {
                case 0:
                    let person = try Self.person(SQLRow(
                        columns: ["psn_no", "certno", "name", "insutype", "insu_admdvs", "status", "account_balance", "cvlserv_flag", "psn_idet_type"],
                        values: [row["t1"], row["t2"], row["t3"], row["t4"], row["t5"], row["t6"], row["n1"], row["n2"], row["n3"]]
                    ))
                    persons[person.psnNo] = person
                case 1:
                    let posting = SQLRow(
                        columns: ["setl_id", "claim_digest", "status", "result"], values: [row["t2"], row["t3"], row["t4"], row["result"]]
                    )
                    let prior = try Prior(row: posting)
                    byKey[try row.string("t1")] = prior
                    if try posting.code("status", as: SettlementStatus.self) == .settled {
                        byVisit[VisitKey(clinic: try row.string("t5"), mdtrtID: try row.string("t6"))] = prior
                    }
                case 5:
                    records[try row.string("t1"), default: []].append(try Self.insuranceRecord(SQLRow(
                        columns: ["insutype", "insuplc_admdvs", "status", "psn_insu_date", "paus_insu_date"],
                        values: [row["t2"], row["t3"], row["t4"], row["t5"], row["t6"]])))
                case 4:
                    locked.append(VisitKey(clinic: try row.string("t1"), mdtrtID: try row.string("t2")))
                case 2:
                    let key = AccumulatorKey(psnNo: try row.string("t1"), year: try row.int("n1"), medType: try row.string("t2"))
                    accumulators[key] = Accumulator(
                        deductibleUsed: try row.int("n2"), fundPaid: try row.int("n3"), borne: try row.int("n4"), hifmiPaid: try row.int("n5"),
                        cvlservPaid: try row.int("n6"), mafPaid: try row.int("n7"))
                default:
                    billed.insert(BilledKey(psnNo: try row.string("t1"), day: try row.string("t2"), item: try row.string("t3")))
                }
            }
            for (psnNo, held) in records { persons[psnNo]?.insuinfo = held.sorted { $0.psnInsuDate > $1.psnInsuDate } }
            for (psnNo, person) in persons where person.insuinfo.isEmpty {
                persons[psnNo]?.insuinfo = [InsuInfo(insutype: person.insutype, insuplcAdmdvs: person.insuAdmdvs, psnInsuStas: person.psnInsuStas)]
            }
        }

        // The registered visits' claims as their details stand now, under the visits' locks
        // (on SQLite `locked` is every visit settled: those not registered are not found).
        let registered = try await Self.visits(tx, locked).mapValues(Self.claimDigest)
        // Chronic claims' persons' 2503 registrations and family-doctor contracts: one more
        // statement, only for a batch that holds a chronic claim (they decide its terms).
        let chronicClaims = requests.filter { $0.claim.claim.medType == .chronicOutpatient }
        let chronicDays = chronicClaims.map(\.claim.visitDate.description)
        let chronic = try await Self.chronicRecords(
            tx, of: Set(chronicClaims.map(\.claim.claim.psnNo)).sorted(), from: chronicDays.min() ?? "", through: chronicDays.max() ?? "")

        // 3. Each request decided in order, seeing what the earlier ones posted.
        var settlementRows: [[SQLValue]] = [], billedRows: [[SQLValue]] = [], ledgerRows: [[SQLValue]] = [], auditRows: [[SQLValue]] = []
        var accumulatorDeltas: [AccumulatorKey: Accumulator] = [:], accountDeltas: [String: Int64] = [:]
        let now = Date().formatted(.iso8601)
        for (index, request) in requests.enumerated() {
            outcomes[index] = Result {
                let claim = request.claim
                if let replayed = try Self.replayed(byKey: byKey[request.identity.scopedKey], byVisit: byVisit[request.visit], request.identity, claim: claim) {
                    return replayed
                }
                // A visit registered through 2201 is settled only with the details it holds now.
                if let digest = registered[request.visit], digest != request.identity.digest {
                    throw DomainError(
                        .precondition, field: "claim.mdtrt_id",
                        "visit \(claim.claim.mdtrtID) at \(claim.clinic) was registered through 2201 and holds other details than this claim "
                            + "(they changed since it was read, or it is not the visit's): settle it by reference (Gateway/Settle visit) with its details as they stand"
                    )
                }
                guard let person = persons[claim.claim.psnNo] else {
                    throw DomainError(.notFound, field: "claim.psn_no", "no insured person \(claim.claim.psnNo)")
                }
                let visitDay = claim.visitDate.description
                let standing = ChronicStandingOnDay(
                    registrations: chronic.registrations[person.psnNo] ?? [], contracts: chronic.contracts[person.psnNo] ?? [], on: visitDay)
                let settledAs = try standing.settledAs(claim)
                let accumulatorKey = AccumulatorKey(psnNo: person.psnNo, year: Int64(claim.visitDate.year), medType: settledAs.code)
                var result = try request.settling.result(
                    person: person, settledAs: settledAs, accumulator: accumulators[accumulatorKey] ?? .zero,
                    year: Accumulator.year(of: accumulators.lazy.filter { $0.key.psnNo == person.psnNo && $0.key.year == accumulatorKey.year }.map(\.value)))
                if let item = request.items.first(where: { billed.contains(BilledKey(psnNo: person.psnNo, day: visitDay, item: $0)) }) {
                    throw Self.duplicate(item: item, claim: claim)
                }
                result.setlID = timeOrderedID(prefix: "S")
                result.status = .settled
                result.setlDate = request.identity.day
                let resultBytes = try result.encodedBytes()
                settlementRows.append(Self.settlementRow(
                    result, encoded: resultBytes, scopedKey: request.identity.scopedKey, settledAs: settledAs, year: accumulatorKey.year,
                    createdAt: now, caller: request.identity.scope, digest: request.identity.digest, visitDay: visitDay))
                for item in request.items {
                    billed.insert(BilledKey(psnNo: person.psnNo, day: visitDay, item: item))
                    billedRows.append([.text(person.psnNo), .text(visitDay), .text(item), .text(result.setlID)])
                }
                ledgerRows += ledger(txn: result.setlID, setlID: result.setlID, result: result, reverse: false)
                auditRows.append(auditRow(setlID: result.setlID, kind: .settlement, settlement: resultBytes, claim: request.claimBytes))
                // What the next request for the same person sees.
                accumulators[accumulatorKey, default: .zero].add(result)
                accumulatorDeltas[accumulatorKey, default: .zero].add(result)
                if result.acctPay > 0 {
                    persons[person.psnNo]?.accountBalance -= result.acctPay
                    accountDeltas[person.psnNo, default: 0] += result.acctPay
                }
                let prior = Prior(posted: result, digest: request.identity.digest)
                byKey[request.identity.scopedKey] = prior
                byVisit[request.visit] = prior
                return result
            }
        }

        // 4. What was decided: one insert per table (one statement for all on PostgreSQL).
        guard !settlementRows.isEmpty else { return outcomes.map { $0! } }
        try await tx.insert([
            SQLInsert(into: "settlements", columns: settlementColumns, rows: settlementRows),
            SQLInsert(into: "billed_items", columns: ["psn_no", "visit_date", "item_code", "setl_id"], rows: billedRows),
            SQLInsert(into: "ledger", columns: ledgerColumns, rows: ledgerRows),
            SQLInsert(
                into: "accumulators", columns: ["psn_no", "year", "visit_type"] + Accumulator.counts.map(\.column),
                rows: accumulatorDeltas.sorted { $0.key < $1.key }.map { key, delta in [.text(key.psnNo), .integer(key.year), .text(key.medType)] + delta.values },
                tail: Accumulator.addedOnConflict
            ),
            SQLInsert(into: "audit_outbox", columns: auditColumns, rows: auditRows),
        ])
        if !accountDeltas.isEmpty {
            let deltas = accountDeltas.sorted { $0.key < $1.key }
            switch dialect {
            case .postgres:
                // Two array binds: the same statement text whatever the batch's size.
                try await tx.execute(
                    """
                    UPDATE persons SET account_balance = account_balance - v.amount
                    FROM unnest($1::text[], $2::bigint[]) AS v(psn_no, amount) WHERE persons.psn_no = v.psn_no
                    """,
                    [.list(deltas.map { .text($0.key) }), .list(deltas.map { .integer($0.value) })]
                )
            case .sqlite:
                try await tx.execute(
                    """
                    UPDATE persons SET account_balance = account_balance - v.column2
                    FROM (VALUES \(SQLPlaceholders.rows(deltas.count, width: 2))) AS v WHERE persons.psn_no = v.column1
                    """,
                    deltas.flatMap { psnNo, amount -> [SQLValue] in [.text(psnNo), .integer(amount)] }
                )
            }
        }
        return outcomes.map { $0! }
    }

    /// The answer to a request that repeats a stored posting, or nil when it is new, by the
    /// rules of ``replay(_:_:claim:)``: its key's posting first (the same claim replays it,
    /// another is FAILED_PRECONDITION on `idempotency-key`), then the visit's live one (the
    /// same claim replays it, another is ALREADY_EXISTS naming its `setl_id`).
    static func replayed(byKey: Prior?, byVisit: Prior?, _ identity: SettleIdentity, claim: ValidatedClaim) throws -> SettlementResult? {
        if let prior = byKey {
            guard prior.digest == identity.digest else {
                throw DomainError(.precondition, field: "idempotency-key", "was already used for a different request; a new request needs a new key")
            }
            return try prior.answer()
        }
        if let prior = byVisit {
            guard prior.digest == identity.digest else {
                throw DomainError(
                    .conflict, field: "claim.mdtrt_id",
                    "visit \(claim.claim.mdtrtID) at \(claim.clinic) is already settled as \(prior.setlID) with a different claim; reverse it before settling a corrected one"
                )
            }
            return try prior.answer()
        }
        return nil
    }

    static let settlementColumns = [
        "setl_id", "idempotency_key", "mdtrt_id", "psn_no", "fixmedins_code", "settle_via", "visit_type", "year", "setl_date", "medfee_sumamt",
        "act_pay_dedc", "hifp_pay", "acct_pay", "psn_cash_pay", "status", "result", "created_at", "caller", "claim_digest", "visit_date",
        "borne", "hifmi_pay", "cvlserv_pay", "maf_pay",
    ]
    /// A settled posting's row in ``settlementColumns`` order: `result` (its `setl_date`
    /// the posting day, its amounts in fen) as `encoded`, under `scopedKey`, settled as
    /// `settledAs` in `year` (the accumulators' keys), posted at `createdAt` by `caller`
    /// with the claim's `digest`, for the visit on `visitDay`.
    static func settlementRow(
        _ result: SettlementResult, encoded: [UInt8], scopedKey: String, settledAs: MedType, year: Int64, createdAt: String,
        caller: String, digest: String, visitDay: String
    ) -> [SQLValue] {
        [
            .text(result.setlID), .text(scopedKey), .text(result.mdtrtID), .text(result.psnNo), .text(result.fixmedinsCode),
            .text(result.settleVia), .text(settledAs.code), .integer(year), .text(result.setlDate),
            .integer(result.medfeeSumamt), .integer(result.actPayDedc), .integer(result.hifpPay), .integer(result.acctPay), .integer(result.psnCashPay),
            SettlementStatus.settled.stored, .blob(encoded), .text(createdAt), .text(caller), .text(digest), .text(visitDay),
            .integer(result.borne), .integer(result.hifmiPay), .integer(result.cvlservPay), .integer(result.mafPay),
        ]
    }

    static let ledgerColumns = ["txn_id", "line", "setl_id", "account", "debit", "credit"]
    static let auditColumns = ["setl_id", "kind", "record", "created_ms"]

    /// A posting's ledger rows (``LedgerEntry/entries(of:reverse:)``) under `txn`, in ``ledgerColumns`` order.
    static func ledger(txn: String, setlID: String, result: SettlementResult, reverse: Bool) -> [[SQLValue]] {
        LedgerEntry.entries(of: result, reverse: reverse).enumerated().map { line, entry in
            [.text(txn), .integer(Int64(line + 1)), .text(setlID), .text(entry.account), .integer(entry.debit), .integer(entry.credit)]
        }
    }

    /// An audit outbox row (``auditColumns``): an encoded `RecordRequest` (settlement = 1,
    /// claim = 2, posted_ms = 4: now) made from the already encoded parts.
    static func auditRow(setlID: String, kind: AuditKind, settlement: [UInt8], claim: [UInt8]? = nil) -> [SQLValue] {
        var record = ByteBuffer()
        let now = AuditOutbox.nowMillis()
        record.writeProtobufField(1, bytes: settlement)
        if let claim { record.writeProtobufField(2, bytes: claim) }
        record.writeProtobufField(4, varint: now)
        return [.text(setlID), kind.stored, .blob(Array(record.readableBytesView)), .integer(now)]
    }
}

/// An accumulator's key: a person's year for a medical type (stored as its code).
struct AccumulatorKey: Hashable, Comparable, Sendable {
    let psnNo: String
    let year: Int64
    let medType: String

    init(psnNo: String, year: Int64, medType: String) {
        self.psnNo = psnNo
        self.year = year
        self.medType = medType
    }

    static func < (a: Self, b: Self) -> Bool { (a.psnNo, a.year, a.medType) < (b.psnNo, b.year, b.medType) }
}

private struct BilledKey: Hashable {
    let psnNo: String
    let day: String
    let item: String
}

extension SettlementStore.Accumulator {
    /// What an accumulator counts: each of its columns, the settlements column whose live
    /// rows it sums (``SettlementStore/checkLedger()``), and its field here.
    static let counts: [(column: String, settlement: String, amount: WritableKeyPath<Self, Int64> & Sendable)] = [
        ("deductible_used", "act_pay_dedc", \.deductibleUsed), ("fund_paid", "hifp_pay", \.fundPaid), ("borne", "borne", \.borne),
        ("hifmi_paid", "hifmi_pay", \.hifmiPaid), ("cvlserv_paid", "cvlserv_pay", \.cvlservPaid), ("maf_paid", "maf_pay", \.mafPaid),
    ]

    /// The upsert's tail that adds a row's amounts to the accumulator already there.
    static let addedOnConflict = "ON CONFLICT (psn_no, year, visit_type) DO UPDATE SET "
        + counts.map { "\($0.column) = accumulators.\($0.column) + excluded.\($0.column)" }.joined(separator: ", ")

    /// What a settlement counts: its deductible, pooling pay, the in-scope amount it left borne
    /// (`borne`: as its row holds it, when given) and what the funds beyond pooling paid.
    init(_ result: SettlementResult, borne: Int64? = nil) {
        self.init(deductibleUsed: result.actPayDedc, fundPaid: result.hifpPay, borne: borne ?? result.borne, hifmiPaid: result.hifmiPay,
                  cvlservPaid: result.cvlservPay, mafPaid: result.mafPay)
    }

    /// An accumulator from a row holding ``counts``' columns.
    init(row: SQLRow) throws {
        self = .zero
        for count in Self.counts { self[keyPath: count.amount] = try row.int(count.column) }
    }

    /// The amounts in ``counts``' order, as binds.
    var values: [SQLValue] { Self.counts.map { .integer(self[keyPath: $0.amount]) } }

    /// Adds another's amounts.
    mutating func add(_ other: Self) {
        for count in Self.counts { self[keyPath: count.amount] += other[keyPath: count.amount] }
    }

    /// Counts a settlement.
    mutating func add(_ result: SettlementResult) { add(Self(result)) }

    /// A person's year over every visit type: the sum of its accumulators (the funds beyond
    /// pooling read it; they count by year, not visit type).
    static func year(of accumulators: some Sequence<Self>) -> Self {
        accumulators.reduce(into: .zero) { $0.add($1) }
    }
}

extension SettlementResult {
    /// The in-scope amount the person bore after basic pooling (合规个人负担): serious
    /// illness's base, fen.
    var borne: Int64 { inscpScpAmt - hifpPay }
}
