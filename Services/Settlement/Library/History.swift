import MedicareContracts
import MedicareDomain
import MedicareRuntime
import MedicareStore
import MedicareWire

/// A settlement made before this system: a legacy system's history migrated into the store
/// (and the province-scale benchmark's 20 million past settlements). It is stored exactly as
/// a posting stores one: its settlement row, its billed items (R003 sees them), its balanced
/// ledger entries and the person's accumulators for its year and medical type. It is not
/// relayed to supervision's audit chain: the chain starts with this system's own postings.
public struct PastSettlement: Sendable {
    /// The settlement as 2207 answered it: `setl_id`, `mdtrt_id`, `psn_no`, the institutions,
    /// every amount in fen, `settled_as` and `setl_date`; status is stored as settled.
    public var result: SettlementResult
    /// The visit day (YYYY-MM-DD); its year keys the accumulators.
    public var visitDate: String
    /// The national codes billed (``SettlementStore`` keeps one billed item per code and day).
    public var items: [String]
    /// The idempotency key as stored: the acting caller's scope and the key.
    public var scopedKey: String
    /// When it was posted (ISO 8601).
    public var createdAt: String

    public init(result: SettlementResult, visitDate: String, items: [String], scopedKey: String, createdAt: String) {
        (self.result, self.visitDate, self.items, self.scopedKey, self.createdAt) = (result, visitDate, items, scopedKey, createdAt)
    }
}

/// Past settlements made into the rows they are stored as (``SettlementStore/prepareHistory(_:)``),
/// so that a bulk load builds the next batch while the writer stores this one.
public struct PreparedHistory: Sendable {
    let inserts: [SQLInsert]
}

extension SettlementStore {
    /// Stores `past` in one write transaction, as postings store settlements (see
    /// ``PastSettlement``); all or none.
    /// - Throws: ``StoreError/constraint(_:)`` when a `setl_id`, key, live visit or billed
    ///   (day, person, code) is already stored; ``DomainError`` when a visit date is out of form.
    public func loadHistory(_ past: [PastSettlement]) async throws {
        try await loadHistory(Self.prepareHistory(past))
    }

    /// Stores what ``prepareHistory(_:)`` made, in one write transaction; all or none.
    /// - Throws: as ``loadHistory(_:)-([PastSettlement])``.
    public func loadHistory(_ prepared: PreparedHistory) async throws {
        try await database.write { tx in try await tx.insert(prepared.inserts) }
    }

    /// The rows `past` is stored as: settlement rows, billed items, ledger entries and the
    /// accumulators' increments (summed per person, year and medical type). No store is read.
    /// - Throws: ``DomainError`` when a visit date is out of form.
    public static func prepareHistory(_ past: [PastSettlement]) throws -> PreparedHistory {
        var settlementRows: [[SQLValue]] = [], billedRows: [[SQLValue]] = [], ledgerRows: [[SQLValue]] = []
        var accumulators: [AccumulatorKey: Accumulator] = [:]
        for p in past {
            var result = p.result
            result.status = .settled
            let year = Int64(try CivilDate(p.visitDate, field: "visit_date").year)
            let settledAs = result.settledAs.rawValue == 0 ? MedType.generalOutpatient : result.settledAs
            // No caller scope or claim digest: a legacy settlement is never replayed by key.
            settlementRows.append(Self.settlementRow(
                result, encoded: try result.encodedBytes(), scopedKey: p.scopedKey, settledAs: settledAs, year: year, createdAt: p.createdAt,
                caller: "", digest: "", visitDay: p.visitDate))
            var billedCodes = Set<String>()
            billedRows += p.items.filter { billedCodes.insert($0).inserted }.map { [.text(result.psnNo), .text(p.visitDate), .text($0), .text(result.setlID)] }
            ledgerRows += Self.ledger(txn: result.setlID, setlID: result.setlID, result: result, reverse: false)
            accumulators[AccumulatorKey(psnNo: result.psnNo, year: year, medType: settledAs.code), default: .zero].add(result)
        }
        let inserts = [
            SQLInsert(into: "settlements", columns: Self.settlementColumns, rows: settlementRows),
            SQLInsert(into: "billed_items", columns: ["psn_no", "visit_date", "item_code", "setl_id"], rows: billedRows),
            SQLInsert(into: "ledger", columns: Self.ledgerColumns, rows: ledgerRows),
            SQLInsert(
                into: "accumulators", columns: ["psn_no", "year", "visit_type"] + Accumulator.counts.map(\.column),
                rows: accumulators.sorted { $0.key < $1.key }.map { key, delta in [.text(key.psnNo), .integer(key.year), .text(key.medType)] + delta.values },
                tail: Accumulator.addedOnConflict
            ),
        ]
        return PreparedHistory(inserts: inserts)
    }
}
