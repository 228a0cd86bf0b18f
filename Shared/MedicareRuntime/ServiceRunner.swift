import Foundation
import Logging
import NIOCore
import MedicareRPC
import MedicareStore
import MedicareContracts
import MedicareTransport
import Metrics
import Prometheus
import ServiceLifecycle

/// What makes one service: its name, default ports, schema and methods. Everything else
/// (configuration, logging, metrics, store, TLS server, admin server, lifecycle) is shared.
public struct ServiceDefinition: Sendable {
    /// The service's name: its logger label, `tls.name` default, store file and migration scope.
    public let name: String
    /// The default RPC port.
    public let rpcPort: Int
    /// The default admin HTTP port.
    public let adminPort: Int
    /// The store's schema steps, applied at start-up.
    public let migrations: [Migration]
    /// Configuration keys of the service's own, beside the common ``ServiceSettings`` ones.
    public let extraKeys: [ConfigKey]
    /// The default port of the JSON bridge (``JSONBridgeServer``: the methods as HTTPS + JSON,
    /// same mutual TLS and router), or nil for a service that has none (the backends, which
    /// outside callers do not reach).
    public let bridgePort: Int?
    /// Builds the service's router (its methods and interceptors) once the store is open; the
    /// runner adds the echo method, metrics and ``ServiceAccess``.
    public let makeRouter: @Sendable (ServiceContext) async throws -> RPCRouter

    /// Makes a definition.
    public init(
        name: String, rpcPort: Int, adminPort: Int, bridgePort: Int? = nil, migrations: [Migration], extraKeys: [ConfigKey] = [],
        makeRouter: @escaping @Sendable (ServiceContext) async throws -> RPCRouter
    ) {
        self.name = name
        self.rpcPort = rpcPort
        self.adminPort = adminPort
        self.bridgePort = bridgePort
        self.migrations = migrations
        self.extraKeys = extraKeys
        self.makeRouter = makeRouter
    }

    /// Every key the service reads: the common ones with its ports, `bridge.port` when it has
    /// a bridge, then ``extraKeys``.
    public var keys: [ConfigKey] {
        ServiceSettings.keys(service: name, rpcPort: rpcPort, adminPort: adminPort)
            + (bridgePort.map {
                [ConfigKey("bridge.port", default: String($0), "The JSON bridge's HTTPS port (mutual TLS, docs/bridge.md) on rpc.host; 0 = any free port."),
                 ConfigKey("bridge.enabled", default: "false", "Whether the JSON bridge listens: true or false (off unless asked for: scripts/run.sh and compose.yaml turn it on).")]
            } ?? [])
            + extraKeys
    }
}

/// What a service's handlers are built from.
public struct ServiceContext: Sendable {
    /// The service's configuration, for its own keys.
    public let configuration: Configuration
    /// The common settings, already read and checked.
    public let settings: ServiceSettings
    /// The open (and migrated) store.
    public let store: any SQLDatabase
    /// The service's logger (label `medicare.<name>`, metadata `service`).
    public let logger: Logger
    let background = LockedValue<[@Sendable () async -> Void]>([])

    /// Work that runs beside the RPC server for as long as it serves (health probes,
    /// sweepers); it is cancelled when the server has drained.
    public func runInBackground(_ work: @escaping @Sendable () async -> Void) {
        background.value.append(work)
    }

    let readinessChecks = LockedValue<[@Sendable () async -> String?]>([])

    /// A check `/readyz` makes after the store's: nil when ready, else why not (the gateway:
    /// a backend without a serving replica).
    public func addReadinessCheck(_ check: @escaping @Sendable () async -> String?) {
        readinessChecks.value.append(check)
    }
}

/// Runs a ``ServiceDefinition`` as a process: configuration, logging, metrics, store, RPC and
/// admin servers, and graceful shutdown on SIGTERM or SIGINT.
public enum ServiceRunner {
    /// The release this executable reports (`--version`, `Health/Check`'s `version`).
    public static var version: String { MedicareRelease.version }

    /// The whole `main` of a service executable: exits 0 after a clean stop, 78 on a
    /// configuration error, 1 on any other failure, always with one line saying why.
    public static func main(_ definition: ServiceDefinition) async -> Never {
        do {
            try await run(definition, arguments: Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
            exit(0)
        } catch let error as StartupError {
            FileHandle.standardError.write(Data("\(definition.name): \(error.message)\n".utf8))
            exit(error.isConfiguration ? 78 : 1)
        } catch {
            FileHandle.standardError.write(Data("\(definition.name): stopped: \(error)\n".utf8))
            exit(1)
        }
    }

    /// Reads the configuration, bootstraps logging and metrics (once per process), opens the
    /// store and runs the store, RPC server (after migrating) and admin server as one service
    /// group until SIGTERM or SIGINT; with `--help` or `-h` among the arguments it prints the
    /// keys and returns.
    /// - Throws: ``StartupError`` for bad configuration or a store, port or certificate that
    ///   cannot be used; otherwise what the service group throws.
    public static func run(_ definition: ServiceDefinition, arguments: [String], environment: [String: String]) async throws {
        if arguments.contains("--version") {
            Console.line("\(definition.name) \(version)")
            return
        }
        if arguments.contains("--help") || arguments.contains("-h") {
            Console.line("usage: \(definition.name) [--config FILE] [--KEY VALUE ...]\n\nKeys (flag, environment variable, default):\n\(Configuration.help(for: definition.keys))")
            return
        }
        let configuration = try Configuration(keys: definition.keys, arguments: arguments, environment: environment)
        let settings = try ServiceSettings(configuration, service: definition.name)
        // Before anything touches the shared event-loop group.
        if let loops = settings.eventLoops { NIOSingletons.groupLoopCountSuggestion = loops }

        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        let json = settings.logFormat == "json"
        LoggingSystem.bootstrap { label in
            if json {
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "medicare.\(definition.name)")
        logger[metadataKey: "service"] = "\(definition.name)"

        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Stages take tens of microseconds to a few milliseconds: buckets from 50 µs.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2_500),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .milliseconds(2_500), .seconds(5), .seconds(10),
        ]
        MetricsSystem.bootstrap(factory)

        let store: any SQLDatabase & Service
        do {
            store = try settings.store.open(
                readers: settings.storeReaders, maxBatch: settings.storeMaxBatch, cacheMiB: settings.storeCacheMiB, maxConnections: settings.storeMaxConnections,
                statementTimeout: settings.storeStatementTimeout, connectTimeout: settings.storeConnectTimeout, logger: logger
            )
        } catch {
            throw StartupError("cannot open the store (\(configuration.source("store.url"))): \(error)", configuration: false)
        }
        StoreHealth.reportAvailable()
        let context = ServiceContext(configuration: configuration, settings: settings, store: store, logger: logger)
        let rpc = RPCService(definition: definition, context: context)
        let admin = AdminServer(
            host: settings.adminHost, port: settings.adminPort, registry: registry, logger: logger, service: definition.name,
            health: { rpc.isServing },
            readiness: {
                if let reason = await ServiceContext.storeReadiness(store) { return reason }
                for check in context.readinessChecks.value { if let reason = await check() { return reason } }
                return nil
            },
            bound: { address in announce("\(definition.name) admin listening on \(address.ipAddress ?? "?"):\(address.port ?? 0)") }
        )
        // Stopped in reverse order: admin, then the RPC server drains, then the store
        // commits what is queued and closes. The RPC server enforces rpc.drain-seconds
        // itself (calls still running are cancelled); should anything else hang, the group
        // cancels what is left well after it, so that a stop always ends.
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: store), .init(service: rpc), .init(service: admin)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        groupConfiguration.maximumGracefulShutdownDuration = settings.drainTimeout + .seconds(30)
        groupConfiguration.maximumCancellationDuration = .seconds(10)
        let group = ServiceGroup(configuration: groupConfiguration)
        try await group.run()
        logger.info("stopped")
    }

    static func announce(_ line: String) { Console.line(line) }
}

/// Migrates the store, then serves the service's methods over mutual TLS until shutdown.
final class RPCService: Service {
    private let definition: ServiceDefinition
    private let context: ServiceContext
    private let server = LockedValue<RPCServer?>(nil)

    init(definition: ServiceDefinition, context: ServiceContext) {
        self.definition = definition
        self.context = context
    }

    var isServing: Bool { server.value?.health.servingStatus == .serving }

    func run() async throws {
        let settings = context.settings
        do {
            try await Migrator.migrate(context.store, service: definition.name, migrations: definition.migrations, logger: context.logger)
        } catch let error as StoreError {
            throw StartupError("cannot prepare the store: \(error)", configuration: false)
        }
        var router = try await definition.makeRouter(context)
        // The diagnostic echo: connectivity checks and drain tests against any service.
        EchoProvider().register(with: &router)
        router.intercept(with: MetricsInterceptor())
        if let callers = settings.accessCallers { router.intercept(with: ServiceAccess(callers: callers)) }
        let server: RPCServer
        do {
            server = try await RPCServer.start(
                configuration: RPCServerConfiguration(
                    host: settings.rpcHost, port: settings.rpcPort, tls: settings.tls, maxFrameSize: settings.maxFrameSize,
                    maxConcurrentCallsPerConnection: settings.maxCallsPerConnection, drainTimeout: settings.drainTimeout,
                    serverName: definition.name, version: MedicareRelease.version
                ),
                router: router, logger: context.logger
            )
        } catch let error as TLSError {
            throw StartupError("cannot start the RPC server: \(error) (set tls.certs, or run medicare-certs)", configuration: true)
        } catch {
            throw StartupError("cannot listen for RPC on \(settings.rpcHost):\(settings.rpcPort): \(error)", configuration: false)
        }
        self.server.value = server
        ServiceRunner.announce("\(definition.name) rpc listening on \(server.localAddress.ipAddress ?? "?"):\(server.localAddress.port ?? 0)")
        let drain = settings.drainTimeout
        var bridge: JSONBridgeServer?
        if definition.bridgePort != nil, try context.configuration.oneOf("bridge.enabled", ["true", "false"]) == "true" {
            let port = try context.configuration.int("bridge.port", in: 0...65_535)
            do {
                bridge = try await JSONBridgeServer.start(
                    host: settings.rpcHost, port: port, tls: settings.tls, router: router,
                    limits: JSONBridgeServer.Limits(maxBodyBytes: settings.maxFrameSize), logger: context.logger
                )
            } catch {
                await server.shutdownGracefully(timeout: .zero)
                throw StartupError("cannot listen for the JSON bridge on \(settings.rpcHost):\(port): \(error)", configuration: false)
            }
            ServiceRunner.announce("\(definition.name) json bridge listening on \(bridge?.localAddress.ipAddress ?? "?"):\(bridge?.localAddress.port ?? 0)")
        }
        let background = context.background.value
        try await withThrowingTaskGroup(of: Void.self) { group in
            for work in background { group.addTask { await work() } }
            try await withGracefulShutdownHandler { [bridge] in
                try await server.run()
                // The bridge's calls use the store too: it stays open until they are answered.
                await bridge?.run()
            } onGracefulShutdown: { [bridge] in
                Task {
                    async let bridgeDrained: Void? = bridge?.shutdownGracefully(timeout: drain)
                    await server.shutdownGracefully(timeout: drain)
                    _ = await bridgeDrained
                }
            }
            group.cancelAll()
        }
    }
}

import Synchronization

/// A value behind a mutex, for the few places that need a settable shared reference.
public final class LockedValue<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    /// Holds `value` behind a mutex.
    public init(_ value: Value) { storage = Mutex(value) }
    /// The value; each get and set takes the lock (a read-modify-write through it is not atomic).
    public var value: Value {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}

import MedicareDomain

extension ServiceContext {
    /// The key a service declares to read a policy file with ``policyBook()``.
    public static let policyFileKey = ConfigKey(
        "policy.file", default: "", "Benefit policy and catalogue (JSON); empty = the bundled Zhejiang/Quzhou 2024 policy."
    )

    /// The benefit policy and catalogue named by `policy.file` (the bundled Zhejiang/Quzhou
    /// 2024 file when empty); a bad file stops start-up naming the key.
    public func policyBook() throws -> PolicyBook {
        let path = configuration.string("policy.file")
        do {
            return path.isEmpty ? try PolicyBook.bundled() : try PolicyBook.load(path: path)
        } catch {
            throw StartupError("configuration key 'policy.file' (\(configuration.source("policy.file"))): \(error)")
        }
    }

    /// `/readyz`'s question: does the store answer a trivial query within 2 s? nil when it
    /// does, else why not (PostgreSQL unreachable: the circuit fails it at once).
    static func storeReadiness(_ store: any SQLDatabase) async -> String? {
        struct NoAnswer: Error {}
        do {
            _ = try await withinDeadline(.seconds(2), orThrow: { NoAnswer() }) { try await store.lookup { try await $0.queryOne("SELECT 1 AS one") } }
            return nil
        } catch is NoAnswer {
            return "store did not answer within 2 s"
        } catch {
            return "store unavailable"
        }
    }
}
