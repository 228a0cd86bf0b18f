import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareStore
import MedicareTestSupport
import MedicareWire
@testable import SettlementService
import Testing
@testable import GatewayService

/// 2503 chronic registrations and family-doctor contracts, and what they do to a chronic
/// outpatient claim (notice 003 §六): refused without a registered condition in force for its
/// diagnoses; 65% (quzhou-2024.1's chronic terms) at the contracted institution; general terms
/// (60%, the general accumulators) elsewhere or without a contract. Hand-computed: 30 x 1.20 =
/// 36.00 yuan of a category 甲 drug, all in scope, no deductible in Quzhou.
@Suite struct ChronicCareTests {
    static let clinic = "H33080200101", centre = "H33080200001", other = "H33080200102"

    /// A day `n` days from today in the provider's time zone (the process's: registrations and
    /// contracts begin within a year of today, and a revocation ends one yesterday).
    static func d(_ n: Int) -> String { CivilDate.today(in: .current).adding(days: n).description }
    func d(_ n: Int) -> String { Self.d(n) }

    /// A settlement behind an in-process gateway, with DR01 registered at the clinic, the
    /// centre and another clinic, and operator D001 signed in at each: `body` gets the clinic's
    /// client through the gateway and settlement's own (for settles, as the gateway makes them).
    func withChronicCare(_ engine: Engine, _ body: @escaping @Sendable (SettlementClient, SettlementClient) async throws -> Void) async throws {
        try await withSettlementService(engine: engine) { settlement, _ in
            let unused = InProcessChannel(router: RPCRouter(), peer: settlement.peer, logger: quietLogger)
            let gateway = GatewayDefinition.makeRouter(
                access: try AccessTable.load(path: ""), registry: unused, settlement: settlement, supervision: unused, maxCallsPerCaller: 100
            )
            let direct = SettlementClient(settlement)
            _ = try await direct.importPersons(ImportPersonsRequest(persons: [quzhou, hangzhou, suspended]))
            _ = try await direct.importPractitioners(ImportPractitionersRequest(practitioners: [Self.clinic, Self.centre, Self.other].flatMap {
                [Practitioner(fixmedinsCode: $0, drCode: "DR01", drName: "赵医生", pracType: .villageDoctor, active: true),
                 Practitioner(fixmedinsCode: $0, drCode: "DR02", drName: "钱医生", pracType: .villageDoctor, active: true)]
            }))
            for code in [Self.clinic, Self.centre, Self.other] { _ = try await direct.signIn(SignInRequest(fixmedinsCode: code, opterNo: "D001", opterName: "赵医生")) }
            let clinic = SettlementClient(InProcessChannel(
                router: gateway, peer: PeerIdentity(commonName: Self.clinic, department: "nhc", role: "clinic", region: "330802"), logger: quietLogger))
            try await body(clinic, direct)
        }
    }

    func registration(_ code: String = "I10", name: String = "高血压", at institution: String = clinic, from: String = d(-300), to: String = "") -> ChronicRegistration {
        ChronicRegistration(psnNo: quzhou.psnNo, opspDiseCode: code, opspDiseName: name, ideFixmedinsNo: institution, diagDrCodg: "DR01",
                            begndate: from, enddate: to, opterNo: "D001")
    }

    func contract(at institution: String = clinic, from: String, to: String = "") -> FamilyDoctorContract {
        FamilyDoctorContract(psnNo: quzhou.psnNo, fixmedinsCode: institution, drCode: "DR01", begndate: from, enddate: to, opterNo: "D001")
    }

    func chronicClaim(_ id: String, date: String, diagnoses: [String] = ["I10"], clinic: String = clinic) -> SettleRequest {
        var request = claim(id, visit: .chronicOutpatient, date: date, [("XC08CAX052B002010100002", 30, 120)], diagnoses: diagnoses)
        request.claim?.fixmedinsCode = clinic
        return request
    }

    func refusal(_ call: () async throws -> Void) async -> RPCError? {
        await #expect(throws: RPCError.self) { try await call() }
    }

    @Test(arguments: Engine.all)
    func aChronicClaimIsSettledAtSixtyFivePercentOnlyForARegisteredConditionAtTheContractedInstitution(engine: Engine) async throws {
        try await withChronicCare(engine) { clinic, settlement in
            // No registration yet: refused, naming med_type; nothing is posted.
            let unregistered = await refusal { _ = try await settlement.settle(chronicClaim("C0", date: d(-200)), options: keyed("c0")) }
            #expect(unregistered?.code == .failedPrecondition && unregistered?.message.hasPrefix("claim.med_type: ") == true, "\(String(describing: unregistered))")

            let registered = try await clinic.registerChronicCondition(registration())
            #expect(registered.trtDclaDetlSn.hasPrefix("D") && registered.trtDclaDetlSn.count == 24 && !registered.replay && registered.opspDiseCode == "I10")

            // Registered, no contract: general outpatient terms, 60% = 21.60, on the general accumulators.
            let general = try await settlement.settle(chronicClaim("C1", date: d(-200)), options: keyed("c1"))
            #expect(general.settledAs == .generalOutpatient && general.hifpPay == 2_160 && general.psnCashPay == 1_440 && general.poolPropSelfpay == 6_000)

            // Contracted with the clinic from 2024-06-02: 65% = 23.40 there; a diagnosis under the
            // registered category (I10.X00) matches.
            _ = try await clinic.signFamilyDoctorContract(contract(from: d(-199)))
            let preSettled = try await settlement.preSettle(chronicClaim("C2", date: d(-199), diagnoses: ["I10.x00"]))
            let chronic = try await settlement.settle(chronicClaim("C2", date: d(-199), diagnoses: ["I10.x00"]), options: keyed("c2"))
            #expect(chronic.settledAs == .chronicOutpatient && chronic.hifpPay == 2_340 && chronic.psnCashPay == 1_260 && chronic.poolPropSelfpay == 6_500)
            #expect(preSettled.settledAs == chronic.settledAs && preSettled.hifpPay == chronic.hifpPay && preSettled.status == .presettled)
            // Before the contract began, and at another clinic: general terms.
            let before = try await settlement.settle(chronicClaim("C3", date: d(-201)), options: keyed("c3"))
            let away = try await settlement.settle(chronicClaim("C4", date: d(-198), clinic: Self.other), options: keyed("c4"))
            #expect(before.settledAs == .generalOutpatient && before.hifpPay == 2_160)
            #expect(away.settledAs == .generalOutpatient && away.hifpPay == 2_160)
            // A diagnosis the registration does not cover: refused.
            let uncovered = await refusal { _ = try await settlement.settle(chronicClaim("C5", date: d(-197), diagnoses: ["E11"]), options: keyed("c5")) }
            #expect(uncovered?.code == .failedPrecondition && uncovered?.message.hasPrefix("claim.med_type: ") == true)

            // Reversing a chronic claim settled on general terms restores the general accumulators:
            // the ledger still balances with every accumulator equal to its postings.
            _ = try await settlement.reverse(ReverseRequest(setlID: away.setlID, reason: "test"), options: keyed("r4"))
            let ledger = try await settlement.checkLedger(LedgerCheckRequest())
            #expect(ledger.balanced && ledger.problems.isEmpty, "\(ledger.problems)")

            // The standing on a day: the registration and the contract in force.
            let standing = try await clinic.getChronicStanding(ChronicStandingRequest(psnNo: quzhou.psnNo, date: d(-199), certno: quzhou.certno))
            #expect(standing.registrations.map(\.trtDclaDetlSn) == [registered.trtDclaDetlSn] && standing.contract?.fixmedinsCode == Self.clinic)
            #expect(try await clinic.getChronicStanding(ChronicStandingRequest(psnNo: quzhou.psnNo, date: d(-200), certno: quzhou.certno)).contract == nil)
        }
    }

    /// A contract with the township centre the clinic settles through counts at the clinic
    /// (乡村一体化); one contract at a time: another institution's waits until the first is
    /// ended by its institution; a registration that has ended no longer counts.
    @Test(arguments: Engine.all)
    func theContractInForceAndTheRegistrationsInForceDecide(engine: Engine) async throws {
        try await withChronicCare(engine) { clinic, settlement in
            _ = try await clinic.registerChronicCondition(registration())
            _ = try await clinic.registerChronicCondition(registration("E11", name: "2型糖尿病", to: d(-250)))
            _ = try await settlement.signFamilyDoctorContract(contract(at: Self.centre, from: d(-300)))
            // Another clinic may not contract the person while the centre's contract holds.
            let overlapping = await refusal { _ = try await settlement.signFamilyDoctorContract(contract(at: Self.other, from: d(-100))) }
            #expect(overlapping?.code == .failedPrecondition && overlapping?.message.hasPrefix("begndate: ") == true, "\(String(describing: overlapping))")
            // The centre ends it (the same contract with an end date); then the other clinic may.
            let ended = try await settlement.signFamilyDoctorContract(contract(at: Self.centre, from: d(-300), to: d(-101)))
            #expect(ended.enddate == d(-101) && !ended.replay)
            let later = await refusal { _ = try await settlement.signFamilyDoctorContract(contract(at: Self.centre, from: d(-300), to: d(-50))) }
            #expect(later?.code == .alreadyExists && later?.message.hasPrefix("enddate: ") == true)
            _ = try await settlement.signFamilyDoctorContract(contract(at: Self.other, from: d(-100)))

            let viaCentre = try await settlement.settle(chronicClaim("D1", date: d(-200)), options: keyed("d1"))
            #expect(viaCentre.settledAs == .chronicOutpatient && viaCentre.hifpPay == 2_340)
            // Since the other clinic's contract began: general terms here.
            let after = try await settlement.settle(chronicClaim("D2", date: d(-90)), options: keyed("d2"))
            #expect(after.settledAs == .generalOutpatient && after.hifpPay == 2_160)
            // E11 ended d(-250): in force then, not after.
            let then = try await settlement.settle(chronicClaim("D3", date: d(-260), diagnoses: ["E11.9"]), options: keyed("d3"))
            #expect(then.settledAs == .chronicOutpatient)
            let ended2 = await refusal { _ = try await settlement.settle(chronicClaim("D4", date: d(-199), diagnoses: ["E11.9"]), options: keyed("d4")) }
            #expect(ended2?.code == .failedPrecondition)
        }
    }

    /// 2504: the registering institution revokes a registration; from today a chronic claim
    /// for it is refused, one from before still settles under it; a second revoke answers the
    /// first; another institution cannot revoke it.
    @Test(arguments: Engine.all)
    func aRevokedRegistrationNoLongerCountsFromToday(engine: Engine) async throws {
        try await withChronicCare(engine) { clinic, settlement in
            let registered = try await clinic.registerChronicCondition(registration())
            _ = try await clinic.signFamilyDoctorContract(contract(from: d(-300)))
            let revoke = RevokeChronicRegistrationRequest(psnNo: quzhou.psnNo, trtDclaDetlSn: registered.trtDclaDetlSn, ideFixmedinsNo: Self.clinic, opterNo: "D001")
            var elsewhere = revoke
            elsewhere.ideFixmedinsNo = Self.other
            let notTheirs = await refusal { _ = try await settlement.revokeChronicRegistration(elsewhere) }
            #expect(notTheirs?.code == .notFound && notTheirs?.message.hasPrefix("trt_dcla_detl_sn: ") == true)
            let revoked = try await clinic.revokeChronicRegistration(revoke)
            #expect(revoked.enddate == d(-1) && !revoked.replay)
            #expect(try await clinic.revokeChronicRegistration(revoke).replay)
            let before = try await settlement.settle(chronicClaim("E1", date: d(-2)), options: keyed("e1"))
            #expect(before.settledAs == .chronicOutpatient)
            let after = await refusal { _ = try await settlement.settle(chronicClaim("E2", date: d(0)), options: keyed("e2")) }
            #expect(after?.code == .failedPrecondition && after?.message.hasPrefix("claim.med_type: ") == true)
        }
    }

    /// Repeats answer the stored record; other content under the same key, bad fields, unknown
    /// doctors, operators not signed in and other institutions are refused, each naming its field.
    @Test(arguments: Engine.all)
    func registrationsAndContractsAreOnceEachAndCheckedField(engine: Engine) async throws {
        try await withChronicCare(engine) { clinic, settlement in
            let first = try await clinic.registerChronicCondition(registration())
            let again = try await clinic.registerChronicCondition(registration())
            #expect(again.replay && again.trtDclaDetlSn == first.trtDclaDetlSn && again.registeredAt == first.registeredAt)
            let renamed = await refusal { _ = try await clinic.registerChronicCondition(registration(name: "原发性高血压")) }
            #expect(renamed?.code == .alreadyExists && renamed?.message.hasPrefix("opsp_dise_code: ") == true)
            let signed = try await clinic.signFamilyDoctorContract(contract(from: d(-300)))
            #expect(!signed.replay && !signed.signedAt.isEmpty)
            #expect(try await clinic.signFamilyDoctorContract(contract(from: d(-300))).replay)
            var otherDoctor = contract(from: d(-300))
            otherDoctor.drCode = "DR02"
            let changed = await refusal { _ = try await clinic.signFamilyDoctorContract(otherDoctor) }
            #expect(changed?.code == .alreadyExists && changed?.message.hasPrefix("begndate: ") == true)
            let longAgo = await refusal { _ = try await clinic.signFamilyDoctorContract(contract(from: d(-400))) }
            #expect(longAgo?.code == .invalidArgument && longAgo?.message.hasPrefix("begndate: ") == true)

            var badCode = registration(); badCode.opspDiseCode = "高血压"
            var unknownDoctor = registration(); unknownDoctor.diagDrCodg = "DR99"
            var notSignedIn = registration(); notSignedIn.opterNo = "D002"
            let backwards = registration(from: d(-10), to: d(-20))
            let tooEarly = registration(from: d(-400))
            var nobody = registration(); nobody.psnNo = "P999"
            var notEnrolled = registration(); notEnrolled.psnNo = suspended.psnNo
            for (request, code, field) in [
                (badCode, RPCError.Code.invalidArgument, "opsp_dise_code"), (unknownDoctor, .failedPrecondition, "diag_dr_codg"),
                (notSignedIn, .failedPrecondition, "opter_no"), (backwards, .invalidArgument, "enddate"), (tooEarly, .invalidArgument, "begndate"),
                (nobody, .notFound, "psn_no"),
                (notEnrolled, .failedPrecondition, "psn_no"),
            ] {
                let error = await refusal { _ = try await clinic.registerChronicCondition(request) }
                #expect(error?.code == code && error?.message.hasPrefix("\(field): ") == true, "\(field): \(String(describing: error))")
            }
            // A clinic registers and contracts only for itself.
            let elsewhere = await refusal { _ = try await clinic.registerChronicCondition(registration(at: Self.other)) }
            #expect(elsewhere?.code == .permissionDenied)
            let contractElsewhere = await refusal { _ = try await clinic.signFamilyDoctorContract(contract(at: Self.centre, from: d(-200))) }
            #expect(contractElsewhere?.code == .permissionDenied)
            // Another institution's registration is still the person's, read by anyone who may.
            _ = try await settlement.registerChronicCondition(registration("E11", name: "2型糖尿病", at: Self.other))
            #expect(try await clinic.getChronicStanding(ChronicStandingRequest(psnNo: quzhou.psnNo, date: d(-1), certno: quzhou.certno)).registrations.count == 2)
            // The standing holds diagnoses: not for a resident ID that is not the person's.
            let wrongID = await refusal { _ = try await clinic.getChronicStanding(ChronicStandingRequest(psnNo: quzhou.psnNo, certno: hangzhou.certno)) }
            #expect(wrongID?.code == .notFound)
        }
    }
}

/// 2203-2205 on both engines: each step changes a registered visit under its lock, and once
/// the visit is settled none may (on PostgreSQL the live settlement is read after the lock,
/// in a statement of its own; on SQLite with the visit's row).
@Suite struct VisitStepsTests {
    @Test(arguments: Engine.all)
    func aVisitChangesUntilItIsSettledThenIsFrozen(engine: Engine) async throws {
        try await ChronicCareTests().withChronicCare(engine) { clinic, settlement in
            let code = ChronicCareTests.clinic
            let visit = try await clinic.registerVisit(RegisterVisitRequest(
                fixmedinsCode: code, iptOtpNo: "OP-STEPS-1", psnNo: quzhou.psnNo, insutype: .residentBasic, medType: .generalOutpatient,
                begntime: "2024-06-01", atddrNo: "DR01", opterNo: "D001", mdtrtCertType: .ecard, mdtrtCertNo: "EC-STEPS-1"
            ))
            let ref = VisitRef(fixmedinsCode: code, mdtrtID: visit.mdtrtID)
            func detail(_ sn: String, _ cnt: Int64) -> FeeDetail {
                FeeDetail(feedetlSn: sn, medListCodg: "XJ01CAA040A001010100001", medinsListCodg: "YP0007", cnt: cnt, pric: 50, bilgDrCodg: "DR01", days: 1)
            }
            func upload(_ details: [FeeDetail]) async throws -> Visit {
                try await clinic.uploadFeeDetails(UploadFeeDetailsRequest(fixmedinsCode: code, mdtrtID: visit.mdtrtID, details: details, opterNo: "D001"))
            }
            func undo(_ sns: [String]) async throws -> Visit {
                try await clinic.undoFeeDetails(UndoFeeDetailsRequest(fixmedinsCode: code, mdtrtID: visit.mdtrtID, feedetlSns: sns, opterNo: "D001"))
            }
            _ = try await clinic.uploadDiagnoses(UploadDiagnosesRequest(fixmedinsCode: code, mdtrtID: visit.mdtrtID, diagnoses: ["J06.9"], opterNo: "D001"))
            _ = try await upload([detail("1", 10), detail("2", 4)])
            #expect(try await undo(["2"]).details.map(\.feedetlSn) == ["1"])
            // Serials continue after the highest held: the next detail is the third line stored.
            let added = try await upload([detail("3", 6)])
            #expect(added.details.map(\.feedetlSn) == ["1", "3"] && added.claim?.lines.map(\.quantity) == [10, 6])
            // Settled as the gateway settles it: with the claim its details make (16 x 0.50).
            let held = try #require(try await clinic.getVisit(ref).claim)
            let settled = try await settlement.settle(SettleRequest(claim: held), options: keyed("steps-1"))
            #expect(settled.medfeeSumamt == 800 && settled.mdtrtID == visit.mdtrtID)
            for change in [{ _ = try await upload([detail("4", 1)]) }, { _ = try await undo(["1"]) }] as [() async throws -> Void] {
                let frozen = await #expect(throws: RPCError.self) { try await change() }
                #expect(frozen?.code == .failedPrecondition && frozen?.message.hasPrefix("mdtrt_id:") == true
                        && frozen?.message.contains(settled.setlID) == true, "\(String(describing: frozen))")
            }
            let diagnoses = await #expect(throws: RPCError.self) {
                _ = try await clinic.uploadDiagnoses(UploadDiagnosesRequest(fixmedinsCode: code, mdtrtID: visit.mdtrtID, diagnoses: ["J00"], opterNo: "D001"))
            }
            #expect(diagnoses?.code == .failedPrecondition)
        }
    }
}
