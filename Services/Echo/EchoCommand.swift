import ArgumentParser
import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Logging
import MedicareContracts
import MedicareRPC
import MedicareTransport

/// A diagnostic mTLS server answering medicare.v1.Echo and Health: for connectivity checks,
/// the transport's multi-process tests and rpc-bench.
@main
struct EchoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "medicare-echo", abstract: "Serve medicare.v1.Echo over mutual TLS."
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on; 0 picks a free one (printed on start).") var port = 0
    @Option(help: "Folder holding ca.pem and <name>.pem/.key.") var certs = "certs"
    @Option(help: "Certificate name in the folder.") var name = "echo"
    @Option(help: "Calls in flight per connection.") var maxConcurrentCalls = 1024
    @Option(help: "Largest frame in bytes.") var maxFrameSize = 4 << 20
    @Option(help: "Seconds to wait for calls in flight on SIGTERM.") var drainSeconds = 30

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "medicare.echo")
        var router = RPCRouter()
        EchoProvider().register(with: &router)
        let configuration = RPCServerConfiguration(
            host: host, port: port, tls: .devCertificates(in: certs, name: name), maxFrameSize: maxFrameSize,
            maxConcurrentCallsPerConnection: maxConcurrentCalls, serverName: "echo"
        )
        let server: RPCServer
        do {
            server = try await RPCServer.start(configuration: configuration, router: router, logger: logger)
        } catch {
            throw ValidationError("cannot start: \(error)")
        }
        // The one line tests and scripts read to find the port.
        Console.line("listening on \(server.localAddress.ipAddress ?? host):\(server.localAddress.port ?? port)")
        let drain = Duration.seconds(drainSeconds)
        let signals = [SIGTERM, SIGINT].map { signo in
            signal(signo, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signo, queue: .global())
            source.setEventHandler { Task { await server.shutdownGracefully(timeout: drain) } }
            source.resume()
            return source
        }
        try await server.run()
        signals.forEach { $0.cancel() }
        logger.info("stopped")
    }
}
