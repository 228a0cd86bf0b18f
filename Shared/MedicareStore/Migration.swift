import Logging

/// One forward-only schema step. `sql` runs on both engines; `postgres` overrides it where
/// PostgreSQL needs other SQL.
public struct Migration: Sendable {
    public let version: Int64
    public let name: String
    public let sql: String
    public let postgres: String?

    public init(_ version: Int64, _ name: String, sql: String, postgres: String? = nil) {
        self.version = version
        self.name = name
        self.sql = sql
        self.postgres = postgres
    }
}

/// Applies migrations at start-up and records them in `schema_migrations`. A second start
/// is a no-op; a database from a newer build is refused.
public enum Migrator {
    /// Returns the versions applied now.
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
                let sql = dialect == .postgres ? (migration.postgres ?? migration.sql) : migration.sql
                for statement in sql.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }) where !statement.isEmpty {
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
