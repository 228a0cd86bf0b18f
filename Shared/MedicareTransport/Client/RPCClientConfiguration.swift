/// Where a client connects and how it behaves when the peer is away.
public struct RPCClientConfiguration: Sendable {
    /// The server's host name or address.
    public var host: String
    /// The server's port.
    public var port: Int
    /// The name (or IP address) the server's certificate must carry; defaults to `host`.
    public var serverHostname: String?
    /// This client's certificate, key and trusted CA.
    public var tls: TLSConfiguration
    /// The largest frame sent or accepted, bytes (default 4 MiB).
    public var maxFrameSize: Int
    /// How long a TCP connect may take (default 5 s).
    public var connectTimeout: Duration
    /// The wait before reconnecting after a failed attempt, doubling up to `maxBackoff`.
    /// While waiting, calls fail at once with `unavailable`.
    public var initialBackoff: Duration
    /// The longest wait between reconnection attempts (default 10 s).
    public var maxBackoff: Duration

    /// Makes a configuration; `serverHostname` defaults to `host`.
    public init(
        host: String, port: Int, serverHostname: String? = nil, tls: TLSConfiguration, maxFrameSize: Int = 4 << 20,
        connectTimeout: Duration = .seconds(5), initialBackoff: Duration = .milliseconds(100), maxBackoff: Duration = .seconds(10)
    ) {
        self.host = host
        self.port = port
        self.serverHostname = serverHostname
        self.tls = tls
        self.maxFrameSize = maxFrameSize
        self.connectTimeout = connectTimeout
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
