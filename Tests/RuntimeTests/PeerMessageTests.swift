import Foundation
import Logging
import MedicareContracts
import MedicareRPC
import MedicareRuntime
import MedicareTransport
import MedicareWire
import Testing

/// Case peer-message-internal-address: with a backend down, what outside callers were told
/// read "registry is unavailable: Connection errors: SingleConnectionFailure(target:
/// [IPv4]127.0.0.1/127.0.0.1:7201, ... (errno: 111))" or "cannot connect to 127.0.0.1:7201
/// ...". A message says which service is unavailable, never where it runs; the where and
/// the why stay in the cause, for the log.
@Suite("Peer-safe error messages")
struct PeerMessageTests {
    static let certs: String = {
        let folder = NSTemporaryDirectory() + "peer-msg-\(UUID().uuidString.prefix(8))"
        try! DevCertificates.ensure(in: folder)
        return folder
    }()

    static var quiet: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    /// What the case's repro looks for, and a little more.
    static func internals(in message: String) -> String? {
        let patterns = [#"\d+\.\d+\.\d+\.\d+"#, #":\d{2,5}\b"#, "errno", "SingleConnectionFailure", "IPv4", "IPv6", "NIO", "IOError", "localhost"]
        for pattern in patterns where message.range(of: pattern, options: .regularExpression) != nil { return pattern }
        return nil
    }

    @Test func aPoolWithDeadReplicasNamesTheServiceNotWhereItRuns() async throws {
        // Port 1 and 2 on loopback: nothing listens, connections are refused.
        let pool = try UpstreamPool(
            name: "registry", addresses: "127.0.0.1:1, 127.0.0.1:2", tls: .devCertificates(in: Self.certs, name: "gateway"), logger: Self.quiet
        )
        // The first call connects and fails; the next ones meet the clients' backoff.
        for attempt in 1...3 {
            let error = await #expect(throws: RPCError.self) {
                _ = try await HealthClient(pool).check(HealthCheckRequest(), options: CallOptions(timeout: .seconds(10)))
            }
            let message = error?.message ?? ""
            #expect(error?.code == .unavailable)
            #expect(message.hasPrefix("registry is unavailable"), "attempt \(attempt): \(message)")
            #expect(message.contains("connection refused"), "attempt \(attempt): \(message)")
            #expect(Self.internals(in: message) == nil, "attempt \(attempt): \(message)")
            // the log keeps the where and the why
            let cause = error?.cause.map { "\($0)" } ?? ""
            #expect(cause.contains("127.0.0.1:1") && cause.contains("127.0.0.1:2"), "\(cause)")
        }
    }

    @Test func aClientOfAClosedPortSaysNothingOfTheAddress() async throws {
        let client = try RPCClient(
            configuration: RPCClientConfiguration(host: "127.0.0.1", port: 1, tls: .devCertificates(in: Self.certs, name: "operator")),
            logger: Self.quiet
        )
        for _ in 1...2 {
            let error = await #expect(throws: RPCError.self) {
                _ = try await HealthClient(client).check(HealthCheckRequest(), options: CallOptions(timeout: .seconds(10)))
            }
            #expect(error?.code == .unavailable)
            #expect(error?.message.hasPrefix("cannot connect: connection refused") == true, "\(error?.message ?? "")")
            #expect(Self.internals(in: error?.message ?? "") == nil, "\(error?.message ?? "")")
        }
        await client.close()
    }

    @Test func aReplicaThatGoesAwayMidCallIsNotNamedEither() async throws {
        var router = RPCRouter()
        EchoProvider().register(with: &router)
        // A port below the kernel's ephemeral range: once this server is gone, no other test's
        // port-0 bind (the whole-stack tests start many) can take it and answer in its place.
        var started: RPCServer?
        for _ in 0..<50 where started == nil {
            started = try? await RPCServer.start(
                configuration: RPCServerConfiguration(port: Int.random(in: 20_000..<30_000), tls: .devCertificates(in: Self.certs, name: "registry"), serverName: "registry"),
                router: router, logger: Self.quiet
            )
        }
        let server = try #require(started)
        let serving = Task { try await server.run() }
        let pool = try UpstreamPool(
            name: "registry", addresses: "127.0.0.1:\(server.localAddress.port!)", tls: .devCertificates(in: Self.certs, name: "gateway"),
            logger: Self.quiet
        )
        #expect(try await HealthClient(pool).check(HealthCheckRequest()).status == .serving)
        let held = Task { try await EchoClient(pool).echo(EchoMessage(text: "held", delayMillis: 20_000), options: CallOptions(timeout: .seconds(30))) }
        try await Task.sleep(for: .milliseconds(300))
        serving.cancel()  // closes every connection at once, without draining
        let result = await held.result
        guard case .failure(let failure) = result, let error = failure as? RPCError else {
            Issue.record("the held call should fail, got \(result)")
            return
        }
        #expect(error.code == .unavailable)
        #expect(error.message.hasPrefix("registry is unavailable"), "\(error.message)")
        #expect(Self.internals(in: error.message) == nil, "\(error.message)")
        let after = await #expect(throws: RPCError.self) {
            _ = try await HealthClient(pool).check(HealthCheckRequest(), options: CallOptions(timeout: .seconds(10)))
        }
        #expect(after?.message.hasPrefix("registry is unavailable") == true, "\(after?.message ?? "")")
        #expect(Self.internals(in: after?.message ?? "") == nil, "\(after?.message ?? "")")
    }

    @Test(arguments: [
        ("registry is unavailable: Connection errors: SingleConnectionFailure(target: [IPv4]127.0.0.1/127.0.0.1:7201, error: connection reset (error set): Connection refused (errno: 111))",
         "registry is unavailable"),
        ("registry is unavailable: cannot connect to 127.0.0.1:7201: refused; retrying in 400 ms", "registry is unavailable"),
        ("registry is unavailable: connection to 127.0.0.1:7201 closed", "registry is unavailable"),
        ("connection to [::1]:7201 closed", "the service is unavailable; retry later"),
        ("cannot open SQLite database '/var/lib/medicare/registry.sqlite': unable to open", "the service is unavailable; retry later"),
    ])
    func theLastLineOfDefenceCutsInternals(message: String, sent: String) {
        let error = RPCError(code: .unavailable, message: message)
        let safe = error.redactedForPeer()
        #expect(safe?.message == sent)
        #expect(safe?.code == .unavailable)
        #expect(safe.map { "\($0.cause!)" }?.contains(message) == true, "the original stays in the cause")
    }

    @Test(arguments: [
        "registry is unavailable: cannot connect: connection refused; retrying in 400 ms",
        "clinic H33080200101 is suspended",
        "method 'medicare.v1.Echo/Shout' is not implemented",
        "request: field 'medicare.v1.Claim.lines' is malformed",
        "amount 12.50 exceeds the 2024 ceiling of 1.2.3",
        "visit date 2024-06-09 is after the settlement date",
    ])
    func cleanMessagesAreLeftAlone(message: String) {
        #expect(RPCError(code: .failedPrecondition, message: message).redactedForPeer() == nil)
    }
}
