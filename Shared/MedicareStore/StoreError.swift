/// A storage failure. Descriptions are for the local log: they may hold SQL and paths, so
/// they are never sent to a peer (services map a store error to `internal` or `unavailable`).
public enum StoreError: Error, Sendable, CustomStringConvertible {
    /// The engine refused a statement (constraint, syntax, I/O).
    case statement(sql: String, code: Int32, message: String)
    /// A unique or primary-key constraint failed: usually a duplicate the caller can be told about.
    case constraint(sql: String, message: String)
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

    public var description: String {
        switch self {
        case .statement(let sql, let code, let message): "SQL error \(code): \(message) in: \(sql.prefix(200))"
        case .constraint(let sql, let message): "constraint failed: \(message) in: \(sql.prefix(200))"
        case .unavailable(let reason): "store unavailable: \(reason)"
        case .decoding(let reason): "unexpected row: \(reason)"
        case .closed: "the store is closed"
        case .schemaTooNew(let found, let known):
            "the database schema is at version \(found), newer than this build knows (\(known)); run a newer build or point to another database"
        case .migration(let version, let name, let reason): "migration \(version) (\(name)) failed: \(reason)"
        }
    }
}
