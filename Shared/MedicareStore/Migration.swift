import Logging

/// One forward-only schema step. `sql` runs on both engines; `postgres` overrides it where
/// PostgreSQL needs other SQL. Statements are separated by `;` (none may contain one; a
/// migration whose statements do, such as SQLite triggers, gives them as lists).
public struct Migration: Sendable {
    /// The schema version this step brings the database to; versions increase and are unique per service.
    public let version: Int64
    /// A short name, recorded in `schema_migrations` and named in errors.
    public let name: String
    /// The statements for SQLite, and for PostgreSQL unless `postgresSteps` is given.
    public let steps: [String]
    /// The statements for PostgreSQL when they differ from `steps`; nil = run `steps`.
    public let postgresSteps: [String]?

    /// A step from SQL text, split into statements at each `;` (empty ones dropped); `postgres`,
    /// when given, is split the same way and replaces `sql` on PostgreSQL.
    public init(_ version: Int64, _ name: String, sql: String, postgres: String? = nil) {
        self.init(version, name, steps: Self.split(sql), postgres: postgres.map(Self.split))
    }

    /// A step from statements given one by one (for statements that contain `;`); `postgres`,
    /// when given, replaces `steps` on PostgreSQL.
    public init(_ version: Int64, _ name: String, steps: [String], postgres: [String]? = nil) {
        self.version = version
        self.name = name
        self.steps = steps
        self.postgresSteps = postgres
    }

    /// SQL text as statements: split at each `;`, trimmed, empty ones dropped.
    public static func split(_ sql: String) -> [String] {
        sql.split(separator: ";").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
    }

    /// Check constraints for closed-set columns: each column may hold only the codes listed
    /// (a closed set's stable codes, `ProtoEnum.code`; '' where the zero value "not given" is
    /// stored). PostgreSQL gets `CHECK` constraints, which also validate the rows already
    /// there; SQLite, which cannot add a constraint to a table, gets triggers that abort an
    /// insert or update with another value (`SQLITE_CONSTRAINT`). `before` runs first (to
    /// bring old rows into the set). A closed set that gains a value needs a new migration
    /// that widens its check.
    public static func closedSets(_ version: Int64, _ name: String, _ sets: [ClosedSet], before: [String] = []) -> Migration {
        var sqlite = before, postgres = before
        for set in sets {
            let id = "\(set.table)_\(set.column)"
            for (event, when) in [("INSERT", "INSERT"), ("UPDATE", "UPDATE OF \(set.column)")] {
                sqlite.append("""
                    CREATE TRIGGER \(id)_\(event.lowercased()) BEFORE \(when) ON \(set.table) WHEN NOT (\(set.condition("NEW.\(set.column)")))
                    BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: \(id)_codes'); END
                    """)
            }
            postgres.append("ALTER TABLE \(set.table) ADD CONSTRAINT \(id)_codes CHECK (\(set.condition(set.column)))")
        }
        return Migration(version, name, steps: sqlite, postgres: postgres)
    }
}

extension Migration {
    /// A migration that replaces the checks ``closedSets(_:_:_:before:)`` made on the sets'
    /// columns with checks for their new codes (a value added to an enum).
    public static func widenedClosedSets(_ version: Int64, _ name: String, _ sets: [ClosedSet]) -> Migration {
        let created = closedSets(version, name, sets)
        var sqlite: [String] = [], postgres: [String] = []
        for set in sets {
            let id = "\(set.table)_\(set.column)"
            sqlite += ["DROP TRIGGER IF EXISTS \(id)_insert", "DROP TRIGGER IF EXISTS \(id)_update"]
            postgres.append("ALTER TABLE \(set.table) DROP CONSTRAINT IF EXISTS \(id)_codes")
        }
        return Migration(version, name, steps: sqlite + created.steps, postgres: postgres + (created.postgresSteps ?? created.steps))
    }
}

/// A closed set's column and the codes it may hold (see ``Migration/closedSets(_:_:_:before:)``).
public struct ClosedSet: Sendable, Equatable {
    /// The table holding the column.
    public let table: String
    /// The column, which holds a closed set's stable codes.
    public let column: String
    /// Every code the column may hold ('' where "not given" is stored).
    public let codes: [String]
    /// The column holds a set of codes, comma-separated ("general_outpatient,tcm"): at least
    /// one, each among `codes`.
    public let separated: Bool

    /// A closed set for `table`.`column` with the codes it may hold (one, or with `separated`
    /// a non-empty comma-separated list of them).
    public init(_ table: String, _ column: String, _ codes: [String], separated: Bool = false) {
        self.table = table
        self.column = column
        self.codes = codes
        self.separated = separated
    }

    /// The SQL condition (the same on both engines) that `value` holds only the set's codes.
    /// A list is checked by replacing each `,code,` in `,value,` with `,`: one comma is left
    /// exactly when the list is its codes, one or more, none empty (an empty element, an empty
    /// list or a code twice in a row leaves more).
    func condition(_ value: String) -> String {
        guard separated else { return "\(value) IN (\(codes.map { "'\($0)'" }.joined(separator: ", ")))" }
        return codes.reduce("',' || \(value) || ','") { "replace(\($0), ',\($1),', ',')" } + " = ','"
    }
}

/// Applies migrations at start-up and records them in `schema_migrations`. A second start
/// is a no-op; a database from a newer build is refused.
public enum Migrator {
    /// Returns the versions applied now.
    ///
    /// Applies, in one write transaction, every migration above the version recorded for
    /// `service` and records each in `schema_migrations` (on PostgreSQL under an advisory lock,
    /// so that replicas starting together migrate once). Traps unless the versions increase.
    /// - Throws: ``StoreError/schemaTooNew(found:known:)`` when the database is at a version above
    ///   the last one given; ``StoreError/migration(version:name:reason:)`` when a statement fails
    ///   (nothing of the run is kept); the database's own errors otherwise.
    @discardableResult
    public static func migrate(_ database: any SQLDatabase, service: String, migrations: [Migration], logger: Logger) async throws -> [Int64] {
        let known = migrations.map(\.version).max() ?? 0
        precondition(migrations.map(\.version) == migrations.map(\.version).sorted() && Set(migrations.map(\.version)).count == migrations.count,
                     "migrations must have increasing, unique versions")
        let dialect = database.dialect
        return try await database.write { tx in
            if dialect == .postgres {
                // Replicas starting together: one migrates, the others wait and then see it done.
                try await tx.execute("SELECT pg_advisory_xact_lock(7340033)", [])
            }
            try await tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (service TEXT NOT NULL, version BIGINT NOT NULL, name TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (service, version))",
                []
            )
            let current = try await tx.queryOne("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations WHERE service = $1", [.text(service)])?.int("v") ?? 0
            if current > known { throw StoreError.schemaTooNew(found: current, known: known) }
            var applied: [Int64] = []
            for migration in migrations where migration.version > current {
                for statement in dialect == .postgres ? (migration.postgresSteps ?? migration.steps) : migration.steps {
                    do {
                        try await tx.execute(statement, [])
                    } catch {
                        throw StoreError.migration(version: migration.version, name: migration.name, reason: "\(error)")
                    }
                }
                try await tx.execute(
                    "INSERT INTO schema_migrations (service, version, name, applied_at) VALUES ($1, $2, $3, $4)",
                    [.text(service), .integer(migration.version), .text(migration.name), .text(ISO8601.now())]
                )
                applied.append(migration.version)
            }
            return applied
        }.also { applied in
            if !applied.isEmpty { logger.info("migrated", metadata: ["store.versions": "\(applied)"]) }
        }
    }
}

extension Array {
    fileprivate func also(_ body: (Self) -> Void) -> Self {
        body(self)
        return self
    }
}

import Foundation

enum ISO8601 {
    static func now() -> String {
        Date().formatted(.iso8601)
    }
}
