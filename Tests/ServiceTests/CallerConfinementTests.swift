@testable import GatewayService
import Foundation
import MedicareContracts
import MedicareRPC
import MedicareWire
import NIOCore
import Testing

/// What a region- or institution-scoped caller may name, and what it may be answered, as each
/// method's policy (from its proto) says.
@Suite struct CallerConfinementTests {
    static let supervisor = PeerIdentity(commonName: "zj-supervisor", department: "nhsa", role: "supervisor", region: "3308")
    static let clinic = PeerIdentity(commonName: "H33080200101", department: "nhc", role: "clinic", region: "330802")

    func refusal(
        _ method: MethodDescriptor, _ request: some WireMessage, peer: PeerIdentity = supervisor, scope: AccessScope = .region
    ) -> RPCError? {
        do {
            try CallerConfinement.checkRequest(method, try request.encoded(), peer: peer, scope: scope)
            return nil
        } catch {
            return error as? RPCError
        }
    }

    @Test func requestsAreCheckedByTheCodesAndRegionsTheyName() {
        #expect(refusal(RegistryMethods.resolveSettlementRoute, ResolveSettlementRouteRequest(fixmedinsCode: "H33080200101")) == nil)
        #expect(refusal(RegistryMethods.resolveSettlementRoute, ResolveSettlementRouteRequest(fixmedinsCode: "H33010600101"))?.code == .permissionDenied)
        #expect(refusal(SettlementReportsMethods.getDayTotals, DayTotalsRequest(region: "330802", date: "2024-06-01")) == nil)
        #expect(refusal(SettlementReportsMethods.getDayTotals, DayTotalsRequest(region: "", date: "2024-06-01"))?.code == .permissionDenied)
        #expect(refusal(SettlementReportsMethods.getDayTotals, DayTotalsRequest(institution: "H11010100001", date: "2024-06-01"))?.code == .permissionDenied)
        // Both named: both must be inside.
        #expect(refusal(SettlementReportsMethods.getDayTotals, DayTotalsRequest(institution: "H33080200101", region: "11", date: "2024-06-01"))?.code == .permissionDenied)
        #expect(refusal(SupervisionReportsMethods.getReviewStats, ReviewStatsRequest(region: "1101", date: "2024-06-01"))?.code == .permissionDenied)
        #expect(refusal(SettlementMethods.listSettlements, ListSettlementsRequest(institution: "H33080200001", date: "2024-06-01")) == nil)
        #expect(refusal(SettlementMethods.listSettlements, ListSettlementsRequest(institution: "H11010100001", date: "2024-06-01"))?.code == .permissionDenied)
        #expect(refusal(SupervisionMethods.review, ReviewRequest(claim: Claim(fixmedinsCode: "H33080200101"))) == nil)
        #expect(refusal(SupervisionMethods.review, ReviewRequest())?.code == .permissionDenied)
        // Nested and repeated: every record's own code, village and parent.
        let outsideParent = ImportInstitutionsRequest(records: [
            InstitutionRecord(fixmedinsCode: "H33080200101", divisionCode: "330802001001"),
            InstitutionRecord(fixmedinsCode: "H33080200102", divisionCode: "330802001002", parentCode: "H11010100001"),
        ])
        let error = refusal(RegistryMethods.importInstitutions, outsideParent)
        #expect(error?.code == .permissionDenied && error?.message == "records[1].parent_code 'H11010100001' is outside region 3308")
        // Integrity checks name no region; a certificate without a region reaches nothing else.
        #expect(refusal(SupervisionMethods.verifyAudit, VerifyAuditRequest()) == nil)
        let noRegion = PeerIdentity(commonName: "x", department: "nhsa", role: "supervisor", region: "")
        #expect(refusal(RegistryMethods.getCoverage, CoverageRequest(region: "33"), peer: noRegion)?.message == "region '33' is outside region (none)")
    }

    @Test func aMethodForScopeAllOnlyIsRefusedToScopedCallers() {
        let error = refusal(SettlementMethods.importPersons, ImportPersonsRequest())
        #expect(error?.code == .permissionDenied && error?.message.contains("only for callers with scope all") == true)
        #expect(refusal(RegistryMethods.changeDesignation, ChangeDesignationRequest(fixmedinsCode: "H33080200101"))?.code == .permissionDenied)
    }

    @Test func anInstitutionNamesOnlyItself() {
        #expect(refusal(RegistryMethods.getInstitution, GetInstitutionRequest(fixmedinsCode: "H33080200101"), peer: Self.clinic, scope: .institution) == nil)
        #expect(refusal(RegistryMethods.getInstitution, GetInstitutionRequest(fixmedinsCode: "H33080200102"), peer: Self.clinic, scope: .institution)?.code == .permissionDenied)
        // A region is not an institution's to ask about, even its own village.
        #expect(refusal(RegistryMethods.getCoverage, CoverageRequest(region: "330802"), peer: Self.clinic, scope: .institution)?.code == .permissionDenied)
        #expect(refusal(SettlementMethods.verifyIdentity, VerifyIdentityRequest(certno: "x"), peer: Self.clinic, scope: .institution) == nil)
    }

    @Test func aSettlementOutsideTheCallersPartIsNotFound() throws {
        let method = SettlementMethods.getSettlement
        let inside = try SettlementResult(setlID: "S1", fixmedinsCode: "H33080200101", settleVia: "H33080200001").encoded()
        try CallerConfinement.checkAnswer(method, inside, peer: Self.supervisor, scope: .region)
        try CallerConfinement.checkAnswer(method, inside, peer: Self.clinic, scope: .institution)
        let centre = PeerIdentity(commonName: "H33080200001", department: "nhc", role: "township-centre", region: "330802")
        try CallerConfinement.checkAnswer(method, inside, peer: centre, scope: .institution)
        let outside = try SettlementResult(setlID: "S2", fixmedinsCode: "H11010100101", settleVia: "H11010100001").encoded()
        for (peer, scope) in [(Self.supervisor, AccessScope.region), (Self.clinic, .institution)] {
            let error = #expect(throws: RPCError.self) { try CallerConfinement.checkAnswer(method, outside, peer: peer, scope: scope) }
            #expect(error?.code == .notFound && error?.message == "setl_id: no such settlement")
        }
    }

    /// Word for word what settlement answers for a setl_id that does not exist.
    @Test func theHiddenAnswerIsSettlementsOwnNotFound() {
        #expect(SettlementMethods.getSettlement.policy.notFound == "setl_id: no such settlement")
    }

    /// Every method outside callers may reach says how a scoped caller is confined in a way
    /// the gateway can apply: request-confined methods have request keys, answer-confined ones
    /// answer keys and a not-found message; methods served only through a composite name one
    /// that exists.
    @Test func everyMethodsPolicyIsComplete() {
        let composites = Set(GatewayMethods.all.map(\.fullName))
        let all = RegistryMethods.all + SettlementMethods.all + SettlementReportsMethods.all + SupervisionMethods.all
            + SupervisionReportsMethods.all + GatewayMethods.all + HealthMethods.all + EchoMethods.all
        for method in all {
            switch method.policy.callerScope {
            case .request: #expect(method.requestKeys != nil, "\(method)")
            case .answer: #expect(method.answerKeys != nil && !method.policy.notFound.isEmpty, "\(method)")
            case .all, .any, .handler: break
            }
            if let via = method.policy.servedVia { #expect(composites.contains(via), "\(method) is served via \(via)") }
            if method.policy.keyed { #expect(method.policy.idempotency == .unknown, "\(method)") }
        }
        // Money moves only through the composites.
        for method in [SettlementMethods.settle, SettlementMethods.reverse, SettlementMethods.replay, SupervisionMethods.record,
                       SupervisionMethods.recordBatch, SupervisionMethods.recordBlock] {
            #expect(method.policy.servedVia != nil, "\(method)")
        }
        #expect(!RegistryMethods.changeDesignation.policy.mayRetry(hasIdempotencyKey: true))
        #expect(!SettlementMethods.settle.policy.mayRetry(hasIdempotencyKey: false))
        #expect(SettlementMethods.settle.policy.mayRetry(hasIdempotencyKey: true))
        #expect(RegistryMethods.importInstitutions.policy.mayRetry(hasIdempotencyKey: false))
    }

    /// The access table's scopes are a closed set: a table naming another refuses to load
    /// (the gateway does not start), instead of reading it as some default.
    @Test func anAccessTableWithAnUnknownScopeDoesNotLoad() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("access-\(UUID().uuidString).json").path
        let table = #"{"format": 2, "rules": [{"role": "clinic", "methods": ["medicare.v1.Gateway/Settle"], "scope": "everything"}]}"#
        _ = FileManager.default.createFile(atPath: path, contents: Data(table.utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: DecodingError.self) { _ = try AccessTable.load(path: path) }
        let bundled = try AccessTable.load(path: "")
        #expect(bundled.rules.contains { $0.role == "clinic" && $0.scope == .institution })
    }

    /// Grants come from the methods' own policies: a clinic may settle but not review, a
    /// supervisor of department nhsa may review but one of another department may not; the
    /// table may add a method to a role and withdraw one; every role a proto names is a role
    /// the bundled table knows (a misspelt role in a proto would grant nobody).
    @Test func methodsGrantTheirRolesAndTheTableGivesScopesAddsAndWithdraws() throws {
        let bundled = try AccessTable.load(path: "")
        #expect(try bundled.authorize(Self.clinic, GatewayMethods.settle) == .institution)
        #expect(throws: RPCError.self) { _ = try bundled.authorize(Self.clinic, SupervisionMethods.review) }
        #expect(try bundled.authorize(Self.supervisor, SupervisionMethods.review) == .region)
        let elsewhere = PeerIdentity(commonName: "x", department: "nhc", role: "supervisor", region: "3308")
        #expect(throws: RPCError.self) { _ = try bundled.authorize(elsewhere, SupervisionMethods.review) }
        // Every authenticated caller reads published prices.
        #expect(try bundled.authorize(elsewhere, RegistryMethods.getPriceList) == .all)
        let site = AccessTable(rules: [
            AccessTable.Rule(role: "clinic", methods: ["medicare.v1.Supervision/ListAlerts"], except: ["medicare.v1.Gateway/Reverse"], scope: .institution),
        ])
        #expect(try site.authorize(Self.clinic, SupervisionMethods.listAlerts) == .institution)
        #expect(try site.authorize(Self.clinic, GatewayMethods.settle) == .institution)
        #expect(throws: RPCError.self) { _ = try site.authorize(Self.clinic, GatewayMethods.reverse) }
        // Withdrawn from a role, a public method stays withdrawn for it.
        let noPrices = AccessTable(rules: [
            AccessTable.Rule(role: "clinic", except: ["medicare.v1.Registry/GetPriceList"], scope: .institution),
            AccessTable.Rule(role: "*", scope: .all),
        ])
        #expect(throws: RPCError.self) { _ = try noPrices.authorize(Self.clinic, RegistryMethods.getPriceList) }
        #expect(try noPrices.authorize(elsewhere, RegistryMethods.getPriceList) == .all)
        // A table of the earlier format with a narrowed list for an outside role is refused,
        // not silently widened to what the protos grant.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("access-\(UUID().uuidString).json").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(#"{"rules": [{"role": "clinic", "methods": ["medicare.v1.Gateway/Settle"], "scope": "institution"}]}"#.utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: AccessTable.FormatError.self) { _ = try AccessTable.load(path: path) }
        let known = Set(bundled.rules.map(\.role))
        let every = GatewayMethods.all + RegistryMethods.all + SettlementMethods.all + SettlementReportsMethods.all
            + SupervisionMethods.all + SupervisionReportsMethods.all + HealthMethods.all + EchoMethods.all
        for method in every {
            #expect(method.policy.roles.isSubset(of: known), "\(method): \(method.policy.roles.subtracting(known))")
            // A method served only through a composite grants no outside role.
            if method.policy.servedVia != nil { #expect(method.policy.roles.isEmpty, "\(method)") }
        }
    }

    /// Who acts for an institution is one rule (``PeerIdentity/standing(toward:parent:division:)``),
    /// shared by applications, price lists and a centre's view of its clinics.
    @Test func standingTowardAnInstitution() {
        let clinic = "H33080200101", centre = "H33080200001", village = "330802101201"
        func peer(_ role: String, _ name: String, department: String = "nhc", region: String = "") -> PeerIdentity {
            PeerIdentity(commonName: name, department: department, role: role, region: region)
        }
        #expect(peer("clinic", clinic).standing(toward: clinic, parent: centre) == .itself)
        #expect(peer("clinic", "H33080200102").standing(toward: clinic, parent: centre) == .none)
        // A clinic named as another's parent is still no centre.
        #expect(peer("clinic", centre).standing(toward: clinic, parent: centre) == .none)
        #expect(peer("township-centre", centre).standing(toward: clinic, parent: centre) == .itsCentre)
        #expect(peer("township-centre", centre).standing(toward: clinic, parent: "") == .none)
        #expect(peer("township-centre", centre).standing(toward: centre) == .itself)
        #expect(peer("province-system", "zj", region: "33").standing(toward: clinic, division: village) == .healthCommission)
        #expect(peer("province-system", "bj", region: "11").standing(toward: clinic, division: village) == .none)
        #expect(peer("province-system", "zj", department: "nhsa", region: "33").standing(toward: clinic, division: village) == .none)
        #expect(peer("operator", "ops", department: "nhsa").standing(toward: clinic) == .bureau)
        #expect(peer("supervisor", "zj", department: "nhsa", region: "33").standing(toward: clinic, division: village) == .none)
    }
}
