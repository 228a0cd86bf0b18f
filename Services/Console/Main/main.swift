import ConsoleService
import Foundation
import GatewayService
import Hummingbird
import Logging
import MedicareCrypto
import MedicareRPC
import MedicareRuntime
import MedicareTransport

// The operator console (docs/console.md): `console [--KEY VALUE ...]`, `console --hash-password`
// (reads a password on standard input, prints its hash for the users file), `--version`, `--help`.
let keys = [
    ConfigKey("console.host", default: "127.0.0.1", "Address the console's web server listens on (loopback: put TLS in front to serve it further)."),
    ConfigKey("console.port", default: "7190", "The console's HTTP port (0 = any free port)."),
    ConfigKey("console.users", default: "console-users.json", "The users file: names, roles, regions and password hashes."),
    ConfigKey("console.session-minutes", default: "480", "How long a sign-in lasts."),
    ConfigKey("upstream.gateway", default: "127.0.0.1:7100", "The gateway, HOST:PORT."),
    ConfigKey("tls.certs", default: "certs", "Certificate folder (ca.pem, NAME.pem, NAME.key)."),
    ConfigKey("tls.name", default: "operator", "The console's own certificate's name in the folder: it calls the gateway as this."),
    ConfigKey("access.file", default: "", "The gateway's access table (JSON); empty = the bundled one. Users' roles are checked against it."),
]
let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--version") {
    Console.line("console \(MedicareRelease.version)")
    exit(0)
}
if arguments.contains("--help") || arguments.contains("-h") {
    Console.line("usage: console [--config FILE] [--KEY VALUE ...] | console --hash-password < password\n\nKeys (flag, environment variable, default):\n\(Configuration.help(for: keys))")
    exit(0)
}
if arguments == ["--hash-password"] {
    guard let password = readLine(strippingNewline: true), !password.isEmpty else {
        FileHandle.standardError.write(Data("console: give the password on standard input\n".utf8))
        exit(64)
    }
    Console.line(PasswordHash.make(password))
    exit(0)
}
do {
    let configuration = try Configuration(keys: keys, arguments: arguments, environment: ProcessInfo.processInfo.environment)
    let users = try ConsoleUsers.load(path: configuration.string("console.users"))
    let access = try AccessTable.load(path: configuration.string("access.file"))
    let gateway = configuration.string("upstream.gateway")
    guard let colon = gateway.lastIndex(of: ":"), let gatewayPort = Int(gateway[gateway.index(after: colon)...]) else {
        throw StartupError("configuration key 'upstream.gateway' must be HOST:PORT; got '\(gateway)'")
    }
    var logger = Logger(label: "medicare.console")
    logger.logLevel = .info
    let client = try RPCClient(
        configuration: RPCClientConfiguration(
            host: String(gateway[..<colon]), port: gatewayPort,
            tls: .devCertificates(in: configuration.string("tls.certs"), name: configuration.string("tls.name"))
        ),
        logger: logger
    )
    let console = try ConsoleApp(gateway: client, access: access, users: users,
                                 sessionLifetime: .seconds(60 * (try configuration.int("console.session-minutes", in: 1...10_080))))
    let host = configuration.string("console.host"), port = try configuration.int("console.port", in: 0...65_535)
    let app = Application(
        router: console.router(),
        configuration: .init(address: .hostname(host, port: port), serverName: "medicare-console"),
        onServerRunning: { channel in
            Console.line("console listening on \(channel.localAddress?.ipAddress ?? host):\(channel.localAddress?.port ?? port)")
        },
        logger: logger
    )
    try await app.runService()
    await client.close()
} catch let error as StartupError {
    FileHandle.standardError.write(Data("console: \(error.message)\n".utf8))
    exit(78)
} catch {
    FileHandle.standardError.write(Data("console: \(error)\n".utf8))
    exit(78)
}
