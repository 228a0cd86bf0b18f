import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareStore
import MedicareWire
import Synchronization

// The work ledger (工作台账, notice §二): every village clinic not under designated
// management, why (derived from the registry), and the county's plan and progress notes;
// and the change feed a provincial system mirrors the registry by (总对总).

extension RegistryStore {
    static let ledgerMigrations: [Migration] = [
        Migration(10, "work ledger entries and notes; the change feed's cursor", sql: """
            CREATE TABLE ledger_entries (code TEXT PRIMARY KEY, plan TEXT NOT NULL, responsible_unit TEXT NOT NULL, target_date TEXT NOT NULL,
                updated_by TEXT NOT NULL, updated_at TEXT NOT NULL);
            CREATE TABLE ledger_notes (code TEXT NOT NULL, seq BIGINT NOT NULL, note TEXT NOT NULL, by_whom TEXT NOT NULL, at TEXT NOT NULL,
                PRIMARY KEY (code, seq));
            ALTER TABLE institutions ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 1;
            ALTER TABLE institutions ADD COLUMN changed_at TEXT NOT NULL DEFAULT '';
            CREATE INDEX institutions_changes ON institutions (change_seq);
            INSERT INTO registry_meta (key, value) VALUES ('change_seq', '1')
            """),
    ]

    static let changeCursorMigrations: [Migration] = [
        // Migration 10 gave every institution already there the one cursor 1, and the feed
        // pages by cursor alone: a page boundary inside those rows skipped the rest. Each
        // gets its own cursor after the counter (a mirror that read them sees them again:
        // the feed may repeat, never skip), and the counter moves past them.
        Migration(18, "one change cursor per institution", sql: """
            UPDATE institutions SET change_seq = m.base + r.n
                FROM (SELECT code, ROW_NUMBER() OVER (ORDER BY code) AS n FROM institutions WHERE change_seq = 1) AS r,
                     (SELECT CAST(value AS BIGINT) AS base FROM registry_meta WHERE key = 'change_seq') AS m
                WHERE institutions.code = r.code;
            UPDATE registry_meta SET value = CAST((SELECT MAX(change_seq) FROM institutions) AS TEXT)
                WHERE key = 'change_seq' AND (SELECT MAX(change_seq) FROM institutions) > CAST(value AS BIGINT)
            """),
    ]

    /// Reserves `count` cursor values for changes made in `tx` and returns the first. The
    /// counter's row stays locked until `tx` commits (on PostgreSQL), so cursors are handed
    /// out in commit order and a reader paging by cursor never skips a change.
    static func reserveChanges(_ tx: any SQLTransaction, _ count: Int) async throws -> Int64 {
        guard let row = try await tx.queryOne(
            "UPDATE registry_meta SET value = CAST(CAST(value AS BIGINT) + $1 AS TEXT) WHERE key = 'change_seq' RETURNING value", [.integer(Int64(count))]
        ) else { throw StoreError.decoding("registry_meta has no change_seq") }
        guard let value = Int64(try row.string("value")) else { throw StoreError.decoding("registry_meta's change_seq is not a number") }
        return value - Int64(count) + 1
    }

    /// Takes the change counter's lock first thing in a transaction that will change
    /// institutions or applications: every such registry write takes it before any other
    /// row, so they cannot deadlock each other on PostgreSQL.
    static func lockChanges(_ tx: any SQLTransaction) async throws {
        _ = try await reserveChanges(tx, 0)
    }

    /// Institutions changed after cursor `after`, at most `limit`, in cursor order.
    func changes(after: Int64, region: String, limit: Int) async throws -> [InstitutionChange] {
        try await database.read { tx in
            try await tx.query(
                """
                SELECT code, designation_status, record_version, change_seq, changed_at FROM institutions
                WHERE change_seq > $1 AND division_code LIKE $2 ORDER BY change_seq, code LIMIT $3
                """, [.integer(after), .text(region + "%"), .integer(Int64(limit))]
            ).map { row in
                InstitutionChange(
                    cursor: UInt64(try row.int("change_seq")), fixmedinsCode: try row.string("code"), designationStatus: try row.code("designation_status"),
                    recordVersion: UInt64(try row.int("record_version")), changedAt: try row.string("changed_at")
                )
            }
        }
    }

    /// A clinic as the ledger reads it.
    struct LedgerFacts: Sendable {
        let code: String
        let name: String
        let division: String
        let reason: LedgerReason
    }

    /// Every village clinic of `region` (a division prefix) in the ledger on `today`, in code order.
    func ledger(region: String, today: String) async throws -> [LedgerFacts] {
        try await database.read { tx in
            try await tx.query(
                Self.ledgerQuery + " AND i.division_code LIKE $1 AND (i.designation_status <> $2 OR (i.integration_mode = $3 AND i.relationship_end < $4)) ORDER BY i.code",
                [.text(region + "%"), DesignationStatus.designated.stored, IntegrationMode.integrating.stored, .text(today)]
            ).map { try Self.facts($0, today: today) }
        }
    }

    /// The village clinics of `villages` (12-digit codes) with their ledger reasons on `today`.
    func ledgerClinics(villages: [String], today: String) async throws -> [LedgerFacts] {
        guard !villages.isEmpty else { return [] }
        let dialect = database.dialect
        return try await database.read { tx in
            var binds: [SQLValue] = []
            let filter = SQLPlaceholders.isIn("i.division_code", villages.map { .text($0) }, dialect: dialect, binds: &binds)
            return try await tx.query(Self.ledgerQuery + " AND \(filter) ORDER BY i.code", binds).map { try Self.facts($0, today: today) }
        }
    }

    static let ledgerQuery = """
        SELECT i.code, i.name, i.division_code, i.designation_status, i.integration_mode, i.relationship_end, i.licensed_doctors, i.has_computer,
          i.has_network, (SELECT a.status FROM applications a WHERE a.code = i.code ORDER BY a.filed_at DESC, a.application_id DESC LIMIT 1) AS application
        FROM institutions i WHERE i.kind = '\(villageClinic)'
        """

    static func facts(_ row: SQLRow, today: String) throws -> LedgerFacts {
        LedgerFacts(
            code: try row.string("code"), name: try row.string("name"), division: try row.string("division_code"),
            reason: InstitutionRules.ledgerReason(
                status: try row.code("designation_status"), mode: try row.code("integration_mode"), relationshipEnd: try row.string("relationship_end"),
                today: today, application: try row.optionalCode("application"), licensedDoctors: try row.int("licensed_doctors"),
                equipped: try row.int("has_computer") != 0 && row.int("has_network") != 0
            )
        )
    }

    /// The county's entries and latest 20 notes for `codes`.
    func ledgerEntries(_ codes: [String]) async throws -> [String: (entry: SQLRow?, notes: [LedgerNote])] {
        guard !codes.isEmpty else { return [:] }
        let dialect = database.dialect
        return try await database.read { tx in
            var out: [String: (entry: SQLRow?, notes: [LedgerNote])] = [:]
            var binds: [SQLValue] = []
            let filter = SQLPlaceholders.isIn("code", codes.map { .text($0) }, dialect: dialect, binds: &binds)
            for row in try await tx.query("SELECT * FROM ledger_entries WHERE \(filter)", binds) { out[try row.string("code"), default: (nil, [])].entry = row }
            for row in try await tx.query("SELECT * FROM ledger_notes WHERE \(filter) ORDER BY code, seq", binds) {
                var notes = out[try row.string("code"), default: (nil, [])].notes
                notes.append(LedgerNote(text: try row.string("note"), by: try row.string("by_whom"), at: try row.string("at")))
                out[try row.string("code"), default: (nil, [])].notes = Array(notes.suffix(20))
            }
            return out
        }
    }

    /// ``coverage(region:day:childLength:maxGaps:)`` with each child division's name.
    func namedCoverage(region: String, day: String, childLength: Int?, maxGaps: Int) async throws -> Coverage {
        // The registry's change number first: a write committed after it makes the next call
        // recompute, and one committed before is in what is computed now.
        let version = try await changeNumber()
        let key = "\(region)|\(day)|\(childLength ?? 0)|\(maxGaps)"
        if let cached = coverageCache.coverage(key, at: version) { return cached }
        var coverage = try await self.coverage(region: region, day: day, childLength: childLength, maxGaps: maxGaps)
        let names = try await divisionNames(coverage.children.map(\.divisionCode))
        for i in coverage.children.indices { coverage.children[i].name = names[coverage.children[i].divisionCode] ?? "" }
        coverageCache.keep(coverage, key, at: version)
        return coverage
    }

    /// The registry's change number (registry_meta's change_seq): every institution write and
    /// division upsert advances it.
    func changeNumber() async throws -> Int64 {
        try await database.lookup { tx in
            Int64(try await tx.queryOne("SELECT value FROM registry_meta WHERE key = 'change_seq'", [])?.string("value") ?? "0") ?? 0
        }
    }

    /// Names of divisions by code.
    func divisionNames(_ codes: [String]) async throws -> [String: String] {
        guard !codes.isEmpty else { return [:] }
        let dialect = database.dialect
        return try await database.read { tx in
            var binds: [SQLValue] = []
            let filter = SQLPlaceholders.isIn("code", codes.map { .text($0) }, dialect: dialect, binds: &binds)
            return Dictionary(uniqueKeysWithValues: try await tx.query("SELECT code, name FROM divisions WHERE \(filter)", binds).map {
                (try $0.string("code"), try $0.string("name"))
            })
        }
    }

    /// Updates a village clinic's ledger entry (non-empty fields only) and adds a note.
    func updateLedger(code: String, plan: String, unit: String, target: String, note: String, by: String, today: String) async throws -> LedgerFacts {
        try await database.write { tx in
            guard let row = try await tx.queryOne(Self.ledgerQuery + " AND i.code = $1", [.text(code)]) else {
                throw DomainError(.notFound, field: "fixmedins_code", "no village clinic \(code)")
            }
            let now = Date().formatted(.iso8601)
            try await tx.execute(
                """
                INSERT INTO ledger_entries (code, plan, responsible_unit, target_date, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (code) DO UPDATE SET
                  plan = CASE WHEN excluded.plan = '' THEN ledger_entries.plan ELSE excluded.plan END,
                  responsible_unit = CASE WHEN excluded.responsible_unit = '' THEN ledger_entries.responsible_unit ELSE excluded.responsible_unit END,
                  target_date = CASE WHEN excluded.target_date = '' THEN ledger_entries.target_date ELSE excluded.target_date END,
                  updated_by = excluded.updated_by, updated_at = excluded.updated_at
                """, [.text(code), .text(plan), .text(unit), .text(target), .text(by), .text(now)]
            )
            if !note.isEmpty {
                let seq = (try await tx.queryOne("SELECT COUNT(*) AS n FROM ledger_notes WHERE code = $1", [.text(code)])?.int("n") ?? 0) + 1
                try await tx.execute("INSERT INTO ledger_notes (code, seq, note, by_whom, at) VALUES ($1, $2, $3, $4, $5)",
                                     [.text(code), .integer(seq), .text(note), .text(by), .text(now)])
            }
            return try Self.facts(row, today: today)
        }
    }
}

extension InstitutionRules {
    /// Why a village clinic is in the work ledger, first match in this order: suspended; an
    /// application under review or approved; terminated; integrating with its temporary
    /// relationship ended (notice §二(二)); the last application returned or refused; no
    /// licensed doctor; no computer or network; otherwise not applied. UNSPECIFIED for a
    /// designated clinic that can settle (not in the ledger).
    static func ledgerReason(
        status: DesignationStatus, mode: IntegrationMode, relationshipEnd: String, today: String, application: ApplicationStatus?,
        licensedDoctors: Int64, equipped: Bool
    ) -> LedgerReason {
        let ended = mode == .integrating && relationshipEnd < today
        if status == .designated { return ended ? .relationshipEnded : .unspecified }
        if status == .suspended { return .suspended }
        switch application {
        case .underReview: return .underReview
        case .approved: return .awaitingAgreement
        default: break
        }
        if status == .terminated { return .terminated }
        if ended { return .relationshipEnded }
        switch application {
        case .returned: return .returned
        case .refused: return .refused
        default: break
        }
        if licensedDoctors == 0 { return .noLicensedDoctor }
        if !equipped { return .noComputerOrNetwork }
        return .notApplied
    }
}

extension RegistryProvider {
    /// `Registry/GetWorkLedger`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func getWorkLedger(_ request: WorkLedgerRequest, context: CallContext) async throws -> WorkLedger {
        let region = try DivisionCode.validatePrefix(request.region)
        let only = request.reason == .unspecified ? nil : try request.reason.required("reason")
        guard request.after.utf8.count <= 20 else { throw DomainError(field: "after", "at most 20 characters") }
        guard request.pageSize <= 1_000 else { throw DomainError(field: "page_size", "at most 1000, got \(request.pageSize)") }
        let size = request.pageSize == 0 ? 100 : Int(request.pageSize)
        let all = try await store.ledger(region: region, today: CivilDate.today().description)

        var ledger = WorkLedger(region: region, clinics: UInt32(all.count))
        ledger.counts = Self.counts(all)
        // Each child division's counts: the next level's code, padded to 12 digits.
        if let child = DivisionCode.Level.childDigits(under: region.count) {
            let groups = Dictionary(grouping: all) { String($0.division.prefix(child)).padding(toLength: 12, withPad: "0", startingAt: 0) }
            let names = try await store.divisionNames(Array(groups.keys))
            ledger.byDivision = groups.keys.sorted().map { code in
                LedgerRollup(divisionCode: code, name: names[code] ?? "", clinics: UInt32(groups[code]!.count), counts: Self.counts(groups[code]!))
            }
        }
        let matching = all.lazy.filter { ($0.reason == only || only == nil) && $0.code > request.after }
        let page = Array(matching.prefix(size + 1))
        ledger.more = page.count > size
        let rows = page.prefix(size)
        let entries = try await store.ledgerEntries(rows.map(\.code))
        ledger.rows = rows.map { Self.row($0, entries[$0.code]) }
        return ledger
    }

    /// `Registry/UpdateLedgerEntry`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func updateLedgerEntry(_ request: UpdateLedgerEntryRequest, context: CallContext) async throws -> LedgerRow {
        let code = try InstitutionCode(request.fixmedinsCode, field: "fixmedins_code").value
        try FreeText.checked(request.plan, field: "plan", required: false)
        guard request.responsibleUnit.count <= 100 else { throw DomainError(field: "responsible_unit", "at most 100 characters") }
        try FreeText.checked(request.note, field: "note", required: false)
        let target = request.targetDate.isEmpty ? "" : try CivilDate(request.targetDate, field: "target_date").description
        guard !(request.plan.isEmpty && request.responsibleUnit.isEmpty && target.isEmpty && request.note.isEmpty) else {
            throw DomainError(field: "plan", "give a plan, responsible_unit, target_date or note")
        }
        let facts = try await store.updateLedger(
            code: code, plan: request.plan, unit: request.responsibleUnit, target: target, note: request.note,
            by: try context.actingCaller().description, today: CivilDate.today().description
        )
        return Self.row(facts, try await store.ledgerEntries([code])[code])
    }

    /// `Registry/ListChanges`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func listChanges(_ request: ListChangesRequest, context: CallContext) async throws -> ListChangesResponse {
        guard request.pageSize <= 5_000 else { throw DomainError(field: "page_size", "at most 5000, got \(request.pageSize)") }
        let region = request.region.isEmpty ? "" : try DivisionCode.validatePrefix(request.region)
        let size = request.pageSize == 0 ? 1_000 : Int(request.pageSize)
        let after = Int64(clamping: request.after)
        let changes = try await store.changes(after: after, region: region, limit: size + 1)
        let page = Array(changes.prefix(size))
        return ListChangesResponse(changes: page, cursor: page.last?.cursor ?? request.after, more: changes.count > size)
    }

    static func counts(_ rows: [RegistryStore.LedgerFacts]) -> [LedgerCount] {
        Dictionary(grouping: rows, by: \.reason).map { LedgerCount(reason: $0.key, clinics: UInt32($0.value.count)) }.sorted { $0.reason.rawValue < $1.reason.rawValue }
    }

    static func row(_ facts: RegistryStore.LedgerFacts, _ entry: (entry: SQLRow?, notes: [LedgerNote])?) -> LedgerRow {
        LedgerRow(
            fixmedinsCode: facts.code, fixmedinsName: facts.name, divisionCode: facts.division, reason: facts.reason,
            plan: (try? entry?.entry?.string("plan")) ?? "", responsibleUnit: (try? entry?.entry?.string("responsible_unit")) ?? "",
            targetDate: (try? entry?.entry?.string("target_date")) ?? "", notes: entry?.notes ?? []
        )
    }
}

/// Coverage answers by region, day and grouping with the change number they were computed at:
/// one entry is good until any institution or division changes. Bounded (64 answers; the
/// whole cache is dropped beyond).
final class CoverageCache: Sendable {
    private let entries = Mutex<[String: (version: Int64, coverage: Coverage)]>([:])

    func coverage(_ key: String, at version: Int64) -> Coverage? {
        entries.withLock { entries in entries[key].flatMap { $0.version == version ? $0.coverage : nil } }
    }

    func keep(_ coverage: Coverage, _ key: String, at version: Int64) {
        entries.withLock { entries in
            if entries.count >= 64 { entries.removeAll() }
            entries[key] = (version, coverage)
        }
    }
}
