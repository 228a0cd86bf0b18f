/// Runs statements inside a transaction. SQL uses `$1`, `$2`, ... placeholders on both
/// engines; rows come back with their column names.
public protocol SQLTransaction: Sendable {
    @discardableResult
    func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow]
    func execute(_ sql: String, _ binds: [SQLValue]) async throws
}

extension SQLTransaction {
    public func execute(_ sql: String) async throws { try await execute(sql, []) }
    public func queryOne(_ sql: String, _ binds: [SQLValue] = []) async throws -> SQLRow? {
        try await query(sql, binds).first
    }
}

/// Which SQL the engine speaks, for the few statements that differ.
public enum SQLDialect: String, Sendable {
    case sqlite
    case postgres
}

/// A database a service's store runs on: embedded SQLite or PostgreSQL.
///
/// `write` runs its body in one transaction that commits durably before it returns (on
/// SQLite, concurrent writes share a commit and its fsync); a body that throws leaves
/// nothing behind. Bodies must not depend on anything outside the database, and must not
/// wait on other writes.
public protocol SQLDatabase: Sendable {
    var dialect: SQLDialect { get }
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T
    /// A read of a few rows by index, short enough to run on the caller's thread even when
    /// that is an event loop (SQLite). Anything that scans belongs in `read`.
    func lookup<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T
}

extension SQLDatabase {
    public func lookup<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T {
        try await read(body)
    }
}
