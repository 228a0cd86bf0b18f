@testable import GatewayService
import MedicareContracts
import MedicareRPC
import MedicareWire
import NIOCore
import Testing

/// What a region-scoped caller (region "3308") may name, and what it may be answered.
@Suite struct RegionScopeTests {
    func refusal(_ method: MethodDescriptor, _ request: some WireMessage, region: String = "3308") -> RPCError? {
        do {
            try RegionScope.check(method, try request.encoded(), region: region)
            return nil
        } catch {
            return error as? RPCError
        }
    }

    @Test func requestsAreCheckedByTheCodesAndRegionsTheyName() {
        #expect(refusal(RegistryMethods.resolveSettlementRoute, ResolveSettlementRouteRequest(clinicCode: "H33080200101")) == nil)
        #expect(refusal(RegistryMethods.resolveSettlementRoute, ResolveSettlementRouteRequest(clinicCode: "H33010600101"))?.code == .permissionDenied)
        #expect(refusal(SettlementReportsMethods.getDayTotals, DayTotalsRequest(region: "330802", date: "2024-06-01")) == nil)
        #expect(refusal(SettlementReportsMethods.getDayTotals, DayTotalsRequest(region: "", date: "2024-06-01"))?.code == .permissionDenied)
        #expect(refusal(SettlementReportsMethods.getDayTotals, DayTotalsRequest(institution: "H11010100001", date: "2024-06-01"))?.code == .permissionDenied)
        #expect(refusal(SupervisionReportsMethods.getReviewStats, ReviewStatsRequest(region: "1101", date: "2024-06-01"))?.code == .permissionDenied)
        #expect(refusal(SupervisionMethods.review, ReviewRequest(claim: Claim(fixmedinsCode: "H33080200101"))) == nil)
        #expect(refusal(SupervisionMethods.review, ReviewRequest())?.code == .permissionDenied)
        // Integrity checks name no region; a certificate without a region reaches nothing else.
        #expect(refusal(SupervisionMethods.verifyAudit, VerifyAuditRequest()) == nil)
        #expect(refusal(RegistryMethods.getCoverage, CoverageRequest(region: "33"), region: "")?.message == "region '33' is outside region (none)")
    }

    @Test func aMethodWithoutARegionCheckIsRefused() {
        let error = refusal(SettlementMethods.importPersons, ImportPersonsRequest())
        #expect(error?.code == .permissionDenied && error?.message.contains("has no region check") == true)
    }

    @Test func aSettlementOutsideTheRegionIsNotFound() throws {
        let inside = try SettlementResult(setlID: "S1", fixmedinsCode: "H33080200101").encoded()
        try RegionScope.checkAnswer(SettlementMethods.getSettlement, inside, region: "3308")
        let outside = try SettlementResult(setlID: "S2", fixmedinsCode: "H11010100101").encoded()
        let error = #expect(throws: RPCError.self) { try RegionScope.checkAnswer(SettlementMethods.getSettlement, outside, region: "3308") }
        // Word for word what settlement answers for a setl_id that does not exist.
        #expect(error?.code == .notFound && error?.message == "setl_id: no settlement 'S2'")
    }
}
