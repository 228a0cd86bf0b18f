import Metrics
import Synchronization

/// A storage failure. Descriptions are for the local log: they may hold SQL and paths, so
/// they are never sent to a peer (services map a store error to `internal` or `unavailable`).
public enum StoreError: Error, Sendable, CustomStringConvertible {
    /// The engine cannot work now, whatever the statement: its disk is full, its storage
    /// fails, its server cannot be reached. Not a defect of ours: a retry later may work
    /// (`unavailable`, not `internal`). Counted in ``StoreHealth``.
    case resources(StoreUnavailability, detail: String)
    /// The engine refused a statement (constraint, syntax, I/O).
    case statement(sql: String, code: Int32, message: String)
    /// A unique or primary-key constraint failed: usually a duplicate the caller can be told about.
    case constraint(sql: String, message: String)
    /// The transaction lost to a concurrent one (PostgreSQL serialization failure 40001 or
    /// deadlock 40P01) and still did after being run again: `aborted`, retryable.
    case conflict(String)
    /// The store could not be opened or reached.
    case unavailable(String)
    /// A row did not hold what the code expected.
    case decoding(String)
    /// The store is closing or closed.
    case closed
    /// The database was written by a newer version of this software.
    case schemaTooNew(found: Int64, known: Int64)
    /// A migration failed.
    case migration(version: Int64, name: String, reason: String)

    /// The error for the local log; it may hold SQL and paths.
    public var description: String {
        switch self {
        case .resources(let kind, let detail): "store unavailable (\(kind.rawValue)): \(detail)"
        case .statement(let sql, let code, let message): "SQL error \(code): \(message) in: \(sql.prefix(200))"
        case .constraint(let sql, let message): "constraint failed: \(message) in: \(sql.prefix(200))"
        case .conflict(let detail): "transaction conflict: \(detail)"
        case .unavailable(let reason): "store unavailable: \(reason)"
        case .decoding(let reason): "unexpected row: \(reason)"
        case .closed: "the store is closed"
        case .schemaTooNew(let found, let known):
            "the database schema is at version \(found), newer than this build knows (\(known)); run a newer build or point to another database"
        case .migration(let version, let name, let reason): "migration \(version) (\(name)) failed: \(reason)"
        }
    }
}

/// What a store lacks when it cannot work (``StoreError/resources(_:detail:)``).
public enum StoreUnavailability: String, Sendable, CaseIterable {
    /// No space left: SQLITE_FULL, PostgreSQL disk_full (53100) and its other resource
    /// limits (class 53).
    case storageFull = "storage-full"
    /// The storage failed to read, write or sync: SQLITE_IOERR, SQLITE_CANTOPEN,
    /// SQLITE_READONLY (a file system remounted read-only), a failed fsync, PostgreSQL
    /// io_error (58030).
    case storageIO = "storage-io"
    /// The database server cannot be reached or went away: PostgreSQL connection errors
    /// (class 08), shutdown (57P01-57P03), a closed connection.
    case connection = "connection"
    /// The database did not finish in time: a statement cancelled by `statement_timeout`
    /// (57014), a lock not to be had (55P03).
    case busy = "busy"

    /// What a peer is told: which kind of trouble, never where or which statement.
    public var peerMessage: String {
        switch self {
        case .storageFull: "the store is out of space; retry later"
        case .storageIO: "the store cannot read or write its storage; retry later"
        case .connection: "the store's database cannot be reached; retry later"
        case .busy: "the store's database is too slow to answer now; retry later"
        }
    }

    /// SQLite's primary result codes (the low byte of an extended code) that mean this.
    static func sqlite(_ code: Int32) -> StoreUnavailability? {
        switch code & 0xff {
        case 13: .storageFull  // SQLITE_FULL
        case 10, 14, 8: .storageIO  // SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_READONLY
        default: nil
        }
    }

    /// PostgreSQL SQLSTATEs that mean this.
    static func postgres(sqlState: String) -> StoreUnavailability? {
        if sqlState.hasPrefix("53") { return .storageFull }  // insufficient resources: disk_full 53100, ...
        if sqlState == "58030" || sqlState == "58000" { return .storageIO }  // io_error, system_error
        if sqlState.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(sqlState) { return .connection }
        if sqlState == "57014" || sqlState == "55P03" { return .busy }  // query_canceled (statement_timeout), lock_not_available
        return nil
    }
}

/// Whether the store can work, for metrics and tests: `medicare_store_unavailable` is 1
/// from a ``StoreError/resources(_:detail:)`` failure until the next successful commit, and
/// `medicare_store_unavailable_total{kind}` counts those failures.
public enum StoreHealth {
    private static let state = Mutex<(unavailable: Bool, counts: [StoreUnavailability: Int])>((false, [:]))
    private static let gauge = Gauge(label: "medicare_store_unavailable")
    private static let counters = Dictionary(uniqueKeysWithValues: StoreUnavailability.allCases.map {
        ($0, Counter(label: "medicare_store_unavailable_total", dimensions: [("kind", $0.rawValue)]))
    })

    /// Builds the error for an unavailability and records it.
    static func failure(_ kind: StoreUnavailability, detail: String) -> StoreError {
        state.withLock {
            $0.unavailable = true
            $0.counts[kind, default: 0] += 1
        }
        gauge.record(1)
        counters[kind]?.increment()
        return .resources(kind, detail: detail)
    }

    /// A batch committed: the store works again, unless one of its jobs was refused for
    /// want of resources (it was rolled back alone and the rest committed).
    static func recordCommit(_ outcomes: [Result<any Sendable, any Error>]) {
        let starved = outcomes.contains {
            if case .failure(StoreError.resources) = $0 { true } else { false }
        }
        if !starved { recordSuccess() }
    }

    /// Reports the store available (0) so that the gauge is there from the start, before any
    /// failure: alerts and dashboards query it.
    public static func reportAvailable() {
        if !state.withLock({ $0.unavailable }) { gauge.record(0) }
    }

    /// A commit went through: the store works again.
    static func recordSuccess() {
        let was = state.withLock { state in
            defer { state.unavailable = false }
            return state.unavailable
        }
        if was { gauge.record(0) }
    }

    /// Whether the last outcome was an unavailability.
    public static var isUnavailable: Bool { state.withLock { $0.unavailable } }
    /// Unavailability failures seen by this process, by kind.
    public static func count(_ kind: StoreUnavailability) -> Int { state.withLock { $0.counts[kind] ?? 0 } }
}
