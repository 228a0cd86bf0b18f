import MedicareRPC

/// How an RPC server listens and what it allows.
public struct RPCServerConfiguration: Sendable {
    /// The address to listen on (default 127.0.0.1).
    public var host: String
    /// 0 picks a free port; read it back from ``RPCServer/localAddress``.
    public var port: Int
    /// The server's certificate, key and the CA its callers' certificates must lead to.
    public var tls: TLSConfiguration
    /// The largest frame accepted or sent, checked before a frame is buffered. Default 4 MiB.
    public var maxFrameSize: Int
    /// Calls in flight on one connection; more are refused with `resourceExhausted`.
    public var maxConcurrentCallsPerConnection: Int
    /// A caller's deadline is capped at this.
    public var maxTimeout: Duration
    /// Requests up to this size run on their connection's event loop (no thread hop per
    /// call); larger ones (imports of thousands of records) run on the shared pool, so that
    /// decoding and checking them does not hold up the loop's other connections.
    public var inlineRequestMaxBytes: Int
    /// How long a connection's calls may go on once it drains: after the peer's TLS
    /// close_notify (it sends no more, but waits for its answers), calls still running
    /// after this are cancelled and answered `unavailable`. Each call's deadline applies too.
    public var drainTimeout: Duration
    /// Reported by the health method.
    public var serverName: String
    /// The version reported by the health method.
    public var version: String

    /// Makes a configuration; the defaults suit tests (loopback, a free port).
    public init(
        host: String = "127.0.0.1", port: Int = 0, tls: TLSConfiguration, maxFrameSize: Int = 4 << 20,
        maxConcurrentCallsPerConnection: Int = 1024, maxTimeout: Duration = .seconds(3600), inlineRequestMaxBytes: Int = 64 << 10,
        drainTimeout: Duration = .seconds(30), serverName: String = "medicare", version: String = MedicareRelease.version
    ) {
        self.host = host
        self.port = port
        self.tls = tls
        self.maxFrameSize = maxFrameSize
        self.maxConcurrentCallsPerConnection = maxConcurrentCallsPerConnection
        self.maxTimeout = maxTimeout
        self.inlineRequestMaxBytes = inlineRequestMaxBytes
        self.drainTimeout = drainTimeout
        self.serverName = serverName
        self.version = version
    }
}
