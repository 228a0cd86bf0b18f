import Logging
import MedicareTransport
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// A small HTTP server for operators: `GET /metrics` (Prometheus text) and `GET /healthz`
/// (200 while serving, 503 while draining). Bound to loopback by default.
public final class AdminServer: Service {
    private let host: String
    private let port: Int
    private let registry: PrometheusCollectorRegistry
    private let health: @Sendable () -> Bool
    private let logger: Logger
    private let bound: @Sendable (SocketAddress) -> Void

    /// Makes the server; it listens once ``run()`` runs. `health` answers `/healthz` (true: 200
    /// "ok", false: 503 "draining"); `bound` is told the address actually bound (port 0 picks one).
    public init(
        host: String, port: Int, registry: PrometheusCollectorRegistry, logger: Logger,
        health: @escaping @Sendable () -> Bool, bound: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.host = host
        self.port = port
        self.registry = registry
        self.health = health
        self.logger = logger
        self.bound = bound
    }

    /// Listens on `host`:`port` and serves until graceful shutdown or cancellation, then closes
    /// the listening socket.
    /// - Throws: ``StartupError`` (not a configuration error) when the address cannot be bound.
    public func run() async throws {
        let registry = self.registry, health = self.health
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(AdminHandler(registry: registry, health: health))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            throw StartupError("cannot listen for admin HTTP on \(host):\(port): \(error)", configuration: false)
        }
        if let address = channel.localAddress { bound(address) }
        logger.info("admin server listening", metadata: ["net.address": "\(channel.localAddress.map { "\($0)" } ?? "")"])
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                try? await channel.closeFuture.get()
            } onCancel: {
                channel.close(promise: nil)
            }
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

private final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private let health: @Sendable () -> Bool
    private var head: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry, health: @escaping @Sendable () -> Bool) {
        self.registry = registry
        self.health = health
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let (status, contentType, body): (HTTPResponseStatus, String, [UInt8])
            switch (head.method, head.uri.split(separator: "?").first.map(String.init) ?? head.uri) {
            case (.GET, "/metrics"):
                var bytes: [UInt8] = []
                registry.emit(into: &bytes)
                (status, contentType, body) = (.ok, "text/plain; version=0.0.4", bytes)
            case (.GET, "/healthz"):
                let serving = health()
                (status, contentType, body) = (serving ? .ok : .serviceUnavailable, "text/plain", Array((serving ? "ok\n" : "draining\n").utf8))
            default:
                (status, contentType, body) = (.notFound, "text/plain", Array("not found\n".utf8))
            }
            var headers = HTTPHeaders([("content-type", contentType), ("content-length", "\(body.count)")])
            if !head.isKeepAlive { headers.add(name: "connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
            let keepAlive = head.isKeepAlive
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }
}
