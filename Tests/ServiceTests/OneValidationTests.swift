import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareStore
import MedicareTestSupport
import MedicareWire
import RegistryService
import SettlementService
import SupervisionService
import Testing
@testable import GatewayService

/// A claim is validated in one place (`Claim.validated()`): the same bad claim is refused
/// with the same status and message whichever way it arrives.
@Suite struct OneValidationTests {
    static let good = Claim(
        mdtrtID: "V1", psnNo: "P001", fixmedinsCode: "H33080200101", medType: .generalOutpatient, visitDate: "2024-06-01",
        diagnoses: ["J06.9"], lines: [FeeLine(itemCode: "001102000050000", quantity: 1, unitPrice: 1000)]
    )

    static let bad: [(field: String, change: @Sendable (inout Claim) -> Void)] = [
        ("claim.med_type", { $0.medType = .unspecified }),
        ("claim.med_type", { $0.medType = .emergency }),
        ("claim.certno", { $0.certno = "330802197001010010" }),
        ("claim.lines", { $0.lines = [] }),
        ("claim.lines[0].quantity", { $0.lines[0].quantity = 0 }),
        ("claim.lines[0].unit_price", { $0.lines[0].unitPrice = -1 }),
        ("claim.lines[0].item_code", { $0.lines[0].itemCode = "f 001" }),
        ("claim.diagnoses[0]", { $0.diagnoses = ["flu"] }),
        ("claim.psn_no", { $0.psnNo = "" }),
        ("claim.visit_date", { $0.visitDate = "2024-02-30" }),
    ]

    @Test func theSameBadClaimGetsTheSameAnswerEveryWay() async throws {
        try await withDatabase(.sqlite) { registryDB in
            try await withDatabase(.sqlite) { settlementDB in
                try await withDatabase(.sqlite) { supervisionDB in
                    try await Migrator.migrate(registryDB, service: "registry", migrations: RegistryDefinition.migrations, logger: quietLogger)
                    try await Migrator.migrate(settlementDB, service: "settlement", migrations: SettlementDefinition.migrations, logger: quietLogger)
                    try await Migrator.migrate(supervisionDB, service: "supervision", migrations: SupervisionDefinition.migrations, logger: quietLogger)
                    var registry = RPCRouter(), settlement = RPCRouter(), supervision = RPCRouter()
                    RegistryProvider(store: RegistryStore(database: registryDB)).register(with: &registry)
                    SettlementProvider(store: SettlementStore(database: settlementDB), policies: try PolicyBook.bundled()).register(with: &settlement)
                    try await SupervisionProvider.bundled(store: SupervisionStore(database: supervisionDB), catalogue: try PolicyBook.bundled().catalogue).register(with: &supervision)
                    let service = PeerIdentity(commonName: "gateway", department: "nhsa", role: "service")
                    let settlementChannel = InProcessChannel(router: settlement, peer: service, logger: quietLogger)
                    let gateway = GatewayDefinition.makeRouter(
                        access: try AccessTable.load(path: ""), registry: InProcessChannel(router: registry, peer: service, logger: quietLogger),
                        settlement: settlementChannel, supervision: InProcessChannel(router: supervision, peer: service, logger: quietLogger),
                        maxCallsPerCaller: 100
                    )
                    let operatorPeer = PeerIdentity(commonName: "ops", department: "nhsa", role: "operator", region: "33")
                    let outside = InProcessChannel(router: gateway, peer: operatorPeer, logger: quietLogger)
                    let keyed = CallOptions(metadata: [Metadata.idempotencyKey: "k1"])

                    for (field, change) in Self.bad {
                        var changed = Self.good
                        change(&changed)
                        let claim = changed
                        let ways: [(String, @Sendable () async throws -> Void)] = [
                            ("Gateway/Settle", { _ = try await GatewayClient(outside).settle(GatewaySettleRequest(claim: claim), options: keyed) }),
                            ("Gateway/Settle pre_settle", { _ = try await GatewayClient(outside).settle(GatewaySettleRequest(claim: claim, preSettle: true)) }),
                            ("Settlement/PreSettle", { _ = try await SettlementClient(outside).preSettle(SettleRequest(claim: claim)) }),
                            ("Settlement/Settle", { _ = try await SettlementClient(settlementChannel).settle(SettleRequest(claim: claim), options: keyed) }),
                            ("Supervision/Review", { _ = try await SupervisionClient(outside).review(ReviewRequest(claim: claim)) }),
                        ]
                        var answers: [String] = []
                        for (way, call) in ways {
                            let error = await #expect(throws: RPCError.self, "\(field) by \(way)") { try await call() }
                            #expect(error?.code == .invalidArgument && error?.message.hasPrefix(field + ":") == true, "\(way): \(String(describing: error))")
                            answers.append(error?.message ?? "")
                        }
                        #expect(Set(answers).count == 1, "\(field): \(answers)")
                    }
                }
            }
        }
    }
}
