import Foundation
public import Logging
import MedicareContracts
public import MedicareRPC
public import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The JSON bridge: every public method as HTTPS + JSON, for HIS vendors and tools that do
/// not speak the framed protocol (curl, any language's HTTP client). The same mutual TLS as
/// the RPC port (the caller's certificate is its identity), the same router (so the same
/// access table and interceptors), the same messages in their JSON form (`JSONMessage`,
/// generated from `Proto/`); `docs/bridge.md` and the generated `docs/openapi.json`
/// describe it.
///
/// `POST /v1/{Service}/{Method}` (or `/medicare.v1.{Service}/{Method}`) with the request as a
/// JSON object answers `200` and the response as JSON. Headers: `Idempotency-Key` (the
/// metadata `idempotency-key`), `X-Trace-Id`, `X-Timeout-Ms` (the call's deadline, at most
/// the server's longest). An error answers the gRPC code's HTTP status (`google.rpc.Code`'s
/// mapping: INVALID_ARGUMENT and FAILED_PRECONDITION 400, UNAUTHENTICATED 401,
/// PERMISSION_DENIED 403, NOT_FOUND 404, ALREADY_EXISTS and ABORTED 409, RESOURCE_EXHAUSTED
/// 429, UNIMPLEMENTED 501, UNAVAILABLE 503, DEADLINE_EXCEEDED 504, others 500) with
/// `{"code": "invalid_argument", "message": "claim.lines[2].quantity: ..."}`, the message
/// peer-safe as on the RPC port. `GET /v1/methods` lists the methods.
public final class JSONBridgeServer: Sendable {
    /// The address the bridge listens on (with the port actually bound).
    public let localAddress: SocketAddress
    private let listener: any Channel
    private let connections: BridgeConnections

    /// What bounds a bridge connection.
    public struct Limits: Sendable {
        /// The largest request body, in bytes (a larger one is answered 413).
        public var maxBodyBytes: Int
        /// The longest deadline a caller may ask for, and the default.
        public var maxTimeout: Duration
        /// A connection idle this long (no request in progress) is closed.
        public var idleTimeout: Duration

        public init(maxBodyBytes: Int = 4 << 20, maxTimeout: Duration = .seconds(60), idleTimeout: Duration = .seconds(60)) {
            self.maxBodyBytes = maxBodyBytes
            self.maxTimeout = maxTimeout
            self.idleTimeout = idleTimeout
        }
    }

    private init(listener: any Channel, connections: BridgeConnections) throws {
        guard let address = listener.localAddress else { throw ChannelError.inappropriateOperationForState }
        self.listener = listener
        self.localAddress = address
        self.connections = connections
    }

    /// Binds `host:port` and serves `router`'s methods that have a JSON form, each call made
    /// as the caller its certificate names. Errors: `TLSError` for certificates that cannot be
    /// loaded; NIO's for a port that cannot be bound.
    public static func start(
        host: String, port: Int, tls: TLSConfiguration, router: RPCRouter, limits: Limits = Limits(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) async throws -> JSONBridgeServer {
        let tlsContext = try TLSContext(configuration: tls, isServer: true)
        // Tracked from the first accepted connection, so that shutdown reaches every one.
        let connections = BridgeConnections()
        let methods = BridgeMethods(router: router)
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        IdleStateHandler(readTimeout: .nanoseconds(limits.idleTimeout.nanoseconds)),
                        OpenSSLHandler(context: tlsContext, serverHostname: nil, allowHalfClosure: false)
                    )
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(JSONBridgeHandler(router: router, methods: methods, limits: limits, logger: logger))
                    connections.track(channel)
                }
            }
            .bind(host: host, port: port)
            .get()
        let server = try JSONBridgeServer(listener: listener, connections: connections)
        logger.info("json bridge listening", metadata: ["net.address": "\(server.localAddress)"])
        return server
    }

    /// Stops accepting and waits up to `timeout` for the calls in progress to be answered
    /// (each connection closes once its call is answered; an idle one at once), then closes
    /// what is still open, which cancels the calls still running.
    public func shutdownGracefully(timeout: Duration) async {
        try? await listener.close()
        let deadline = ContinuousClock.now + timeout
        for channel in connections.open { channel.pipeline.fireUserInboundEventTriggered(DrainConnection()) }
        while ContinuousClock.now < deadline, !connections.open.isEmpty {
            try? await Task.sleep(for: .milliseconds(20))
        }
        for channel in connections.open { channel.close(promise: nil) }
    }

    /// Waits until the bridge has stopped listening and every connection has closed (after
    /// ``shutdownGracefully(timeout:)``), so that what it serves with (the store) outlives its calls.
    /// Cancelling the waiting task closes everything at once.
    public func run() async {
        await withTaskCancellationHandler {
            try? await listener.closeFuture.get()
            while true {
                let open = connections.open
                if open.isEmpty { return }
                for channel in open { try? await channel.closeFuture.get() }
            }
        } onCancel: {
            listener.close(promise: nil)
            for channel in connections.open { channel.close(promise: nil) }
        }
    }
}

/// The bridge's open connections.
final class BridgeConnections: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    var open: [any Channel] { channels.withLock { Array($0.values) } }

    func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        channels.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in
            self?.channels.withLock { _ = $0.removeValue(forKey: id) }
        }
    }
}

/// One bridge connection: HTTP/1.1 requests in turn (NIO's pipelining handler queues the
/// next), each body collected up to the limit, then the call made on the router.
final class JSONBridgeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let router: RPCRouter
    private let methods: BridgeMethods
    private let limits: JSONBridgeServer.Limits
    private let logger: Logger
    private var peer: PeerIdentity?
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var tooLarge = false
    private var inFlight = false
    private var draining = false
    /// The call being made, cancelled if the connection closes first.
    private var call: Task<Void, Never>?

    init(router: RPCRouter, methods: BridgeMethods, limits: JSONBridgeServer.Limits, logger: Logger) {
        self.router = router
        self.methods = methods
        self.limits = limits
        self.logger = logger
    }

    func channelInactive(context: ChannelHandlerContext) {
        call?.cancel()
        call = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let completed as TLSHandshakeCompleted:
            peer = completed.peer
        case is IdleStateHandler.IdleStateEvent where !inFlight:
            context.close(promise: nil)
        case is DrainConnection:
            draining = true
            if !inFlight { context.close(promise: nil) }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = context.channel.allocator.buffer(capacity: 0)
            tooLarge = false
        case .body(var part):
            guard !tooLarge else { return }
            if (body?.readableBytes ?? 0) + part.readableBytes > limits.maxBodyBytes {
                tooLarge = true
                body = nil
            } else {
                body?.writeBuffer(&part)
            }
        case .end:
            guard let head else { return }
            self.head = nil
            inFlight = true
            let request = body.map { Data($0.readableBytesView) } ?? Data()
            body = nil
            respond(context: context, head: head, request: request)
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, request: Data) {
        let keepAlive = head.isKeepAlive, bodyless = head.method == .HEAD
        func send(_ status: HTTPResponseStatus, _ error: RPCError, allow: Bool = false) {
            write(context: context, keepAlive: keepAlive, bodyless: bodyless, status, Self.error(error), allow: allow)
        }
        if tooLarge {
            return send(.payloadTooLarge, RPCError(code: .resourceExhausted, message: "the request body is larger than \(limits.maxBodyBytes) bytes"))
        }
        guard let peer else {
            return send(.unauthorized, RPCError(code: .unauthenticated, message: "no verified client certificate"))
        }
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        if head.method == .GET, path == "/v1/methods" {
            return write(context: context, keepAlive: keepAlive, bodyless: false, .ok, methods.list)
        }
        guard head.method == .POST else {
            return send(.methodNotAllowed, RPCError(code: .unimplemented, message: "\(head.method) is not served: POST /v1/{Service}/{Method}, GET /v1/methods"), allow: true)
        }
        // JSON only: a browser cannot send it cross-site without asking first (a CORS
        // preflight), so a page cannot make a clinic's browser call with its certificate.
        let type = head.headers.first(name: "content-type")?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard type == "application/json" else {
            return send(.unsupportedMediaType, RPCError(code: .invalidArgument, message: "Content-Type: must be application/json"))
        }
        let name = path.hasPrefix("/v1/") ? String(path.dropFirst(4)) : String(path.dropFirst())
        guard let method = methods.byPath[name] else {
            return send(.notFound, RPCError(code: .unimplemented, message: "no method '\(name.prefix(200))': GET /v1/methods lists them"))
        }
        var options = CallOptions()
        if let key = head.headers.first(name: "idempotency-key") { options.metadata[Metadata.idempotencyKey] = key }
        if let trace = head.headers.first(name: "x-trace-id") { options.metadata[Metadata.traceID] = trace }
        var timeout = limits.maxTimeout
        if let sent = head.headers.first(name: "x-timeout-ms") {
            guard let ms = Int64(sent), ms > 0 else {
                return send(.badRequest, RPCError(code: .invalidArgument, message: "X-Timeout-Ms: must be a whole number of milliseconds > 0"))
            }
            timeout = min(timeout, .milliseconds(ms))
        }
        options.timeout = timeout
        call = Self.dispatch(
            method, channel: InProcessChannel(router: router, peer: peer, logger: logger), json: request.isEmpty ? Data("{}".utf8) : request,
            options: options, logger: logger, eventLoop: context.eventLoop, keepAlive: keepAlive,
            reply: NIOLoopBound(JSONBridgeReply(handler: self, context: context), eventLoop: context.eventLoop)
        )
    }

    /// Makes the call off the loop and writes its answer back on it.
    private static func dispatch(
        _ method: JSONMethod, channel: InProcessChannel, json: Data, options: CallOptions, logger: Logger, eventLoop: any EventLoop, keepAlive: Bool,
        reply: NIOLoopBound<JSONBridgeReply>
    ) -> Task<Void, Never> {
        Task {
            let (status, answer) = await call(method, channel: channel, json: json, options: options, logger: logger)
            eventLoop.execute {
                let (handler, context) = (reply.value.handler, reply.value.context)
                handler.call = nil
                guard context.channel.isActive else { return }
                handler.write(context: context, keepAlive: keepAlive, bodyless: false, status, answer)
            }
        }
    }

    /// The call's answer as HTTP: 200 and the response, or the error's status and body.
    private static func call(
        _ method: JSONMethod, channel: InProcessChannel, json: Data, options: CallOptions, logger: Logger
    ) async -> (HTTPResponseStatus, Data) {
        do {
            return (.ok, try await method.call(channel, json: json, options: options))
        } catch {
            var rpc = RPCError(mapping: error)
            if let safe = rpc.redactedForPeer() {
                logger.warning("status message held internals; sent redacted", metadata: ["rpc.code": "\(rpc.code)", "rpc.error": "\(rpc.message)"])
                rpc = safe
            }
            return (status(rpc.code), Self.error(rpc))
        }
    }

    /// Writes one response. The connection is kept open when the request asked for it and the
    /// bridge is not draining (decided now, not when the request came: a drain that began
    /// during the call closes the connection after this answer, and says so).
    fileprivate func write(context: ChannelHandlerContext, keepAlive: Bool, bodyless: Bool, _ status: HTTPResponseStatus, _ json: Data, allow: Bool = false) {
        let keepAlive = keepAlive && !draining
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json; charset=utf-8")
        headers.add(name: "content-length", value: String(json.count))
        headers.add(name: "connection", value: keepAlive ? "keep-alive" : "close")
        if allow { headers.add(name: "allow", value: "POST, GET") }
        // Before the end is written: writing it hands the pipeline's next queued request in.
        inFlight = false
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if !bodyless { context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: json)))), promise: nil) }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive { done.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) } }
    }

    /// `{"code": ..., "message": ...}`.
    static func error(_ error: RPCError) -> Data {
        (try? JSONSerialization.data(withJSONObject: ["code": "\(error.code)", "message": error.message], options: [.sortedKeys])) ?? Data()
    }

    /// The HTTP status for a gRPC code (`google.rpc.Code`'s documented mapping).
    static func status(_ code: RPCError.Code) -> HTTPResponseStatus {
        switch code {
        case .invalidArgument, .failedPrecondition, .outOfRange: .badRequest
        case .unauthenticated: .unauthorized
        case .permissionDenied: .forbidden
        case .notFound: .notFound
        case .alreadyExists, .aborted: .conflict
        case .resourceExhausted: .tooManyRequests
        case .unimplemented: .notImplemented
        case .unavailable: .serviceUnavailable
        case .deadlineExceeded: .gatewayTimeout
        case .cancelled: .custom(code: 499, reasonPhrase: "Client Closed Request")
        default: .internalServerError
        }
    }
}

/// Where a bridge call's answer goes: its handler and context, used on their loop only.
struct JSONBridgeReply {
    let handler: JSONBridgeHandler
    let context: ChannelHandlerContext
}

/// The methods a bridge serves (those of its router with a JSON form), found once when it
/// starts: by path (`Gateway/Settle`, `medicare.v1.Gateway/Settle`), and as `GET /v1/methods`
/// answers them.
struct BridgeMethods: Sendable {
    let byPath: [String: JSONMethod]
    let list: Data

    init(router: RPCRouter) {
        let served = JSONMethods.all.filter { router.route(for: $0.descriptor.fullName) != nil }
        var byPath: [String: JSONMethod] = [:]
        for method in served {
            byPath[method.descriptor.fullName] = method
            byPath[String(method.descriptor.fullName.dropFirst("medicare.v1.".count))] = method
        }
        self.byPath = byPath
        let rows = served.map { m -> [String: Any] in
            ["method": m.descriptor.fullName, "path": "/v1/" + m.descriptor.fullName.dropFirst("medicare.v1.".count), "request": m.requestType,
             "response": m.responseType]
        }
        list = (try? JSONSerialization.data(withJSONObject: ["methods": rows], options: [.sortedKeys])) ?? Data()
    }
}
