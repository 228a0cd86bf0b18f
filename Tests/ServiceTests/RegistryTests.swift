import MedicareContracts
import MedicareDomain
import MedicareWire
import MedicareRPC
import MedicareStore
import RegistryService
import MedicareTestSupport
import Testing

func withRegistry<T: Sendable>(engine: Engine = .sqlite, _ body: @escaping @Sendable (RegistryClient) async throws -> T) async throws -> T {
    try await withService("registry", engine: engine, migrations: RegistryDefinition.migrations, router: { db in
        var router = RPCRouter()
        RegistryProvider(store: RegistryStore(database: db)).register(with: &router)
        return router
    }) { channel, _ in try await body(RegistryClient(channel)) }
}

/// Kecheng district, Quzhou: a township centre and its clinics in two villages.
let centre = InstitutionRecord(fixmedinsCode: "H33080200001", fixmedinsName: "航埠镇卫生院", kind: .townshipCentre, divisionCode: "330802101000", recordVersion: 1)
func clinic(_ code: String, village: String, mode: IntegrationMode = .integrated, end: String = "", version: UInt64 = 1, name: String = "村卫生室") -> InstitutionRecord {
    InstitutionRecord(fixmedinsCode: code, fixmedinsName: name, kind: .villageClinic, divisionCode: village, parentCode: mode == .notReady ? "" : "H33080200001",
                      integrationMode: mode, relationshipEnd: end, licensedDoctors: 2, hasComputer: true, hasNetwork: true, recordVersion: version)
}

@Suite("Registry")
struct RegistryTests {
    /// Institutions there before the change feed existed each get their own cursor, so paging
    /// one at a time lists every one of them (all sharing cursor 1, the second page skipped them).
    @Test(arguments: Engine.all)
    func institutionsFromBeforeTheFeedArePagedOneByOne(engine: Engine) async throws {
        try await withDatabase(engine) { db in
            try await Migrator.migrate(db, service: "registry", migrations: RegistryDefinition.migrations.filter { $0.version < 10 }, logger: quietLogger)
            try await db.write { tx in
                for n in 1...4 {
                    try await tx.execute("""
                        INSERT INTO institutions (code, name, kind, division_code, parent_code, integration_mode, relationship_end, licensed_doctors,
                            has_computer, has_network, record_version, designation_status, updated_at)
                        VALUES ($1, 'clinic', 'village_clinic', '330802101201', '', '', '', 1, 1, 1, 1, 'not_designated', '2024-01-01')
                        """, [.text("H3308020010\(n)")])
                }
            }
            try await Migrator.migrate(db, service: "registry", migrations: RegistryDefinition.migrations, logger: quietLogger)
            var router = RPCRouter()
            RegistryProvider(store: RegistryStore(database: db)).register(with: &router)
            let registry = RegistryClient(InProcessChannel(router: router, peer: PeerIdentity(commonName: "ops", department: "nhsa", role: "operator"), logger: quietLogger))
            var seen: [String] = [], cursor: UInt64 = 0
            for _ in 0..<6 {
                let page = try await registry.listChanges(ListChangesRequest(after: cursor, pageSize: 1))
                seen += page.changes.map(\.fixmedinsCode)
                cursor = page.cursor
                if !page.more { break }
            }
            #expect(seen == (1...4).map { "H3308020010\($0)" }, "\(seen)")
        }
    }

    @Test(arguments: Engine.all)
    func importIsIdempotentByRecordVersionWithAResultPerRecord(engine: Engine) async throws {
        try await withRegistry(engine: engine) { r in
            let first = try await r.importInstitutions(ImportInstitutionsRequest(sessionID: "s1", records: [
                centre, clinic("H33080200101", village: "330802101201"), clinic("H3308020010", village: "330802101201"),
                clinic("H33080200102", village: "3308021012"),
            ]))
            #expect(first.created == 2 && first.rejected == 2)
            #expect(first.results[2].reason == "fixmedins_code: 'H3308020010' is not an institution code (H followed by 11 digits)")
            #expect(first.results[3].reason == "division_code: '3308021012' is not a 12-digit division code")

            let second = try await r.importInstitutions(ImportInstitutionsRequest(sessionID: "s2", records: [
                clinic("H33080200101", village: "330802101201", version: 3, name: "新名"), centre,
            ]))
            #expect(second.results.map(\.outcome) == [.updated, .unchanged])
            let stale = try await r.importInstitutions(ImportInstitutionsRequest(records: [clinic("H33080200101", village: "330802101201", version: 2, name: "旧名")]))
            #expect(stale.stale == 1)
            #expect(try await r.getInstitution(GetInstitutionRequest(fixmedinsCode: "H33080200101")).record?.fixmedinsName == "新名")
        }
    }

    @Test(arguments: Engine.all)
    func designationLifecycleWithHistory(engine: Engine) async throws {
        try await withRegistry(engine: engine) { r in
            _ = try await r.importInstitutions(ImportInstitutionsRequest(records: [centre]))
            _ = try await r.changeDesignation(ChangeDesignationRequest(fixmedinsCode: "H33080200001", action: .designate, reason: "agreement signed"))
            let suspended = try await r.changeDesignation(ChangeDesignationRequest(fixmedinsCode: "H33080200001", action: .suspend, reason: "case 2024-17"))
            #expect(suspended.designationStatus == .suspended)
            #expect(suspended.history.map(\.toStatus) == [.designated, .suspended])
            #expect(suspended.history[1].by.contains("ops"))
            let error = await #expect(throws: RPCError.self) {
                _ = try await r.changeDesignation(ChangeDesignationRequest(fixmedinsCode: "H33080200001", action: .suspend, reason: "again"))
            }
            #expect(error?.code == .failedPrecondition && error?.message == "action: cannot suspend H33080200001: it is suspended")
        }
    }

    /// A closed set's zero value means "not given", and a number this build does not know is
    /// not a value: both are refused naming the field and what is allowed.
    @Test func closedSetsRefuseTheirZeroAndUnknownValues() async throws {
        try await withRegistry(engine: .sqlite) { r in
            var noKind = clinic("H33080200101", village: "330802101201")
            noKind.kind = .unspecified
            var noMode = clinic("H33080200102", village: "330802101202")
            noMode.integrationMode = .unspecified
            var future = clinic("H33080200103", village: "330802101203")
            future.integrationMode = .unrecognized(9)
            let batch = try await r.importInstitutions(ImportInstitutionsRequest(records: [centre, noKind, noMode, future]))
            #expect(batch.results.map(\.outcome) == [.created, .rejected, .rejected, .rejected])
            #expect(batch.results[1].reason == "kind: is required: one of township_centre (1), village_clinic (2)")
            #expect(batch.results[2].reason == "integration_mode: is required: one of integrated (1), integrating (2), not_ready (3)")
            #expect(batch.results[3].reason == "integration_mode: 9 is not one of integrated (1), integrating (2), not_ready (3)")
            let error = await #expect(throws: RPCError.self) {
                _ = try await r.changeDesignation(ChangeDesignationRequest(fixmedinsCode: "H33080200001", reason: "no action"))
            }
            #expect(error?.code == .invalidArgument && error?.message.hasPrefix("action: is required: one of designate (1)") == true)
        }
    }

    /// An institution settles only under an agreement in force: once its agreement has
    /// lapsed, its routes are refused (and within it, the route names the agreement's scopes).
    @Test(arguments: Engine.all)
    func aLapsedAgreementRefusesTheRoute(engine: Engine) async throws {
        try await withRegistry(engine: engine) { r in
            _ = try await r.importInstitutions(ImportInstitutionsRequest(records: [centre, clinic("H33080200103", village: "330802101203", mode: .notReady)]))
            let filed = try await r.applyForDesignation(ApplyForDesignationRequest(fixmedinsCodes: ["H33080200103"]))
            let id = filed.applications[0].applicationID
            _ = try await r.reviewApplications(ReviewApplicationsRequest(applicationIds: [id], decision: .approve))
            _ = try await r.signAgreements(SignAgreementsRequest(agreements: [SignAgreementRequest(
                applicationID: id, agreementNo: "QZ-2024-103", startDate: "2024-01-01", endDate: "2024-12-31", scopes: [.generalOutpatient], signedDate: "2023-12-01"
            )]))
            let within = try await r.resolveSettlementRoute(ResolveSettlementRouteRequest(fixmedinsCode: "H33080200103", onDate: "2024-06-01"))
            #expect(within.canSettle && within.agreementNo == "QZ-2024-103" && within.scopes == [.generalOutpatient])
            let lapsed = try await r.resolveSettlementRoute(ResolveSettlementRouteRequest(fixmedinsCode: "H33080200103", onDate: "2025-01-05"))
            #expect(!lapsed.canSettle && lapsed.refusal == "the service agreement QZ-2024-103 of H33080200103 ended on 2024-12-31", "\(lapsed.refusal)")
            // A batch naming an application twice is refused before anything is signed.
            let twice = await #expect(throws: RPCError.self) {
                _ = try await r.reviewApplications(ReviewApplicationsRequest(applicationIds: [id, id], decision: .approve))
            }
            #expect(twice?.code == .invalidArgument && twice?.message.hasPrefix("application_ids[1]") == true)
        }
    }

    /// Batches are all or none, and decided in order: a review naming one application not
    /// under review decides none; a signing whose third agreement number is taken signs none;
    /// then the batch signs, each institution gets its own change cursor, and an institution
    /// terminated and signed again continues its history (events 1, 2, 3).
    @Test(arguments: Engine.all)
    func batchesOfReviewsAndSignaturesAreAllOrNone(engine: Engine) async throws {
        try await withRegistry(engine: engine) { r in
            let codes = ["H33080200101", "H33080200102", "H33080200103"]
            _ = try await r.importInstitutions(ImportInstitutionsRequest(records: [centre] + codes.enumerated().map { clinic($1, village: "33080210120\($0 + 1)") }))
            let ids = try await r.applyForDesignation(ApplyForDesignationRequest(fixmedinsCodes: codes)).applications.map(\.applicationID)
            _ = try await r.reviewApplications(ReviewApplicationsRequest(applicationIds: [ids[1]], decision: .approve))
            let mixed = await #expect(throws: RPCError.self) {
                _ = try await r.reviewApplications(ReviewApplicationsRequest(applicationIds: [ids[0], ids[1], ids[2]], decision: .approve))
            }
            #expect(mixed?.code == .failedPrecondition && mixed?.message.hasPrefix("application_ids[1]: application \(ids[1]) is approved") == true, "\(String(describing: mixed))")
            #expect(try await r.getApplication(GetApplicationRequest(applicationID: ids[0])).status == .underReview)
            _ = try await r.reviewApplications(ReviewApplicationsRequest(applicationIds: [ids[0], ids[2]], decision: .approve))
            func agreements(_ numbers: [String]) -> SignAgreementsRequest {
                SignAgreementsRequest(agreements: zip(ids, numbers).map { id, number in
                    SignAgreementRequest(applicationID: id, agreementNo: number, startDate: "2024-01-01", endDate: "2026-12-31", scopes: [.generalOutpatient], signedDate: "2023-12-01")
                })
            }
            _ = try await r.importInstitutions(ImportInstitutionsRequest(records: [clinic("H33080200104", village: "330802101204")]))
            let other = try await r.applyForDesignation(ApplyForDesignationRequest(fixmedinsCodes: ["H33080200104"])).applications[0].applicationID
            _ = try await r.reviewApplication(ReviewApplicationRequest(applicationID: other, decision: .approve))
            _ = try await r.signAgreement(SignAgreementRequest(
                applicationID: other, agreementNo: "QZ-TAKEN", startDate: "2024-01-01", endDate: "2026-12-31", scopes: [.generalOutpatient], signedDate: "2023-12-01"
            ))
            let taken = await #expect(throws: RPCError.self) { _ = try await r.signAgreements(agreements(["QZ-1", "QZ-2", "QZ-TAKEN"])) }
            #expect(taken?.code == .alreadyExists && taken?.message.hasPrefix("agreements[2].agreement_no") == true, "\(String(describing: taken))")
            for code in codes { #expect(try await r.getInstitution(GetInstitutionRequest(fixmedinsCode: code)).designationStatus == .notDesignated) }
            let before = try await r.listChanges(ListChangesRequest(after: 0, pageSize: 100)).cursor
            let signed = try await r.signAgreements(agreements(["QZ-1", "QZ-2", "QZ-3"]))
            #expect(signed.applications.map(\.status) == [.contracted, .contracted, .contracted])
            #expect(signed.applications.map { $0.agreement?.agreementNo } == ["QZ-1", "QZ-2", "QZ-3"])
            let changed = try await r.listChanges(ListChangesRequest(after: before, pageSize: 100)).changes
            #expect(changed.map(\.fixmedinsCode) == codes && Set(changed.map(\.cursor)).count == 3, "\(changed)")
            _ = try await r.changeDesignation(ChangeDesignationRequest(fixmedinsCode: codes[0], action: .terminate, reason: "test", effectiveDate: "2024-06-01"))
            let again = try await r.applyForDesignation(ApplyForDesignationRequest(fixmedinsCodes: [codes[0]])).applications[0].applicationID
            _ = try await r.reviewApplications(ReviewApplicationsRequest(applicationIds: [again], decision: .approve))
            let early = await #expect(throws: RPCError.self) {
                _ = try await r.signAgreements(SignAgreementsRequest(agreements: [SignAgreementRequest(
                    applicationID: again, agreementNo: "QZ-1B", startDate: "2024-05-01", endDate: "2026-12-31", scopes: [.generalOutpatient], signedDate: "2024-04-01"
                )]))
            }
            #expect(early?.code == .invalidArgument && early?.message.hasPrefix("agreements[0].start_date: 2024-05-01 is before the previous change") == true, "\(String(describing: early))")
            _ = try await r.signAgreements(SignAgreementsRequest(agreements: [SignAgreementRequest(
                applicationID: again, agreementNo: "QZ-1B", startDate: "2024-07-01", endDate: "2026-12-31", scopes: [.generalOutpatient], signedDate: "2024-06-15"
            )]))
            let history = try await r.getInstitution(GetInstitutionRequest(fixmedinsCode: codes[0])).history
            #expect(history.map(\.toStatus) == [.designated, .terminated, .designated] && history.map(\.effectiveDate) == ["2024-01-01", "2024-06-01", "2024-07-01"], "\(history)")
        }
    }

    /// A change of arrangement holds from its effective day: routes of earlier visits keep
    /// the one in force then (a clinic moving from its centre's agreement to its own).
    @Test(arguments: Engine.all)
    func aChangeOfArrangementDoesNotRewriteEarlierRoutes(engine: Engine) async throws {
        try await withRegistry(engine: engine) { r in
            _ = try await r.importInstitutions(ImportInstitutionsRequest(records: [centre, clinic("H33080200101", village: "330802101201")]))
            for code in ["H33080200001", "H33080200101"] {
                _ = try await r.changeDesignation(ChangeDesignationRequest(fixmedinsCode: code, action: .designate, reason: "signed", effectiveDate: "2024-01-01"))
            }
            var own = clinic("H33080200101", village: "330802101201", mode: .notReady, version: 2)
            own.effectiveDate = "2025-01-01"
            #expect(try await r.importInstitutions(ImportInstitutionsRequest(records: [own])).results.map(\.outcome) == [.updated])
            let before = try await r.resolveSettlementRoute(ResolveSettlementRouteRequest(fixmedinsCode: "H33080200101", onDate: "2024-06-01"))
            #expect(before.canSettle && before.settleVia == "H33080200001" && before.mode == .integrated)
            let after = try await r.resolveSettlementRoute(ResolveSettlementRouteRequest(fixmedinsCode: "H33080200101", onDate: "2025-02-01"))
            #expect(after.canSettle && after.settleVia == "H33080200101" && after.mode == .direct)
            // Coverage as of a day follows the arrangement of that day too: integrating with a
            // relationship ended by 2024-03-01, then (from 2025-01-01) on its own agreement.
            var ended = clinic("H33080200102", village: "330802101202", mode: .integrating, end: "2024-03-01", version: 1)
            ended.effectiveDate = "2024-01-01"
            _ = try await r.importInstitutions(ImportInstitutionsRequest(records: [ended]))
            _ = try await r.changeDesignation(ChangeDesignationRequest(fixmedinsCode: "H33080200102", action: .designate, reason: "signed", effectiveDate: "2024-01-01"))
            var own2 = clinic("H33080200102", village: "330802101202", mode: .notReady, version: 2)
            own2.effectiveDate = "2025-01-01"
            _ = try await r.importInstitutions(ImportInstitutionsRequest(records: [own2]))
            #expect(try await r.getCoverage(CoverageRequest(region: "330802101202", asOf: "2024-06-01")).covered == 0)
            #expect(try await r.getCoverage(CoverageRequest(region: "330802101202", asOf: "2025-06-01")).covered == 1)
            // A change dated before the last one is refused, naming the field.
            var back = clinic("H33080200101", village: "330802101201", version: 3)
            back.effectiveDate = "2024-12-01"
            let refused = try await r.importInstitutions(ImportInstitutionsRequest(records: [back]))
            #expect(refused.results[0].outcome == .rejected && refused.results[0].reason.hasPrefix("effective_date: 2024-12-01 is before"), "\(refused.results)")
            var future = clinic("H33080200101", village: "330802101201", version: 4)
            future.effectiveDate = "2199-01-01"
            #expect(try await r.importInstitutions(ImportInstitutionsRequest(records: [future])).results[0].reason.hasPrefix("effective_date: 2199-01-01 is after today"))
            var badDate = clinic("H33080200101", village: "330802101201", version: 4)
            badDate.effectiveDate = "2025-02-30"
            #expect(try await r.importInstitutions(ImportInstitutionsRequest(records: [badDate])).results[0].reason.hasPrefix("effective_date:"))
        }
    }

    @Test(arguments: Engine.all)
    func settlementRoutes(engine: Engine) async throws {
        try await withRegistry(engine: engine) { r in
            _ = try await r.importInstitutions(ImportInstitutionsRequest(records: [
                centre,
                clinic("H33080200101", village: "330802101201"),
                clinic("H33080200102", village: "330802101202", mode: .integrating, end: "2025-12-31"),
                clinic("H33080200103", village: "330802101203", mode: .notReady),
                clinic("H33080200104", village: "330802101204"),
            ]))
            for code in ["H33080200001", "H33080200101", "H33080200102", "H33080200103"] {
                _ = try await r.changeDesignation(ChangeDesignationRequest(fixmedinsCode: code, action: .designate, reason: "signed", effectiveDate: "2024-01-01"))
            }
            let integrated = try await r.resolveSettlementRoute(ResolveSettlementRouteRequest(fixmedinsCode: "H33080200101", onDate: "2024-06-01"))
            #expect(integrated.canSettle && integrated.settleVia == "H33080200001" && integrated.mode == .integrated)
            let integrating = try await r.resolveSettlementRoute(ResolveSettlementRouteRequest(fixmedinsCode: "H33080200102", onDate: "2024-06-01"))
            #expect(integrating.canSettle && integrating.settleVia == "H33080200001" && integrating.mode == .integrating)
            let expired = try await r.resolveSettlementRoute(ResolveSettlementRouteRequest(fixmedinsCode: "H33080200102", onDate: "2026-01-01"))
            #expect(!expired.canSettle && expired.refusal == "the temporary relationship of H33080200102 with H33080200001 ended on 2025-12-31")
            let direct = try await r.resolveSettlementRoute(ResolveSettlementRouteRequest(fixmedinsCode: "H33080200103", onDate: "2024-06-01"))
            #expect(direct.canSettle && direct.settleVia == "H33080200103" && direct.mode == .direct)
            let undesignated = try await r.resolveSettlementRoute(ResolveSettlementRouteRequest(fixmedinsCode: "H33080200104", onDate: "2024-06-01"))
            #expect(!undesignated.canSettle && undesignated.refusal == "H33080200104 is not designated")
            _ = try await r.changeDesignation(ChangeDesignationRequest(fixmedinsCode: "H33080200101", action: .suspend, reason: "fraud case"))
            let suspended = try await r.resolveSettlementRoute(ResolveSettlementRouteRequest(fixmedinsCode: "H33080200101", onDate: "2024-06-01"))
            #expect(!suspended.canSettle && suspended.refusal == "H33080200101 is suspended")
        }
    }

    @Test(arguments: Engine.all)
    func coverageCountsVillagesAndListsGaps(engine: Engine) async throws {
        try await withRegistry(engine: engine) { r in
            _ = try await r.upsertDivisions(UpsertDivisionsRequest(divisions: parentDivisions + [
                Division(code: "330802101201", name: "甲村"), Division(code: "330802101202", name: "乙村"), Division(code: "330802101203", name: "丙村"),
            ]))
            _ = try await r.importInstitutions(ImportInstitutionsRequest(records: [
                centre,
                clinic("H33080200101", village: "330802101201"), clinic("H33080200105", village: "330802101201"),
                clinic("H33080200102", village: "330802101202"), clinic("H33080200103", village: "330802101203", mode: .notReady),
            ]))
            _ = try await r.changeDesignation(ChangeDesignationRequest(fixmedinsCode: "H33080200101", action: .designate, reason: "signed"))
            _ = try await r.changeDesignation(ChangeDesignationRequest(fixmedinsCode: "H33080200103", action: .designate, reason: "signed"))
            let coverage = try await r.getCoverage(CoverageRequest(region: "330802"))
            #expect(coverage.villages == 3 && coverage.covered == 2 && coverage.clinics == 4 && coverage.designatedClinics == 2)
            #expect(coverage.gaps == [Division(code: "330802101202", name: "乙村")])
            // A designated clinic that moves village takes its count along (the per-village
            // counts follow every write), and as of yesterday neither designation had taken effect.
            _ = try await r.importInstitutions(ImportInstitutionsRequest(records: [clinic("H33080200101", village: "330802101202", version: 2)]))
            let moved = try await r.getCoverage(CoverageRequest(region: "330802"))
            #expect(moved.villages == 3 && moved.covered == 2 && moved.clinics == 4 && moved.designatedClinics == 2)
            #expect(moved.gaps == [Division(code: "330802101201", name: "甲村")])
            let yesterday = CivilDate.today().adding(days: -1).description
            let before = try await r.getCoverage(CoverageRequest(region: "33", asOf: yesterday))
            #expect(before.villages == 3 && before.covered == 0 && before.clinics == 4 && before.designatedClinics == 0, "\(before)")
            let error = await #expect(throws: RPCError.self) { _ = try await r.getCoverage(CoverageRequest(region: "3308021")) }
            #expect(error?.code == .invalidArgument && error?.message == "region: '3308021' is not a division code prefix of 2, 4, 6, 9 or 12 digits")
        }
    }

    @Test(arguments: Engine.all)
    func malformedCodesAreRefused(engine: Engine) async throws {
        try await withRegistry(engine: engine) { r in
            let badDivision = await #expect(throws: RPCError.self) {
                _ = try await r.upsertDivisions(UpsertDivisionsRequest(divisions: [Division(code: "33080A101201", name: "x")]))
            }
            #expect(badDivision?.code == .invalidArgument && badDivision?.message == "divisions[0].code: '33080A101201' is not a 12-digit division code")
            let badCode = await #expect(throws: RPCError.self) { _ = try await r.getInstitution(GetInstitutionRequest(fixmedinsCode: "X33080200001")) }
            #expect(badCode?.code == .invalidArgument)
            let missing = await #expect(throws: RPCError.self) { _ = try await r.getInstitution(GetInstitutionRequest(fixmedinsCode: "H99999999999")) }
            #expect(missing?.code == .notFound)
        }
    }
}

/// The province, city, county and township above the test villages: a division is taken only
/// under an existing parent.
let parentDivisions = [
    Division(code: "330000000000", name: "浙江省"), Division(code: "330800000000", name: "衢州市"),
    Division(code: "330802000000", name: "柯城区"), Division(code: "330802101000", name: "航埠镇"),
]
