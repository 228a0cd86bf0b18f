import Foundation
import Logging
import ServiceLifecycle

/// Where a service's data lives, from the `store.url` configuration value:
/// `sqlite:PATH` (the default, a file) or `postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=require`.
public enum StoreLocation: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    public struct PostgresLocation: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var username: String
        public var password: String?
        public var database: String
        public var sslmode: String
    }

    /// Parses a store URL; the error says what is wrong with it.
    public init(url: String) throws(StoreError) {
        if url.hasPrefix("sqlite:") {
            let path = String(url.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw .unavailable("store URL 'sqlite:' needs a file path, e.g. sqlite:data/registry.sqlite") }
            self = .sqlite(path: path)
            return
        }
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://"), let components = URLComponents(string: url) else {
            throw .unavailable("store URL must start with sqlite: or postgres:// (got '\(url.prefix(40))')")
        }
        guard let host = components.host, !host.isEmpty else { throw .unavailable("store URL has no host") }
        guard let user = components.user, !user.isEmpty else { throw .unavailable("store URL has no user name") }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty else { throw .unavailable("store URL has no database name") }
        let sslmode = components.queryItems?.first { $0.name == "sslmode" }?.value ?? "disable"
        guard ["disable", "prefer", "require"].contains(sslmode) else {
            throw .unavailable("store URL sslmode '\(sslmode)' is not one of disable, prefer, require")
        }
        self = .postgres(PostgresLocation(
            host: host, port: components.port ?? 5432, username: user, password: components.password, database: database, sslmode: sslmode
        ))
    }

    /// Opens the database (a service to run in the service group) for this location.
    public func open(readers: Int = 4, maxBatch: Int = 256, maxConnections: Int = 16, logger: Logger) throws(StoreError) -> any SQLDatabase & Service {
        switch self {
        case .sqlite(let path):
            return try SQLiteDatabase(configuration: .init(path: path, readers: readers, maxBatch: maxBatch), logger: logger)
        case .postgres(let pg):
            return try PostgresDatabase(
                configuration: .init(
                    host: pg.host, port: pg.port, username: pg.username, password: pg.password, database: pg.database,
                    tlsMode: pg.sslmode, maxConnections: maxConnections
                ),
                logger: logger
            )
        }
    }
}
