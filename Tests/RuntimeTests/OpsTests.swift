import Foundation
import MedicareContracts
import MedicareRPC
import MedicareTestSupport
import MedicareWire
import Testing

/// The operations files in deploy/ against a live stack: Prometheus's checker accepts the
/// alert rules and the configuration, and every metric the dashboard's panels and the alerts
/// query is one the services expose (after a settle, a reversal and a designation change).
@Suite("Operations: dashboard and alerts", .serialized)
struct OpsTests {
    @Test func dashboardAndAlertsQueryMetricsTheServicesExpose() async throws {
        let root = Executables.repositoryRoot.path
        for (check, file) in [("rules", "deploy/prometheus/alerts.yml"), ("config", "deploy/prometheus/prometheus.yml")] {
            let result = try await runCommand("/usr/bin/env", ["promtool", "check", check, "\(root)/\(file)"])
            #expect(result.status == 0, "promtool check \(check): \(String(decoding: result.output, as: UTF8.self)) \(result.error)")
        }
        try await withDemoStack { stack in
            let clinic = try stack.client("clinic-H33080200101")
            var options = CallOptions()
            options.metadata[Metadata.idempotencyKey] = "ops-1"
            let settled = try await GatewayClient(clinic).settle(stackClaim("MD-OPS-1", person: 11), options: options)
            options.metadata[Metadata.idempotencyKey] = "ops-1-reversal"
            _ = try await GatewayClient(clinic).reverse(GatewayReverseRequest(setlID: settled.settlement?.setlID ?? "", reason: "ops test"), options: options)
            await clinic.close()
            let ops = try stack.client("operator")
            // A price far above the reference price: a review finding (R002).
            var dear = stackClaim("MD-OPS-2", person: 12, lines: [("001102000050000", 1, 9_999_999)]).claim!
            dear.fixmedinsCode = "H33080200101"
            _ = try await SupervisionClient(ops).review(ReviewRequest(claim: dear))
            _ = try await RegistryClient(ops).changeDesignation(ChangeDesignationRequest(fixmedinsCode: "H33080200101", action: .suspend, reason: "ops test"))
            await ops.close()
            // The relay and monitor record their timings moments later.
            try await Task.sleep(for: .seconds(2))

            var exposed: Set<String> = ["up"]
            for service in [stack.registry, stack.settlement, stack.supervision, stack.gateway] {
                let (_, text) = try await service.get("/metrics")
                for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                    let name = String(line.prefix { $0 != "{" && $0 != " " })
                    exposed.insert(name)
                }
            }
            let dashboard = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(root)/deploy/grafana/medicare-dashboard.json"))) as? [String: Any]
            let panels = dashboard?["panels"] as? [[String: Any]] ?? []
            #expect(panels.count >= 12)
            var queries = panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
            let alerts = try String(contentsOfFile: "\(root)/deploy/prometheus/alerts.yml", encoding: .utf8)
            queries += alerts.split(separator: "\n").filter { $0.contains("expr:") }.map { String($0) }
            let names = try Regex(#"\b(medicare_[a-z_]+|process_[a-z_]+|up)\b"#)
            for query in queries {
                for match in query.matches(of: names) {
                    let name = String(query[match.range])
                    #expect(exposed.contains(name), "\(name), queried by \(query.prefix(120)), is not exposed by any service")
                }
            }
        }
    }
}
