import Logging
import MedicareRPC
import MedicareRuntime
import MedicareTransport
import NIOCore
import Synchronization

/// The replicas of one service, called round-robin. A call that may safely run twice
/// moves on to the next replica when one cannot answer; others are tried once.
public final class UpstreamPool: RPCChannel {
    public let name: String
    private let clients: [RPCClient]
    private let next = Atomic<Int>(0)

    /// Methods that must not run twice without an idempotency key.
    static let unsafe: Set<String> = ["medicare.v1.Registry/ChangeDesignation"]
    static let keyed: Set<String> = [
        "medicare.v1.Settlement/Settle", "medicare.v1.Settlement/Reverse",
    ]

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
    }

    public func call(_ method: MethodDescriptor, payload: ByteBuffer, options: CallOptions) async throws(RPCError) -> ByteBuffer {
        let retriable = !Self.unsafe.contains(method.fullName)
            && (!Self.keyed.contains(method.fullName) || options.metadata[Metadata.idempotencyKey] != nil)
        let attempts = retriable ? clients.count : 1
        let start = next.add(1, ordering: .relaxed).newValue
        var last: RPCError?
        for i in 0..<attempts {
            do {
                return try await clients[(start + i) % clients.count].call(method, payload: payload, options: options)
            } catch where error.code == .unavailable {
                last = error
            }
        }
        throw RPCError(code: .unavailable, message: "\(name) is unavailable: \(last?.message ?? "no replica answered")", cause: last)
    }

    public func close() async {
        for client in clients { await client.close() }
    }
}
