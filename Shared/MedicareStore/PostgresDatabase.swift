import Foundation
import Logging
import Metrics
import NIOCore
import NIOSSL
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// PostgreSQL (or a wire-compatible engine such as Citus) through postgres-nio's pooled
/// client: for several replicas of a service sharing one database.
public final class PostgresDatabase: SQLDatabase, Service {
    /// How to reach the PostgreSQL server.
    public struct Configuration: Sendable {
        /// The server's host name or address.
        public var host: String
        /// The server's port (5432 by default).
        public var port: Int
        /// The role to log in as.
        public var username: String
        /// The role's password, or nil for none.
        public var password: String?
        /// The database's name.
        public var database: String
        /// `disable`, `prefer`, `require`, `verify-ca` or `verify-full` (libpq's sslmode names).
        public var tlsMode: String
        /// The CA (PEM file) that verifies the server in the verify modes.
        public var rootCertificate: String?
        /// Connections in this process's pool.
        public var maxConnections: Int
        /// The server cancels any statement running longer (its `statement_timeout`), so that
        /// no call waits on the database without bound.
        public var statementTimeout: Duration
        /// How long opening a connection may take.
        public var connectTimeout: Duration
        /// After a connection failure, how long calls fail fast before one probes again.
        public var circuitProbeInterval: Duration = .milliseconds(500)

        /// Makes a configuration; TLS is off (`disable`) unless asked for.
        public init(
            host: String, port: Int = 5432, username: String, password: String?, database: String, tlsMode: String = "disable",
            rootCertificate: String? = nil, maxConnections: Int = 16, statementTimeout: Duration = .seconds(5), connectTimeout: Duration = .seconds(3)
        ) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
            self.database = database
            self.tlsMode = tlsMode
            self.rootCertificate = rootCertificate
            self.maxConnections = maxConnections
            self.statementTimeout = statementTimeout
            self.connectTimeout = connectTimeout
        }
    }

    /// Always ``SQLDialect/postgres``.
    public let dialect = SQLDialect.postgres
    private let client: PostgresClient
    private let statementTimeout: Duration
    private let connectTimeout: Duration
    private let circuitProbeInterval: Duration
    /// Open (calls fail fast) until the instant, after a connection failure; nil when closed.
    private let circuit = Mutex<(openUntil: ContinuousClock.Instant?, Void)>((nil, ()))
    private let logger: Logger
    private let commitTime = Metrics.Timer(label: "medicare_store_commit_seconds", dimensions: [("engine", "postgres")])

    /// Makes the pooled client; no connection is made until ``run()`` runs.
    /// - Throws: ``StoreError/unavailable(_:)`` for an unknown `tlsMode`, or a verify mode
    ///   without `rootCertificate`.
    public init(configuration: Configuration, logger: Logger) throws(StoreError) {
        let tls: PostgresClient.Configuration.TLS
        // libpq's meanings: prefer and require encrypt without verifying the server; the
        // verify modes check its chain against the CA given, verify-full also its name.
        var unverified = TLSConfiguration.makeClientConfiguration()
        unverified.certificateVerification = .none
        switch configuration.tlsMode {
        case "disable": tls = .disable
        case "prefer": tls = .prefer(unverified)
        case "require": tls = .require(unverified)
        case "verify-ca", "verify-full":
            guard let ca = configuration.rootCertificate else { throw .unavailable("sslmode \(configuration.tlsMode) needs a CA file (sslrootcert)") }
            var verified = TLSConfiguration.makeClientConfiguration()
            verified.trustRoots = .file(ca)
            verified.certificateVerification = configuration.tlsMode == "verify-full" ? .fullVerification : .noHostnameVerification
            tls = .require(verified)
        default: throw .unavailable("unknown sslmode '\(configuration.tlsMode)' (use disable, prefer, require, verify-ca or verify-full)")
        }
        var config = PostgresClient.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.username,
            password: configuration.password, database: configuration.database, tls: tls
        )
        config.options.maximumConnections = configuration.maxConnections
        config.options.connectTimeout = configuration.connectTimeout
        let millis = configuration.statementTimeout.components.seconds * 1000 + configuration.statementTimeout.components.attoseconds / 1_000_000_000_000_000
        config.options.additionalStartupParameters = [("statement_timeout", "\(max(1, millis))")]
        self.client = PostgresClient(configuration: config, backgroundLogger: logger)
        self.statementTimeout = configuration.statementTimeout
        self.connectTimeout = configuration.connectTimeout
        self.circuitProbeInterval = configuration.circuitProbeInterval
        self.logger = logger
    }

    /// Runs the connection pool until the task is cancelled (a service of the service group).
    public func run() async throws {
        await client.run()
    }

    /// Runs `body` in a transaction and commits it. A transaction that loses to a concurrent
    /// one (serialization failure, deadlock: ``StoreError/conflict(_:)``) is run again, up to
    /// ``conflictAttempts`` times in all, a few milliseconds apart; `body` must be safe to run
    /// again (it only reads and writes through the transaction).
    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await guarded { try await self.writeOnce(body) }
            } catch StoreError.conflict(let detail) where attempt < Self.conflictAttempts {
                logger.debug("transaction conflict; running it again", metadata: ["store.attempt": "\(attempt)", "store.detail": "\(detail)"])
                attempt += 1
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...(5 * attempt))))
            }
        }
    }

    /// How many times a conflicting transaction is run before ``StoreError/conflict(_:)`` is thrown.
    public static let conflictAttempts = 4

    private func writeOnce<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T {
        let start = ContinuousClock.now
        defer { commitTime.record(since: start) }
        do {
            let result = try await client.withTransaction(logger: logger) { connection in
                try await body(PostgresTransaction(connection: connection, logger: self.logger, transactional: true))
            }
            StoreHealth.recordSuccess()
            return result
        } catch let error as PostgresTransactionError {
            // The body's own error is what the caller must see; otherwise the commit failed.
            if let cause = error.closureError { throw cause }
            let failure = error.commitError ?? error.beginError ?? error.rollbackError ?? error
            if let state = (failure as? PSQLError)?.serverInfo?[.sqlState], state == "40001" || state == "40P01" {
                throw StoreError.conflict("PostgreSQL \(state) at COMMIT")
            }
            throw PostgresTransaction.classify(failure, sql: "BEGIN/COMMIT")
                ?? StoreHealth.failure(.connection, detail: "transaction failed: \(failure)")
        } catch let error as PSQLError {
            throw PostgresTransaction.classify(error, sql: "BEGIN") ?? StoreError.unavailable("\(error)")
        }
    }

    /// Runs `body` on a pooled connection outside a transaction (each statement on its own).
    /// - Throws: what `body` throws; ``StoreError/resources(_:detail:)`` or
    ///   ``StoreError/unavailable(_:)`` when no connection can be had.
    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T {
        try await guarded {
            do {
                return try await self.client.withConnection { connection in
                    try await body(PostgresTransaction(connection: connection, logger: self.logger, transactional: false))
                }
            } catch let error as PSQLError {
                // no connection could be had
                throw PostgresTransaction.classify(error, sql: "") ?? StoreError.unavailable("\(error)")
            }
        }
    }

    // MARK: bounded waits and the circuit

    /// How long one operation (a connection lease, its statements, the commit) may take in
    /// all before it is abandoned: the server's statement bound plus a connection attempt and
    /// a margin. A connection the server dropped mid-statement, or a pool that cannot connect,
    /// then fails the call instead of holding it.
    var operationBound: Duration { statementTimeout + connectTimeout + .seconds(1) }

    /// Runs one operation within ``operationBound`` and through the circuit: while the
    /// database is unreachable (a connection failure or an abandoned operation in the last
    /// ``circuitProbeInterval``) calls fail at once as `UNAVAILABLE`, except one probe per
    /// interval, whose success closes the circuit again.
    private func guarded<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let now = ContinuousClock.now
        let admitted = circuit.withLock { state -> Bool in
            guard let open = state.openUntil, now < open else {
                if state.openUntil != nil { state.openUntil = now + self.circuitProbeInterval }  // this call is the probe
                return true
            }
            return false
        }
        guard admitted else {
            throw StoreHealth.failure(.connection, detail: "PostgreSQL unreachable moments ago; failing fast until the next probe")
        }
        do {
            let result = try await Self.within(operationBound, operation)
            circuit.withLock { $0.openUntil = nil }
            return result
        } catch {
            // Only a lost database opens the circuit; any other answer (a constraint, a
            // conflict, the caller's own error) proves the database is there.
            if case StoreError.resources(.connection, _) = error {
                circuit.withLock { $0.openUntil = ContinuousClock.now + self.circuitProbeInterval }
            } else {
                circuit.withLock { $0.openUntil = nil }
            }
            throw error
        }
    }

    /// The operation's result, or ``StoreError/resources(_:detail:)`` (connection) once
    /// `bound` has passed (``withinDeadline(_:orThrow:_:)``).
    static func within<T: Sendable>(_ bound: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withinDeadline(bound, orThrow: { StoreHealth.failure(.connection, detail: "no answer from PostgreSQL within \(bound); abandoned") }, operation)
    }
}

struct PostgresTransaction: SQLTransaction {
    let connection: PostgresConnection
    let logger: Logger
    /// Inside BEGIN ... COMMIT (a statement that fails aborts it), or statements on their own.
    let transactional: Bool
    var dialect: SQLDialect { .postgres }

    func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
        var bindings = PostgresBindings(capacity: binds.count)
        // The kinds bound, one letter each: with the text, what a prepared statement is for
        // (its parameters' types are fixed when it is prepared).
        var kinds = ""
        kinds.reserveCapacity(binds.count)
        for (i, value) in binds.enumerated() {
            switch value {
            case .null: bindings.appendNull(); kinds += "n"
            case .integer(let v): bindings.append(v); kinds += "i"
            case .real(let v): bindings.append(v); kinds += "r"
            case .text(let v): bindings.append(v); kinds += "t"
            case .blob(let v): bindings.append(ByteBuffer(bytes: v)); kinds += "b"
            case .list(let values):
                guard let kind = Self.arrayKind(values) else {
                    throw StoreError.statement(sql: sql, code: 0, message: "array at $\(i + 1) mixes kinds or holds NULL")
                }
                switch kind {
                case .integer: bindings.append(values.map { value -> Int64 in if case .integer(let v) = value { v } else { 0 } }); kinds += "I"
                case .real: bindings.append(values.map { value -> Double in if case .real(let v) = value { v } else { 0 } }); kinds += "R"
                case .blob: bindings.append(values.map { value -> ByteBuffer in if case .blob(let v) = value { ByteBuffer(bytes: v) } else { ByteBuffer() } }); kinds += "B"
                case .text: bindings.append(values.map { value -> String in if case .text(let v) = value { v } else { "" } }); kinds += "T"
                }
            }
        }
        let key = StatementCache.Key(kinds: kinds, sql: sql)
        func unnamed() async throws -> [SQLRow] {
            var out: [SQLRow] = []
            for try await row in try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger) { out.append(try Self.row(row)) }
            return out
        }
        do {
            guard let name = StatementCache.shared.name(for: key) else { return try await unnamed() }
            do {
                let rows = try await PreparedText.$current.withValue(PreparedText(name: name, sql: sql)) {
                    try await connection.execute(PreparedText.Statement(bindings: bindings), logger: logger)
                }
                var out: [SQLRow] = []
                for try await row in rows { out.append(try Self.row(row)) }
                return out
            } catch let error as PSQLError where StatementCache.retires(error) {
                // postgres-nio keeps a failed preparation's error for the name on that
                // connection, and a prepared statement whose table changed shape (a migration
                // by a newer replica) fails with 0A000 until prepared again: the name is
                // retired, so the text is prepared afresh under a new one. Alone, the
                // statement runs again at once, unnamed; in a transaction (aborted by the
                // failure) the transaction is run again (a conflict).
                StatementCache.shared.retire(key)
                guard transactional else { return try await unnamed() }
                if let state = error.serverInfo?[.sqlState], state == "0A000" || state == "26000" {
                    throw StoreError.conflict("PostgreSQL \(state): a prepared statement to prepare again")
                }
                throw error
            }
        } catch let error as PSQLError {
            if let unavailable = Self.classify(error, sql: sql) { throw unavailable }
            let message = error.serverInfo?[.message] ?? "\(error.code)"
            let state = error.serverInfo?[.sqlState]
            if state == "23505" { throw StoreError.constraint(sql: sql, message: message) }
            if state == "40001" || state == "40P01" { throw StoreError.conflict("PostgreSQL \(state ?? ""): \(message) in: \(sql.prefix(200))") }
            throw StoreError.statement(sql: sql, code: 0, message: message)
        }
    }

    private static func row(_ row: PostgresRow) throws -> SQLRow {
        var columns: [String] = []
        var values: [SQLValue] = []
        for cell in row {
            columns.append(cell.columnName)
            values.append(try value(cell))
        }
        return SQLRow(columns: columns, values: values)
    }

    func execute(_ sql: String, _ binds: [SQLValue]) async throws {
        _ = try await query(sql, binds)
    }

    /// One statement whatever the count: the rows' columns as arrays, `unnest`ed
    /// (`INSERT ... SELECT * FROM unnest($1, $2, ...)`), the same text for any number of rows,
    /// so cheap to parse and plan. A column holding NULL or mixed kinds falls back to
    /// multi-row `VALUES`.
    func insert(into table: String, columns: [String], rows: [[SQLValue]], tail: String) async throws {
        try await insert([SQLInsert(into: table, columns: columns, rows: rows, tail: tail)])
    }

    /// All of them in one statement: each an `unnest` of its columns as arrays, joined by a
    /// data-modifying `WITH` (PostgreSQL runs every part once, whether or not it is read).
    /// One whose columns cannot be arrays (NULL, mixed kinds) runs on its own with `VALUES`.
    func insert(_ inserts: [SQLInsert]) async throws {
        var parts: [String] = [], binds: [SQLValue] = []
        for insert in inserts where !insert.rows.isEmpty {
            let arrays = insert.columns.indices.map { column in SQLValue.list(insert.rows.map { $0[column] }) }
            guard arrays.allSatisfy({ if case .list(let values) = $0 { Self.arrayKind(values) != nil } else { false } }) else {
                try await insertValues(into: insert.table, columns: insert.columns, rows: insert.rows, tail: insert.tail)
                continue
            }
            parts.append(
                "INSERT INTO \(insert.table) (\(insert.columns.joined(separator: ", "))) SELECT * FROM unnest(\(SQLPlaceholders.list(arrays.count, from: binds.count + 1)))"
                    + (insert.tail.isEmpty ? "" : " " + insert.tail)
            )
            binds += arrays
        }
        guard let last = parts.popLast() else { return }
        let with = parts.enumerated().map { "w\($0.offset) AS (\($0.element))" }.joined(separator: ", ")
        try await execute((with.isEmpty ? "" : "WITH " + with + " ") + last, binds)
    }

    private enum ArrayKind { case integer, real, text, blob }

    /// The one kind of every value (text for none); nil for NULLs, nested lists or a mix.
    private static func arrayKind(_ values: [SQLValue]) -> ArrayKind? {
        func kind(_ value: SQLValue) -> ArrayKind? {
            switch value {
            case .integer: .integer
            case .real: .real
            case .text: .text
            case .blob: .blob
            case .null, .list: nil
            }
        }
        guard let first = values.first else { return .text }
        guard let firstKind = kind(first), values.allSatisfy({ kind($0) == firstKind }) else { return nil }
        return firstKind
    }

    /// The store-unavailable error for a failure that is no fault of the statement: the
    /// server out of disk or other resources, failing storage, the connection lost or
    /// never made; nil for the statement's own errors.
    static func classify(_ error: any Error, sql: String) -> StoreError? {
        guard let error = error as? PSQLError else { return nil }
        if let state = error.serverInfo?[.sqlState] {
            guard let kind = StoreUnavailability.postgres(sqlState: state) else { return nil }
            let message = error.serverInfo?[.message] ?? state
            return StoreHealth.failure(kind, detail: "PostgreSQL \(state): \(message) in: \(sql.prefix(200))")
        }
        // No answer from the server at all: the connection failed, closed or timed out.
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed:
            return StoreHealth.failure(.connection, detail: "PostgreSQL: \(error.code) in: \(sql.prefix(200))")
        default:
            return nil
        }
    }

    private static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int8: return .integer(try cell.decode(Int64.self))
        case .int4: return .integer(Int64(try cell.decode(Int32.self)))
        case .int2: return .integer(Int64(try cell.decode(Int16.self)))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .float8: return .real(try cell.decode(Double.self))
        case .float4: return .real(Double(try cell.decode(Float.self)))
        case .bytea: return .blob(Array(try cell.decode(ByteBuffer.self).readableBytesView))
        case .numeric: return .text("\(try cell.decode(Decimal.self))")
        default: return .text(try cell.decode(String.self))
        }
    }
}

/// Which statements are run as server-side prepared statements: a text (with the kinds of
/// its binds) the second time this process runs it, up to ``capacity`` texts, the way
/// pgjdbc's `prepareThreshold` does. A prepared statement is parsed once per connection and,
/// after a few runs, planned once (PostgreSQL's generic plan), where an unnamed one is
/// parsed and planned on every run: for the settle path's statements, each run with a new
/// batch of arrays, that was a large part of the server's time. Texts run once (migrations,
/// statements whose text grows with their data) stay unnamed and cost nothing here.
final class StatementCache: Sendable {
    static let shared = StatementCache()
    /// Most texts prepared; later ones run unnamed.
    static let capacity = 512
    /// Most texts counted while waiting for a second run; past it the counts start over.
    static let counted = 4_096

    /// A statement's text and the kinds of its binds (one letter each).
    struct Key: Hashable, Sendable {
        let kinds: String
        let sql: String
    }

    private struct State {
        var names: [Key: String] = [:]
        var seen: Set<Key> = []
        /// Names handed out so far: a retired name is never given again.
        var issued = 0
    }

    private let state = Mutex(State())

    /// The prepared statement's name for `key`, or nil to run it unnamed.
    func name(for key: Key) -> String? {
        state.withLock { state -> String? in
            if let name = state.names[key] { return name }
            guard state.names.count < Self.capacity else { return nil }
            guard state.seen.remove(key) != nil else {
                if state.seen.count >= Self.counted { state.seen.removeAll(keepingCapacity: true) }
                state.seen.insert(key)
                return nil
            }
            state.issued += 1
            let name = "medicare_\(state.issued)"
            state.names[key] = name
            return name
        }
    }

    /// Forgets the name of `key`: the next runs are unnamed, then prepared under a new name.
    func retire(_ key: Key) {
        _ = state.withLock { $0.names.removeValue(forKey: key) }
    }

    /// Whether a failure of a prepared statement retires its name: any server error but an
    /// integrity violation (class 23, the statement's own outcome, such as a replica's race
    /// to a unique key), since postgres-nio answers a name whose preparation failed (a
    /// timeout, a deadlock, a lock queued behind a migration) with that error for as long as
    /// the connection lives; and 0A000 ("cached plan must not change result type") and 26000
    /// (no such prepared statement), which preparing again cures.
    static func retires(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return false }
        return !state.hasPrefix("23")
    }
}

/// The statement being run, for postgres-nio's prepared statements, whose name and text are
/// static requirements of a type (``PostgresPreparedStatement``): ``Statement`` reads them
/// from this task-local value, which the caller binds around the one `execute` call (postgres-nio
/// reads them there, before and after the server answers, in the calling task).
struct PreparedText: Sendable {
    let name: String
    let sql: String

    @TaskLocal static var current = PreparedText(name: "", sql: "")

    struct Statement: PostgresPreparedStatement {
        typealias Row = PostgresRow
        static var name: String { PreparedText.current.name }
        static var sql: String { PreparedText.current.sql }
        let bindings: PostgresBindings
        func makeBindings() throws -> PostgresBindings { bindings }
        func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
    }
}
