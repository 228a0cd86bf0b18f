@testable import GatewayService
import MedicareContracts
import MedicareWire
import NIOCore
import Testing

/// The gateway's memory of visits' claims (``VisitClaims``): what it keeps, for how long,
/// and what forgets it. Settling with a claim it kept that is no longer the visit's is the
/// whole-stack test `aVisitChangedThroughAnotherGatewaySettlesWithTheDetailsItHolds`.
@Suite struct VisitClaimsTests {
    static func visit(_ id: String, lines: Int, status: VisitStatus = .registered) -> Visit {
        var visit = Visit(fixmedinsCode: "H33080200101", mdtrtID: id, psnNo: "P1", status: status)
        visit.claim = Claim(
            mdtrtID: id, psnNo: "P1", fixmedinsCode: "H33080200101", medType: .generalOutpatient, visitDate: "2024-06-01",
            lines: (0..<lines).map { _ in FeeLine(itemCode: "001102000050000", quantity: 1, unitPrice: 1000, days: 1) }
        )
        return visit
    }

    static func key(_ id: String) -> VisitClaims.Key { VisitClaims.Key(clinic: "H33080200101", mdtrtID: id) }

    @Test func aVisitsClaimIsTakenOnceWithinItsLife() {
        let memory = VisitClaims(ttl: .seconds(60))
        let start = ContinuousClock.now
        memory.remember(Self.visit("M1", lines: 2), now: start)
        #expect(memory.take(Self.key("M1"), now: start + .seconds(59))?.lines.count == 2)
        // Taken: a retry of the settle reads the visit.
        #expect(memory.take(Self.key("M1"), now: start + .seconds(59)) == nil)
        memory.remember(Self.visit("M2", lines: 1), now: start)
        #expect(memory.take(Self.key("M2"), now: start + .seconds(60)) == nil)
        #expect(memory.count == 0)
    }

    @Test func onlyARegisteredVisitWithDetailsIsKept() {
        let memory = VisitClaims(ttl: .seconds(60))
        memory.remember(Self.visit("M1", lines: 1))
        // Its details all undone, or the visit settled: forgotten.
        memory.remember(Self.visit("M1", lines: 0))
        #expect(memory.take(Self.key("M1")) == nil)
        memory.remember(Self.visit("M2", lines: 1))
        memory.remember(Self.visit("M2", lines: 1, status: .settled))
        #expect(memory.take(Self.key("M2")) == nil)
    }

    @Test func aZeroLifeKeepsNothing() {
        let memory = VisitClaims(ttl: .zero)
        memory.remember(Self.visit("M1", lines: 1))
        #expect(memory.take(Self.key("M1")) == nil && memory.count == 0)
    }

    @Test func itHoldsAtMostItsCapacity() {
        let memory = VisitClaims(ttl: .seconds(60), capacity: 3)
        let start = ContinuousClock.now
        memory.remember(Self.visit("M0", lines: 1), now: start - .seconds(61))
        for i in 1...2 { memory.remember(Self.visit("M\(i)", lines: 1), now: start) }
        // Full: the expired one goes first.
        memory.remember(Self.visit("M3", lines: 1), now: start)
        #expect(memory.count == 3 && memory.take(Self.key("M1"), now: start) != nil)
        memory.remember(Self.visit("M1", lines: 1), now: start)
        // Full of live ones: it starts over.
        memory.remember(Self.visit("M4", lines: 1), now: start)
        #expect(memory.count == 1 && memory.take(Self.key("M4"), now: start) != nil)
    }

    @Test func itHoldsAtMostItsFeeLines() {
        let memory = VisitClaims(ttl: .seconds(60), maxLines: 5)
        memory.remember(Self.visit("M1", lines: 2))
        memory.remember(Self.visit("M2", lines: 2))
        #expect(memory.lines == 4)
        // Kept again: its lines counted once.
        memory.remember(Self.visit("M2", lines: 3))
        #expect(memory.lines == 5 && memory.count == 2)
        // Full of live ones: it starts over.
        memory.remember(Self.visit("M3", lines: 2))
        #expect(memory.count == 1 && memory.lines == 2)
        // A claim larger than the whole memory is not kept.
        memory.remember(Self.visit("M4", lines: 6))
        #expect(memory.take(Self.key("M4")) == nil && memory.lines == 2)
        #expect(memory.take(Self.key("M3")) != nil && memory.lines == 0)
    }

    @Test func anUploadIsRememberedAndDiagnosesOrAnUndoForgetIt() throws {
        let memory = VisitClaims(ttl: .seconds(60))
        let upload = SettlementMethods.uploadFeeDetails.fullName
        func remembered(_ id: String) throws {
            let request = try UploadFeeDetailsRequest(fixmedinsCode: "H33080200101", mdtrtID: id).encoded()
            memory.apply(.remember, method: upload, request: request, answer: try Self.visit(id, lines: 1).encoded())
        }
        try remembered("M1")
        memory.apply(.forget, method: SettlementMethods.uploadDiagnoses.fullName,
                     request: try UploadDiagnosesRequest(fixmedinsCode: "H33080200101", mdtrtID: "M1", diagnoses: ["J06.9"]).encoded(), answer: nil)
        #expect(memory.take(Self.key("M1")) == nil)
        try remembered("M2")
        memory.apply(.forget, method: SettlementMethods.undoFeeDetails.fullName,
                     request: try UndoFeeDetailsRequest(fixmedinsCode: "H33080200101", mdtrtID: "M2").encoded(), answer: ByteBuffer())
        #expect(memory.take(Self.key("M2")) == nil)
        // An upload that failed may still have been applied: forgotten.
        try remembered("M3")
        memory.apply(.remember, method: upload, request: try UploadFeeDetailsRequest(fixmedinsCode: "H33080200101", mdtrtID: "M3").encoded(), answer: nil)
        #expect(memory.take(Self.key("M3")) == nil)
        // An answer that does not decode leaves the memory as it was.
        try remembered("M4")
        memory.apply(.remember, method: upload, request: ByteBuffer(), answer: ByteBuffer(bytes: [0xFF, 0xFF]))
        #expect(memory.take(Self.key("M4")) != nil)
    }

    /// The hooks are on the methods that change a visit's claim, 2201 excepted.
    @Test func theHooksAreOnTheMethodsThatChangeAClaim() {
        #expect(VisitClaims.hooks[SettlementMethods.uploadFeeDetails.fullName] == .remember)
        #expect(VisitClaims.hooks[SettlementMethods.uploadDiagnoses.fullName] == .forget)
        #expect(VisitClaims.hooks[SettlementMethods.undoFeeDetails.fullName] == .forget)
        #expect(VisitClaims.hooks.count == 3)
    }
}
