public import Logging
public import MedicareRPC
public import NIOCore
import NIOPosix
import Synchronization

/// A mutual-TLS RPC server: accepts connections, authenticates every peer by certificate,
/// and serves a router's methods on them.
///
/// Each connection is its own channel pipeline (TLS, framing, calls); a failing connection
/// is closed alone and never takes the server down.
public final class RPCServer: Sendable {
    /// The address the server listens on (with the port actually bound).
    public let localAddress: SocketAddress
    /// The health method's provider; its status turns `notServing` on graceful shutdown.
    public let health: HealthProvider
    private let listener: any Channel
    private let connections = Mutex<[ObjectIdentifier: any Channel]>([:])
    private let logger: Logger

    private init(listener: any Channel, health: HealthProvider, logger: Logger) throws {
        guard let address = listener.localAddress else { throw ChannelError.inappropriateOperationForState }
        self.listener = listener
        self.localAddress = address
        self.health = health
        self.logger = logger
    }

    /// Binds the listening socket and starts accepting connections. The standard health
    /// method is added to the router.
    public static func start(
        configuration: RPCServerConfiguration,
        router: RPCRouter,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) async throws -> RPCServer {
        let tlsContext = try TLSContext(configuration: configuration.tls, isServer: true)
        let health = HealthProvider(server: configuration.serverName, version: configuration.version)
        var router = router
        health.register(with: &router)
        let limits = ServerConnectionHandler.Limits(
            maxFrameSize: configuration.maxFrameSize,
            maxConcurrentCalls: configuration.maxConcurrentCallsPerConnection,
            maxTimeout: configuration.maxTimeout,
            inlineRequestMaxBytes: configuration.inlineRequestMaxBytes,
            drainTimeout: configuration.drainTimeout
        )
        let registry = ConnectionRegistry()
        let routerCopy = router
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // A peer that shuts down its sending side (TLS close_notify, or TCP) still gets
            // the answers to what it sent: the TLS handler turns either into a half-close.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        BackPressureHandler(),
                        OpenSSLHandler(context: tlsContext, serverHostname: nil, allowHalfClosure: true),
                        ByteToMessageHandler(FrameDecoder(maxFrameSize: limits.maxFrameSize)),
                        ServerConnectionHandler(router: routerCopy, limits: limits, logger: logger)
                    )
                    registry.add(channel)
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        let server = try RPCServer(listener: listener, health: health, logger: logger)
        registry.attach(server)
        logger.info("rpc server listening", metadata: ["net.address": "\(server.localAddress)"])
        return server
    }

    /// Waits until the server has shut down and every connection has closed. Cancelling
    /// the waiting task closes everything at once, without draining.
    public func run() async throws {
        try await withTaskCancellationHandler {
            try await listener.closeFuture.get()
            while true {
                let open = connections.withLock { Array($0.values) }
                if open.isEmpty { return }
                for channel in open { try? await channel.closeFuture.get() }
            }
        } onCancel: {
            listener.close(promise: nil)
            for channel in connections.withLock({ Array($0.values) }) { channel.close(promise: nil) }
        }
    }

    /// Stops accepting, tells every connection to finish its calls in flight (GOAWAY), and
    /// after `timeout` cancels the calls still running (answered `unavailable`) and closes
    /// what is still open. Returns once every connection has closed, or some seconds after
    /// the timeout whatever a peer does.
    public func shutdownGracefully(timeout: Duration = .seconds(30)) async {
        health.servingStatus = .notServing
        try? await listener.close()
        let open = connections.withLock { Array($0.values) }
        logger.info("rpc server draining", metadata: ["rpc.connections": "\(open.count)"])
        for channel in open { channel.pipeline.fireUserInboundEventTriggered(DrainConnection()) }
        if await Self.allClosed(open, within: timeout, on: listener.eventLoop) { return }
        let remaining = connections.withLock { Array($0.values) }
        logger.warning("rpc server drain timed out; cancelling calls and closing connections", metadata: ["rpc.connections": "\(remaining.count)"])
        // Each connection answers its calls `unavailable` and closes itself (its close_notify
        // goes after those answers); one that has not closed some seconds later is cut.
        for channel in remaining { channel.pipeline.fireUserInboundEventTriggered(AbortConnection()) }
        if await Self.allClosed(remaining, within: .seconds(8), on: listener.eventLoop) { return }
        for channel in remaining { channel.close(promise: nil) }
    }

    /// Whether every channel closed within `timeout`. Waiting on a close future cannot be
    /// cancelled, so the wait is a race of promises rather than a task group (whose end
    /// would wait for the slowest close however long it takes).
    private static func allClosed(_ channels: [any Channel], within timeout: Duration, on loop: any EventLoop) async -> Bool {
        guard !channels.isEmpty else { return true }
        let outcome = loop.makePromise(of: Bool.self)
        let closed = EventLoopFuture.andAllComplete(channels.map(\.closeFuture), on: loop)
        let timer = loop.scheduleTask(in: .nanoseconds(timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)) {
            outcome.succeed(false)
        }
        closed.whenComplete { _ in
            timer.cancel()
            outcome.succeed(true)
        }
        return (try? await outcome.futureResult.get()) ?? false
    }

    /// The number of open connections.
    public var connectionCount: Int { connections.withLock { $0.count } }

    fileprivate func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        connections.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in
            self?.connections.withLock { _ = $0.removeValue(forKey: id) }
        }
    }
}

/// Hands accepted channels to the server once it exists (connections can arrive before
/// `bind` has returned).
private final class ConnectionRegistry: Sendable {
    private let state = Mutex<(server: RPCServer?, early: [any Channel])>((nil, []))

    func add(_ channel: any Channel) {
        let server = state.withLock { state -> RPCServer? in
            if state.server == nil { state.early.append(channel) }
            return state.server
        }
        server?.track(channel)
    }

    func attach(_ server: RPCServer) {
        let early = state.withLock { state in
            state.server = server
            defer { state.early = [] }
            return state.early
        }
        for channel in early { server.track(channel) }
    }
}
