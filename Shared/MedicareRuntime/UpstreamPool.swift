import Logging
import MedicareContracts
import MedicareRPC
import MedicareWire
import MedicareTransport
import NIOCore
import Synchronization

/// The replicas of one service, called round-robin. A call that may safely run twice (its
/// method's policy: a read, an idempotent write, or a keyed write carrying its key) moves on
/// to the next replica when one cannot answer; others are tried once.
///
/// When no replica answers, the error names the service ("registry is unavailable"), never
/// where its replicas run: it is forwarded to outside callers. Which replica failed and
/// how is in the error's `cause` and in the log.
public final class UpstreamPool: RPCChannel {
    /// The service's name, used in errors ("registry is unavailable") and logs.
    public let name: String
    private let clients: [RPCClient]
    private let logger: Logger
    private let healthy: [HealthFlag]
    private let next = Atomic<Int>(0)

    /// A client per replica in `addresses` (comma-separated `HOST:PORT`), each connecting lazily
    /// over `tls`.
    /// - Throws: ``StartupError`` (configuration key `upstream.<name>`) for an address that is
    ///   not `HOST:PORT` with a port 1-65535, a client that cannot be made, or no address at all.
    public init(name: String, addresses: String, tls: TLSConfiguration, logger: Logger) throws(StartupError) {
        self.name = name
        var clients: [RPCClient] = []
        for address in addresses.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !address.isEmpty {
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), (1...65535).contains(port) else {
                throw StartupError("configuration key 'upstream.\(name)': '\(address)' is not HOST:PORT")
            }
            do {
                clients.append(try RPCClient(
                    configuration: RPCClientConfiguration(host: String(address[..<colon]), port: port, tls: tls, maxBackoff: .seconds(2)),
                    logger: logger
                ))
            } catch {
                throw StartupError("configuration key 'upstream.\(name)': \(error)")
            }
        }
        guard !clients.isEmpty else { throw StartupError("configuration key 'upstream.\(name)' names no replica") }
        self.clients = clients
        self.logger = logger
        self.healthy = clients.map { _ in HealthFlag() }
    }

    /// Calls the replicas in round-robin order, healthy ones first; moves on to the next only
    /// after an `unavailable` failure of a call that may run twice (``MethodPolicy/mayRetry(hasIdempotencyKey:)``)
    /// or that never left this process.
    /// - Throws: ``RPCError`` the replica's error when it may not move on; `unavailable` naming
    ///   the service (with the last replica's redacted message) when no replica answered.
    public func call(_ method: MethodDescriptor, payload: ByteBuffer, options: CallOptions) async throws(RPCError) -> ByteBuffer {
        let retriable = method.policy.mayRetry(hasIdempotencyKey: options.metadata[Metadata.idempotencyKey] != nil)
        // Replicas that passed their last health check first, the others after them.
        let start = next.add(1, ordering: .relaxed).newValue
        let order = (0..<clients.count).map { (start + $0) % clients.count }
        let ranked = order.filter { healthy[$0].value.load(ordering: .relaxed) } + order.filter { !healthy[$0].value.load(ordering: .relaxed) }
        var failures: [(replica: String, error: RPCError)] = []
        for index in ranked {
            do {
                return try await clients[index].call(method, payload: payload, options: options)
            } catch where error.code == .unavailable && (retriable || error.cause is NotConnected) {
                // Safe to try the next replica: the call may run twice harmlessly, or it
                // never left this process.
                failures.append((clients[index].peerDescription, error))
            }
        }
        let cause = UpstreamUnavailable(service: name, failures: failures.map { ($0.replica, $0.error.cause ?? $0.error) })
        logger.debug("no replica answered", metadata: ["upstream.service": "\(name)", "rpc.method": "\(method.fullName)", "rpc.error": "\(cause)"])
        // The clients' messages are peer-safe already; checked again all the same, since
        // this one goes to whoever called us.
        let last = failures.last.map { $0.error.redactedForPeer() ?? $0.error }
        throw RPCError(code: .unavailable, message: "\(name) is unavailable" + (last.map { ": \($0.message)" } ?? ""), cause: cause)
    }

    /// Whether some replica answered its last health probe as serving (false before the first
    /// probe has answered).
    public var anyHealthy: Bool { healthy.contains { $0.value.load(ordering: .relaxed) } }

    /// Probes every replica's health method every `interval`; runs until cancelled.
    public func probeHealth(every interval: Duration = .seconds(2), logger: Logger) async {
        while !Task.isCancelled {
            for (index, client) in clients.enumerated() {
                let serving: Bool
                do {
                    let payload = try HealthCheckRequest().encoded()
                    let bytes = try await client.call(HealthMethods.check, payload: payload, options: CallOptions(timeout: .seconds(1)))
                    serving = try HealthCheckResponse(decoding: bytes).status == .serving
                } catch {
                    serving = false
                }
                if healthy[index].value.exchange(serving, ordering: .relaxed) != serving {
                    logger.notice("replica health changed", metadata: [
                        "upstream.service": "\(name)", "upstream.replica": "\(client.peerDescription)", "upstream.serving": "\(serving)",
                    ])
                }
            }
            try? await Task.sleep(for: interval)
        }
    }

}

/// Why every replica of an upstream failed: for the log, never for a peer.
public struct UpstreamUnavailable: Error, CustomStringConvertible {
    /// The service none of whose replicas answered.
    public let service: String
    /// Each replica tried (`host:port`) and its failure's cause.
    public let failures: [(replica: String, error: any Error)]
    /// The service and each replica's failure, for the log (holds addresses: never for a peer).
    public var description: String {
        "\(service) is unavailable: " + failures.map { "\($0.replica): \($0.error)" }.joined(separator: "; ")
    }
}

final class HealthFlag: Sendable {
    let value = Atomic<Bool>(true)
}

extension ServiceContext {
    /// The replicas of the upstream service `name`, from the configuration key
    /// `upstream.<name>` (HOST:PORT[,HOST:PORT...]), with this service's TLS identity. When
    /// `probed`, each replica's `Health/Check` is probed in the background while the service
    /// serves, so that calls go to replicas that answered last.
    /// - Throws: ``StartupError`` when the key holds no address or a malformed one.
    public func upstream(_ name: String, probed: Bool = true) throws -> UpstreamPool {
        let pool = try UpstreamPool(name: name, addresses: configuration.string("upstream.\(name)"), tls: settings.tls, logger: logger)
        if probed { runInBackground { await pool.probeHealth(logger: logger) } }
        return pool
    }

    /// An audit relay from `outbox` to the supervision replicas (`upstream.supervision`, probed),
    /// running in the background while the service serves; tell it after each commit
    /// (``AuditRelay/nudge()``) so that records leave at once.
    public func auditRelay(_ outbox: AuditOutbox, service: String) throws -> AuditRelay {
        let relay = AuditRelay(outbox: outbox, supervision: try upstream("supervision"), logger: logger, service: service)
        runInBackground { await relay.run() }
        return relay
    }
}
