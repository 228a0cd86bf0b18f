import Foundation
import MedicareContracts
import MedicareDomain
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
        try await withDemoStack { stack in
            let ops = try stack.client("operator")
            let registry = RegistryClient(ops)
            // The demo clinic becomes one that settles under its own agreement, and is terminated:
            // it re-enters only through a new application.
            _ = try await registry.importInstitutions(ImportInstitutionsRequest(records: [
                InstitutionRecord(fixmedinsCode: "H33080200101", fixmedinsName: "甲村卫生室", kind: .villageClinic, divisionCode: "330802101201",
                                  parentCode: "H33080200001", integrationMode: .notReady, licensedDoctors: 1, hasComputer: true, hasNetwork: true, recordVersion: 2,
                                  effectiveDate: "2024-01-01"),
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
            // The centre reads the applications it filed for its stations; another clinic does not.
            let stationApplication = stations.applications[0].applicationID
            #expect(try await centre.getApplication(GetApplicationRequest(applicationID: stationApplication)).filerCode == "H33080200001")
            let notItsOwn = await #expect(throws: RPCError.self) { _ = try await clinic.getApplication(GetApplicationRequest(applicationID: stationApplication)) }
            #expect(Self.code(notItsOwn) == .notFound)
            let commission = RegistryClient(try stack.client("province-nhc-33"))
            let batch = try await commission.applyForDesignation(ApplyForDesignationRequest(fixmedinsCodes: ["H33080200106", "H33080200107"], remarks: "集中申请"))
            #expect(batch.applications.count == 2 && batch.applications.allSatisfy { $0.applicant == .healthCommission && $0.status == .underReview })
            // A station's application is all or none: one already in progress refuses the batch.
            let overlapping = await #expect(throws: RPCError.self) {
                _ = try await commission.applyForDesignation(ApplyForDesignationRequest(fixmedinsCodes: ["H33080200103", "H33080200102"]))
            }
            // The first code in the batch already has an application in progress.
            #expect(Self.code(overlapping) == .alreadyExists, "\(String(describing: overlapping))")

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
}

@Suite("Work ledger and change feed through the gateway", .serialized)
struct WorkLedgerStackTests {
    @Test func suspensionsAndGapsAreInTheLedgerWithTheirReasonsAndTheFeedHasExactlyWhatChanged() async throws {
        try await withDemoStack { stack in
            let ops = try stack.client("operator")
            let registry = RegistryClient(ops)
            let province = RegistryClient(try stack.client("province-nhc-33"))
            // The provincial system mirrors the registry: everything so far, then only changes.
            var feed = try await province.listChanges(ListChangesRequest(region: "33"))
            #expect(Set(feed.changes.map(\.fixmedinsCode)) == ["H33080200001", "H33080200101"] && !feed.more)
            let cursor = feed.cursor
            let outside = await #expect(throws: RPCError.self) { _ = try await province.listChanges(ListChangesRequest(region: "34")) }
            #expect(DesignationWorkflowTests.code(outside) == .permissionDenied)

            _ = try await registry.upsertDivisions(UpsertDivisionsRequest(divisions: [Division(code: "330802101202", name: "乙村")]))
            _ = try await registry.importInstitutions(ImportInstitutionsRequest(records: [
                InstitutionRecord(fixmedinsCode: "H33080200102", fixmedinsName: "乙村卫生室", kind: .villageClinic, divisionCode: "330802101202",
                                  parentCode: "H33080200001", integrationMode: .notReady, licensedDoctors: 0, hasComputer: true, hasNetwork: true, recordVersion: 1),
                InstitutionRecord(fixmedinsCode: "H33080200103", fixmedinsName: "丙村卫生室", kind: .villageClinic, divisionCode: "330802101202",
                                  parentCode: "H33080200001", integrationMode: .notReady, licensedDoctors: 1, hasComputer: false, hasNetwork: true, recordVersion: 1),
            ]))
            // A suspension takes effect on the next settle, and puts the clinic in the ledger.
            let clinic = GatewayClient(try stack.client("clinic-H33080200101"))
            _ = try await clinic.settle(stackClaim("L1"), options: keyed("l-1"))
            _ = try await registry.changeDesignation(ChangeDesignationRequest(fixmedinsCode: "H33080200101", action: .suspend, reason: "违规查处 2024-17"))
            let suspended = await #expect(throws: RPCError.self) { _ = try await clinic.settle(stackClaim("L2", date: "2024-06-02"), options: keyed("l-2")) }
            #expect(DesignationWorkflowTests.code(suspended) == .failedPrecondition && suspended?.message.contains("suspended") == true)

            let ledger = try await registry.getWorkLedger(WorkLedgerRequest(region: "330802"))
            let reasons = Dictionary(uniqueKeysWithValues: ledger.rows.map { ($0.fixmedinsCode, $0.reason) })
            #expect(reasons == ["H33080200101": .suspended, "H33080200102": .noLicensedDoctor, "H33080200103": .noComputerOrNetwork], "\(reasons)")
            #expect(ledger.clinics == 3 && ledger.counts.map(\.clinics).reduce(0, +) == 3)
            #expect(ledger.byDivision.map(\.divisionCode) == ["330802101000"] && ledger.byDivision[0].clinics == 3)
            // The county enters a plan and a note; a filter by reason finds the row.
            let entered = try await registry.updateLedgerEntry(UpdateLedgerEntryRequest(
                fixmedinsCode: "H33080200102", plan: "招聘乡村医生", responsibleUnit: "柯城区卫健局", targetDate: "2024-10-31", note: "已联系候选人"
            ))
            #expect(entered.plan == "招聘乡村医生" && entered.notes.map(\.text) == ["已联系候选人"] && entered.notes[0].by.contains("ops-console"))
            let filtered = try await registry.getWorkLedger(WorkLedgerRequest(region: "330802", reason: .noLicensedDoctor))
            #expect(filtered.rows.map(\.fixmedinsCode) == ["H33080200102"] && filtered.rows[0].targetDate == "2024-10-31")
            let badDate = await #expect(throws: RPCError.self) {
                _ = try await registry.updateLedgerEntry(UpdateLedgerEntryRequest(fixmedinsCode: "H33080200102", targetDate: "2024-13-01"))
            }
            #expect(DesignationWorkflowTests.code(badDate) == .invalidArgument && badDate?.message.hasPrefix("target_date") == true)

            // The feed since the cursor: exactly the two imported clinics and the suspended one.
            feed = try await province.listChanges(ListChangesRequest(after: cursor, region: "33"))
            #expect(feed.changes.map(\.fixmedinsCode).sorted() == ["H33080200101", "H33080200102", "H33080200103"], "\(feed.changes)")
            #expect(feed.changes.first { $0.fixmedinsCode == "H33080200101" }?.designationStatus == .suspended)
            #expect(try await province.listChanges(ListChangesRequest(after: feed.cursor, region: "33")).changes.isEmpty)
            await ops.close()
        }
    }
}

@Suite("The campaign from the command line", .serialized)
struct CampaignCLITests {
    /// Runs `medicare ARGS --gateway ... --certs ... --json` and parses its JSON answer.
    static func medicare(_ stack: Stack, _ arguments: [String], as identity: String = "operator") async throws -> [String: Any] {
        let result = try await runCommand(
            Executables.path("medicare"),
            arguments + ["--gateway", "127.0.0.1:\(stack.gateway.rpcPort)", "--certs", "\(stack.folder)/certs", "--as", identity, "--json"]
        )
        #expect(result.status == 0, "medicare \(arguments): \(result.error)")
        return try JSONSerialization.jsonObject(with: result.output) as? [String: Any] ?? [:]
    }

    /// A county designated through the workflow in batches (apply, approve, sign together):
    /// the designated clinics cover their villages, the rest are in the ledger as not applied.
    @Test func aCountyDesignatedThroughTheWorkflowInBatches() async throws {
        try await withDemoStack(loadDemo: false) { stack in
            let demo = try await Self.medicare(stack, ["demo", "--scale", "county", "--persons", "0", "--campaign"])
            let designated = try #require(demo["designated"] as? Int)
            #expect(designated > 100, "\(demo)")
            let ledger = try await Self.medicare(stack, ["ledger", "330802", "--limit", "1000"])
            let reasons = Set(((ledger["rows"] as? [[String: Any]]) ?? []).compactMap { $0["reason"] as? String })
            // Nothing is left mid-workflow; what remains is what the synthetic county did not apply
            // for (and, past the integration deadline, integrating clinics whose relationship ended).
            #expect(!reasons.isEmpty && reasons.isSubset(of: ["not_applied", "no_licensed_doctor", "no_computer_or_network", "relationship_ended"]),
                    "\(ledger["counts"] ?? "")")
            let coverage = try await Self.medicare(stack, ["coverage", "330802", "--as-of", "2024-06-01"])
            #expect((coverage["covered"] as? Int ?? 0) > 0)
            // The batch signing put every designation in the audit chain.
            let ops = try stack.client("operator")
            var chain = VerifyAuditResponse()
            for _ in 0..<600 where chain.records < UInt64(designated) {
                chain = (try? await SupervisionClient(ops).verifyAudit(VerifyAuditRequest())) ?? chain
                if chain.records < UInt64(designated) { try await Task.sleep(for: .milliseconds(25)) }
            }
            #expect(chain.intact && chain.records >= UInt64(designated), "\(chain.records) records for \(designated) designations")
            await ops.close()
        }
    }

    @Test func applyReviewSignAndReadTheLedgerAndFeed() async throws {
        try await withDemoStack { stack in
            let ops = try stack.client("operator")
            _ = try await RegistryClient(ops).importInstitutions(ImportInstitutionsRequest(records: [
                InstitutionRecord(fixmedinsCode: "H33080200102", fixmedinsName: "乙村卫生室", kind: .villageClinic, divisionCode: "330802101201",
                                  parentCode: "H33080200001", integrationMode: .integrated, licensedDoctors: 1, hasComputer: true, hasNetwork: true, recordVersion: 1),
            ]))
            await ops.close()
            let ledger = try await Self.medicare(stack, ["ledger", "330802"])
            #expect((ledger["rows"] as? [[String: Any]])?.map { $0["reason"] as? String } == ["not_applied"], "\(ledger)")

            let filed = try await Self.medicare(stack, ["apply", "H33080200102", "--remarks", "集中申请"], as: "province-nhc-33")
            let id = try #require((filed["applications"] as? [[String: Any]])?.first?["application_id"] as? String)
            #expect((filed["applications"] as? [[String: Any]])?.first?["applicant"] as? String == "health_commission")
            let approved = try await Self.medicare(stack, ["review", id, "approve"])
            #expect(approved["status"] as? String == "approved")
            let signed = try await Self.medicare(stack, ["agreement", id, "--number", "QZ-2024-102", "--start", "2024-01-01", "--end", "2026-12-31",
                                                         "--scopes", "general_outpatient,chronic_drugs", "--signed", "2023-12-01"])
            #expect(signed["status"] as? String == "contracted" && (signed["agreement"] as? [String: Any])?["scopes"] as? [String] == ["general_outpatient", "chronic_drugs"])
            let after = try await Self.medicare(stack, ["ledger", "330802"])
            #expect(after["clinics"] as? Int == 0)
            let feed = try await Self.medicare(stack, ["changes", "--region", "330802"])
            let changed = (feed["changes"] as? [[String: Any]])?.first { $0["fixmedins_code"] as? String == "H33080200102" }
            #expect(changed?["designation_status"] as? String == "designated")

            let national = try await Self.medicare(stack, ["report", "national", "--as-of", "2025-01-15"])
            let zhejiang = (national["provinces"] as? [[String: Any]])?.first
            #expect(zhejiang?["province"] as? String == "33" && zhejiang?["share_bp"] as? Int == 10_000 && zhejiang?["rank"] as? Int == 1, "\(national)")
            let filed2 = try await Self.medicare(stack, ["report", "file", "33", "2024Q4", "--text", "年度进展"], as: "province-nhc-33")
            #expect(filed2["period"] as? String == "2024Q4" && filed2["ledger_clinics"] as? Int == 0)
            let published = try await Self.medicare(stack, ["prices", "H33080200101", "--set", "XJ01CAA040A001010100001=45", "--set", "001102000050000=1000"], as: "clinic-H33080200101")
            #expect((published["items"] as? [[String: Any]])?.map { $0["unit_price"] as? Int } == [1000, 45], "\(published)")
            let read = try await Self.medicare(stack, ["prices", "H33080200101"], as: "supervisor-33")
            #expect((read["items"] as? [[String: Any]])?.count == 2)
            let relationships = try await Self.medicare(stack, ["relationships", "330802", "--as-of", "2025-07-01"])
            #expect((relationships["due"] as? [Any])?.isEmpty == true && relationships["integration_deadline"] as? String == "2025-12-31")

            // A bad value is refused before anything is sent, naming the option.
            let bad = try await runCommand(Executables.path("medicare"), ["review", id, "approved", "--certs", "\(stack.folder)/certs"])
            #expect(bad.status != 0 && bad.error.contains("decision must be one of approve, return, refuse"), "\(bad.error)")
        }
    }
}

@Suite("Integration relationships and coverage as of a day", .serialized)
struct RelationshipStackTests {
    /// The day the officials look from (the campaign is in the past of today's date).
    static let asOf = "2025-07-01"

    @Test func aRelationshipEndingYesterdayDropsTheClinicFromTodaysCoverageAndListsIt() async throws {
        try await withDemoStack { stack in
            let ops = try stack.client("operator")
            let registry = RegistryClient(ops)
            _ = try await registry.upsertDivisions(UpsertDivisionsRequest(divisions: [
                Division(code: "330802101202", name: "乙村"), Division(code: "330802101203", name: "丙村"),
            ]))
            // Two integrating clinics: one whose relationship ended the day before `asOf`, one due
            // 30 days after; one whose end is past the notice's integration deadline is refused.
            let imported = try await registry.importInstitutions(ImportInstitutionsRequest(records: [
                InstitutionRecord(fixmedinsCode: "H33080200102", fixmedinsName: "乙村卫生室", kind: .villageClinic, divisionCode: "330802101202",
                                  parentCode: "H33080200001", integrationMode: .integrating, relationshipEnd: "2025-06-30", licensedDoctors: 1, recordVersion: 1),
                InstitutionRecord(fixmedinsCode: "H33080200103", fixmedinsName: "丙村卫生室", kind: .villageClinic, divisionCode: "330802101203",
                                  parentCode: "H33080200001", integrationMode: .integrating, relationshipEnd: "2025-07-31", licensedDoctors: 1, recordVersion: 1),
                InstitutionRecord(fixmedinsCode: "H33080200104", fixmedinsName: "丁村卫生室", kind: .villageClinic, divisionCode: "330802101203",
                                  parentCode: "H33080200001", integrationMode: .integrating, relationshipEnd: "2026-06-30", licensedDoctors: 1, recordVersion: 1),
            ]))
            #expect(imported.results.map(\.outcome) == [.created, .created, .rejected])
            #expect(imported.results[2].reason.hasPrefix("relationship_end: 2026-06-30 is after the integration deadline 2025-12-31"), "\(imported.results[2].reason)")
            for code in ["H33080200102", "H33080200103"] {
                _ = try await registry.changeDesignation(ChangeDesignationRequest(fixmedinsCode: code, action: .designate, reason: "纳入管理", effectiveDate: "2024-01-01"))
            }

            let relationships = try await registry.listRelationships(RelationshipsRequest(region: "330802", asOf: Self.asOf))
            #expect(relationships.ended.map(\.fixmedinsCode) == ["H33080200102"] && relationships.ended[0].daysLeft == -1)
            #expect(relationships.due.map(\.fixmedinsCode) == ["H33080200103"] && relationships.due[0].daysLeft == 30)
            #expect(relationships.integrationDeadline == "2025-12-31" && relationships.noticeDays == 90)

            // On that day the ended clinic's village is a gap; two days before, it was covered.
            let then = try await registry.getCoverage(CoverageRequest(region: "330802", asOf: Self.asOf))
            #expect(then.villages == 3 && then.covered == 2 && then.gaps.map(\.code) == ["330802101202"], "\(then)")
            #expect(then.children.map(\.divisionCode) == ["330802101000"] && then.children[0].covered == 2 && then.targetDate == "2024-12-31")
            // 2024-12-31 is 182 days before 2025-07-01.
            #expect(then.daysToTarget == -182, "\(then.daysToTarget)")
            // The gap village lists its clinic with the ledger's reason.
            #expect(then.gapVillages.map(\.code) == ["330802101202"] && then.gapVillages[0].clinics.map(\.reason) == [.relationshipEnded])
            let before = try await registry.getCoverage(CoverageRequest(region: "330802", asOf: "2025-06-29"))
            #expect(before.covered == 3 && before.gaps.isEmpty && before.asOf == "2025-06-29")
            // Before any designation took effect, nothing was covered.
            #expect(try await registry.getCoverage(CoverageRequest(region: "3308", asOf: "2023-12-31")).covered == 0)
            // Today both relationships have ended (the deadline has passed): both are in the ledger.
            let ledger = try await registry.getWorkLedger(WorkLedgerRequest(region: "330802"))
            #expect(ledger.rows.map(\.reason) == [.relationshipEnded, .relationshipEnded])
            await ops.close()
        }
    }

    @Test func anIntegratingClinicsClaimsAreSubmittedByItsCentreNotByTheClinic() async throws {
        try await withDemoStack { stack in
            let ops = try stack.client("operator")
            _ = try await RegistryClient(ops).importInstitutions(ImportInstitutionsRequest(records: [
                InstitutionRecord(fixmedinsCode: "H33080200101", fixmedinsName: "甲村卫生室", kind: .villageClinic, divisionCode: "330802101201",
                                  parentCode: "H33080200001", integrationMode: .integrating, relationshipEnd: "2025-12-31", recordVersion: 2, effectiveDate: "2024-01-01"),
            ]))
            await ops.close()
            var claim = stackClaim("I1", date: "2024-06-01")
            let byClinic = await #expect(throws: RPCError.self) {
                _ = try await GatewayClient(try stack.client("clinic-H33080200101")).settle(claim, options: keyed("i-1"))
            }
            #expect(byClinic?.code == .permissionDenied && byClinic?.message.contains("submitted by the centre") == true, "\(String(describing: byClinic))")
            claim.claim?.mdtrtID = "I2"
            let byCentre = try await GatewayClient(try stack.client("township-H33080200001")).settle(claim, options: keyed("i-2"))
            #expect(byCentre.route?.mode == .integrating && byCentre.route?.settleVia == "H33080200001")
        }
    }
}

@Suite("Liaisons, progress reports and the national view", .serialized)
struct NationalViewStackTests {
    @Test func provincesReportAndTheNationalViewRanksThemAndListsWhatIsOverdue() async throws {
        try await withDemoStack { stack in
            let ops = try stack.client("operator")
            let registry = RegistryClient(ops)
            // A second province with two villages, one covered.
            _ = try await registry.upsertDivisions(UpsertDivisionsRequest(divisions: [
                Division(code: "340000000000", name: "安徽省"), Division(code: "341100000000", name: "滁州市"), Division(code: "341102000000", name: "琅琊区"),
                Division(code: "341102001000", name: "某镇"), Division(code: "341102001201", name: "一村"), Division(code: "341102001202", name: "二村"),
            ]))
            _ = try await registry.importInstitutions(ImportInstitutionsRequest(records: [
                InstitutionRecord(fixmedinsCode: "H34110200001", fixmedinsName: "某镇卫生院", kind: .townshipCentre, divisionCode: "341102001000", recordVersion: 1),
                InstitutionRecord(fixmedinsCode: "H34110200101", fixmedinsName: "一村卫生室", kind: .villageClinic, divisionCode: "341102001201",
                                  parentCode: "H34110200001", integrationMode: .notReady, licensedDoctors: 1, recordVersion: 1),
                InstitutionRecord(fixmedinsCode: "H34110200102", fixmedinsName: "二村卫生室", kind: .villageClinic, divisionCode: "341102001202",
                                  parentCode: "H34110200001", integrationMode: .notReady, licensedDoctors: 1, recordVersion: 1),
            ]))
            _ = try await registry.changeDesignation(ChangeDesignationRequest(fixmedinsCode: "H34110200101", action: .designate, reason: "协议签订", effectiveDate: "2024-01-01"))

            // Zhejiang's health commission names its liaison and files the Q3 report (late today).
            let province = RegistryClient(try stack.client("province-nhc-33"))
            let liaison = try await province.registerLiaison(RegisterLiaisonRequest(liaison: Liaison(
                province: "33", department: .healthCommission, name: "王联络", title: "基层卫生处", phone: "0571-8888 0000"
            )))
            #expect(liaison.registeredBy.contains("zj-village-clinic-system"))
            let badPhone = await #expect(throws: RPCError.self) {
                _ = try await province.registerLiaison(RegisterLiaisonRequest(liaison: Liaison(province: "33", department: .medicalInsurance, name: "李", phone: "call me")))
            }
            #expect(badPhone?.code == .invalidArgument && badPhone?.message.hasPrefix("liaison.phone") == true)
            let othersLiaison = await #expect(throws: RPCError.self) {
                _ = try await province.registerLiaison(RegisterLiaisonRequest(liaison: Liaison(province: "33", department: .medicalInsurance, name: "李", phone: "0571-1234567")))
            }
            #expect(othersLiaison?.code == .permissionDenied)
            let elsewhere = await #expect(throws: RPCError.self) {
                _ = try await province.fileProgressReport(FileProgressReportRequest(province: "34", period: "2024Q3", text: "进展"))
            }
            #expect(elsewhere?.code == .permissionDenied)
            let report = try await province.fileProgressReport(FileProgressReportRequest(province: "33", period: "2024Q3", text: "第三季度进展：全省村卫生室纳入定点管理工作稳步推进。"))
            #expect(report.villages == 1 && report.covered == 1 && report.ledgerClinics == 0 && report.late)
            let unknown = await #expect(throws: RPCError.self) {
                _ = try await province.fileProgressReport(FileProgressReportRequest(province: "33", period: "2025Q1", text: "x"))
            }
            #expect(unknown?.code == .invalidArgument && unknown?.message.contains("2024Q3, 2024Q4") == true)

            let view = try await registry.getNationalView(NationalViewRequest(asOf: "2025-01-15"))
            #expect(view.provinces.map(\.province) == ["33", "34"] && view.provinces.map(\.rank) == [1, 2])
            #expect(view.provinces[0].shareBp == 10_000 && !view.provinces[0].slow && view.provinces[1].shareBp == 5_000 && view.provinces[1].slow)
            #expect(view.provinces[0].name == "浙江省" && view.nationalShareBp == 6_666)
            #expect(view.provinces[0].liaisonsMissing == [.medicalInsurance] && view.provinces[1].liaisonsMissing == [.medicalInsurance, .healthCommission])
            #expect(view.provinces[0].reportsMissing == ["2024Q4"] && view.provinces[0].reportsFiled == ["2024Q3"])
            #expect(view.provinces[1].reportsMissing == ["2024Q3", "2024Q4"])
            // Before the liaisons' due date nothing is overdue.
            let early = try await registry.getNationalView(NationalViewRequest(asOf: "2024-07-01"))
            #expect(early.provinces.count == view.provinces.count && early.provinces.allSatisfy { $0.liaisonsMissing.isEmpty && $0.reportsMissing.isEmpty })
            // The view's coverage is kept between calls until the registry changes: a suspension
            // and a renamed province show at once.
            _ = try await registry.changeDesignation(ChangeDesignationRequest(fixmedinsCode: "H34110200101", action: .suspend, reason: "暂停", effectiveDate: "2025-01-01"))
            _ = try await registry.upsertDivisions(UpsertDivisionsRequest(divisions: [Division(code: "340000000000", name: "安徽")]))
            let after = try await registry.getNationalView(NationalViewRequest(asOf: "2025-01-15"))
            let anhui = after.provinces.first { $0.province == "34" }
            #expect(anhui?.covered == 0 && anhui?.name == "安徽", "\(after.provinces)")
            await ops.close()
        }
    }
}

@Suite("Price publicity through the gateway", .serialized)
struct PricePublicityStackTests {
    @Test func aClinicPublishesItsPricesNoneAboveTheReferenceAndAnyCallerReadsThem() async throws {
        try await withDemoStack { stack in
            let clinic = RegistryClient(try stack.client("clinic-H33080200101"))
            let list = try await clinic.publishPriceList(PublishPriceListRequest(fixmedinsCode: "H33080200101", items: [
                PriceItem(itemCode: "XJ01CAA040A001010100001", unitPrice: 45), PriceItem(itemCode: "001102000050000", unitPrice: 1_000),
            ]))
            #expect(list.items.map(\.itemCode) == ["001102000050000", "XJ01CAA040A001010100001"] && list.items[1].referencePrice == 50 && list.items[1].name.contains("阿莫西林"))
            // Above the public-institution price: refused, naming the item; the list stays as it was.
            let above = await #expect(throws: RPCError.self) {
                _ = try await clinic.publishPriceList(PublishPriceListRequest(fixmedinsCode: "H33080200101", items: [
                    PriceItem(itemCode: "001102000050000", unitPrice: 1_000), PriceItem(itemCode: "XC10AAA056B001020100004", unitPrice: 300),
                ]))
            }
            #expect(above?.code == .invalidArgument && above?.message.hasPrefix("items[1].unit_price: 300 fen for XC10AAA056B001020100004") == true, "\(String(describing: above))")
            let notMine = await #expect(throws: RPCError.self) {
                _ = try await clinic.publishPriceList(PublishPriceListRequest(fixmedinsCode: "H33080200001", items: [PriceItem(itemCode: "001102000050000", unitPrice: 900)]))
            }
            #expect(notMine?.code == .permissionDenied)
            // Its township centre may publish for it.
            let byCentre = try await RegistryClient(try stack.client("township-H33080200001")).publishPriceList(PublishPriceListRequest(
                fixmedinsCode: "H33080200101", items: [PriceItem(itemCode: "XJ01CAA040A001010100001", unitPrice: 40)]
            ))
            #expect(byCentre.items.map(\.unitPrice) == [40] && byCentre.publishedBy == "H33080200001")
            // Anyone with a certificate reads it, whatever their role: the supervisor's rule does
            // not list the method, the public rule does.
            for caller in ["supervisor-33", "province-nhc-33", "clinic-H33080200101"] {
                let read = try await RegistryClient(try stack.client(caller)).getPriceList(GetPriceListRequest(fixmedinsCode: "H33080200101"))
                #expect(read.items.map(\.unitPrice) == [40], "\(caller)")
            }
            let none = await #expect(throws: RPCError.self) {
                _ = try await RegistryClient(try stack.client("supervisor-33")).getPriceList(GetPriceListRequest(fixmedinsCode: "H33080200001"))
            }
            #expect(none?.code == .notFound)
        }
    }
}
