import Logging
import MedicareContracts
import MedicareRPC
import MedicareTransport
import MedicareWire
import NIOCore
import Testing

/// Case echo-nesting-crash over the wire: a request nested 12,000 levels deep used to kill
/// the server inside protobuf-c's recursive unpack. It must be refused (invalidArgument,
/// naming the problem) and the server must go on serving; a response nested as deep must
/// not crash the client either.
@Suite("Nesting depth over RPC")
struct NestingDepthCallTests {
    static func varint(_ value: Int) -> [UInt8] {
        var out: [UInt8] = []
        var rest = UInt64(value)
        while rest >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(rest))
        return out
    }

    /// EchoMessage{children: {children: ...}}, `levels` deep, built without recursion.
    static func nested(levels: Int) -> [UInt8] {
        var lengths = [0]
        for _ in 1..<levels { lengths.append(1 + varint(lengths.last!).count + lengths.last!) }
        var out: [UInt8] = []
        for level in stride(from: levels - 1, to: 0, by: -1) { out += [0x2A] + varint(lengths[level - 1]) }
        return out
    }

    @Test func deeplyNestedRequestIsRefusedAndTheServerServesOn() async throws {
        try await withTestServer { server in
            let client = try server.client()
            let payload = ByteBuffer(bytes: Self.nested(levels: 12_000))
            let error = await #expect(throws: RPCError.self) {
                _ = try await client.call(EchoMethods.echo, payload: payload, options: CallOptions(timeout: .seconds(20)))
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message == "request: medicare.v1.EchoMessage nests messages more than 64 levels deep")
            #expect(server.probe.started == 0)
            // the same connection and server still answer
            let answer = try await EchoClient(client).echo(EchoMessage(text: "still here"), options: CallOptions(timeout: .seconds(20)))
            #expect(answer.text == "still here")
            let health = try await HealthClient(client).check(HealthCheckRequest())
            #expect(health.status == .serving)
            await client.close()
        }
    }

    @Test func deeplyNestedResponseIsRefusedByTheClient() async throws {
        var router = RPCRouter()
        let deep = Self.nested(levels: 12_000)
        router.register(EchoMethods.echo) { _, _ in ByteBuffer(bytes: deep) }
        var logger = Logger(label: "test.server")
        logger.logLevel = .critical
        let server = try await RPCServer.start(
            configuration: RPCServerConfiguration(port: 0, tls: TestPKI.tls("echo"), serverName: "deep"), router: router, logger: logger
        )
        let client = try RPCClient(
            configuration: RPCClientConfiguration(host: "127.0.0.1", port: server.localAddress.port!, tls: TestPKI.tls("operator")),
            logger: logger
        )
        let error = await #expect(throws: RPCError.self) {
            _ = try await EchoClient(client).echo(EchoMessage(text: "x"), options: CallOptions(timeout: .seconds(20)))
        }
        #expect(error?.code == .internal)
        #expect(error?.message.hasSuffix("medicare.v1.EchoMessage nests messages more than 64 levels deep") == true)
        await client.close()
        await server.shutdownGracefully(timeout: .seconds(5))
    }
}
