import Foundation
import Logging
import MedicareContracts
import MedicareRPC
import MedicareStore
import MedicareTestSupport
import MedicareTransport
import MedicareWire
import Testing

/// The whole stack as a province runs it when one machine is not enough: two replicas each of
/// the registry, settlement and supervision, and one gateway, all over one PostgreSQL (the
/// test server scripts/test.sh starts), under concurrent load, with one settlement replica
/// killed and restarted and PostgreSQL itself crashed and brought back.
@Suite("Whole stack: replicas on PostgreSQL", .serialized)
struct ReplicaStackTests {
    /// A PostgreSQL server of this test's own (scripts/postgres.sh), since it crashes it: the
    /// suites running beside it keep theirs.
    static func startPostgres() async throws -> (url: String, dir: String) {
        let out = NSTemporaryDirectory() + "pg-\(UUID().uuidString.prefix(8)).env"
        let status = await Task.detached { system("bash '\(Executables.repositoryRoot.path)/scripts/postgres.sh' start >'\(out)' 2>&1 </dev/null") }.value
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: out)
        func value(_ name: String) -> String? {
            text.split(separator: "\n").first { $0.hasPrefix("export \(name)=") }.map { String($0.dropFirst("export \(name)=".count)) }
        }
        guard status == 0, let url = value("MEDICARE_TEST_POSTGRES_URL"), let dir = value("MEDICARE_PG_DIR") else {
            throw StartFailure(description: "scripts/postgres.sh start failed: \(text.suffix(500))")
        }
        return (url, dir)
    }

    /// Run on its own (scripts/test.sh does, with MEDICARE_REPLICA_STACK=1): its load would
    /// starve the timing-bound tests of the suites beside it.
    static var enabled: Bool {
        Engine.all.contains(.postgres) && ProcessInfo.processInfo.environment["MEDICARE_REPLICA_STACK"] == "1"
    }

    @Test(.enabled(if: enabled, "runs on its own: MEDICARE_REPLICA_STACK=1 (scripts/test.sh), and needs PostgreSQL"))
    func replicasSurviveAReplicaKillAndADatabaseCrashLosingAndDoublingNothing() async throws {
        let (adminURL, pgDir) = try await Self.startPostgres()
        defer { _ = system("bash '\(Executables.repositoryRoot.path)/scripts/postgres.sh' stop '\(pgDir)' >/dev/null 2>&1 </dev/null") }
        // A database of its own, shared by every service (their tables do not collide).
        let name = "stack_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        let admin = try StoreLocation(url: adminURL).open(maxConnections: 1, logger: quietLogger)
        try await running(admin) { try await admin.read { try await $0.execute("CREATE DATABASE \(name)", []) } }
        guard case .postgres(var location) = try StoreLocation(url: adminURL) else { preconditionFailure() }
        location.database = name
        let url = "postgres://\(location.username)@\(location.host):\(location.port)/\(name)"
        let store = ["--store.url", url, "--store.statement-timeout-ms", "3000", "--store.connect-timeout-ms", "1000"]

        let folder = NSTemporaryDirectory() + "replicas-\(UUID().uuidString.prefix(8))"
        let supervisions = [try await RunningService.start("supervision", folder: folder, extra: store),
                            try await RunningService.start("supervision", folder: folder, extra: store)]
        let supervisionList = supervisions.map { "127.0.0.1:\($0.rpcPort)" }.joined(separator: ",")
        let relay = ["--upstream.supervision", supervisionList]
        // Two registries: the demo's imports and designation campaign go to both, round-robin.
        let registries = [try await RunningService.start("registry", folder: folder, extra: store + relay),
                          try await RunningService.start("registry", folder: folder, extra: store + relay)]
        var settlements = [try await RunningService.start("settlement", folder: folder, extra: store + relay),
                           try await RunningService.start("settlement", folder: folder, extra: store + relay)]
        let gatewayService = try await RunningService.start("gateway", folder: folder, extra: [
            "--upstream.registry", registries.map { "127.0.0.1:\($0.rpcPort)" }.joined(separator: ","),
            "--upstream.settlement", settlements.map { "127.0.0.1:\($0.rpcPort)" }.joined(separator: ","),
            "--upstream.supervision", supervisionList,
        ])
        let stack = StackClients(folder: folder, gatewayPort: gatewayService.rpcPort)
        try await stack.loadDemo()
        progress("demo loaded")

        let clinic = try stack.client("clinic-H33080200101")
        let acknowledged = AcknowledgedSet()
        let refused = AcknowledgedSet()
        let load = Task { try await settleLoad(GatewayClient(clinic), workers: 16, for: .seconds(8), prefix: "R", acknowledged: acknowledged, refused: refused) }
        // One settlement replica killed: the gateway moves on to the other.
        try await Task.sleep(for: .milliseconds(1500))
        settlements[0].child.signal(SIGKILL)
        _ = try await settlements[0].child.wait()
        progress("settlement replica killed")
        // PostgreSQL crashes and comes back: calls fail fast as UNAVAILABLE in between
        // (settleLoad checks the codes), and none is left waiting.
        try await Task.sleep(for: .milliseconds(1500))
        progress("crashing PostgreSQL")
        #expect(try await postgresScript("crash", pgDir) == 0)
        progress("PostgreSQL crashed")
        // Readiness follows the store: out of rotation while the database is down (alive all
        // the same), back once it returns.
        let (downStatus, downBody) = try await settlements[1].get("/readyz")
        #expect(downStatus == 503 && downBody.hasPrefix("store"), "\(downStatus) \(downBody)")
        #expect(try await settlements[1].get("/healthz").0 == 200)
        try await Task.sleep(for: .seconds(1))
        #expect(try await postgresScript("resume", pgDir) == 0)
        progress("PostgreSQL resumed")
        var ready = 0
        for _ in 0..<100 where ready != 200 {
            ready = try await settlements[1].get("/readyz").0
            if ready != 200 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(ready == 200)
        settlements[0] = try await RunningService.start("settlement", folder: folder, port: settlements[0].rpcPort, extra: store + relay)
        progress("settlement replica restarted")
        try await load.value
        progress("load over: \(acknowledged.count) acknowledged, \(refused.count) refused")
        #expect(acknowledged.count > 100, "acknowledged \(acknowledged.count); refused \(refused.count): \(refused.all.prefix(3))")

        // Nothing acknowledged is lost, the ledger balances, and the chain holds each posting
        // once: settlement's evidence and supervision's chain agree, and the chain verifies.
        let ops = try stack.client("operator")
        var ledger = LedgerCheckResponse()
        for _ in 0..<200 {
            if let answer = try? await SettlementClient(ops).checkLedger(LedgerCheckRequest()) { ledger = answer; break }
            try await Task.sleep(for: .milliseconds(50))
        }
        progress("ledger checked")
        #expect(ledger.balanced && ledger.problems.isEmpty, "\(ledger.problems)")
        #expect(ledger.settlements >= UInt32(acknowledged.count))
        for setlID in acknowledged.all {
            #expect(try await SettlementClient(ops).getSettlement(GetSettlementRequest(setlID: setlID)).status == .settled)
        }
        progress("acknowledged settlements found")
        var trail = VerifyAuditResponse()
        for _ in 0..<200 {
            trail = (try? await GatewayClient(ops).verifyAuditTrail(VerifyAuditTrailRequest())) ?? trail
            if trail.intact, trail.postingsCompared, trail.postings == UInt64(ledger.settlements) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(trail.intact && trail.postingsCompared && trail.postings == UInt64(ledger.settlements),
                "\(trail.reason): \(trail.postings) records for \(ledger.settlements) settlements")

        // No call is left in flight anywhere once the load is over.
        for service in [gatewayService] + registries + settlements + supervisions {
            let (_, metrics) = try await service.get("/metrics")
            let inFlight = metrics.split(separator: "\n").filter { $0.hasPrefix("medicare_rpc_in_flight") }
            #expect(inFlight.allSatisfy { $0.hasSuffix(" 0") || $0.hasSuffix(" 0.0") }, "\(service.name): \(inFlight)")
        }
        await clinic.close()
        await ops.close()
        for service in [gatewayService] + registries + settlements + supervisions { service.child.signal(SIGTERM) }
        for service in [gatewayService] + registries + settlements + supervisions { _ = try? await service.child.wait() }
    }
}

/// A timestamped line on standard error: where a long whole-stack test is, if it hangs.
func progress(_ text: String) {
    FileHandle.standardError.write(Data("[\(Date().formatted(.iso8601))] \(text)\n".utf8))
}

/// Runs scripts/postgres.sh with its output discarded, through the C library's `system`
/// (which waits for exactly its child): the server `resume` starts lives on after it, and
/// Foundation's Process did not report the script's exit while it did.
func postgresScript(_ command: String, _ dir: String) async throws -> Int32 {
    let line = "bash '\(Executables.repositoryRoot.path)/scripts/postgres.sh' \(command) '\(dir)' >/dev/null 2>&1 </dev/null"
    return await Task.detached { system(line) }.value
}

struct StartFailure: Error, CustomStringConvertible {
    let description: String
}
