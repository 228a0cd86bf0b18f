import Foundation
import MedicareStore
import MedicareTransport

/// The settings every service has, read from its ``Configuration``.
public struct ServiceSettings: Sendable {
    /// `rpc.host`: the address the RPC server listens on.
    public var rpcHost: String
    /// `rpc.port`: the RPC port, 0-65535 (0 picks a free one).
    public var rpcPort: Int
    /// `rpc.max-frame-bytes`: the largest frame accepted or sent, bytes (1 KiB-256 MiB).
    public var maxFrameSize: Int
    /// `rpc.max-calls-per-connection`: calls in flight on one connection.
    public var maxCallsPerConnection: Int
    /// `rpc.drain-seconds`: how long calls in flight may take to finish on shutdown.
    public var drainTimeout: Duration
    /// Event-loop threads for RPC and admin I/O (and, since handlers run on their
    /// connection's loop, for handlers); nil = one per core.
    public var eventLoops: Int?
    /// The TLS certificates from `tls.certs` and `tls.name`, with `tls.handshake-seconds`.
    public var tls: TLSConfiguration
    /// `admin.host`: the address of the admin HTTP server.
    public var adminHost: String
    /// `admin.port`: the admin HTTP port (0 picks a free one).
    public var adminPort: Int
    /// `store.url`, parsed.
    public var store: StoreLocation
    /// `store.readers`: SQLite reader connections, 1-64.
    public var storeReaders: Int
    /// `store.max-batch`: most SQLite transactions committed together, 1-10000.
    public var storeMaxBatch: Int
    /// `store.cache-mb`: the SQLite writer's page cache, MiB, 1-65536.
    public var storeCacheMiB: Int
    /// `store.max-connections`: the PostgreSQL pool size, 1-1000.
    public var storeMaxConnections: Int
    /// PostgreSQL: the server's bound on any one statement.
    public var storeStatementTimeout: Duration
    /// PostgreSQL: the bound on opening a connection.
    public var storeConnectTimeout: Duration
    /// `log.level`: one of trace, debug, info, notice, warning, error, critical.
    public var logLevel: String
    /// `log.format`: `text` (one readable line each) or `json` (one JSON object each, for a
    /// log pipeline: ``JSONLogHandler``).
    public var logFormat: String
    /// The services that may call this one directly (`access.callers`); nil at the gateway.
    public var accessCallers: Set<String>?

    /// The common keys, with a service's default ports.
    public static func keys(service: String, rpcPort: Int, adminPort: Int) -> [ConfigKey] {
        [
            ConfigKey("rpc.host", default: "127.0.0.1", "Address the RPC server listens on (0.0.0.0 for all)."),
            ConfigKey("rpc.port", default: "\(rpcPort)", "RPC port; 0 picks a free one."),
            ConfigKey("rpc.max-frame-bytes", default: "\(4 << 20)", "Largest frame accepted or sent."),
            ConfigKey("rpc.max-calls-per-connection", default: "1024", "Calls in flight per connection."),
            ConfigKey("rpc.drain-seconds", default: "30", "On SIGTERM, how long calls in flight may take to finish."),
            ConfigKey("rpc.event-loops", default: "0", "Event-loop threads (handlers run on them); 0 = one per core."),
            ConfigKey("tls.certs", default: "certs", "Folder with ca.pem and this service's <name>.pem/.key (medicare-certs writes it)."),
            ConfigKey("tls.name", default: service, "Certificate name in the folder."),
            ConfigKey("tls.handshake-seconds", default: "10", "How long a TLS handshake may take."),
            ConfigKey("admin.host", default: "127.0.0.1", "Address of the admin HTTP server (/metrics, /healthz, /readyz)."),
            ConfigKey("admin.port", default: "\(adminPort)", "Admin HTTP port; 0 picks a free one."),
            ConfigKey("store.url", default: "sqlite:data/\(service).sqlite",
                      "sqlite:PATH or postgres://USER[:PASS]@HOST:PORT/DB?sslmode=disable|prefer|require|verify-ca|verify-full&sslrootcert=CA.pem&password_file=FILE (password also from MEDICARE_STORE_PASSWORD or PGPASSWORD)."),
            ConfigKey("store.readers", default: "4", "SQLite reader connections."),
            ConfigKey("store.max-batch", default: "256", "SQLite: most transactions committed together."),
            ConfigKey("store.cache-mb", default: "16", "SQLite: the writer's page cache, MiB (a province's millions of persons and settlements want 1024 or more)."),
            ConfigKey("store.max-connections", default: "16", "PostgreSQL: pool size."),
            ConfigKey("store.statement-timeout-ms", default: "5000", "PostgreSQL: the server cancels a statement running longer (statement_timeout)."),
            ConfigKey("store.connect-timeout-ms", default: "3000", "PostgreSQL: how long opening a connection may take."),
            ConfigKey("log.level", default: "info", "trace, debug, info, notice, warning, error or critical."),
            ConfigKey("log.format", default: "text", "text, or json: one JSON object per line with time, level, label, message and metadata (trace.id, rpc.method, ...)."),
            ConfigKey("access.callers", default: ["gateway": "*", "supervision": "gateway,settlement,registry"][service] ?? "gateway",
                      "Services (certificate CN, role service, O=nhsa) that may call this one directly, comma separated; * = the gateway's own access table decides (gateway only)."),
        ]
    }

    /// `service`: the service's name (only the gateway may leave `access.callers` open).
    public init(_ config: Configuration, service: String = "") throws(StartupError) {
        rpcHost = config.string("rpc.host")
        rpcPort = try config.int("rpc.port", in: 0...65535)
        maxFrameSize = try config.int("rpc.max-frame-bytes", in: 1024...(256 << 20))
        maxCallsPerConnection = try config.int("rpc.max-calls-per-connection", in: 1...1_000_000)
        drainTimeout = .seconds(try config.int("rpc.drain-seconds", in: 0...3600))
        let loops = try config.int("rpc.event-loops", in: 0...256)
        eventLoops = loops == 0 ? nil : loops
        let certs = config.string("tls.certs"), name = config.string("tls.name")
        tls = .devCertificates(in: certs, name: name)
        tls.handshakeTimeout = .seconds(try config.int("tls.handshake-seconds", in: 1...300))
        adminHost = config.string("admin.host")
        adminPort = try config.int("admin.port", in: 0...65535)
        do {
            store = try StoreLocation(url: config.string("store.url"))
        } catch {
            throw StartupError("configuration key 'store.url' (\(config.source("store.url"))): \(error)")
        }
        storeReaders = try config.int("store.readers", in: 1...64)
        storeMaxBatch = try config.int("store.max-batch", in: 1...10_000)
        storeCacheMiB = try config.int("store.cache-mb", in: 1...65_536)
        storeMaxConnections = try config.int("store.max-connections", in: 1...1000)
        storeStatementTimeout = .milliseconds(try config.int("store.statement-timeout-ms", in: 10...3_600_000))
        storeConnectTimeout = .milliseconds(try config.int("store.connect-timeout-ms", in: 10...600_000))
        let callers = config.string("access.callers")
        guard callers != "*" || service == "gateway" else {
            throw StartupError("configuration key 'access.callers' (\(config.source("access.callers"))): '*' is for the gateway only; a backend names the services that may call it")
        }
        accessCallers = callers == "*" ? nil : Set(callers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        logLevel = try config.oneOf("log.level", ["trace", "debug", "info", "notice", "warning", "error", "critical"])
        logFormat = try config.oneOf("log.format", ["text", "json"])
    }
}
