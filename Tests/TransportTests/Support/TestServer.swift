import Logging
import MedicareContracts
import MedicareRPC
import MedicareTransport
import NIOCore

/// An in-process RPC server on a free port serving the probed echo.
struct TestServer {
    let server: RPCServer
    let probe: HandlerProbe

    var port: Int { server.localAddress.port! }

    static func start(
        name: String = "echo", maxConcurrentCalls: Int = 64, maxFrameSize: Int = 4 << 20
    ) async throws -> TestServer {
        let probe = HandlerProbe()
        var router = RPCRouter()
        ProbedEcho(probe: probe).register(with: &router)
        var logger = Logger(label: "test.server")
        logger.logLevel = .critical
        let server = try await RPCServer.start(
            configuration: RPCServerConfiguration(
                port: 0, tls: TestPKI.tls(name), maxFrameSize: maxFrameSize, maxConcurrentCallsPerConnection: maxConcurrentCalls,
                serverName: "test-echo"
            ),
            router: router, logger: logger
        )
        return TestServer(server: server, probe: probe)
    }

    func client(_ name: String = "operator", host: String = "127.0.0.1", serverHostname: String? = nil, maxFrameSize: Int = 4 << 20) throws -> RPCClient {
        var logger = Logger(label: "test.client")
        logger.logLevel = .critical
        return try RPCClient(
            configuration: RPCClientConfiguration(
                host: host, port: port, serverHostname: serverHostname, tls: TestPKI.tls(name), maxFrameSize: maxFrameSize,
                initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(5)
            ),
            logger: logger
        )
    }

    func stop() async {
        await server.shutdownGracefully(timeout: .seconds(5))
    }
}

/// Runs `body` with a started server and stops it afterwards, whatever happens.
func withTestServer<T>(
    name: String = "echo", maxConcurrentCalls: Int = 64, maxFrameSize: Int = 4 << 20,
    _ body: (TestServer) async throws -> T
) async throws -> T {
    let server = try await TestServer.start(name: name, maxConcurrentCalls: maxConcurrentCalls, maxFrameSize: maxFrameSize)
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}

extension RPCError {
    var codeAndMessage: String { "\(code): \(message)" }
}
