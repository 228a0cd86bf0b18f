import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRuntime
import MedicareStore
import MedicareWire

/// The registry's data on either engine.
public struct RegistryStore: Sendable {
    public let database: any SQLDatabase
    /// Coverage computed over whole regions (the national view reads every clinic), kept
    /// until the registry's change number moves (``namedCoverage(region:day:childLength:maxGaps:)``).
    let coverageCache = CoverageCache()

    public init(database: any SQLDatabase) { self.database = database }

    /// Adds or renames divisions in order, all or none. A division's parent (one level up)
    /// must exist already or come earlier in the batch; otherwise INVALID_ARGUMENT naming it.
    func upsertDivisions(_ divisions: [(DivisionCode, String)], field: (Int) -> String) async throws {
        let fields = divisions.indices.map(field)
        try await database.write { tx in
            for (i, (code, name)) in divisions.enumerated() {
                if let parent = code.parent,
                   try await tx.queryOne("SELECT code FROM divisions WHERE code = $1", [.text(parent.value)]) == nil {
                    throw DomainError(field: fields[i], "the parent division \(parent) of \(code) does not exist; send parents first")
                }
                try await tx.execute(
                    "INSERT INTO divisions (code, name, level) VALUES ($1, $2, $3) ON CONFLICT (code) DO UPDATE SET name = excluded.name",
                    [.text(code.value), .text(name), .integer(Int64(code.level.rawValue))]
                )
            }
            // Names are part of coverage answers: the change number moves (no institution
            // row carries it, so the change feed just skips it).
            _ = try await Self.reserveChanges(tx, 1)
        }
    }

    /// Upserts valid records by record version in one transaction; returns an outcome per
    /// record (created, updated, unchanged, stale, or rejected with a reason). A
    /// village clinic's parent must be a registered township centre (in the registry or
    /// earlier in the batch); the county was checked in ``InstitutionRules``.
    func importRecords(_ records: [InstitutionRecord], today: String) async throws -> [(outcome: ImportOutcome, reason: String)] {
        try await database.write { tx in
            var outcomes: [(outcome: ImportOutcome, reason: String)] = []
            let now = Date().formatted(.iso8601)
            // A cursor for each record that may change (the change feed tolerates gaps).
            let firstChange = records.isEmpty ? 0 : try await Self.reserveChanges(tx, records.count)
            // What the batch needs to know, in two reads instead of two per record: the rows of
            // its codes, and the kinds of the parents it names (a parent created earlier in the
            // batch is added as it is created).
            var existingRows: [String: SQLRow] = [:]
            var kinds: [String: InstitutionKind] = [:]
            let codes = Array(Set(records.map(\.fixmedinsCode)))
            let parents = Array(Set(records.filter { $0.kind == .villageClinic && !$0.parentCode.isEmpty }.map(\.parentCode)))
            for start in stride(from: 0, to: codes.count, by: 1_000) {
                var binds: [SQLValue] = []
                let predicate = SQLPlaceholders.isIn("code", codes[start..<min(start + 1_000, codes.count)].map { .text($0) }, dialect: tx.dialect, binds: &binds)
                for row in try await tx.query("SELECT * FROM institutions WHERE \(predicate)", binds) { existingRows[try row.string("code")] = row }
            }
            for start in stride(from: 0, to: parents.count, by: 1_000) {
                var binds: [SQLValue] = []
                let predicate = SQLPlaceholders.isIn("code", parents[start..<min(start + 1_000, parents.count)].map { .text($0) }, dialect: tx.dialect, binds: &binds)
                for row in try await tx.query("SELECT code, kind FROM institutions WHERE \(predicate)", binds) {
                    kinds[try row.string("code")] = try row.code("kind", as: InstitutionKind.self)
                }
            }
            // New institutions and their first arrangements, inserted many rows at a time at the end.
            var created: [[SQLValue]] = [], arrangements: [[SQLValue]] = []
            for (n, r) in records.enumerated() {
                if r.kind == .villageClinic, !r.parentCode.isEmpty {
                    let parent = kinds[r.parentCode]
                    guard parent == .townshipCentre else {
                        let why = parent == nil ? "is not registered" : "is not a township centre"
                        outcomes.append((.rejected, "parent_code: \(r.parentCode) \(why); a clinic settles through its township centre"))
                        continue
                    }
                }
                let existing = existingRows[r.fixmedinsCode]
                let values: [SQLValue] = [
                    // A township centre's integration mode is not read (InstitutionRules): kept empty.
                    .text(r.fixmedinsCode), .text(r.fixmedinsName), r.kind.stored, .text(r.divisionCode), .text(r.parentCode),
                    r.kind == .villageClinic ? r.integrationMode.stored : .text(""),
                    .text(r.relationshipEnd), .integer(Int64(r.licensedDoctors)), .integer(r.hasComputer ? 1 : 0), .integer(r.hasNetwork ? 1 : 0),
                    .integer(Int64(r.recordVersion)), .text(now), .integer(firstChange + Int64(n)),
                ]
                // The arrangement routes follow (mode, parent, relationship end), dated.
                let arrangement: [SQLValue] = [values[5], values[4], values[6]]
                guard let existing else {
                    created.append(values + [values[11], DesignationStatus.notDesignated.stored])
                    // From the beginning: visits before the record's first push route by it too.
                    arrangements.append([.text(r.fixmedinsCode), .integer(1)] + arrangement + [.text("")])
                    kinds[r.fixmedinsCode] = r.kind
                    outcomes.append((.created, ""))
                    continue
                }
                let version = try existing.int("record_version")
                if try existing.code("kind", as: InstitutionKind.self) != r.kind {
                    // A centre with clinics cannot become a clinic (nor a clinic a centre): the
                    // routes through it would change meaning. Register the new institution anew.
                    outcomes.append((.rejected, "kind: \(r.fixmedinsCode) is registered as \(try existing.string("kind")); the kind cannot change"))
                } else if Int64(r.recordVersion) < version {
                    outcomes.append((.stale, ""))
                } else if Int64(r.recordVersion) == version {
                    outcomes.append((.unchanged, ""))
                } else {
                    let before: [SQLValue] = [existing["integration_mode"], existing["parent_code"], existing["relationship_end"]]
                    if before != arrangement {
                        // A new arrangement holds from its effective day; earlier visits keep theirs.
                        let effective = r.effectiveDate.isEmpty ? today : r.effectiveDate
                        let last = try await tx.queryOne(
                            "SELECT seq, effective_date FROM integration_history WHERE code = $1 ORDER BY seq DESC LIMIT 1", [.text(r.fixmedinsCode)]
                        )
                        if let previous = try last?.string("effective_date"), effective < previous {
                            outcomes.append((.rejected, "effective_date: \(effective) is before the previous change of arrangement of \(r.fixmedinsCode), effective \(previous)"))
                            continue
                        }
                        try await Self.recordArrangement(tx, code: r.fixmedinsCode, seq: (try last?.int("seq") ?? 0) + 1, arrangement, effective: effective)
                        try await tx.execute("UPDATE institutions SET arrangement_effective = $1 WHERE code = $2", [.text(effective), .text(r.fixmedinsCode)])
                    }
                    try await tx.execute(
                        """
                        UPDATE institutions SET name = $2, kind = $3, division_code = $4, parent_code = $5, integration_mode = $6, relationship_end = $7,
                        licensed_doctors = $8, has_computer = $9, has_network = $10, record_version = $11, updated_at = $12, change_seq = $13, changed_at = $12
                        WHERE code = $1
                        """, values
                    )
                    outcomes.append((.updated, ""))
                }
            }
            try await tx.insert([
                SQLInsert(into: "institutions", columns: Self.institutionColumns, rows: created),
                SQLInsert(into: "integration_history", columns: ["code", "seq", "integration_mode", "parent_code", "relationship_end", "effective_date"],
                          rows: arrangements),
            ])
            return outcomes
        }
    }

    /// The columns a new institution is inserted with, in the order `importRecords` builds them.
    static let institutionColumns = [
        "code", "name", "kind", "division_code", "parent_code", "integration_mode", "relationship_end", "licensed_doctors", "has_computer",
        "has_network", "record_version", "updated_at", "change_seq", "changed_at", "designation_status",
    ]

    static let arrangementMigrations: [Migration] = [
        // Integration arrangements are dated, so that a change today does not rewrite the
        // routes of earlier visits; today's arrangement of each institution holds from the start.
        Migration(13, "dated integration arrangements", sql: """
            CREATE TABLE integration_history (code TEXT NOT NULL, seq BIGINT NOT NULL, integration_mode TEXT NOT NULL, parent_code TEXT NOT NULL,
                relationship_end TEXT NOT NULL, effective_date TEXT NOT NULL, PRIMARY KEY (code, seq));
            INSERT INTO integration_history (code, seq, integration_mode, parent_code, relationship_end, effective_date)
                SELECT code, 1, integration_mode, parent_code, relationship_end, '' FROM institutions
            """),
    ]

    static let statusMigrations: [Migration] = [
        // When an institution's current status took effect ('' before any change): coverage
        // as of a later day need not read its history.
        Migration(15, "when the current designation status took effect", sql: """
            ALTER TABLE institutions ADD COLUMN designation_effective TEXT NOT NULL DEFAULT '';
            UPDATE institutions SET designation_effective = COALESCE(
              (SELECT h.effective_date FROM designation_history h WHERE h.code = institutions.code ORDER BY h.seq DESC LIMIT 1), '')
            """),
        // Likewise for the arrangement: coverage as of an earlier day reads the history only
        // for institutions whose arrangement changed after it.
        Migration(16, "when the current integration arrangement took effect", sql: """
            ALTER TABLE institutions ADD COLUMN arrangement_effective TEXT NOT NULL DEFAULT '';
            UPDATE institutions SET arrangement_effective = COALESCE(
              (SELECT a.effective_date FROM integration_history a WHERE a.code = institutions.code ORDER BY a.seq DESC LIMIT 1), '')
            """),
    ]

    /// Closed-set codes that live queries name in their SQL text (the enums' stable codes, so
    /// the compiler checks the names; a migration keeps the literals of its day).
    static let designated = DesignationStatus.designated.code, integrating = IntegrationMode.integrating.code,
               villageClinic = InstitutionKind.villageClinic.code

    /// Each village's clinics and designated clinics, kept by triggers on `institutions` (any
    /// insert, delete, or change of kind, village or status, whichever path writes it), so
    /// that coverage reads one row per village instead of every clinic (migration 19). Rows
    /// whose clinics all left stay, at zero.
    static let villageCountMigrations: [Migration] = [
        Migration(
            19, "each village's clinics and designated clinics",
            steps: [
                "CREATE TABLE village_counts (village TEXT PRIMARY KEY, clinics BIGINT NOT NULL, designated BIGINT NOT NULL)",
                villageCountsBackfill,
                """
                CREATE TRIGGER village_counts_insert AFTER INSERT ON institutions WHEN NEW.kind = 'village_clinic' BEGIN
                  INSERT INTO village_counts (village, clinics, designated) VALUES (NEW.division_code, 1, NEW.designation_status = 'designated')
                    ON CONFLICT (village) DO UPDATE SET clinics = clinics + 1, designated = designated + excluded.designated;
                END
                """,
                """
                CREATE TRIGGER village_counts_delete AFTER DELETE ON institutions WHEN OLD.kind = 'village_clinic' BEGIN
                  UPDATE village_counts SET clinics = clinics - 1, designated = designated - (OLD.designation_status = 'designated') WHERE village = OLD.division_code;
                END
                """,
                """
                CREATE TRIGGER village_counts_update AFTER UPDATE OF kind, division_code, designation_status ON institutions
                WHEN OLD.kind IS NOT NEW.kind OR OLD.division_code IS NOT NEW.division_code OR OLD.designation_status IS NOT NEW.designation_status BEGIN
                  UPDATE village_counts SET clinics = clinics - 1, designated = designated - (OLD.designation_status = 'designated')
                    WHERE village = OLD.division_code AND OLD.kind = 'village_clinic';
                  INSERT INTO village_counts (village, clinics, designated) SELECT NEW.division_code, 1, NEW.designation_status = 'designated'
                    WHERE NEW.kind = 'village_clinic'
                    ON CONFLICT (village) DO UPDATE SET clinics = clinics + 1, designated = designated + excluded.designated;
                END
                """,
            ] + coverageExceptionIndexes,
            postgres: [
                "CREATE TABLE village_counts (village TEXT PRIMARY KEY, clinics BIGINT NOT NULL, designated BIGINT NOT NULL)",
                villageCountsBackfill,
                """
                CREATE FUNCTION village_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.kind = 'village_clinic' THEN
                    UPDATE village_counts SET clinics = clinics - 1, designated = designated - (CASE WHEN OLD.designation_status = 'designated' THEN 1 ELSE 0 END)
                      WHERE village = OLD.division_code;
                  END IF;
                  IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.kind = 'village_clinic' THEN
                    INSERT INTO village_counts (village, clinics, designated)
                      VALUES (NEW.division_code, 1, CASE WHEN NEW.designation_status = 'designated' THEN 1 ELSE 0 END)
                      ON CONFLICT (village) DO UPDATE SET clinics = village_counts.clinics + 1, designated = village_counts.designated + excluded.designated;
                  END IF;
                  RETURN NULL;
                END $$
                """,
                "CREATE TRIGGER village_counts_insert_delete AFTER INSERT OR DELETE ON institutions FOR EACH ROW EXECUTE FUNCTION village_counts_keep()",
                """
                CREATE TRIGGER village_counts_update AFTER UPDATE OF kind, division_code, designation_status ON institutions FOR EACH ROW
                  WHEN (OLD.kind IS DISTINCT FROM NEW.kind OR OLD.division_code IS DISTINCT FROM NEW.division_code
                        OR OLD.designation_status IS DISTINCT FROM NEW.designation_status)
                  EXECUTE FUNCTION village_counts_keep()
                """,
            ] + coverageExceptionIndexes
        ),
    ]

    /// Migration 19's first counts, from the institutions already there.
    static let villageCountsBackfill = """
        INSERT INTO village_counts (village, clinics, designated)
          SELECT division_code, COUNT(*), SUM(CASE WHEN designation_status = 'designated' THEN 1 ELSE 0 END) FROM institutions
          WHERE kind = 'village_clinic' GROUP BY division_code
        """

    /// The clinics whose coverage as of a day the counts cannot answer
    /// (``coverage(region:day:childLength:maxGaps:)``) are found by index: a designation or
    /// arrangement change effective after the day, or a designated integrating clinic whose
    /// relationship ended before it.
    static let coverageExceptionIndexes = [
        "CREATE INDEX institutions_designation_effective ON institutions (designation_effective)",
        "CREATE INDEX institutions_arrangement_effective ON institutions (arrangement_effective)",
        """
        CREATE INDEX institutions_relationships_ended ON institutions (relationship_end)
          WHERE integration_mode = 'integrating' AND designation_status = 'designated'
        """,
    ]

    /// One dated arrangement (integration mode, parent, relationship end) of an institution.
    static func recordArrangement(_ tx: any SQLTransaction, code: String, seq: Int64, _ arrangement: [SQLValue], effective: String) async throws {
        try await tx.execute(
            "INSERT INTO integration_history (code, seq, integration_mode, parent_code, relationship_end, effective_date) VALUES ($1, $2, $3, $4, $5, $6)",
            [.text(code), .integer(seq)] + arrangement + [.text(effective)]
        )
    }

    func institution(_ code: String) async throws -> Institution? {
        try await database.lookup { tx in try await Self.institution(tx, code) }
    }

    static func institution(_ tx: any SQLTransaction, _ code: String) async throws -> Institution? {
        guard let row = try await tx.queryOne("SELECT * FROM institutions WHERE code = $1", [.text(code)]) else { return nil }
        let history = try await tx.query("SELECT * FROM designation_history WHERE code = $1 ORDER BY seq", [.text(code)]).map { h in
            DesignationEvent(fromStatus: try h.code("from_status"), toStatus: try h.code("to_status"), reason: try h.string("reason"),
                             at: try h.string("at"), by: try h.string("by_whom"), effectiveDate: try h.string("effective_date"))
        }
        return Institution(
            record: InstitutionRecord(fixmedinsCode: try row.string("code"), fixmedinsName: try row.string("name"), kind: try row.code("kind"), divisionCode: try row.string("division_code"),
                parentCode: try row.string("parent_code"), integrationMode: try row.code("integration_mode"),
                relationshipEnd: try row.string("relationship_end"), licensedDoctors: UInt32(try row.int("licensed_doctors")),
                hasComputer: try row.int("has_computer") != 0, hasNetwork: try row.int("has_network") != 0,
                recordVersion: UInt64(try row.int("record_version"))
            ),
            designationStatus: try row.code("designation_status"), history: history
        )
    }

    struct RouteFacts: Sendable {
        var status: DesignationStatus
        var kind: InstitutionKind
        var mode: IntegrationMode
        var parent: String
        var relationshipEnd: String
        var division: String
        /// nil when the parent centre is not registered.
        var centreStatus: DesignationStatus?
        var centreKind: InstitutionKind?
        /// The clinic's and the centre's status on the route's day.
        var statusThen: DesignationStatus
        var centreStatusThen: DesignationStatus
        /// The latest service agreement of the clinic and of its centre started on or before
        /// the route's day (nil: none on file).
        var agreement: Agreement?
        var centreAgreement: Agreement?
    }

    /// A service agreement as routing reads it: number, last day (YYYY-MM-DD) and scopes.
    struct Agreement: Sendable {
        var number: String
        var end: String
        var scopes: [ServiceScope]

        /// From `agreement_no \t end_date \t scopes` (one column, so that the route's one
        /// query can carry it); nil for NULL.
        init?(packed: String?) throws {
            guard let packed else { return nil }
            let parts = packed.split(separator: "\t", omittingEmptySubsequences: false)
            guard parts.count == 3 else { throw StoreError.decoding("an agreement row is not number, end and scopes") }
            number = String(parts[0])
            end = String(parts[1])
            scopes = try Self.scopes(String(parts[2]))
        }

        /// Scopes as stored: their codes, comma-separated.
        static func scopes(_ stored: String) throws -> [ServiceScope] {
            try stored.split(separator: ",").map { code in
                guard let scope = ServiceScope(code: String(code)) else { throw StoreError.decoding("unknown service scope '\(code)'") }
                return scope
            }
        }
    }

    /// What routing needs about a clinic and its centre on a day (YYYY-MM-DD), in one query:
    /// the clinic's arrangement (integration mode, parent, relationship end) in force that
    /// day, and their statuses now and on that day (the last change effective by then, or
    /// not designated before any).
    func routeFacts(_ code: String, on day: String) async throws -> RouteFacts? {
        try await database.lookup { tx in
            // The arrangement in force now held on the day unless it changed after it (the
            // common case: the plain row); otherwise the dated one, from the history. Two
            // simple statements plan far cheaper on PostgreSQL than one with both.
            let statuses = """
                (SELECT h.to_status FROM designation_history h WHERE h.code = i.code AND h.effective_date <= $2 ORDER BY h.seq DESC LIMIT 1) AS status_then,
                (SELECT h.to_status FROM designation_history h WHERE h.code = c.code AND h.effective_date <= $2 ORDER BY h.seq DESC LIMIT 1) AS centre_status_then,
                (SELECT g.agreement_no || '	' || g.end_date || '	' || g.scopes FROM agreements g
                  WHERE g.code = i.code AND g.start_date <= $2 ORDER BY g.start_date DESC LIMIT 1) AS agreement,
                (SELECT g.agreement_no || '	' || g.end_date || '	' || g.scopes FROM agreements g
                  WHERE g.code = c.code AND g.start_date <= $2 ORDER BY g.start_date DESC LIMIT 1) AS centre_agreement
                """
            guard var row = try await tx.queryOne(
                """
                SELECT i.designation_status, i.kind, i.integration_mode, i.parent_code, i.relationship_end, i.division_code, i.arrangement_effective,
                  c.designation_status AS centre_status, c.kind AS centre_kind, \(statuses)
                FROM institutions i LEFT JOIN institutions c ON c.code = i.parent_code WHERE i.code = $1
                """, [.text(code), .text(day)]
            ) else { return nil }
            if try row.string("arrangement_effective") > day, let dated = try await tx.queryOne(
                """
                SELECT i.designation_status, i.kind, a.integration_mode, a.parent_code, a.relationship_end, i.division_code,
                  c.designation_status AS centre_status, c.kind AS centre_kind, \(statuses)
                FROM institutions i
                JOIN integration_history a ON a.code = i.code
                  AND a.seq = (SELECT MAX(x.seq) FROM integration_history x WHERE x.code = i.code AND x.effective_date <= $2)
                LEFT JOIN institutions c ON c.code = a.parent_code WHERE i.code = $1
                """, [.text(code), .text(day)]
            ) {
                row = dated
            }
            return RouteFacts(
                status: try row.code("designation_status"), kind: try row.code("kind"), mode: try row.code("integration_mode"),
                parent: try row.string("parent_code"), relationshipEnd: try row.string("relationship_end"),
                division: try row.string("division_code"), centreStatus: try row.optionalCode("centre_status"),
                centreKind: try row.optionalCode("centre_kind"),
                statusThen: try row.optionalCode("status_then") ?? .notDesignated,
                centreStatusThen: try row.optionalCode("centre_status_then") ?? .notDesignated,
                agreement: try Agreement(packed: try row.optionalString("agreement")),
                centreAgreement: try Agreement(packed: try row.optionalString("centre_agreement"))
            )
        }
    }

    /// Changes an institution's designation, taking effect on `effective` (YYYY-MM-DD), which
    /// may not precede the previous change's: the history is a sequence of periods.
    func changeDesignation(code: String, action: DesignationAction, reason: String, by: String, effective: String) async throws -> Institution {
        try await database.write { tx in
            // The change counter first, as every registry write that changes institutions takes
            // it (imports, designation changes, signatures): one lock order, no deadlocks.
            let change = try await Self.reserveChanges(tx, 1)
            try await Self.changeDesignation(tx, code: code, action: action, reason: reason, by: by, effective: effective, change: change, lock: tx.dialect.forUpdate)
            guard let institution = try await Self.institution(tx, code) else { throw DomainError(.notFound, field: "fixmedins_code", "no institution \(code)") }
            return institution
        }
    }

    /// ``changeDesignation(code:action:reason:by:effective:)`` inside `tx`, with its event and
    /// its audit record, under change cursor `change` (reserved by the caller, who took the
    /// counter's lock before anything else). `field` names the caller's fields in errors, from
    /// this step's own (`fixmedins_code`, `action`, `effective_date`). Errors as
    /// ``changeDesignations(_:_:by:firstChange:lock:)``.
    static func changeDesignation(
        _ tx: any SQLTransaction, code: String, action: DesignationAction, reason: String, by: String, effective: String, change: Int64, lock: String,
        field: @escaping @Sendable (String) -> String = { $0 }
    ) async throws {
        try await changeDesignations(
            tx, [DesignationChange(code: code, action: action, reason: reason, effective: effective, field: field)], by: by, firstChange: change, lock: lock
        )
    }

    /// One designation change as ``changeDesignations(_:_:by:firstChange:lock:)`` takes it.
    struct DesignationChange: Sendable {
        let code: String
        let action: DesignationAction
        let reason: String
        /// YYYY-MM-DD.
        let effective: String
        /// Names the caller's field in errors from this step's own (`fixmedins_code`,
        /// `action`, `effective_date`): signing an agreement names `agreements[3].start_date`.
        let field: @Sendable (String) -> String
    }

    /// Applies `changes` in order inside `tx`, all or none, each with its event
    /// (`designation_history`) and its audit record (the outbox, delivered by the relay);
    /// the i-th takes change cursor `firstChange + i` (reserved by the caller, who took the
    /// counter's lock before anything else). Set-wise: the institutions and their last events
    /// read in two queries, then one update and two multi-row inserts, whatever the count (a
    /// campaign signs 5,000 at a time). An effective date may not precede the institution's
    /// previous change's: the history is a sequence of periods. Errors: NOT_FOUND (no
    /// institution), FAILED_PRECONDITION (the action does not apply to its status at that
    /// point), INVALID_ARGUMENT (the date precedes the previous change's).
    static func changeDesignations(_ tx: any SQLTransaction, _ changes: [DesignationChange], by: String, firstChange: Int64, lock: String) async throws {
        try await apply(tx, try await planDesignations(tx, changes, by: by, firstChange: firstChange, lock: lock))
    }

    /// What ``changeDesignations(_:_:by:firstChange:lock:)`` writes, decided: the rows of the
    /// history, the outbox and the institutions' new statuses.
    struct DesignationPlan: Sendable {
        var at = ""
        var history: [[SQLValue]] = []
        var outbox: [[SQLValue]] = []
        var updated: [String: [SQLValue]] = [:]
    }

    /// Reads and checks `changes` in order (the first that does not apply throws, as
    /// ``changeDesignations(_:_:by:firstChange:lock:)`` documents) and returns what to write.
    static func planDesignations(_ tx: any SQLTransaction, _ changes: [DesignationChange], by: String, firstChange: Int64, lock: String) async throws -> DesignationPlan {
        guard !changes.isEmpty else { return DesignationPlan() }
        var binds: [SQLValue] = []
        let named = SQLPlaceholders.isIn("code", Set(changes.map(\.code)).map { .text($0) }, dialect: tx.dialect, binds: &binds)
        var state: [String: (status: DesignationStatus, kind: InstitutionKind, seq: Int64, effective: String?)] = [:]
        for row in try await tx.query("SELECT code, designation_status, kind FROM institutions WHERE \(named)\(lock)", binds) {
            state[try row.string("code")] = (try row.code("designation_status"), try row.code("kind"), 0, nil)
        }
        for row in try await tx.query(
            "SELECT h.code, h.seq, h.effective_date FROM designation_history h WHERE h.\(named) AND h.seq = (SELECT MAX(x.seq) FROM designation_history x WHERE x.code = h.code)",
            binds
        ) {
            let code = try row.string("code")
            state[code]?.seq = try row.int("seq")
            state[code]?.effective = try row.string("effective_date")
        }
        let at = Date().formatted(.iso8601), nowMillis = AuditOutbox.nowMillis()
        var plan = DesignationPlan(at: at)
        for (i, change) in changes.enumerated() {
            guard var now = state[change.code] else { throw DomainError(.notFound, field: change.field("fixmedins_code"), "no institution \(change.code)") }
            let transition = try InstitutionRules.transition(change.action)
            guard transition.from.contains(now.status) else {
                throw DomainError(.precondition, field: change.field("action"), "cannot \(change.action) \(change.code): it is \(now.status)")
            }
            if let previous = now.effective, change.effective < previous {
                throw DomainError(field: change.field("effective_date"), "\(change.effective) is before the previous change of \(change.code), effective \(previous)")
            }
            now.seq += 1
            plan.history.append([.text(change.code), .integer(now.seq), now.status.stored, transition.to.stored, .text(change.reason), .text(at), .text(by), .text(change.effective)])
            // The decision's audit record, in the same transaction; its kind goes with it
            // (supervision's review rules scope by it).
            let record = RecordRequest(designation: DesignationRecord(
                fixmedinsCode: change.code, n: UInt64(now.seq),
                event: DesignationEvent(fromStatus: now.status, toStatus: transition.to, reason: change.reason, at: at, by: by, effectiveDate: change.effective),
                kind: now.kind
            ))
            plan.outbox.append([.text("\(change.code)#\(now.seq)"), .text(AuditKind.designation.code), .blob(try record.encodedBytes()), .integer(nowMillis)])
            now.status = transition.to
            now.effective = change.effective
            state[change.code] = now
            plan.updated[change.code] = [.text(change.code), transition.to.stored, .integer(firstChange + Int64(i)), .text(change.effective)]
        }
        return plan
    }

    /// Writes a plan: one update of the institutions, two multi-row inserts.
    static func apply(_ tx: any SQLTransaction, _ plan: DesignationPlan) async throws {
        guard !plan.updated.isEmpty else { return }
        var updateBinds: [SQLValue] = [.text(plan.at)]
        let relation = SQLPlaceholders.relation(
            [("code", "text"), ("status", "text"), ("change", "bigint"), ("effective", "text")], rows: Array(plan.updated.values), dialect: tx.dialect, binds: &updateBinds
        )
        try await tx.execute(
            """
            UPDATE institutions SET designation_status = v.status, change_seq = v.change, changed_at = $1, designation_effective = v.effective
            FROM \(relation) WHERE institutions.code = v.code
            """, updateBinds
        )
        try await tx.insert(
            into: "designation_history", columns: ["code", "seq", "from_status", "to_status", "reason", "at", "by_whom", "effective_date"], rows: plan.history
        )
        try await tx.insert(into: "registry_audit_outbox", columns: ["subject", "kind", "record", "created_ms"], rows: plan.outbox)
    }

    /// 村村通 coverage of `region` as of `day` (YYYY-MM-DD): a clinic counts as designated when
    /// the changes effective by then leave it designated and, integrating, its relationship
    /// has not ended, by the arrangement in force that day. Read from the per-village counts
    /// (`village_counts`, which count a clinic by its current status), corrected by the few
    /// clinics they cannot answer for that day, found by index: a designation or arrangement
    /// change effective after the day (their histories say what held then), or a designated
    /// integrating clinic whose relationship ended before it. So a national view reads one
    /// row per village, not one per clinic. Aggregated per child division (`childLength`
    /// digits of the village code; nil for a village region), children without names
    /// (``divisionNames(_:)``).
    func coverage(region: String, day: String, childLength: Int?, maxGaps: Int) async throws -> Coverage {
        try await database.read { tx in
            let (lower, upper) = DivisionCode.textRange(prefix: region)
            let perVillage = """
                WITH exceptional AS (
                  SELECT code FROM institutions WHERE designation_effective > $2
                  UNION SELECT code FROM institutions WHERE arrangement_effective > $2
                  UNION SELECT code FROM institutions WHERE relationship_end < $2 AND integration_mode = '\(Self.integrating)' AND designation_status = '\(Self.designated)'),
                -- Driven by the few exceptional clinics (a region predicate here would make
                -- SQLite scan the region's clinics instead); the join below keeps the region.
                deltas AS (
                  SELECT i.division_code AS village, SUM(
                    (CASE WHEN (CASE WHEN i.designation_effective <= $2 THEN i.designation_status
                               ELSE (SELECT h.to_status FROM designation_history h WHERE h.code = i.code AND h.effective_date <= $2 ORDER BY h.seq DESC LIMIT 1) END) = '\(Self.designated)'
                      AND NOT (CASE WHEN i.arrangement_effective <= $2 THEN i.integration_mode = '\(Self.integrating)' AND i.relationship_end < $2
                               ELSE (SELECT a.integration_mode = '\(Self.integrating)' AND a.relationship_end < $2 FROM integration_history a
                                     WHERE a.code = i.code AND a.effective_date <= $2 ORDER BY a.seq DESC LIMIT 1) END) THEN 1 ELSE 0 END)
                    - (CASE WHEN i.designation_status = '\(Self.designated)' THEN 1 ELSE 0 END)) AS delta
                  FROM exceptional x JOIN institutions i ON i.code = x.code
                  WHERE i.kind = '\(Self.villageClinic)' GROUP BY i.division_code),
                villages AS (
                  SELECT c.village, c.clinics, c.designated + COALESCE(d.delta, 0) AS designated FROM village_counts c LEFT JOIN deltas d ON d.village = c.village
                  WHERE c.village >= $1 AND c.village < $3 AND c.clinics > 0)
                """
            let binds: [SQLValue] = [.text(lower), .text(day), .text(upper)]
            let length = childLength ?? 12
            let groups = try await tx.query(
                perVillage + """
                SELECT substr(village, 1, \(length)) AS child, COUNT(*) AS villages, SUM(CASE WHEN designated > 0 THEN 1 ELSE 0 END) AS covered,
                  SUM(clinics) AS clinics, SUM(designated) AS designated FROM villages GROUP BY substr(village, 1, \(length)) ORDER BY child
                """, binds
            )
            let gaps = maxGaps == 0 ? [] : try await tx.query(
                perVillage + """
                SELECT v.village AS code, COALESCE(d.name, '') AS name FROM villages v LEFT JOIN divisions d ON d.code = v.village
                WHERE v.designated = 0 ORDER BY v.village LIMIT \(maxGaps)
                """, binds
            )
            var coverage = Coverage(region: region, gaps: try gaps.map { Division(code: try $0.string("code"), name: try $0.string("name")) }, asOf: day)
            var children: [DivisionCoverage] = []
            for row in groups {
                let child = DivisionCoverage(
                    divisionCode: String(try row.string("child")).padding(toLength: 12, withPad: "0", startingAt: 0),
                    villages: UInt32(try row.int("villages")), covered: UInt32(try row.int("covered")),
                    clinics: UInt32(try row.int("clinics")), designatedClinics: UInt32(try row.int("designated"))
                )
                coverage.villages += child.villages
                coverage.covered += child.covered
                coverage.clinics += child.clinics
                coverage.designatedClinics += child.designatedClinics
                children.append(child)
            }
            if childLength != nil { coverage.children = children }
            return coverage
        }
    }

    /// A region's integrating clinics whose temporary relationship ends on or before
    /// `until`, latest end first (those still running before those ended long ago).
    func relationships(region: String, until: String, limit: Int) async throws -> [Relationship] {
        try await database.read { tx in
            try await tx.query(
                """
                SELECT code, name, parent_code, relationship_end FROM institutions
                WHERE kind = '\(Self.villageClinic)' AND integration_mode = '\(Self.integrating)' AND division_code LIKE $1 AND relationship_end <= $2
                ORDER BY relationship_end DESC, code LIMIT $3
                """, [.text(region + "%"), .text(until), .integer(Int64(limit))]
            ).map { row in
                Relationship(fixmedinsCode: try row.string("code"), fixmedinsName: try row.string("name"), parentCode: try row.string("parent_code"),
                             relationshipEnd: try row.string("relationship_end"))
            }
        }
    }
}
