import Foundation
import Logging
import ServiceLifecycle

/// Where a service's data lives, from the `store.url` configuration value: `sqlite:PATH`
/// (the default, a file) or `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?PARAMS]`.
///
/// PostgreSQL parameters (libpq's names): `sslmode` `disable` (the default), `prefer`,
/// `require` (encrypted, the server not verified), `verify-ca` (its certificate chains to
/// `sslrootcert`) or `verify-full` (and its name is the host); `sslrootcert` the CA file (PEM)
/// for the verify modes; `password_file` a file whose first line is the password (a mounted secret; not libpq's
/// `.pgpass` format). The password
/// comes from the URL, else `password_file`, else the environment (`MEDICARE_STORE_PASSWORD`,
/// then `PGPASSWORD`), so that it need not be written into configuration.
public enum StoreLocation: Sendable, Equatable {
    /// An SQLite file at `path` (relative to the working directory unless absolute).
    case sqlite(path: String)
    /// A PostgreSQL server.
    case postgres(PostgresLocation)

    /// The parts of a `postgres://` store URL.
    public struct PostgresLocation: Sendable, Equatable {
        /// The server's host.
        public var host: String
        /// The server's port (5432 unless the URL gives one).
        public var port: Int
        /// The user name.
        public var username: String
        /// The password: the URL's, else the first line of `password_file`, else `MEDICARE_STORE_PASSWORD`
        /// or `PGPASSWORD` from the environment; nil when none gives one.
        public var password: String?
        /// The database name (the URL's path).
        public var database: String
        /// `disable` (the default), `prefer`, `require`, `verify-ca` or `verify-full`.
        public var sslmode: String
        /// The CA (PEM file) that verifies the server for `verify-ca` and `verify-full`.
        public var sslRootCert: String?
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
        let parameters = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        for name in parameters.keys where !["sslmode", "sslrootcert", "password_file"].contains(name) {
            throw .unavailable("store URL parameter '\(name.prefix(30))' is not one of sslmode, sslrootcert, password_file")
        }
        let sslmode = parameters["sslmode"] ?? "disable"
        guard ["disable", "prefer", "require", "verify-ca", "verify-full"].contains(sslmode) else {
            throw .unavailable("store URL sslmode '\(sslmode.prefix(30))' is not one of disable, prefer, require, verify-ca, verify-full")
        }
        let rootCert = parameters["sslrootcert"]
        if sslmode.hasPrefix("verify"), rootCert?.isEmpty ?? true {
            throw .unavailable("store URL sslmode \(sslmode) needs sslrootcert, the CA file that verifies the server")
        }
        var password = components.password
        if password == nil, let file = parameters["password_file"] {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw .unavailable("store URL password_file '\(file.prefix(80))' cannot be read") }
            password = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        }
        if password == nil {
            let environment = ProcessInfo.processInfo.environment
            password = environment["MEDICARE_STORE_PASSWORD"] ?? environment["PGPASSWORD"]
        }
        self = .postgres(PostgresLocation(
            host: host, port: components.port ?? 5432, username: user, password: password, database: database, sslmode: sslmode,
            sslRootCert: rootCert
        ))
    }

    /// Opens the database (a service to run in the service group) for this location.
    /// SQLite: `readers` connections, at most `maxBatch` writes a commit, a writer's page cache
    /// of `cacheMiB`. PostgreSQL: `maxConnections` per process; every statement is bounded by
    /// `statementTimeout` on the server, and a connection attempt by `connectTimeout`.
    public func open(
        readers: Int = 4, maxBatch: Int = 256, cacheMiB: Int = 16, maxConnections: Int = 16, statementTimeout: Duration = .seconds(5),
        connectTimeout: Duration = .seconds(3), logger: Logger
    ) throws(StoreError) -> any SQLDatabase & Service {
        switch self {
        case .sqlite(let path):
            return try SQLiteDatabase(configuration: .init(path: path, readers: readers, maxBatch: maxBatch, cacheMiB: cacheMiB), logger: logger)
        case .postgres(let pg):
            return try PostgresDatabase(
                configuration: .init(
                    host: pg.host, port: pg.port, username: pg.username, password: pg.password, database: pg.database,
                    tlsMode: pg.sslmode, rootCertificate: pg.sslRootCert, maxConnections: maxConnections,
                    statementTimeout: statementTimeout, connectTimeout: connectTimeout
                ),
                logger: logger
            )
        }
    }
}
