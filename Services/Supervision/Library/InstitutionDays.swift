import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRuntime
import MedicareStore
import MedicareWire
import Synchronization

/// What one settled visit adds to its institution's day (migration 14, `institution_days`):
/// money and the prescribing statistics the notice's §三 asks township centres to watch
/// (规范诊疗、合理用药). A reversal subtracts what its settlement added.
struct DayStats: Sendable, Equatable {
    var settlements: Int64 = 0
    var medfeeSumamt: Int64 = 0
    var fundPaySumamt: Int64 = 0
    /// Visits with at least one drug (a prescription), and their drug lines.
    var drugVisits: Int64 = 0
    var drugLines: Int64 = 0
    /// Prescriptions with an antibacterial drug; visits with an injection or infusion.
    var antibioticVisits: Int64 = 0
    var injectionVisits: Int64 = 0
    /// Drug lines of volume-based procurement (集采) products.
    var vbpLines: Int64 = 0
    /// Who settled for the clinic (its centre, or itself): the latest settlement's, kept with
    /// the day (not summed).
    var settleVia = ""

    init() {}

    /// One settled visit, its lines classified by the catalogue (an item it does not list
    /// counts as a drug by its code, and as nothing else).
    init(_ settlement: SettlementResult, _ claim: Claim, catalogue: Catalogue) {
        settlements = 1
        settleVia = settlement.settleVia.isEmpty ? settlement.fixmedinsCode : settlement.settleVia
        medfeeSumamt = settlement.medfeeSumamt
        fundPaySumamt = settlement.fundPaySumamt
        var antibiotic = false, injection = false
        for line in claim.lines {
            let item = catalogue[line.itemCode]
            let drug = item?.isDrug ?? (line.itemCode.hasPrefix("X") || line.itemCode.hasPrefix("Z"))
            if drug { drugLines += 1 }
            if item?.antibiotic == true { antibiotic = true }
            if item?.injection == true { injection = true }
            if drug, item?.vbp == true { vbpLines += 1 }
        }
        drugVisits = drugLines > 0 ? 1 : 0
        antibioticVisits = antibiotic && drugLines > 0 ? 1 : 0
        injectionVisits = injection ? 1 : 0
    }

    /// Sums the counts; a settlement's `settleVia` replaces the one kept (a reversal's does not).
    mutating func add(_ other: DayStats) {
        if other.settlements > 0 || settleVia.isEmpty { settleVia = other.settleVia }
        settlements += other.settlements
        medfeeSumamt &+= other.medfeeSumamt
        fundPaySumamt &+= other.fundPaySumamt
        drugVisits += other.drugVisits
        drugLines += other.drugLines
        antibioticVisits += other.antibioticVisits
        injectionVisits += other.injectionVisits
        vbpLines += other.vbpLines
    }

    var negated: DayStats {
        var n = DayStats()
        n.add(self)
        n.settleVia = settleVia
        n.settlements = -n.settlements; n.medfeeSumamt = -n.medfeeSumamt; n.fundPaySumamt = -n.fundPaySumamt; n.drugVisits = -n.drugVisits
        n.drugLines = -n.drugLines; n.antibioticVisits = -n.antibioticVisits; n.injectionVisits = -n.injectionVisits; n.vbpLines = -n.vbpLines
        return n
    }

    static let columns = ["settlements", "medfee_sumamt", "fund_pay_sumamt", "drug_visits", "drug_lines", "antibiotic_visits", "injection_visits", "vbp_lines"]

    var values: [Int64] { [settlements, medfeeSumamt, fundPaySumamt, drugVisits, drugLines, antibioticVisits, injectionVisits, vbpLines] }

    init(row: SQLRow) throws {
        let v = try Self.columns.map { try row.int($0) }
        (settlements, medfeeSumamt, fundPaySumamt, drugVisits, drugLines) = (v[0], v[1], v[2], v[3], v[4])
        (antibioticVisits, injectionVisits, vbpLines) = (v[5], v[6], v[7])
    }
}

/// An institution's settlements on a business day after a batch was counted.
public struct InstitutionDay: Sendable, Equatable {
    public let fixmedinsCode: String
    public let day: String
    public let settlements: Int64

    /// A clinic's business day the money moved (`setl_date`): the table's key, so that one
    /// batch upserts each row once (PostgreSQL refuses a row twice in one statement).
    struct Key: Hashable, Sendable {
        let fixmedinsCode: String
        let day: String

        init(_ settlement: SettlementResult) {
            fixmedinsCode = settlement.fixmedinsCode
            day = settlement.setlDate
        }
    }
}

extension SupervisionStore {
    /// Adds a batch's day stats (one statement: an upsert answering the new counts).
    static func count(_ tx: any SQLTransaction, _ days: [InstitutionDay.Key: DayStats]) async throws -> [InstitutionDay] {
        guard !days.isEmpty else { return [] }
        var counted: [InstitutionDay] = []
        let ordered = days.sorted { ($0.key.fixmedinsCode, $0.key.day) < ($1.key.fixmedinsCode, $1.key.day) }
        let columns = ["fixmedins_code", "day", "settle_via"] + DayStats.columns
        let updates = DayStats.columns.map { "\($0) = institution_days.\($0) + excluded.\($0)" }.joined(separator: ", ")
        for start in stride(from: 0, to: ordered.count, by: 100) {
            let chunk = ordered[start..<min(start + 100, ordered.count)]
            let binds: [SQLValue] = chunk.flatMap { key, stats -> [SQLValue] in
                [.text(key.fixmedinsCode), .text(key.day), .text(stats.settleVia)] + stats.values.map { .integer($0) }
            }
            let rows = try await tx.query(
                """
                INSERT INTO institution_days (\(columns.joined(separator: ", "))) VALUES \(SQLPlaceholders.rows(chunk.count, width: columns.count))
                ON CONFLICT (fixmedins_code, day) DO UPDATE SET settle_via = excluded.settle_via, \(updates)
                RETURNING fixmedins_code, day, settlements
                """, binds
            )
            for row in rows {
                counted.append(InstitutionDay(fixmedinsCode: try row.string("fixmedins_code"), day: try row.string("day"), settlements: try row.int("settlements")))
            }
        }
        return counted
    }

    /// An institution's average settlements a day over the `days` days before `day` (days
    /// it settled nothing count as zero); nil when its counts do not reach back that far (a
    /// new clinic, or counts younger than the window: there is no baseline yet).
    func baseline(_ code: String, before day: CivilDate, days: Int) async throws -> Double? {
        let start = day.adding(days: -days).description
        return try await database.lookup { tx in
            guard let row = try await tx.queryOne(
                """
                SELECT COALESCE(SUM(CASE WHEN day >= $2 THEN settlements ELSE 0 END), 0) AS n, MIN(day) AS first
                FROM institution_days WHERE fixmedins_code = $1 AND day < $3
                """, [.text(code), .text(start), .text(day.description)]
            ), let first = try row.optionalString("first"), first <= start else { return nil }
            return Double(try row.int("n")) / Double(days)
        }
    }

    /// One page of clinics (by code, after `after`) with their days in `from...to` summed,
    /// the selection's total, and whether more clinics follow. `centre`: the clinics it
    /// settled for and itself; else the institutions of `region`.
    func oversight(centre: String?, region: String, from: String, to: String, after: String, limit: Int) async throws -> OversightView {
        try await database.read { tx in
            var binds: [SQLValue] = [.text(from), .text(to)]
            var selection = "day >= $1 AND day <= $2"
            if let centre {
                binds.append(.text(centre))
                selection += " AND (settle_via = $3 OR fixmedins_code = $3)"
            } else {
                binds += Self.institutions(in: region)
                selection += " AND fixmedins_code >= $3 AND fixmedins_code < $4"
            }
            let sums = DayStats.columns.map { "SUM(\($0)) AS \($0)" }.joined(separator: ", ")
            var view = OversightView()
            // The whole selection's total on the first page only (SUM over no rows is NULL:
            // a selection without days totals zero).
            if after.isEmpty, let row = try await tx.queryOne("SELECT \(sums) FROM institution_days WHERE \(selection)", binds) {
                view.total = Self.oversight(code: "", via: "", try? DayStats(row: row))
            }
            let page = try await tx.query(
                """
                SELECT fixmedins_code, MAX(settle_via) AS settle_via, \(sums) FROM institution_days
                WHERE \(selection) AND fixmedins_code > $\(binds.count + 1) GROUP BY fixmedins_code ORDER BY fixmedins_code LIMIT $\(binds.count + 2)
                """, binds + [.text(after), .integer(Int64(limit + 1))]
            )
            view.more = page.count > limit
            var clinics: [String: ClinicOversight] = [:]
            var order: [String] = []
            for row in page.prefix(limit) {
                let code = try row.string("fixmedins_code")
                order.append(code)
                clinics[code] = Self.oversight(code: code, via: try row.string("settle_via"), try DayStats(row: row))
            }
            // Their findings and alerts (any date), in two grouped reads.
            if !order.isEmpty {
                var fb: [SQLValue] = []
                let predicate = SQLPlaceholders.isIn("fixmedins_code", order.map { .text($0) }, dialect: tx.dialect, binds: &fb)
                let counts = "SELECT fixmedins_code, status, COUNT(*) AS n, SUM(amount_to_recover) AS amount FROM findings WHERE \(predicate) GROUP BY fixmedins_code, status"
                for row in try await tx.query(counts, fb) {
                    let code = try row.string("fixmedins_code"), n = UInt32(clamping: try row.int("n"))
                    switch try row.code("status", as: FindingStatus.self) {
                    case .open: clinics[code]?.openFindings += n
                    case .confirmed:
                        clinics[code]?.confirmedFindings += n
                        clinics[code]?.amountToRecover += try row.optionalInt("amount") ?? 0
                    default: break
                    }
                }
                for row in try await tx.query("SELECT fixmedins_code, COUNT(*) AS n FROM alerts WHERE \(predicate) GROUP BY fixmedins_code", fb) {
                    clinics[try row.string("fixmedins_code")]?.alerts = UInt32(clamping: try row.int("n"))
                }
            }
            view.clinics = order.compactMap { clinics[$0] }
            return view
        }
    }

    /// A clinic's (or the total's) row from its summed stats, shares in basis points.
    static func oversight(code: String, via: String, _ stats: DayStats?) -> ClinicOversight {
        let s = stats ?? DayStats()
        func share(_ part: Int64, _ whole: Int64, scale: Int64 = 10_000) -> UInt32 { whole > 0 ? UInt32(clamping: max(0, part) * scale / whole) : 0 }
        return ClinicOversight(
            fixmedinsCode: code, settleVia: via, settlements: Int32(clamping: s.settlements), medfeeSumamt: s.medfeeSumamt, fundPaySumamt: s.fundPaySumamt,
            drugVisits: Int32(clamping: s.drugVisits), itemsPerPrescriptionCenti: share(s.drugLines, s.drugVisits, scale: 100),
            antibioticShareBp: share(s.antibioticVisits, s.drugVisits), injectionShareBp: share(s.injectionVisits, s.settlements),
            vbpShareBp: share(s.vbpLines, s.drugLines)
        )
    }
}

/// Each institution's kind (level), as the registry's designation records tell supervision
/// (migration 15, `institution_kinds`): the review rules' scope by kind and level
/// restrictions read it from memory. Loaded whole at start (a province's institutions: tens
/// of thousands of short entries), then by the records' chain position after a cursor, on
/// every replica at the rule sets' refresh.
public final class InstitutionKinds: Sendable {
    private struct State {
        /// Each institution's kind with the chain position that told it.
        var kinds: [String: (kind: InstitutionKind, seq: Int64)] = [:]
        var cursor: Int64 = 0
    }
    private let state = Mutex(State())

    public init() {}

    /// The institution's kind, when a designation record has told it.
    public func kind(of code: String) -> InstitutionKind? { state.withLock { $0.kinds[code]?.kind } }

    /// Reads the kinds recorded since the last refresh.
    public func refresh(from store: SupervisionStore) async throws {
        let after = state.withLock { $0.cursor }
        let (kinds, cursor) = try await store.institutionKinds(after: after)
        // Two refreshes at once may finish in either order: a value applies only over an older one.
        state.withLock { state in
            for (code, kind, seq) in kinds where (state.kinds[code]?.seq ?? -1) < seq { state.kinds[code] = (kind, seq) }
            state.cursor = max(state.cursor, cursor)
        }
    }
}

extension SupervisionStore {
    /// Institutions' kinds recorded after chain position `after`, and the newest position.
    func institutionKinds(after: Int64) async throws -> ([(String, InstitutionKind, Int64)], Int64) {
        try await database.read { tx in
            var newest = after
            let rows = try await tx.query("SELECT fixmedins_code, kind, seq FROM institution_kinds WHERE seq > $1 ORDER BY seq", [.integer(after)])
            let kinds = try rows.map { row -> (String, InstitutionKind, Int64) in
                let seq = try row.int("seq")
                newest = max(newest, seq)
                return (try row.string("fixmedins_code"), try row.code("kind", as: InstitutionKind.self), seq)
            }
            return (kinds, newest)
        }
    }
}
