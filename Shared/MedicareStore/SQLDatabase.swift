/// Runs statements inside a transaction. SQL uses `$1`, `$2`, ... placeholders on both
/// engines; rows come back with their column names.
public protocol SQLTransaction: Sendable {
    /// The engine's dialect (what ``SQLDialect/forUpdate`` and ``SQLPlaceholders`` ask).
    var dialect: SQLDialect { get }
    /// Runs one statement with `$1`, `$2`, ... bound to `binds` and returns its rows.
    /// - Throws: ``StoreError`` (`constraint` for a unique or primary-key violation, `statement`
    ///   for other refusals, `resources` when the engine cannot work now).
    @discardableResult
    func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow]
    /// Runs a statement and ignores any rows; on SQLite, several `;`-separated statements
    /// without binds run as a script.
    func execute(_ sql: String, _ binds: [SQLValue]) async throws
    /// Inserts `rows` (each `columns.count` values, in `columns` order) into `table`, `tail`
    /// (an `ON CONFLICT ...` clause) after each row, as fast as the engine allows: on SQLite
    /// one single-row statement prepared once and run for each row (multi-row `VALUES` for a
    /// write that shares its group commit), on PostgreSQL one `unnest` of arrays. Rows must
    /// not conflict with each other on `tail`'s key. No rows: nothing is run.
    /// - Throws: ``StoreError`` as ``query(_:_:)`` (`constraint` when a row breaks a unique
    ///   index `tail` does not handle: on PostgreSQL the statement inserted nothing, on SQLite
    ///   the rows before it are written; either way the caller lets the error fail its write,
    ///   which rolls the job back).
    func insert(into table: String, columns: [String], rows: [[SQLValue]], tail: String) async throws
    /// Runs several inserts, as few statements as the engine allows: one each on SQLite, one
    /// statement for all on PostgreSQL (data-modifying `WITH`, a round trip and a plan for
    /// all). The inserts must be independent of each other (none reads what another writes).
    /// On PostgreSQL an insert whose columns cannot be arrays (a NULL, mixed kinds) runs on
    /// its own with `VALUES`, before the combined statement.
    /// - Throws: ``StoreError`` as ``query(_:_:)``; on PostgreSQL a `constraint` from any part
    ///   fails the whole combined statement (the transaction is then to be rolled back).
    func insert(_ inserts: [SQLInsert]) async throws
}

/// One insert of several rows, for ``SQLTransaction/insert(_:)``.
public struct SQLInsert: Sendable {
    /// The table.
    public var table: String
    /// The columns, in the order of each row's values.
    public var columns: [String]
    /// The rows; an insert without rows is skipped.
    public var rows: [[SQLValue]]
    /// An `ON CONFLICT ...` clause, or empty.
    public var tail: String

    /// An insert of `rows` into `table`'s `columns`, `tail` after them.
    public init(into table: String, columns: [String], rows: [[SQLValue]], tail: String = "") {
        self.table = table
        self.columns = columns
        self.rows = rows
        self.tail = tail
    }
}

extension SQLTransaction {
    /// The default: multi-row `VALUES` (``insertValues(into:columns:rows:tail:)``).
    public func insert(into table: String, columns: [String], rows: [[SQLValue]], tail: String) async throws {
        try await insertValues(into: table, columns: columns, rows: rows, tail: tail)
    }

    /// The default: each insert on its own (``insert(into:columns:rows:tail:)``).
    public func insert(_ inserts: [SQLInsert]) async throws {
        for insert in inserts { try await self.insert(into: insert.table, columns: insert.columns, rows: insert.rows, tail: insert.tail) }
    }

    /// ``insert(into:columns:rows:tail:)`` without a tail.
    public func insert(into table: String, columns: [String], rows: [[SQLValue]]) async throws {
        try await insert(into: table, columns: columns, rows: rows, tail: "")
    }

    /// Runs a statement without binds.
    public func execute(_ sql: String) async throws { try await execute(sql, []) }
    /// The first row of a query, or nil when it returns none.
    public func queryOne(_ sql: String, _ binds: [SQLValue] = []) async throws -> SQLRow? {
        try await query(sql, binds).first
    }
}

/// Which SQL the engine speaks, for the few statements that differ.
public enum SQLDialect: String, Sendable {
    /// SQLite's dialect.
    case sqlite
    /// PostgreSQL's dialect.
    case postgres

    /// The row-lock clause a `SELECT` ends with to lock what it reads until commit: ` FOR
    /// UPDATE` on PostgreSQL; empty on SQLite, whose single writer already serialises writes.
    public var forUpdate: String { self == .postgres ? " FOR UPDATE" : "" }
}

/// A database a service's store runs on: embedded SQLite or PostgreSQL.
///
/// `write` runs its body in one transaction that commits durably before it returns (on
/// SQLite, concurrent writes share a commit and its fsync); a body that throws leaves
/// nothing behind. Bodies must not depend on anything outside the database, and must not
/// wait on other writes.
public protocol SQLDatabase: Sendable {
    /// The SQL dialect of the engine.
    var dialect: SQLDialect { get }
    /// Runs `body` in one transaction, committed durably before it returns; nothing is kept if
    /// `body` throws.
    /// - Throws: what `body` throws, or a ``StoreError`` (`closed`, `resources`, `unavailable`;
    ///   on PostgreSQL `conflict` when it lost to concurrent transactions every time it ran).
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T
    /// Runs `body` in a read transaction (on PostgreSQL, on a connection without one).
    /// - Throws: what `body` throws, or a ``StoreError``.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T
    /// A read of a few rows by index, short enough to run on the caller's thread even when
    /// that is an event loop (SQLite). Anything that scans belongs in `read`.
    func lookup<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T
}

extension SQLDatabase {
    /// The default lookup: a ``read(_:)``.
    public func lookup<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T {
        try await read(body)
    }
}
