import Foundation
import MedicareContracts
import MedicareDomain
import MedicareWire
import MedicareCrypto
import MedicareRPC
import MedicareTestSupport
import Testing

/// The operator console in headless Chromium against a live stack: sign in, every page, the
/// actions, refusals by the access table; screenshots of the main pages go to docs/screenshots.
@Suite("Operator console in a browser", .serialized)
struct ConsoleTests {
    @Test func pagesAndActionsInHeadlessChromium() async throws {
        try await withDemoStack(loadDemo: false) { stack in
            // The synthetic county, designated through the workflow (villages, gaps, a ledger),
            // with its insured persons, and a settlement today at one of its designated clinics.
            let demo = try await runCommand(Executables.path("medicare"), [
                "demo", "--scale", "county", "--campaign", "--persons", "20", "--gateway", "127.0.0.1:\(stack.gateway.rpcPort)",
                "--certs", "\(stack.folder)/certs", "--json",
            ], timeout: .seconds(120))
            #expect(demo.status == 0, "\(demo.error)")
            let ops = try stack.client("operator")
            let registry = RegistryClient(ops)
            var clinic = ""
            for change in try await registry.listChanges(ListChangesRequest(after: 0, pageSize: 1000, region: "330802")).changes
            where change.designationStatus == .designated && clinic.isEmpty {
                let found = try await registry.getInstitution(GetInstitutionRequest(fixmedinsCode: change.fixmedinsCode))
                if found.record?.kind == .villageClinic && found.record?.integrationMode == .integrated { clinic = change.fixmedinsCode }
            }
            #expect(!clinic.isEmpty)
            var options = CallOptions()
            options.metadata[Metadata.idempotencyKey] = "console-demo-1"
            let claim = Claim(mdtrtID: "MD-CONSOLE-1", psnNo: "P3308020000001", fixmedinsCode: clinic, medType: .generalOutpatient, visitDate: CivilDate.today().description,
                              diagnoses: ["J06.9"], lines: [FeeLine(itemCode: "001102000050000", quantity: 1, unitPrice: 1000)])
            let settled = try? await GatewayClient(ops).settle(GatewaySettleRequest(claim: claim), options: options)
            #expect(settled != nil)
            await ops.close()

            let users = """
                {"users": [
                  {"name": "ops", "role": "operator", "department": "nhsa", "region": "33", "password": "\(PasswordHash.make("ops-pass-2024", iterations: 1_000))"},
                  {"name": "auditor", "role": "supervisor", "department": "nhsa", "region": "33", "password": "\(PasswordHash.make("audit-pass-2024", iterations: 1_000))"}
                ]}
                """
            try Data(users.utf8).write(to: URL(fileURLWithPath: "\(stack.folder)/console-users.json"))
            let console = try ChildProcess(Executables.path("console"), [
                "--console.port", "0", "--console.users", "console-users.json", "--upstream.gateway", "127.0.0.1:\(stack.gateway.rpcPort)",
                "--tls.certs", "certs",
            ], directory: stack.folder)
            let address = try await console.waitForLine(prefix: "console listening on ")
            let root = Executables.repositoryRoot.path
            let browser = try await runCommand("/usr/bin/env", [
                "python3", "\(root)/Tests/Console/browser.py", "--url", "http://\(address)", "--user", "ops", "--password", "ops-pass-2024",
                "--viewer", "auditor:audit-pass-2024", "--screenshots", "\(root)/docs/screenshots", "--clinic", clinic,
            ], timeout: .seconds(240))
            let output = String(decoding: browser.output, as: UTF8.self)
            console.signal(SIGTERM)
            _ = try await console.wait()
            #expect(browser.status == 0, "\(output)\n\(browser.error.suffix(2000))")
            #expect(output.contains("ok: a region-scoped user cannot see another province"), "\(output)")
        }
    }
}
