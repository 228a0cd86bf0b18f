import Foundation
import MedicareContracts
import MedicareRPC
import MedicareTestSupport
import MedicareWire
import Testing

/// Designation as a workflow (notice §二(三); Quzhou §九), walked through the gateway with
/// the real callers' certificates: application, county review, service agreement, and the
/// agreement's scope consulted when the clinic settles.
@Suite("Designation workflow through the gateway", .serialized)
struct DesignationWorkflowTests {
    static func code(_ error: (any Error)?) -> RPCError.Code? { (error as? RPCError)?.code }

    @Test func aClinicAppliesIsApprovedSignsAndSettlesWithinItsAgreementsScope() async throws {
        let stack = try await Stack()
        defer { Task { await stack.stop() } }
        try await stack.loadDemo()
        let ops = try stack.client("operator")
        let registry = RegistryClient(ops)
        // The demo clinic becomes one that settles under its own agreement, and is terminated:
        // it re-enters only through a new application.
        _ = try await registry.importInstitutions(ImportInstitutionsRequest(records: [
            InstitutionRecord(fixmedinsCode: "H33080200101", fixmedinsName: "甲村卫生室", kind: .villageClinic, divisionCode: "330802101201",
                              parentCode: "H33080200001", integrationMode: .notReady, licensedDoctors: 1, hasComputer: true, hasNetwork: true, recordVersion: 2),
        ] + (3...7).map { n in
            InstitutionRecord(fixmedinsCode: "H3308020010\(n)", fixmedinsName: "村卫生室\(n)", kind: .villageClinic, divisionCode: "330802101201",
                              parentCode: "H33080200001", integrationMode: .integrated, licensedDoctors: 1, recordVersion: 1)
        }))
        _ = try await registry.changeDesignation(ChangeDesignationRequest(fixmedinsCode: "H33080200101", action: .terminate, reason: "agreement expired", effectiveDate: "2024-01-01"))

        let clinicClient = try stack.client("clinic-H33080200101")
        let clinic = RegistryClient(clinicClient), gateway = GatewayClient(clinicClient)
        let terminated = await #expect(throws: RPCError.self) { _ = try await gateway.settle(stackClaim("W0"), options: keyed("w-0")) }
        #expect(Self.code(terminated) == .failedPrecondition)

        // The clinic applies for itself; not for another clinic, and not twice.
        let filed = try await clinic.applyForDesignation(ApplyForDesignationRequest(fixmedinsCodes: ["H33080200101"], remarks: "重新申请定点"))
        let application = try #require(filed.applications.first)
        #expect(application.status == .underReview && application.applicant == .institution && application.filedBy.contains("H33080200101"))
        let other = await #expect(throws: RPCError.self) { _ = try await clinic.applyForDesignation(ApplyForDesignationRequest(fixmedinsCodes: ["H33080200103"])) }
        #expect(Self.code(other) == .permissionDenied)
        let twice = await #expect(throws: RPCError.self) { _ = try await clinic.applyForDesignation(ApplyForDesignationRequest(fixmedinsCodes: ["H33080200101"])) }
        #expect(Self.code(twice) == .alreadyExists && twice?.message.contains(application.applicationID) == true)
        // Only the bureau reviews and signs.
        let selfApproved = await #expect(throws: RPCError.self) {
            _ = try await clinic.reviewApplication(ReviewApplicationRequest(applicationID: application.applicationID, decision: .approve))
        }
        #expect(Self.code(selfApproved) == .permissionDenied)

        // The county bureau approves and signs an agreement for general outpatient care only.
        let unsignable = await #expect(throws: RPCError.self) {
            _ = try await registry.signAgreement(SignAgreementRequest(applicationID: application.applicationID, agreementNo: "QZ-KC-2024-001",
                                                                      startDate: "2024-01-01", endDate: "2026-12-31", scopes: [.generalOutpatient], signedDate: "2023-12-20"))
        }
        #expect(Self.code(unsignable) == .failedPrecondition)
        let approved = try await registry.reviewApplication(ReviewApplicationRequest(applicationID: application.applicationID, decision: .approve))
        #expect(approved.status == .approved && approved.reviews.map(\.decision) == [.approve] && approved.reviews[0].by.contains("ops-console"))
        let contracted = try await registry.signAgreement(SignAgreementRequest(
            applicationID: application.applicationID, agreementNo: "QZ-KC-2024-001", startDate: "2024-01-01", endDate: "2026-12-31",
            scopes: [.generalOutpatient], signedDate: "2023-12-20"
        ))
        #expect(contracted.status == .contracted && contracted.agreement?.scopes == [.generalOutpatient])
        let institution = try await registry.getInstitution(GetInstitutionRequest(fixmedinsCode: "H33080200101"))
        #expect(institution.designationStatus == .designated && institution.history.last?.reason.contains("QZ-KC-2024-001") == true)
        #expect(try await clinic.getApplication(GetApplicationRequest(applicationID: application.applicationID)).status == .contracted)

        // Within its scope the clinic settles under its own agreement; outside it, refused.
        let settled = try await gateway.settle(stackClaim("W1"), options: keyed("w-1"))
        #expect(settled.route?.settleVia == "H33080200101" && settled.route?.agreementNo == "QZ-KC-2024-001" && settled.settlement?.hifpPay ?? 0 > 0)
        var chronic = stackClaim("W2")
        chronic.claim?.medType = .chronicOutpatient
        chronic.claim?.diagnoses = ["I10"]
        let outside = await #expect(throws: RPCError.self) { _ = try await gateway.settle(chronic, options: keyed("w-2")) }
        #expect(Self.code(outside) == .failedPrecondition && outside?.message.contains("chronic_drugs") == true, "\(String(describing: outside))")

        // A township centre applies for three of its stations (Quzhou §九); the health
        // commission files the rest of the region's as a batch (集中申请).
        let centre = RegistryClient(try stack.client("township-H33080200001"))
        let stations = try await centre.applyForDesignation(ApplyForDesignationRequest(fixmedinsCodes: ["H33080200103", "H33080200104", "H33080200105"]))
        #expect(stations.applications.map(\.applicant) == [.centre, .centre, .centre])
        let commission = RegistryClient(try stack.client("province-nhc-33"))
        let batch = try await commission.applyForDesignation(ApplyForDesignationRequest(fixmedinsCodes: ["H33080200106", "H33080200107"], remarks: "集中申请"))
        #expect(batch.applications.count == 2 && batch.applications.allSatisfy { $0.applicant == .healthCommission && $0.status == .underReview })
        // A station's application is all or none: one already in progress refuses the batch.
        let overlapping = await #expect(throws: RPCError.self) {
            _ = try await commission.applyForDesignation(ApplyForDesignationRequest(fixmedinsCodes: ["H33080200103", "H33080200102"]))
        }
        #expect(Self.code(overlapping) == .alreadyExists || Self.code(overlapping) == .notFound)

        // A refusal needs its reason; the refused institution may apply anew.
        let reasonless = await #expect(throws: RPCError.self) {
            _ = try await registry.reviewApplication(ReviewApplicationRequest(applicationID: stations.applications[0].applicationID, decision: .refuse))
        }
        #expect(Self.code(reasonless) == .invalidArgument && reasonless?.message.hasPrefix("reason") == true)
        let refused = try await registry.reviewApplication(ReviewApplicationRequest(
            applicationID: stations.applications[0].applicationID, decision: .refuse, reason: "无执业医师"
        ))
        #expect(refused.status == .refused)
        _ = try await centre.applyForDesignation(ApplyForDesignationRequest(fixmedinsCodes: ["H33080200103"]))
        await ops.close()
    }
}
