import Foundation
import MedicareStore
import MedicareWire

/// A service's audit outbox: records for supervision's chain written in the same
/// transaction as the decision they record (table `audit_outbox`), delivered by an
/// ``AuditRelay`` and deleted once supervision has them; and the signed checkpoints of the
/// chain that supervision answers with (table `audit_checkpoints`), kept here, outside its
/// store. Settlement records its postings this way, the registry its designation changes.
public struct AuditOutbox: Sendable {
    /// The service's database, which holds both tables.
    public let database: any SQLDatabase
    /// Table names: `<prefix>audit_outbox`, `<prefix>audit_checkpoints`. Services may share
    /// one PostgreSQL database (compose does), so each names its own: settlement's are
    /// unprefixed (they came first), the registry's `registry_`.
    let outbox: String
    let checkpointTable: String

    /// An outbox on `database` whose tables are named with `tablePrefix` (see ``migration(_:tablePrefix:)``).
    public init(database: any SQLDatabase, tablePrefix: String = "") {
        self.database = database
        self.outbox = tablePrefix + "audit_outbox"
        self.checkpointTable = tablePrefix + "audit_checkpoints"
    }

    /// The column that holds a relay's claim on a row (PostgreSQL; unused on SQLite), for a
    /// service's migrations.
    public static func claimMigration(_ version: Int64, table: String) -> Migration {
        Migration(
            version, "outbox rows claimed by one relay at a time",
            sql: "ALTER TABLE \(table) ADD COLUMN claimed_until TEXT",
            postgres: "ALTER TABLE \(table) ADD COLUMN claimed_until TIMESTAMPTZ"
        )
    }

    /// The column that holds when a row was written (Unix milliseconds, for the relay's lag;
    /// NULL in rows from before), for a service's migrations.
    public static func datedMigration(_ version: Int64, table: String) -> Migration {
        Migration(version, "outbox rows dated", sql: "ALTER TABLE \(table) ADD COLUMN created_ms BIGINT")
    }

    /// An index of the rows still to deliver, in `seq` order, for a service's migrations: a
    /// claim (``pending(limit:)``) reads from the lowest of them, never walking the rejected
    /// rows, which are kept (set aside with their reason) and would otherwise grow its cost.
    public static func pendingIndexMigration(_ version: Int64, table: String) -> Migration {
        Migration(version, "outbox rows to deliver indexed", sql: "CREATE INDEX \(table)_pending ON \(table) (seq) WHERE rejected IS NULL")
    }

    /// Runs `sql` once per group of at most 10,000 sequence numbers (every relay batch is one
    /// group), its `{seqs}` replaced by the ``SQLPlaceholders/isIn(_:_:dialect:binds:)``
    /// predicate on `seq`: one array bind and the same text whatever the count on PostgreSQL.
    static func forEachGroup(_ tx: any SQLTransaction, _ seqs: [Int64], _ sql: String) async throws {
        for start in stride(from: 0, to: seqs.count, by: 10_000) {
            var binds: [SQLValue] = []
            let predicate = SQLPlaceholders.isIn("seq", seqs[start..<min(start + 10_000, seqs.count)].map { .integer($0) }, dialect: tx.dialect, binds: &binds)
            try await tx.execute(sql.replacingOccurrences(of: "{seqs}", with: predicate), binds)
        }
    }

    /// Now in Unix milliseconds, as `created_ms` holds it.
    public static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// The tables, for a service's migrations (`subject` names what a record is about).
    public static func migration(_ version: Int64, tablePrefix prefix: String) -> Migration {
        Migration(
            version, "audit outbox and checkpoints",
            sql: """
                CREATE TABLE \(prefix)audit_outbox (seq INTEGER PRIMARY KEY, subject TEXT NOT NULL, kind TEXT NOT NULL, record BYTEA NOT NULL, rejected TEXT);
                CREATE TABLE \(prefix)audit_checkpoints (seq BIGINT PRIMARY KEY, hash TEXT NOT NULL, at TEXT NOT NULL, signature BYTEA NOT NULL)
                """,
            postgres: """
                CREATE TABLE \(prefix)audit_outbox (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, subject TEXT NOT NULL, kind TEXT NOT NULL,
                    record BYTEA NOT NULL, rejected TEXT);
                CREATE TABLE \(prefix)audit_checkpoints (seq BIGINT PRIMARY KEY, hash TEXT NOT NULL, at TEXT NOT NULL, signature BYTEA NOT NULL)
                """
        )
    }

    /// One record waiting for delivery: an encoded `RecordRequest`.
    public struct Pending: Sendable {
        /// The record's sequence number in the outbox (its primary key).
        public let seq: Int64
        /// The encoded `RecordRequest`.
        public let record: [UInt8]
        /// When the row was written (Unix milliseconds); nil for rows from before the column.
        public var createdMs: Int64? = nil
    }

    /// The oldest records not yet delivered (rejected ones stay, set aside), claimed for
    /// this relay. On PostgreSQL, where several replicas' relays share the outbox, the rows
    /// are claimed for ``claimLease`` (`FOR UPDATE SKIP LOCKED`, then a lease in the row) so
    /// that the relays split the work instead of repeating it; a relay that dies leaves its
    /// claim to expire. On SQLite one process owns the file and nothing needs claiming.
    public func pending(limit: Int) async throws -> [Pending] {
        guard database.dialect == .postgres else {
            return try await database.read { tx in
                try await tx.query("SELECT seq, record, created_ms FROM \(outbox) WHERE rejected IS NULL ORDER BY seq LIMIT $1", [.integer(Int64(limit))])
                    .map { Pending(seq: try $0.int("seq"), record: try $0.blob("record"), createdMs: try $0.optionalInt("created_ms")) }
            }
        }
        let lease = Int64(Self.claimLease.components.seconds)
        return try await database.write { [outbox] tx in
            // By the primary key in `seq` order, never a scan of the table: delivered rows are
            // deleted, and until autovacuum comes (a minute or more) a sequential scan reads
            // every one of them, a cost growing with the delivery rate. The planner, counting
            // the few live rows, would choose that scan.
            try await tx.execute("SELECT set_config('enable_seqscan', 'off', true)", [])
            return try await tx.query(
                """
                UPDATE \(outbox) SET claimed_until = now() + make_interval(secs => $2) WHERE seq IN (
                  SELECT seq FROM \(outbox) WHERE rejected IS NULL AND (claimed_until IS NULL OR claimed_until < now())
                  ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
                RETURNING seq, record, created_ms
                """, [.integer(Int64(limit)), .integer(lease)]
            ).map { Pending(seq: try $0.int("seq"), record: try $0.blob("record"), createdMs: try $0.optionalInt("created_ms")) }.sorted { $0.seq < $1.seq }
        }
    }

    /// How long a relay's claim on outbox rows lasts (PostgreSQL): longer than a delivery
    /// may take (its call is bounded at 10 s).
    public static let claimLease: Duration = .seconds(30)

    /// Gives claimed rows back after a delivery that failed, so that any relay may take them
    /// at once rather than after the lease.
    public func release(_ seqs: [Int64]) async throws {
        guard database.dialect == .postgres, !seqs.isEmpty else { return }
        try await database.write { [outbox] tx in
            try await Self.forEachGroup(tx, seqs, "UPDATE \(outbox) SET claimed_until = NULL WHERE {seqs}")
        }
    }

    /// Removes delivered records, sets rejected ones aside with supervision's reason, and
    /// keeps a new checkpoint, in one transaction. By exact sequence number: on PostgreSQL a
    /// lower number may commit later than a higher one.
    public func delivered(_ delivered: [Int64], rejected: [(seq: Int64, reason: String)], checkpoint: AuditCheckpoint? = nil) async throws {
        try await database.write { tx in
            if let checkpoint {
                try await tx.execute(
                    "INSERT INTO \(checkpointTable) (seq, hash, at, signature) VALUES ($1, $2, $3, $4) ON CONFLICT (seq) DO NOTHING",
                    [.integer(Int64(checkpoint.seq)), .text(checkpoint.hash), .text(checkpoint.at), .blob(checkpoint.signature)]
                )
            }
            // One statement for the batch, not one per row: on PostgreSQL each is a round trip.
            try await Self.forEachGroup(tx, delivered, "DELETE FROM \(outbox) WHERE {seqs}")
            for (seq, reason) in rejected {
                try await tx.execute("UPDATE \(outbox) SET rejected = $1 WHERE seq = $2", [.text(String(reason.prefix(500))), .integer(seq)])
            }
        }
    }

    /// The latest checkpoints kept, newest first.
    public func checkpoints(limit: Int = 1000) async throws -> [AuditCheckpoint] {
        try await database.read { tx in
            try await tx.query("SELECT seq, hash, at, signature FROM \(checkpointTable) ORDER BY seq DESC LIMIT $1", [.integer(Int64(limit))]).map {
                AuditCheckpoint(seq: UInt64(try $0.int("seq")), hash: try $0.string("hash"), at: try $0.string("at"), signature: try $0.blob("signature"))
            }
        }
    }

    /// How far the outbox spans, oldest row to newest (rejected ones included): an upper
    /// bound of its length read from the primary key alone, cheap however long it grows.
    public func span() async throws -> Int64 {
        try await database.lookup { tx in
            let row = try await tx.queryOne("SELECT MIN(seq) AS low, MAX(seq) AS high FROM \(outbox)", [])
            guard let row, let low = try? row.int("low"), let high = try? row.int("high") else { return 0 }
            return high - low + 1
        }
    }

    /// Records waiting for delivery and records supervision rejected.
    public func backlog() async throws -> (pending: Int64, rejected: Int64) {
        try await database.read { tx in
            let row = try await tx.queryOne(
                "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN rejected IS NULL THEN 0 ELSE 1 END), 0) AS r FROM \(outbox)", []
            )
            let total = try row?.int("n") ?? 0, rejected = try row?.int("r") ?? 0
            return (total - rejected, rejected)
        }
    }
}
