import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareStore
import MedicareTestSupport
import MedicareWire
@testable import SettlementService
import Testing
@testable import GatewayService

/// 9001 签到 through the gateway: a clinic signs in for itself, once a day (the same number
/// again), not for another institution; roles the method is not for are refused; each bad
/// field is named.
@Suite struct SignInTests {
    @Test(arguments: Engine.all)
    func aClinicsOperatorSignsInOnceADayThroughTheGateway(engine: Engine) async throws {
        try await withSettlementService(engine: engine) { settlement, db in
            let unused = InProcessChannel(router: RPCRouter(), peer: settlement.peer, logger: quietLogger)
            let gateway = GatewayDefinition.makeRouter(
                access: try AccessTable.load(path: ""), registry: unused, settlement: settlement, supervision: unused, maxCallsPerCaller: 100
            )
            func client(_ peer: PeerIdentity) -> SettlementClient { SettlementClient(InProcessChannel(router: gateway, peer: peer, logger: quietLogger)) }
            let clinic = client(PeerIdentity(commonName: "H33080200101", department: "nhc", role: "clinic", region: "330802"))
            let request = SignInRequest(fixmedinsCode: "H33080200101", opterNo: "D001", opterName: "赵医生", mac: "00-1A-2B-3C-4D-5E", ip: "10.0.0.8")

            let first = try await clinic.signIn(request)
            #expect(first.signNo.count == 24 && first.signNo.hasPrefix("G") && first.signDate.count == 10 && !first.signTime.isEmpty)
            let again = try await clinic.signIn(request)
            #expect(again == first)
            var other = request
            other.opterNo = "D002"
            #expect(try await clinic.signIn(other).signNo != first.signNo)
            let rows = try await db.read { tx in try await tx.query("SELECT sign_no FROM sign_ins", []) }
            #expect(rows.count == 2)

            var elsewhere = request
            elsewhere.fixmedinsCode = "H33080200102"
            let refused = await #expect(throws: RPCError.self) { _ = try await clinic.signIn(elsewhere) }
            #expect(refused?.code == .permissionDenied)
            let supervisor = client(PeerIdentity(commonName: "zj", department: "nhsa", role: "supervisor", region: "33"))
            #expect(await #expect(throws: RPCError.self) { _ = try await supervisor.signIn(request) }?.code == .permissionDenied)

            let bad: [(String, (inout SignInRequest) -> Void)] = [
                ("opter_no", { $0.opterNo = "" }), ("opter_name", { $0.opterName = String(repeating: "名", count: 51) }),
                ("mac", { $0.mac = "00\u{1}" }), ("ip", { $0.ip = String(repeating: "1", count: 46) }),
            ]
            for (field, change) in bad {
                var changed = request
                change(&changed)
                let error = await #expect(throws: RPCError.self, "\(field)") { _ = try await clinic.signIn(changed) }
                #expect(error?.code == .invalidArgument && error?.message.hasPrefix(field + ":") == true, "\(String(describing: error))")
            }
        }
    }
}

/// A visit's history keeps what each step did within a bounded text.
@Suite struct VisitHistoryDetailTests {
    @Test func aLongListOfNumbersIsKeptAsItsCountAndTheNumbersThatFitWhole() {
        #expect(SettlementStore.eventDetail("1,2,3") == "1,2,3")
        let numbers = (1...500).map { "FEEDETAIL-\($0)" }
        let kept = SettlementStore.eventDetail(numbers.joined(separator: ","))
        #expect(kept.count <= 500 && kept.hasPrefix("500: FEEDETAIL-1,FEEDETAIL-2,") && kept.hasSuffix("…"))
        // No number is cut in the middle.
        let listed = kept.dropFirst(5).dropLast().split(separator: ",")
        #expect(listed.allSatisfy { numbers.contains(String($0)) })
    }
}

/// What a visit step may take as signed in without reading `sign_ins` (``SignInMemory``).
@Suite struct SignInMemoryTests {
    static func actor(_ opterNo: String, _ day: String) -> VisitActor { VisitActor(opterNo: opterNo, day: day, at: day + "T08:00:00Z") }

    @Test func aSignInIsKnownForItsInstitutionOperatorAndDayOnly() {
        let memory = SignInMemory()
        #expect(!memory.contains("H33080200101", Self.actor("D001", "2026-12-01")))
        memory.remember("H33080200101", Self.actor("D001", "2026-12-01"))
        #expect(memory.contains("H33080200101", Self.actor("D001", "2026-12-01")))
        #expect(!memory.contains("H33080200102", Self.actor("D001", "2026-12-01")))
        #expect(!memory.contains("H33080200101", Self.actor("D002", "2026-12-01")))
        #expect(!memory.contains("H33080200101", Self.actor("D001", "2026-12-02")))
    }

    @Test func aNewDayStartsOverAndAnEarlierOneIsNotKept() {
        let memory = SignInMemory()
        memory.remember("H33080200101", Self.actor("D001", "2026-12-01"))
        memory.remember("H33080200101", Self.actor("D001", "2026-12-02"))
        #expect(!memory.contains("H33080200101", Self.actor("D001", "2026-12-01")))
        #expect(memory.contains("H33080200101", Self.actor("D001", "2026-12-02")))
        // A step still finishing on the day before does not bring that day back.
        memory.remember("H33080200102", Self.actor("D001", "2026-12-01"))
        #expect(!memory.contains("H33080200102", Self.actor("D001", "2026-12-01")))
        #expect(memory.contains("H33080200101", Self.actor("D001", "2026-12-02")))
    }

    @Test func itHoldsAtMostItsCapacity() {
        let memory = SignInMemory(capacity: 2)
        for n in 1...2 { memory.remember("H3308020010\(n)", Self.actor("D001", "2026-12-01")) }
        memory.remember("H33080200103", Self.actor("D001", "2026-12-01"))
        #expect(memory.contains("H33080200103", Self.actor("D001", "2026-12-01")))
        #expect(!memory.contains("H33080200101", Self.actor("D001", "2026-12-01")))
    }
}
