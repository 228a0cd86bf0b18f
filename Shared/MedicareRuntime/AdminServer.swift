import Logging
import MedicareTransport
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// A small HTTP server for operators: `GET /metrics` (Prometheus text), `GET /healthz`
/// (liveness: 200 while serving, 503 while draining) and `GET /readyz` (readiness: 200 when
/// serving and the store answers, 503 naming what is not ready), for a load balancer or an
/// orchestrator to take a replica out of rotation while its database is unreachable. Bound
/// to loopback by default.
public final class AdminServer: Service {
    private let host: String
    private let port: Int
    private let registry: PrometheusCollectorRegistry
    private let service: String
    private let health: @Sendable () -> Bool
    private let readiness: Readiness
    private let logger: Logger
    private let bound: @Sendable (SocketAddress) -> Void

    /// What `/readyz` asks: nil when ready, else why not (one line, for the response body).
    /// It bounds its own time (the server waits for its answer; see
    /// `ServiceContext.storeReadiness`, 2 s).
    public typealias Readiness = @Sendable () async -> String?

    /// Makes the server; it listens once ``run()`` runs. `health` answers `/healthz` (true: 200
    /// "ok", false: 503 "draining"); `readiness` answers `/readyz` (nil: 200 "ready", else
    /// 503 with its reason); `bound` is told the address actually bound (port 0 picks one).
    public init(
        host: String, port: Int, registry: PrometheusCollectorRegistry, logger: Logger, service: String = "medicare",
        health: @escaping @Sendable () -> Bool, readiness: @escaping Readiness = { nil },
        bound: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.service = service
        self.host = host
        self.port = port
        self.registry = registry
        self.health = health
        self.readiness = readiness
        self.logger = logger
        self.bound = bound
    }

    /// Listens on `host`:`port` and serves until graceful shutdown or cancellation, then closes
    /// the listening socket.
    /// - Throws: ``StartupError`` (not a configuration error) when the address cannot be bound.
    public func run() async throws {
        let registry = self.registry, health = self.health, readiness = self.readiness, service = self.service
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(AdminHandler(registry: registry, service: service, health: health, readiness: readiness))
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
    private let service: String
    private let health: @Sendable () -> Bool
    private let readiness: AdminServer.Readiness
    private var head: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry, service: String, health: @escaping @Sendable () -> Bool, readiness: @escaping AdminServer.Readiness) {
        self.registry = registry
        self.service = service
        self.health = health
        self.readiness = readiness
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
            if head.method == .GET, path == "/readyz" {
                // Asked off the event loop (it may wait for the store); answered on it.
                let context = NIOLoopBound(context, eventLoop: context.eventLoop), handler = NIOLoopBound(self, eventLoop: context.eventLoop)
                let serving = health(), readiness = self.readiness
                context.value.eventLoop.makeFutureWithTask { serving ? await readiness() : "draining" }.whenSuccess { reason in
                    handler.value.respond(
                        context.value, head: head, status: reason == nil ? .ok : .serviceUnavailable, contentType: "text/plain",
                        body: Array(((reason ?? "ready") + "\n").utf8)
                    )
                }
                return
            }
            if head.method == .GET, path == "/metrics" {
                // Rendered off the event loop: it reads /proc (file I/O) and every family.
                let context = NIOLoopBound(context, eventLoop: context.eventLoop), handler = NIOLoopBound(self, eventLoop: context.eventLoop)
                let registry = self.registry, service = self.service
                context.value.eventLoop.makeFutureWithTask { MetricsExposition.render(registry, service: service) }.whenSuccess { body in
                    handler.value.respond(context.value, head: head, status: .ok, contentType: "text/plain; version=0.0.4", body: body)
                }
                return
            }
            let (status, contentType, body): (HTTPResponseStatus, String, [UInt8])
            switch (head.method, path) {
            case (.GET, "/healthz"):
                let serving = health()
                (status, contentType, body) = (serving ? .ok : .serviceUnavailable, "text/plain", Array((serving ? "ok\n" : "draining\n").utf8))
            default:
                (status, contentType, body) = (.notFound, "text/plain", Array("not found\n".utf8))
            }
            respond(context, head: head, status: status, contentType: contentType, body: body)
        }
    }

    private func respond(_ context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, contentType: String, body: [UInt8]) {
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
