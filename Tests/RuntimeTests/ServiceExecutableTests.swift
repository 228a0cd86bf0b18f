import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import MedicareContracts
import MedicareRPC
import MedicareStore
import MedicareTestSupport
import MedicareTransport
import MedicareWire
import Testing

/// A service executable started the way an operator would: in its own folder, no
/// configuration file, development certificates beside it.
struct RunningService {
    let name: String
    let folder: String
    let child: ChildProcess
    let rpcPort: Int
    let adminPort: Int
    /// The gateway's JSON bridge port (any free one), 0 for the backends.
    var bridgePort = 0

    static func start(_ name: String, folder: String? = nil, port: Int = 0, extra: [String] = []) async throws -> RunningService {
        let folder = folder ?? NSTemporaryDirectory() + "svc-\(name)-\(UUID().uuidString.prefix(8))"
        try DevCertificates.ensure(in: "\(folder)/certs")
        let child = try ChildProcess(
            Executables.path(name), ["--rpc.port", "\(port)", "--admin.port", "0", "--rpc.drain-seconds", "10"]
                + (name == "gateway" ? ["--bridge.enabled", "true", "--bridge.port", "0"] : []) + extra, directory: folder
        )
        let rpc = try await child.waitForLine(prefix: "\(name) rpc listening on ")
        let bridge = name == "gateway" ? try await child.waitForLine(prefix: "\(name) json bridge listening on ") : ":0"
        let admin = try await child.waitForLine(prefix: "\(name) admin listening on ")
        return RunningService(
            name: name, folder: folder, child: child,
            rpcPort: Int(rpc.split(separator: ":").last!)!, adminPort: Int(admin.split(separator: ":").last!)!,
            bridgePort: Int(bridge.split(separator: ":").last!)!
        )
    }

    func client() throws -> RPCClient {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try RPCClient(
            configuration: RPCClientConfiguration(host: "127.0.0.1", port: rpcPort, tls: .devCertificates(in: "\(folder)/certs", name: "operator")),
            logger: logger
        )
    }

    func get(_ path: String) async throws -> (Int, String) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(adminPort)\(path)")!)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }
}

@Suite("Service executables", .serialized)
struct ServiceExecutableTests {
    @Test(arguments: ["registry", "settlement", "supervision", "gateway"])
    func startsWithDefaultsServesHealthAndMetricsAndDrainsOnSIGTERM(name: String) async throws {
        let service = try await RunningService.start(name)
        let client = try service.client()
        let health = try await HealthClient(client).check(HealthCheckRequest())
        #expect(health.status == .serving && health.server == name)

        let (status, body) = try await service.get("/healthz")
        #expect(status == 200 && body == "ok\n")
        let (readyStatus, readyBody) = try await service.get("/readyz")
        if name == "gateway" {
            // Alone, the gateway has no backend to forward to: alive, not ready, and it says why.
            #expect(readyStatus == 503 && readyBody == "no serving replica of registry, settlement, supervision\n", "\(readyBody)")
        } else {
            #expect(readyStatus == 200 && readyBody == "ready\n")
        }
        let (_, metrics) = try await service.get("/metrics")
        #expect(metrics.contains("medicare_rpc_calls_total{method=\"medicare.v1.Health/Check\",code=\"ok\"} 1"), "\(metrics.prefix(2000))")
        #expect(metrics.contains("medicare_store_commit_seconds"))
        // What operations run on: every family has its help, the process and the build are
        // there, and Prometheus's own checker has nothing to say.
        let families = metrics.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.compactMap { $0.split(separator: " ").dropFirst(2).first }
        let helped = Set(metrics.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }.compactMap { $0.split(separator: " ").dropFirst(2).first })
        #expect(!families.isEmpty && families.allSatisfy { helped.contains($0) }, "without help: \(families.filter { !helped.contains($0) })")
        #expect(metrics.contains("medicare_build_info{service=\"\(name)\",version=") && metrics.contains("process_cpu_seconds_total")
            && metrics.contains("process_resident_memory_bytes") && metrics.contains("process_open_fds"))
        #expect(metrics.contains("le=\"0.00025\""), "sub-millisecond buckets")
        let promtool = try await runCommand("/usr/bin/env", ["promtool", "check", "metrics"], input: Data(metrics.utf8))
        #expect(promtool.status == 0 && promtool.error.isEmpty && promtool.output.isEmpty,
                "promtool: \(String(decoding: promtool.output, as: UTF8.self)) \(promtool.error)")
        #expect(FileManager.default.fileExists(atPath: "\(service.folder)/data/\(name).sqlite"))

        let echo = EchoClient(client)
        let inFlight = (0..<4).map { i in Task { try await echo.echo(EchoMessage(number: Int64(i), delayMillis: 700)) } }
        try await Task.sleep(for: .milliseconds(250))
        service.child.signal(SIGTERM)
        for (i, call) in inFlight.enumerated() { #expect(try await call.value.number == Int64(i)) }
        #expect(try await service.child.wait() == 0, "stderr: \(service.child.standardError)")
        await client.close()
    }

    @Test func aSecondStartMigratesNothingAndANewerDatabaseIsRefused() async throws {
        let first = try await RunningService.start("registry")
        #expect(first.child.standardError.contains("migrated"))
        first.child.signal(SIGTERM)
        #expect(try await first.child.wait() == 0)

        let second = try await RunningService.start("registry", folder: first.folder)
        second.child.signal(SIGTERM)
        #expect(try await second.child.wait() == 0)
        #expect(!second.child.standardError.contains("migrated"), "\(second.child.standardError)")

        // Pretend a newer build migrated this database.
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let db = try SQLiteDatabase(configuration: .init(path: "\(first.folder)/data/registry.sqlite"), logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await db.run() }
            try await db.write { try await $0.execute("INSERT INTO schema_migrations (service, version, name, applied_at) VALUES ('registry', 99, 'future', 'x')", []) }
            group.cancelAll()
        }
        let third = try ChildProcess(Executables.path("registry"), ["--rpc.port", "0", "--admin.port", "0"], directory: first.folder)
        #expect(try await third.wait() == 1)
        #expect(third.standardError.contains("the database schema is at version 99, newer than this build knows"), "\(third.standardError)")
    }

    @Test(arguments: [
        (["--rpc.port", "70000"], "configuration key 'rpc.port' (flag --rpc.port) must be a whole number in 0...65535; got '70000'"),
        (["--rpc.prot", "1"], "unknown configuration key 'rpc.prot' (from flag --rpc.prot); did you mean 'rpc.port'?"),
        (["--store.url", "mysql://db"], "configuration key 'store.url' (flag --store.url): store unavailable: store URL must start with sqlite: or postgres://"),
        (["--log.level", "loud"], "configuration key 'log.level' (flag --log.level) must be one of"),
        (["--tls.certs", "/nonexistent"], "cannot read the certificate file '/nonexistent/registry.pem'"),
    ])
    func invalidConfigurationStopsStartUpNamingTheKey(arguments: [String], message: String) async throws {
        let folder = NSTemporaryDirectory() + "cfg-\(UUID().uuidString.prefix(8))"
        try DevCertificates.ensure(in: "\(folder)/certs")
        let child = try ChildProcess(Executables.path("registry"), ["--rpc.port", "0", "--admin.port", "0"] + arguments, directory: folder)
        #expect(try await child.wait() == 78)
        #expect(child.standardError.contains(message), "\(child.standardError)")
    }

    /// Values are typed (a JSON `true` is not a port, a number is not a URL) and a
    /// misspelt `MEDICARE_*` variable stops start-up like a misspelt flag.
    @Test(arguments: [
        (#"{"rpc": {"port": true}}"#, [String: String](), "configuration key 'rpc.port' (file registry.json) must be a JSON whole number; got true"),
        (#"{"rpc": {"port": "7101"}}"#, [:], "configuration key 'rpc.port' (file registry.json) must be a JSON whole number; got \"7101\""),
        (#"{"store": {"url": 5}}"#, [:], "configuration key 'store.url' (file registry.json) must be a JSON string; got 5"),
        ("{}", ["MEDICARE_RPC_PROT": "7101", "MEDICARE_SOMETHING_ELSE": "a harness's own"], "unknown environment variable MEDICARE_RPC_PROT; did you mean MEDICARE_RPC_PORT (rpc.port)?"),
    ])
    func strictlyTypedFileValuesAndNoUnknownVariables(file: String, environment: [String: String], message: String) async throws {
        let folder = NSTemporaryDirectory() + "cfgstrict-\(UUID().uuidString.prefix(8))"
        try DevCertificates.ensure(in: "\(folder)/certs")
        try Data(file.utf8).write(to: URL(fileURLWithPath: "\(folder)/registry.json"))
        let child = try ChildProcess(
            Executables.path("registry"), ["--config", "registry.json", "--admin.port", "0"], environment: environment, directory: folder
        )
        #expect(try await child.wait() == 78)
        #expect(child.standardError.contains(message), "\(child.standardError)")
    }

    /// `log.format json`: one JSON object per line; a refused call is logged at notice with
    /// the caller and a trace id the gateway minted (the caller sent none); SIGHUP reloads the
    /// access table without a restart.
    @Test func jsonLogsCarryAMintedTraceIdAndRefusalsAtNotice() async throws {
        let gateway = try await RunningService.start("gateway", extra: ["--log.format", "json", "--log.level", "notice"])
        let clinic = try RPCClient(
            configuration: RPCClientConfiguration(host: "127.0.0.1", port: gateway.rpcPort, tls: .devCertificates(in: "\(gateway.folder)/certs", name: "clinic-H33080200101")),
            logger: Logger(label: "test")
        )
        let refused = await #expect(throws: RPCError.self) { _ = try await RegistryClient(clinic).importInstitutions(ImportInstitutionsRequest()) }
        #expect(refused?.code == .permissionDenied)
        gateway.child.signal(SIGHUP)
        try await Task.sleep(for: .milliseconds(500))
        await clinic.close()
        gateway.child.signal(SIGTERM)
        _ = try await gateway.child.wait()
        let lines = gateway.child.standardError.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(!lines.isEmpty && lines.allSatisfy { $0 != nil }, "not JSON: \(gateway.child.standardError.prefix(500))")
        let refusal = lines.compactMap { $0 }.first { $0["message"] as? String == "call refused" }
        #expect(refusal?["level"] as? String == "notice" && (refusal?["rpc.caller"] as? String)?.contains("H33080200101") == true)
        #expect((refusal?["trace.id"] as? String)?.count == 32, "\(String(describing: refusal))")
        #expect(lines.compactMap { $0 }.contains { $0["message"] as? String == "access table reloaded" })
    }

    /// A new clinic's certificate, issued with `medicare-certs issue` (a new key, then for a
    /// CSR whose key never leaves the clinic), is accepted by a service; the CA's key is not in
    /// the folder services mount.
    @Test func certificatesIssuedForANewClinicAreAccepted() async throws {
        // A deployment's layout: the CA's key apart from the folder services mount.
        let folder = NSTemporaryDirectory() + "issue-\(UUID().uuidString.prefix(8))"
        let certs = "\(folder)/certs"
        let created = try await runCommand(Executables.path("medicare-certs"), ["create", "-o", certs, "--ca-dir", "\(certs)-ca"])
        #expect(created.status == 0, "\(created.error)")
        #expect(!FileManager.default.fileExists(atPath: "\(certs)/ca.key") && FileManager.default.fileExists(atPath: "\(certs)-ca/ca.key"))
        let service = try await RunningService.start("registry", folder: folder)
        let issued = try await runCommand(Executables.path("medicare-certs"), [
            "issue", "--role", "clinic", "--code", "H33080200105", "--region", "330802", "-o", certs, "--ca-folder", "\(certs)-ca",
        ])
        #expect(issued.status == 0, "\(issued.error)")
        // The clinic makes its own key and request; the CA signs it with the identity it states.
        let request = try await runCommand("/usr/bin/env", [
            "openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=whoever/OU=operator",
            "-keyout", "\(certs)/clinic-H33080200106.key", "-out", "\(service.folder)/request.pem",
        ])
        #expect(request.status == 0, "\(request.error)")
        let signed = try await runCommand(Executables.path("medicare-certs"), [
            "issue", "--role", "clinic", "--code", "H33080200106", "--region", "330802", "--csr", "\(service.folder)/request.pem", "-o", certs,
            "--ca-folder", "\(certs)-ca",
        ])
        #expect(signed.status == 0, "\(signed.error)")
        let subject = try await runCommand("/usr/bin/env", ["openssl", "x509", "-noout", "-subject", "-in", "\(certs)/clinic-H33080200106.pem"])
        let text = String(decoding: subject.output, as: UTF8.self)
        #expect(text.contains("CN = H33080200106") && text.contains("OU = clinic") && !text.contains("operator"), "\(text)")
        for name in ["clinic-H33080200105", "clinic-H33080200106"] {
            let client = try RPCClient(
                configuration: RPCClientConfiguration(host: "127.0.0.1", port: service.rpcPort, tls: .devCertificates(in: certs, name: name)), logger: Logger(label: "test")
            )
            // Authenticated as the clinic the certificate names (a backend then refuses clinics:
            // they call through the gateway), not refused at the handshake.
            let answer = await #expect(throws: RPCError.self) { _ = try await HealthClient(client).check(HealthCheckRequest()) }
            let code = name.dropFirst("clinic-".count)
            #expect(answer?.code == .permissionDenied && answer?.message.hasPrefix("clinic '\(code)' of 'nhc'") == true, "\(String(describing: answer))")
            await client.close()
        }
        let refused = try await runCommand(Executables.path("medicare-certs"), [
            "issue", "--role", "clinic", "--code", "H33080200107", "--region", "330803", "-o", certs, "--ca-folder", "\(certs)-ca",
        ])
        #expect(refused.status != 0 && refused.error.contains("--region"), "\(refused.error)")
        service.child.signal(SIGTERM)
        _ = try await service.child.wait()
    }

    /// SIGHUP reads settlement's policy file again: a broken file leaves the policy in force
    /// (and says so), a good one replaces it; the service serves throughout.
    @Test func settlementReloadsItsPolicyOnSIGHUP() async throws {
        let folder = NSTemporaryDirectory() + "policy-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let bundled = Executables.repositoryRoot.appendingPathComponent("Shared/MedicareDomain/Resources/zhejiang-2024.json")
        try FileManager.default.copyItem(atPath: bundled.path, toPath: "\(folder)/policy.json")
        let settlement = try await RunningService.start("settlement", folder: folder, extra: ["--policy.file", "policy.json", "--log.format", "json"])
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: "\(folder)/policy.json"))
        settlement.child.signal(SIGHUP)
        try await Task.sleep(for: .milliseconds(400))
        try FileManager.default.removeItem(atPath: "\(folder)/policy.json")
        try FileManager.default.copyItem(atPath: bundled.path, toPath: "\(folder)/policy.json")
        settlement.child.signal(SIGHUP)
        try await Task.sleep(for: .milliseconds(400))
        let client = try settlement.client()
        #expect(try await HealthClient(client).check(HealthCheckRequest()).status == .serving)
        await client.close()
        settlement.child.signal(SIGTERM)
        _ = try await settlement.child.wait()
        let messages = settlement.child.standardError.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["message"] as? String
        }
        #expect(messages.contains("benefit policy not reloaded; the one in force stays") && messages.contains("benefit policy reloaded"), "\(messages)")
    }

    @Test func configurationFileAndEnvironmentAreRead() async throws {
        let folder = NSTemporaryDirectory() + "cfgfile-\(UUID().uuidString.prefix(8))"
        try DevCertificates.ensure(in: "\(folder)/certs")
        try Data(#"{"rpc": {"port": 0}, "admin": {"port": 0}, "store": {"url": "sqlite:state/db.sqlite"}}"#.utf8)
            .write(to: URL(fileURLWithPath: "\(folder)/settlement.json"))
        let child = try ChildProcess(
            Executables.path("settlement"), ["--config", "settlement.json"], environment: ["MEDICARE_LOG_LEVEL": "debug", "MEDICARE_HARNESS_DIR": "/tmp"], directory: folder
        )
        _ = try await child.waitForLine(prefix: "settlement rpc listening on ")
        #expect(FileManager.default.fileExists(atPath: "\(folder)/state/db.sqlite"))
        child.signal(SIGTERM)
        #expect(try await child.wait() == 0)
        #expect(child.standardError.contains("debug"), "MEDICARE_LOG_LEVEL=debug should show debug lines")
    }
}
