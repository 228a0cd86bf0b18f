import Foundation
import Logging
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareTestSupport
import MedicareTransport
import MedicareWire
import Testing

/// The four real executables over mutual TLS, in one folder, reached through the gateway.
final class Stack: @unchecked Sendable {
    let folder: String
    var registry: RunningService
    var settlement: RunningService
    var supervision: RunningService
    var gateway: RunningService

    /// `deadRegistryReplica`: also list a registry replica that is not running, first.
    /// `supervisionExtra`, `settlementExtra`: more arguments for supervision (a time zone) and
    /// settlement (a policy file).
    init(deadRegistryReplica: Int? = nil, supervisionExtra: [String] = [], settlementExtra: [String] = []) async throws {
        folder = NSTemporaryDirectory() + "stack-\(UUID().uuidString.prefix(8))"
        // Supervision applies cases' actions in the registry and settlement, whose relays deliver
        // to it. It starts first, listening on a port of the system's choosing, with the ports
        // the registry and settlement will listen on: it calls them only for a case's action.
        // (Started the other way round, the relays' connection attempts to a port nobody
        // listened on yet could, walking the ephemeral range, connect the port to itself —
        // TCP's simultaneous open — and supervision then could not bind it: seen in CI.)
        let registryPort = try Executables.unusedPort(), settlementPort = try Executables.unusedPort()
        supervision = try await RunningService.start("supervision", folder: folder, extra: [
            "--upstream.registry", "127.0.0.1:\(registryPort)", "--upstream.settlement", "127.0.0.1:\(settlementPort)",
        ] + supervisionExtra)
        registry = try await RunningService.start("registry", folder: folder, port: registryPort, extra: ["--upstream.supervision", "127.0.0.1:\(supervision.rpcPort)"])
        settlement = try await RunningService.start(
            "settlement", folder: folder, port: settlementPort, extra: ["--upstream.supervision", "127.0.0.1:\(supervision.rpcPort)"] + settlementExtra)
        let registries = (deadRegistryReplica.map { ["127.0.0.1:\($0)"] } ?? []) + ["127.0.0.1:\(registry.rpcPort)"]
        gateway = try await RunningService.start("gateway", folder: folder, extra: [
            "--upstream.registry", registries.joined(separator: ","), "--upstream.settlement", "127.0.0.1:\(settlement.rpcPort)",
            "--upstream.supervision", "127.0.0.1:\(supervision.rpcPort)",
        ])
    }

    var clients: StackClients { StackClients(folder: folder, gatewayPort: gateway.rpcPort) }

    func client(_ name: String) throws -> RPCClient { try clients.client(name) }

    /// See ``StackClients/loadDemo()``.
    func loadDemo() async throws { try await clients.loadDemo() }

    /// Restarts settlement on its port and data (after it was killed).
    func restartSettlement() async throws {
        settlement = try await RunningService.start(
            "settlement", folder: folder, port: settlement.rpcPort, extra: ["--upstream.supervision", "127.0.0.1:\(supervision.rpcPort)"]
        )
    }

    /// Restarts supervision on its port and data (after it was killed).
    func restartSupervision() async throws {
        supervision = try await RunningService.start("supervision", folder: folder, port: supervision.rpcPort, extra: [
            "--upstream.registry", "127.0.0.1:\(registry.rpcPort)", "--upstream.settlement", "127.0.0.1:\(settlement.rpcPort)",
        ])
    }

    /// Waits (up to 15 s: the relay backs off while supervision is away) until supervision's
    /// audit chain holds `records` postings (settlements and reversals; designation changes
    /// and review blocks are chained too).
    func auditChain(reaches records: UInt64, client: RPCClient) async throws -> VerifyAuditResponse {
        var answer = VerifyAuditResponse()
        for _ in 0..<600 {
            if let current = try? await SupervisionClient(client).verifyAudit(VerifyAuditRequest()) {
                answer = current
                if answer.postings >= records { break }
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        return answer
    }

    func stop() async {
        for service in [gateway, registry, settlement, supervision] { service.child.signal(SIGTERM) }
        for service in [gateway, registry, settlement, supervision] { _ = try? await service.child.wait() }
    }
}

/// A fresh stack (with the demo county unless `loadDemo` is false) for `body`, stopped and
/// awaited when `body` ends, however it ends, so that no test's processes outlive it.
func withDemoStack(loadDemo: Bool = true, _ body: (Stack) async throws -> Void) async throws {
    let stack = try await Stack()
    do {
        if loadDemo { try await stack.loadDemo() }
        try await body(stack)
    } catch {
        await stack.stop()
        throw error
    }
    await stack.stop()
}

func stackClaim(_ id: String, person: Int = 0, date: String = "2024-06-01", lines: [(String, Int64, Int64)] = [("001102000050000", 1, 1000), ("XJ01CAA040A001010100001", 20, 50)]) -> GatewaySettleRequest {
    GatewaySettleRequest(claim: Claim(
        mdtrtID: id, psnNo: "P\(person)", fixmedinsCode: "H33080200101", medType: .generalOutpatient, visitDate: date,
        lines: lines.map { FeeLine(itemCode: $0.0, quantity: $0.1, unitPrice: $0.2, days: 1) }
    ))
}

@Suite("Whole stack", .serialized)
struct StackTests {
    @Test func settleRetryReverseBlockAndRefuseThroughTheGateway() async throws {
        let stack = try await Stack()
        try await stack.loadDemo()
        let clinic = try stack.client("clinic-H33080200101")
        let gateway = GatewayClient(clinic)

        // Settled through the gateway: routed via the township centre, reviewed, and recorded
        // in the audit chain by settlement's relay.
        let first = try await gateway.settle(stackClaim("M1"), options: keyed("k-1"))
        // 10.00 + 20 x 0.50 = 20.00, all 甲; Quzhou general outpatient 60% = 12.00.
        #expect(first.settlement?.hifpPay == 1200 && first.settlement?.psnCashPay == 800)
        #expect(first.route?.settleVia == "H33080200001" && first.review?.verdict == .pass)
        // The same settle retried: the same setl_id, nothing new posted.
        let retried = try await gateway.settle(stackClaim("M1"), options: keyed("k-1"))
        #expect(retried.settlement?.setlID == first.settlement?.setlID)
        let ops = try stack.client("operator")
        let ledger = try await SettlementClient(ops).checkLedger(LedgerCheckRequest())
        #expect(ledger.settlements == 1 && ledger.balanced)
        let chain = try await stack.auditChain(reaches: 1, client: ops)
        #expect(chain.postings == 1 && chain.intact)

        // A reversal, once.
        let reversal = try await gateway.reverse(GatewayReverseRequest(setlID: first.settlement!.setlID, reason: "entered twice"), options: keyed("r-1"))
        #expect(reversal.original?.status == .reversed)
        let again = await #expect(throws: RPCError.self) {
            _ = try await gateway.reverse(GatewayReverseRequest(setlID: first.settlement!.setlID), options: keyed("r-2"))
        }
        #expect(again?.code == .failedPrecondition)
        #expect(try await stack.auditChain(reaches: 2, client: ops).postings == 2)

        // 3202 through the gateway, forwarded by its descriptor alone: the day's settlements of
        // the centre that settled them (reversed since), and of the clinic itself.
        let day = try #require(first.settlement?.setlDate)
        for institution in ["H33080200001", "H33080200101"] {
            let listed = try await SettlementClient(ops).listSettlements(ListSettlementsRequest(institution: institution, date: day))
            #expect(listed.settlements.map(\.setlID) == [first.settlement!.setlID] && listed.settlements.first?.status == .reversed && !listed.more)
        }
        // Not granted to clinics by the access table.
        let notGranted = await #expect(throws: RPCError.self) {
            _ = try await SettlementClient(clinic).listSettlements(ListSettlementsRequest(institution: "H33080200101", date: day))
        }
        #expect(notGranted?.code == .permissionDenied)

        // A blocked claim: 70 capsules exceed the item's limit of 60.
        let blocked = await #expect(throws: RPCError.self) {
            _ = try await gateway.settle(stackClaim("M2", lines: [("XJ01CAA040A001010100001", 70, 50)]), options: keyed("k-2"))
        }
        #expect(blocked?.code == .failedPrecondition && blocked?.message.hasPrefix("claim blocked by review: R004") == true, "\(String(describing: blocked))")
        #expect(try await SettlementClient(ops).checkLedger(LedgerCheckRequest()).settlements == 1)

        // Callers the access table refuses.
        let province = try stack.client("province-nhc-33")
        let provinceSettles = await #expect(throws: RPCError.self) { _ = try await GatewayClient(province).settle(stackClaim("M3"), options: keyed("k-3")) }
        #expect(provinceSettles?.code == .permissionDenied)
        let outside = await #expect(throws: RPCError.self) {
            _ = try await RegistryClient(province).upsertDivisions(UpsertDivisionsRequest(divisions: [Division(code: "110101001001", name: "外省")]))
        }
        #expect(outside?.code == .permissionDenied && outside?.message.contains("outside region 33") == true)
        #expect(try await RegistryClient(province).getCoverage(CoverageRequest(region: "3308")).villages == 1)
        let clinicImports = await #expect(throws: RPCError.self) { _ = try await RegistryClient(clinic).importInstitutions(ImportInstitutionsRequest()) }
        #expect(clinicImports?.code == .permissionDenied)
        let otherClinic = await #expect(throws: RPCError.self) {
            var request = stackClaim("M4")
            request.claim?.fixmedinsCode = "H33080200102"
            _ = try await gateway.settle(request, options: keyed("k-4"))
        }
        #expect(otherClinic?.code == .permissionDenied)
        // Backend services refuse outside callers that bypass the gateway.
        let direct = try RPCClient(configuration: RPCClientConfiguration(
            host: "127.0.0.1", port: stack.settlement.rpcPort, tls: .devCertificates(in: "\(stack.folder)/certs", name: "clinic-H33080200101")))
        let bypass = await #expect(throws: RPCError.self) { _ = try await SettlementClient(direct).checkLedger(LedgerCheckRequest()) }
        #expect(bypass?.code == .permissionDenied)
        // Operators too: the backends serve only the services that need them.
        let directOps = try RPCClient(configuration: RPCClientConfiguration(
            host: "127.0.0.1", port: stack.settlement.rpcPort, tls: .devCertificates(in: "\(stack.folder)/certs", name: "operator")))
        let opsBypass = await #expect(throws: RPCError.self) { _ = try await SettlementClient(directOps).checkLedger(LedgerCheckRequest()) }
        #expect(opsBypass?.code == .permissionDenied)
        await directOps.close()
        // The gateway authorizes every method, the diagnostic echo included, and never
        // forwards a money-moving one, whoever calls.
        let echo = await #expect(throws: RPCError.self) { _ = try await EchoClient(clinic).echo(EchoMessage(text: "probe")) }
        #expect(echo?.code == .permissionDenied)
        let rawSettle = await #expect(throws: RPCError.self) {
            _ = try await SettlementClient(ops).settle(SettleRequest(claim: stackClaim("M9").claim), options: keyed("k-9"))
        }
        #expect(rawSettle?.code == .permissionDenied && rawSettle?.message.contains("medicare.v1.Gateway/Settle") == true)

        // Composite reads with per-source status: money on the day it moved (today), review
        // blocks on the visit day.
        let profile = try await GatewayClient(ops).getInstitutionProfile(InstitutionProfileRequest(fixmedinsCode: "H33080200101", date: CivilDate.today().description))
        #expect(profile.institution?.designationStatus == .designated && profile.sources.allSatisfy { $0.code == .ok })
        #expect(profile.totals?.settlements == 1 && profile.totals?.reversed == 1 && profile.totals?.medfeeSumamt == 0)
        let visitDay = try await GatewayClient(ops).getInstitutionProfile(InstitutionProfileRequest(fixmedinsCode: "H33080200101", date: "2024-06-01"))
        #expect(visitDay.totals?.settlements == 0 && visitDay.reviews?.blocked == 1)

        // The gateway reuses resolved routes, but a suspension through it takes effect at once.
        _ = try await gateway.settle(stackClaim("M5", person: 1), options: keyed("k-5"))
        _ = try await RegistryClient(ops).changeDesignation(ChangeDesignationRequest(fixmedinsCode: "H33080200101", action: .suspend, reason: "inspection"))
        let suspended = await #expect(throws: RPCError.self) { _ = try await gateway.settle(stackClaim("M6", person: 2), options: keyed("k-6")) }
        #expect(suspended?.code == .failedPrecondition && suspended?.message.hasPrefix("cannot settle at H33080200101") == true, "\(String(describing: suspended))")
        _ = try await RegistryClient(ops).changeDesignation(ChangeDesignationRequest(fixmedinsCode: "H33080200101", action: .restore, reason: "rectified"))
        #expect(try await gateway.settle(stackClaim("M6", person: 2), options: keyed("k-6")).settlement?.status == .settled)

        // Every decision is in the chain: 4 postings (M1, its reversal, M5, M6), the review
        // block of M2, and 4 designation changes (2 by the demo, the suspension, the
        // restoration), the chain pinned by settlement's checkpoints and postings.
        var trail = VerifyAuditResponse()
        for _ in 0..<300 {
            trail = try await GatewayClient(ops).verifyAuditTrail(VerifyAuditTrailRequest())
            if trail.records >= 9 && trail.intact { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(trail.intact && trail.records == 9 && trail.postings == 4 && trail.postingsCompared, "\(trail)")

        for c in [clinic, ops, province, direct] { await c.close() }
        await stack.stop()
    }

    @Test func settlementKilledMidLoadFailsClosedAndLosesNothingAcknowledged() async throws {
        let stack = try await Stack()
        try await stack.loadDemo()
        let clinic = try stack.client("clinic-H33080200101")
        let gateway = GatewayClient(clinic)
        let acknowledged = AcknowledgedSet()
        let load = Task { try await settleLoad(gateway, workers: 16, for: .seconds(3), prefix: "W", acknowledged: acknowledged) }
        try await Task.sleep(for: .milliseconds(1200))
        stack.settlement.child.signal(SIGKILL)
        _ = try await stack.settlement.child.wait()
        try await load.value
        #expect(acknowledged.count > 0)

        // Restart on the same port and data: every acknowledged settlement is there and the ledger balances.
        try await stack.restartSettlement()
        let ops = try stack.client("operator")
        var ledger = LedgerCheckResponse()
        for _ in 0..<100 {
            if let answer = try? await SettlementClient(ops).checkLedger(LedgerCheckRequest()) { ledger = answer; break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(ledger.balanced && ledger.problems.isEmpty, "\(ledger.problems)")
        #expect(ledger.settlements >= UInt32(acknowledged.count))
        for setlID in acknowledged.all {
            #expect(try await SettlementClient(ops).getSettlement(GetSettlementRequest(setlID: setlID)).status == .settled)
        }
        // Each posting wrote its audit record with it; the relay delivers every one, those
        // left in the outbox by the kill included, exactly once.
        let chain = try await stack.auditChain(reaches: UInt64(ledger.settlements), client: ops)
        #expect(chain.intact && chain.postings == UInt64(ledger.settlements), "\(chain.postings) audit records for \(ledger.settlements) settlements")
        await clinic.close()
        await ops.close()
        await stack.stop()
    }
}

extension StackTests {
    /// One visit, 50 settles at once under 10 keys from the clinic and its township centre,
    /// settlement killed in the middle and restarted, every caller retrying until answered:
    /// one live settlement, every answer names it, the ledger balances, one audit record.
    @Test func oneVisitIsPaidOnceUnderConcurrentRetriesAndAKill() async throws {
        let stack = try await Stack()
        try await stack.loadDemo()
        let callers = [try stack.client("clinic-H33080200101"), try stack.client("township-H33080200001")]
        let answers = AcknowledgedSet(), replays = AcknowledgedSet()
        func attempt(_ i: Int) async throws {
            let gateway = GatewayClient(callers[i % 2])
            for _ in 0..<400 {
                do {
                    let r = try await gateway.settle(stackClaim("ONE-VISIT", person: 7), options: keyed("one-\(i % 10)"))
                    answers.add(r.settlement!.setlID)
                    if r.replay { replays.add(r.settlement!.setlID) }
                    return
                } catch let error as RPCError where error.code == .unavailable || error.code == .deadlineExceeded {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            Issue.record("settle \(i) was never answered")
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for wave in 0..<5 {
                for i in (wave * 10)..<(wave * 10 + 10) { group.addTask { try await attempt(i) } }
                if wave == 2 {
                    // Killed in the middle: the calls in flight and those after it retry.
                    stack.settlement.child.signal(SIGKILL)
                    _ = try await stack.settlement.child.wait()
                    try await Task.sleep(for: .milliseconds(300))
                    try await stack.restartSettlement()
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            try await group.waitForAll()
        }
        #expect(answers.count == 50)
        #expect(Set(answers.all).count == 1, "\(Set(answers.all))")
        #expect(replays.count >= 49)
        let ops = try stack.client("operator")
        let ledger = try await SettlementClient(ops).checkLedger(LedgerCheckRequest())
        #expect(ledger.balanced && ledger.settlements == 1, "\(ledger)")
        let chain = try await stack.auditChain(reaches: 1, client: ops)
        try await Task.sleep(for: .seconds(1))
        let settled = try await SupervisionClient(ops).verifyAudit(VerifyAuditRequest())
        #expect(chain.intact && settled.intact && settled.postings == 1, "\(settled)")
        // Against what settlement keeps: the signed checkpoint and exactly one record per posting.
        let trail = try await GatewayClient(ops).verifyAuditTrail(VerifyAuditTrailRequest())
        #expect(trail.intact && trail.postingsCompared && trail.checkpointsVerified >= 1, "\(trail)")

        // Supervision's database rewritten by someone without the signing key: the chain
        // truncated and its head re-pointed (it verifies on its own), but not against settlement.
        stack.supervision.child.signal(SIGTERM)
        _ = try await stack.supervision.child.wait()
        let rewrite = try ChildProcess("/usr/bin/env", ["python3", "-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            db.execute("DELETE FROM audit")
            db.execute("UPDATE audit_head SET seq = 0, hash = ? WHERE id = 1", ("0" * 64,))
            db.commit()
            print("rewritten")
            """, "\(stack.folder)/data/supervision.sqlite"])
        _ = try await rewrite.waitForLine(prefix: "rewritten")
        try await stack.restartSupervision()
        var caught = VerifyAuditResponse()
        for _ in 0..<100 {
            if let answer = try? await GatewayClient(ops).verifyAuditTrail(VerifyAuditTrailRequest()) { caught = answer; break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(!caught.intact && (caught.reason.contains("truncated") || caught.reason.contains("not one record per posting")), "\(caught)")
        for c in callers + [ops] { await c.close() }
        await stack.stop()
    }

    /// Review cannot answer, so settles fail closed; what was posted before the kill waits in
    /// settlement's outbox and reaches the chain once supervision is back.
    @Test func supervisionKilledMidLoadRefusesSettlesAndTheChainCatchesUp() async throws {
        let stack = try await Stack()
        try await stack.loadDemo()
        let clinic = try stack.client("clinic-H33080200101")
        let gateway = GatewayClient(clinic)
        let acknowledged = AcknowledgedSet()
        let refused = AcknowledgedSet()
        let load = Task { try await settleLoad(gateway, workers: 8, for: .seconds(2), prefix: "K", acknowledged: acknowledged, refused: refused) }
        try await Task.sleep(for: .milliseconds(800))
        stack.supervision.child.signal(SIGKILL)
        _ = try await stack.supervision.child.wait()
        try await load.value
        #expect(acknowledged.count > 0 && refused.count > 0)
        #expect(refused.all.contains { $0.hasPrefix("cannot settle now: supervision did not answer") }, "\(refused.all.prefix(3))")

        try await stack.restartSupervision()
        let ops = try stack.client("operator")
        let ledger = try await SettlementClient(ops).checkLedger(LedgerCheckRequest())
        #expect(ledger.balanced && ledger.settlements == UInt32(acknowledged.count), "\(ledger.settlements) posted, \(acknowledged.count) acknowledged")
        let chain = try await stack.auditChain(reaches: UInt64(ledger.settlements), client: ops)
        #expect(chain.intact && chain.postings == UInt64(ledger.settlements), "\(chain.postings) audit records for \(ledger.settlements) settlements")
        await clinic.close()
        await ops.close()
        await stack.stop()
    }

    @Test func aReplicaThatIsDownIsSkipped() async throws {
        // A port nothing listens on: its replica fails health checks and connects.
        let deadPort = try Executables.unusedPort()
        let stack = try await Stack(deadRegistryReplica: deadPort)
        try await stack.loadDemo()
        let ops = try stack.client("operator")
        for n in 0..<6 {
            // Reads and versioned imports may move on to the next replica.
            let institution = try await RegistryClient(ops).getInstitution(GetInstitutionRequest(fixmedinsCode: "H33080200101"))
            #expect(institution.designationStatus == .designated, "call \(n)")
        }
        let settled = try await GatewayClient(ops).settle(stackClaim("RP1"), options: keyed("rp-1"))
        #expect(settled.route?.canSettle == true)
        await ops.close()
        await stack.stop()
    }
}

/// Settles from `workers` callers until `duration` has passed, a distinct person and day for
/// every claim (so that review never sees a duplicate); acknowledged setl_ids and refusals
/// (which must be UNAVAILABLE or DEADLINE_EXCEEDED) are collected.
func settleLoad(
    _ gateway: GatewayClient, workers: Int, for duration: Duration, prefix: String, acknowledged: AcknowledgedSet, refused: AcknowledgedSet = AcknowledgedSet()
) async throws {
    let stopAt = ContinuousClock.now + duration
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<workers {
            group.addTask {
                var n = 0
                while ContinuousClock.now < stopAt {
                    n += 1
                    let k = acknowledged.nextClaim()
                    let date = String(format: "2024-%02d-%02d", 3 + (k / 200 / 28) % 10, 1 + (k / 200) % 28)
                    do {
                        let r = try await gateway.settle(stackClaim("\(prefix)\(worker)-\(n)", person: k % 200, date: date), options: keyed("\(prefix)\(worker)-\(n)"))
                        acknowledged.add(r.settlement!.setlID)
                    } catch let error as RPCError {
                        #expect(error.code == .unavailable || error.code == .deadlineExceeded, "\(error)")
                        refused.add(error.message)
                    }
                }
            }
        }
        try await group.waitForAll()
    }
}

final class AcknowledgedSet: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: [String] = []
    private var claims = 0
    func nextClaim() -> Int { lock.withLock { claims += 1; return claims } }
    func add(_ id: String) { lock.withLock { ids.append(id) } }
    var all: [String] { lock.withLock { ids } }
    var count: Int { all.count }
}

func keyed(_ key: String) -> CallOptions { CallOptions(metadata: [Metadata.idempotencyKey: key]) }

/// Callers of a running stack's gateway, by certificate name, and its demo data.
struct StackClients {
    let folder: String
    let gatewayPort: Int

    func client(_ name: String) throws -> RPCClient {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try RPCClient(
            configuration: RPCClientConfiguration(host: "127.0.0.1", port: gatewayPort, tls: .devCertificates(in: "\(folder)/certs", name: name)),
            logger: logger
        )
    }

    /// Divisions, a township centre and two clinics (both designated), insured persons.
    func loadDemo() async throws {
        let ops = try client("operator")
        let registry = RegistryClient(ops)
        _ = try await registry.upsertDivisions(UpsertDivisionsRequest(divisions: [
            Division(code: "330000000000", name: "浙江省"), Division(code: "330800000000", name: "衢州市"),
            Division(code: "330802000000", name: "柯城区"), Division(code: "330802101000", name: "航埠镇"), Division(code: "330802101201", name: "甲村"),
        ]))
        _ = try await registry.importInstitutions(ImportInstitutionsRequest(records: [
            InstitutionRecord(fixmedinsCode: "H33080200001", fixmedinsName: "航埠镇卫生院", kind: .townshipCentre, divisionCode: "330802101000", recordVersion: 1),
            InstitutionRecord(fixmedinsCode: "H33080200101", fixmedinsName: "甲村卫生室", kind: .villageClinic, divisionCode: "330802101201", parentCode: "H33080200001",
                              integrationMode: .integrated, recordVersion: 1),
        ]))
        for code in ["H33080200001", "H33080200101"] {
            _ = try await registry.changeDesignation(ChangeDesignationRequest(fixmedinsCode: code, action: .designate, reason: "agreement signed", effectiveDate: "2024-01-01"))
        }
        let persons = (0..<200).map { i -> InsuredPerson in
            let first17 = "330802" + String(format: "%04d%02d%02d%03d", 1950 + i % 50, 1 + i / 50, 1 + i % 28, 1)
            return InsuredPerson(psnNo: "P\(i)", certno: first17 + String(ResidentID.checkCharacter(first17)), name: "参保人\(i)", insutype: .residentBasic,
                                 insuAdmdvs: "330802", psnInsuStas: .enrolled, accountBalance: 0)
        }
        _ = try await SettlementClient(ops).importPersons(ImportPersonsRequest(persons: persons))
        _ = try await SettlementClient(ops).importPractitioners(ImportPractitionersRequest(practitioners: ["H33080200001", "H33080200101"].flatMap { code in
            [Practitioner(fixmedinsCode: code, drCode: "DR01", drName: "赵医生", pracType: .villageDoctor, active: true),
             Practitioner(fixmedinsCode: code, drCode: "DR02", drName: "钱医生", pracType: .assistantPhysician, active: true)]
        }))
        await ops.close()
    }
}
