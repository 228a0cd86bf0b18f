public import Logging
public import MedicareRPC
public import NIOCore
import NIOPosix
import Synchronization

/// A client of one server: a single multiplexed mutual-TLS connection, opened on first use
/// and reopened with exponential backoff after it fails. Calls carry their deadline and
/// metadata; a call that never reached the server (the server was draining) is resent once
/// on a fresh connection.
///
/// Error messages never name the server's address or the transport's internals: they may
/// be forwarded to peers. The details are in each error's `cause` and in this client's log
/// (`net.peer`).
public final class RPCClient: RPCChannel {
    private enum State {
        case idle(failures: Int, retryAt: NIODeadline?, lastError: RPCError?)
        case connecting(EventLoopFuture<ClientConnection>, failures: Int)
        case ready(ClientConnection)
        case closed
    }

    private enum Next {
        case use(ClientConnection)
        case wait(EventLoopFuture<ClientConnection>)
        case fail(RPCError)
        case connect(EventLoopPromise<ClientConnection>, failures: Int)
    }

    /// Where the client connects and how it backs off.
    public let configuration: RPCClientConfiguration
    private let tlsContext: TLSContext
    private let group: any EventLoopGroup
    private let logger: Logger
    private let state = Mutex<State>(.idle(failures: 0, retryAt: nil, lastError: nil))
    private let callIDs = Atomic<UInt64>(0)

    /// Makes a client; no connection is opened until the first call.
    /// - Throws: ``TLSError/configuration(_:)`` when the certificate, key or CA file cannot be read or used.
    public init(
        configuration: RPCClientConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "medicare.rpc.client")
    ) throws(TLSError) {
        self.configuration = configuration
        self.tlsContext = try TLSContext(configuration: configuration.tls, isServer: false)
        self.group = group
        var logger = logger
        logger[metadataKey: "net.peer"] = "\(configuration.host):\(configuration.port)"
        self.logger = logger
    }

    /// `host:port`, for logs and the causes of errors (never for a peer's message).
    public var peerDescription: String { "\(configuration.host):\(configuration.port)" }

    /// Sends one call over the connection (opening it first if needed), with the deadline counted
    /// from now; a call the server refused unsent (it was draining) is resent once on a new connection.
    /// - Throws: ``RPCError``: the server's status; `deadlineExceeded`; `unavailable` when no
    ///   connection can be made (cause ``NotConnected``; during backoff at once) or the connection
    ///   fails during the call.
    public func call(_ method: MethodDescriptor, payload: ByteBuffer, options: CallOptions) async throws(RPCError) -> ByteBuffer {
        // A timeout counts from here: waiting for a connection, or resending on another one,
        // spends the caller's time too.
        var options = options
        options.deadline = options.effectiveDeadline()
        options.timeout = nil
        var attempt = 0
        while true {
            attempt += 1
            let connection = try await connection(until: options.deadline)
            let id = callIDs.add(1, ordering: .relaxed).newValue
            do {
                return try await connection.call(
                    id: id, method: method, payload: payload, options: options, maxFrameSize: configuration.maxFrameSize
                )
            } catch let error as RPCError {
                throw error
            } catch let error as NotSent {
                connection.markUnusable()
                if attempt >= 2 { throw error.error }
            } catch {
                throw RPCError(code: .unavailable, message: "the call failed: \(ConnectionFailure.describe(error))", cause: error)
            }
        }
    }

    /// Closes the connection; calls in flight fail with `unavailable`.
    public func close() async {
        let current = state.withLock { state -> State in
            defer { state = .closed }
            return state
        }
        switch current {
        case .ready(let connection):
            try? await connection.channel.close()
        case .connecting(let future, _):
            if let connection = try? await future.get() { try? await connection.channel.close() }
        case .idle, .closed:
            break
        }
    }

    // MARK: connection management

    /// The connection, once ready; a call waiting for a connection to open stops waiting at
    /// its deadline (the connection attempt itself goes on for the calls after it).
    private func connection(until deadline: ContinuousClock.Instant?) async throws(RPCError) -> ClientConnection {
        let next = state.withLock { state -> Next in
            switch state {
            case .ready(let connection) where connection.isUsable:
                return .use(connection)
            case .ready:
                let promise = group.next().makePromise(of: ClientConnection.self)
                state = .connecting(promise.futureResult, failures: 0)
                return .connect(promise, failures: 0)
            case .connecting(let future, _):
                return .wait(future)
            case .idle(let failures, let retryAt, let lastError):
                if let retryAt, NIODeadline.now() < retryAt, let lastError { return .fail(lastError) }
                let promise = group.next().makePromise(of: ClientConnection.self)
                state = .connecting(promise.futureResult, failures: failures)
                return .connect(promise, failures: failures)
            case .closed:
                return .fail(RPCError(code: .unavailable, message: "the client is closed"))
            }
        }
        switch next {
        case .use(let connection):
            return connection
        case .fail(let error):
            throw error
        case .wait(let future):
            return try await Self.await(future, until: deadline)
        case .connect(let promise, let failures):
            promise.completeWith(connect(on: promise.futureResult.eventLoop))
            promise.futureResult.whenComplete { result in self.connected(result, failures: failures) }
            return try await Self.await(promise.futureResult, until: deadline)
        }
    }

    private static func await(
        _ future: EventLoopFuture<ClientConnection>, until deadline: ContinuousClock.Instant?
    ) async throws(RPCError) -> ClientConnection {
        var future = future
        if let deadline {
            let loop = future.eventLoop
            let bounded = loop.makePromise(of: ClientConnection.self)
            let settled = Settled()
            let remaining = deadline - .now
            let timer = loop.scheduleTask(in: .nanoseconds(max(0, remaining.nanoseconds))) {
                if settled.first() {
                    bounded.fail(RPCError(code: .deadlineExceeded, message: "deadline exceeded while connecting; the call was not sent"))
                }
            }
            future.whenComplete { result in
                timer.cancel()
                if settled.first() { bounded.completeWith(result) }
            }
            future = bounded.futureResult
        }
        do {
            return try await future.get()
        } catch let error as RPCError {
            throw RPCError(code: error.code, message: error.message, cause: NotConnected(underlying: error.cause ?? error))
        } catch {
            throw RPCError(code: .unavailable, message: "cannot connect: \(ConnectionFailure.describe(error))", cause: NotConnected(underlying: error))
        }
    }

    private func connected(_ result: Result<ClientConnection, any Error>, failures: Int) {
        state.withLock { state in
            guard case .connecting = state else { return }  // closed meanwhile
            switch result {
            case .success(let connection):
                state = .ready(connection)
            case .failure(let error):
                let delay = min(
                    configuration.initialBackoff.nanoseconds << min(failures, 20), configuration.maxBackoff.nanoseconds
                )
                // The address and the transport's own words stay in the cause and the log.
                let message = "cannot connect: \(ConnectionFailure.describe(error)); retrying in \(delay / 1_000_000) ms"
                state = .idle(
                    failures: failures + 1, retryAt: .now() + .nanoseconds(delay),
                    lastError: RPCError(code: .unavailable, message: message, cause: NotConnected(underlying: error))
                )
            }
        }
        if case .failure(let error) = result {
            logger.warning("connect failed", metadata: ["rpc.error": "\(error)"])
        }
    }

    private func connect(on eventLoop: any EventLoop) -> EventLoopFuture<ClientConnection> {
        let handshake = eventLoop.makePromise(of: Void.self)
        let handlerPromise = eventLoop.makePromise(of: NIOLoopBound<ClientConnectionHandler>.self)
        let tlsContext = self.tlsContext
        let configuration = self.configuration
        let peer = peerDescription
        let connect = ClientBootstrap(group: eventLoop)
            .connectTimeout(.nanoseconds(configuration.connectTimeout.nanoseconds))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = ClientConnectionHandler(peerDescription: peer, handshake: handshake)
                    try channel.pipeline.syncOperations.addHandlers(
                        OpenSSLHandler(context: tlsContext, serverHostname: configuration.serverHostname ?? configuration.host),
                        ByteToMessageHandler(FrameDecoder(maxFrameSize: configuration.maxFrameSize)),
                        handler
                    )
                    handlerPromise.succeed(NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
            .connect(host: configuration.host, port: configuration.port)
        connect.whenFailure { error in
            handshake.fail(error)
            handlerPromise.fail(error)
        }
        return connect.flatMap { channel in
            handshake.futureResult.and(handlerPromise.futureResult).map { _, handler in
                let connection = ClientConnection(channel: channel, handler: handler)
                handler.value.onUnusable = { [weak connection] in connection?.markUnusable() }
                if handler.value.refusal != nil { connection.markUnusable() }
                return connection
            }.flatMapError { error in
                channel.close(promise: nil)
                return channel.eventLoop.makeFailedFuture(error)
            }
        }
    }
}

/// Which of two racing completions came first.
private final class Settled: Sendable {
    private let done = Atomic<Bool>(false)
    func first() -> Bool { !done.exchange(true, ordering: .acquiringAndReleasing) }
}

/// The cause of an `unavailable` error raised before any request was sent: no connection
/// could be made (or the client is backing off after failing to make one). A call that
/// fails this way can safely go to another replica, whatever it does.
public struct NotConnected: Error, CustomStringConvertible {
    /// The connection failure (or the backoff's last failure).
    public let underlying: any Error
    /// The underlying failure, for the log.
    public var description: String { "\(underlying)" }
}
