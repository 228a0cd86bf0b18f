import MedicareContracts
import MedicareWire
import MedicareDomain
import MedicareRPC
import MedicareStore
import SettlementService
import MedicareTestSupport
import Testing

/// Quzhou resident (policy quzhou-2024.1: no deductible, general 60%, chronic 65%, 乙 first
/// self-pay 10%, general ceiling 2,000.00 yuan) and a Hangzhou employee (zhejiang-2024.1:
/// general deductible 300.00 yuan, 50%).
let quzhou = InsuredPerson(psnNo: "P001", certno: residentID("33080219700101001"), name: "张三", insutype: .residentBasic, insuAdmdvs: "330802", psnInsuStas: .enrolled, accountBalance: 0)
let hangzhou = InsuredPerson(psnNo: "P002", certno: residentID("33010619800202002"), name: "李四", insutype: .employeeBasic, insuAdmdvs: "330106", psnInsuStas: .enrolled, accountBalance: 10_000)
let suspended = InsuredPerson(psnNo: "P003", certno: residentID("33080219900303003"), name: "王五", insutype: .residentBasic, insuAdmdvs: "330802", psnInsuStas: .suspended, accountBalance: 0)

func claim(_ id: String, person: InsuredPerson = quzhou, visit: MedType = .generalOutpatient, date: String = "2024-06-01",
           _ lines: [(String, Int64, Int64)], account: Bool = false, diagnoses: [String] = []) -> SettleRequest {
    SettleRequest(claim: Claim(
        mdtrtID: id, psnNo: person.psnNo, certno: person.certno, fixmedinsCode: "H33080200101", settleVia: "H33080200001",
        medType: visit, visitDate: date, diagnoses: diagnoses,
        lines: lines.map { FeeLine(itemCode: $0.0, quantity: $0.1, unitPrice: $0.2) }, useAccount: account
    ))
}

/// The settlement service over a real store with `policies` (the bundled book when nil),
/// its channel and its database.
func withSettlementService<T: Sendable>(
    engine: Engine = .sqlite, policies: PolicyBook? = nil, _ body: @escaping @Sendable (InProcessChannel, any SQLDatabase) async throws -> T
) async throws -> T {
    try await withService("settlement", engine: engine, migrations: SettlementDefinition.migrations, router: { db in
        var router = RPCRouter()
        SettlementProvider(store: SettlementStore(database: db), policies: try policies ?? PolicyBook.bundled()).register(with: &router)
        return router
    }, body)
}

func withSettlement<T: Sendable>(
    engine: Engine = .sqlite, policies: PolicyBook? = nil, _ body: @escaping @Sendable (SettlementClient) async throws -> T
) async throws -> T {
    try await withSettlementService(engine: engine, policies: policies) { channel, _ in
        let client = SettlementClient(channel)
        _ = try await client.importPersons(ImportPersonsRequest(persons: [quzhou, hangzhou, suspended]))
        return try await body(client)
    }
}

@Suite("Settlement")
struct SettlementTests {
    @Test func categoryADrug() async throws {
        try await withSettlement { s in
            // 20 x 0.50 = 10.00 yuan, all in scope; fund 60% = 6.00; cash 4.00.
            let r = try await s.settle(claim("V1", [("XJ01CAA040A001010100001", 20, 50)]), options: keyed("k1"))
            #expect(r.medfeeSumamt == 1000 && r.inscpScpAmt == 1000 && r.preselfpayAmt == 0)
            #expect(r.hifpPay == 600 && r.fundPaySumamt == 600 && r.psnCashPay == 400 && r.acctPay == 0)
            #expect(r.policyVersion == "quzhou-2024.1" && r.poolPropSelfpay == 6000 && !r.setlID.isEmpty)
        }
    }

    /// Policy is keyed by insurance type as well as region: a Quzhou employee settles under the
    /// Quzhou employees' policy, a Quzhou resident under the Quzhou policy for every type, a
    /// Hangzhou employee under Zhejiang's employees' policy; the most specific region wins
    /// over a named type, and the result names the version. A policy naming a type that is no
    /// national insurance type number is refused, naming the field.
    @Test func policyIsChosenByRegionAndInsuranceType() async throws {
        var book = try PolicyBook.bundled()
        // Quzhou's employees have their own shipped version (without residents' serious
        // illness); this one, later, replaces it.
        var employees = try #require(book.policies.first { $0.version == "quzhou-2024.1-employees" })
        employees.effectiveFrom = "2024-04-01"
        employees.version = "quzhou-employees-test"
        employees.insutypes = ["310"]
        employees.poolingRatio["general_outpatient"] = 7_000
        var zhejiangEmployees = try #require(book.policies.first { $0.version == "zhejiang-2024.1" })
        zhejiangEmployees.version = "zhejiang-employees-test"
        zhejiangEmployees.insutypes = ["310"]
        zhejiangEmployees.annualDeductible["general_outpatient"] = 10_000
        book.policies += [employees, zhejiangEmployees]
        try book.validate()
        var wrong = employees
        wrong.insutypes = ["311"]
        let refused = #expect(throws: DomainError.self) { try wrong.validate() }
        #expect(refused?.field == "quzhou-employees-test.insutypes[0]", "\(String(describing: refused))")
        let worker = InsuredPerson(psnNo: "P004", certno: residentID("33080219750505005"), name: "赵六", insutype: .employeeBasic, insuAdmdvs: "330802",
                                   psnInsuStas: .enrolled, accountBalance: 0)
        try await withSettlement(policies: book) { s in
            _ = try await s.importPersons(ImportPersonsRequest(persons: [worker]))
            // 20 x 0.50 = 10.00 in scope. Resident: 60% = 6.00. Employee: 70% = 7.00.
            let resident = try await s.settle(claim("VT1", [("XJ01CAA040A001010100001", 20, 50)]), options: keyed("t1"))
            #expect(resident.hifpPay == 600 && resident.policyVersion == "quzhou-2024.1")
            let employee = try await s.settle(claim("VT2", person: worker, [("XJ01CAA040A001010100001", 20, 50)]), options: keyed("t2"))
            #expect(employee.hifpPay == 700 && employee.psnCashPay == 300 && employee.policyVersion == "quzhou-employees-test")
            // Hangzhou employee: Zhejiang's employees' policy, deductible 100.00 then 50%:
            // 10.00 + 100 x 1.20 = 130.00; 100.00 to the deductible, 30.00 x 50% = 15.00.
            let hz = try await s.settle(claim("VT3", person: hangzhou, [("001102000050000", 1, 1000), ("XC08CAX052B002010100002", 100, 120)]), options: keyed("t3"))
            #expect(hz.actPayDedc == 10_000 && hz.hifpPay == 1_500 && hz.policyVersion == "zhejiang-employees-test")
        }
    }

    /// Policy keyed by institution level: a policy for village clinics applies to a claim
    /// whose route says village clinic, not to a township centre's or one whose level is not
    /// known (only policies for every level apply then); an unknown level is refused, named.
    @Test func policyIsChosenByInstitutionLevel() async throws {
        var book = try PolicyBook.bundled()
        var village = try #require(book.policies.first { $0.version == "quzhou-2024.1" })
        village.version = "quzhou-village-test"
        village.institutionKinds = ["village_clinic"]
        village.poolingRatio["general_outpatient"] = 7_000
        book.policies.append(village)
        var wrong = village
        wrong.institutionKinds = ["hospital"]
        let refused = #expect(throws: DomainError.self) { try wrong.validate() }
        #expect(refused?.field == "quzhou-village-test.institutionKinds[0]", "\(String(describing: refused))")
        try await withSettlement(policies: book) { s in
            func settle(_ id: String, day: String, _ kind: InstitutionKind) async throws -> SettlementResult {
                var request = claim(id, date: day, [("XJ01CAA040A001010100001", 20, 50)])
                request.fixmedinsKind = kind
                return try await s.settle(request, options: keyed(id))
            }
            let clinic = try await settle("VL1", day: "2024-06-01", .villageClinic)
            #expect(clinic.hifpPay == 700 && clinic.policyVersion == "quzhou-village-test")
            let centre = try await settle("VL2", day: "2024-06-02", .townshipCentre)
            let unknown = try await settle("VL3", day: "2024-06-03", .unspecified)
            #expect(centre.hifpPay == 600 && centre.policyVersion == "quzhou-2024.1" && unknown.policyVersion == "quzhou-2024.1")
        }
    }

    /// 2207's insutype, when the HIS states it, must be the person's: 390 for a resident
    /// settles, 310 is refused naming the field, an undeclared number is out of form.
    @Test func aStatedInsutypeMustBeThePersons() async throws {
        try await withSettlement { s in
            var stated = claim("V9", [("XJ01CAA040A001010100001", 20, 50)])
            stated.claim?.insutype = .residentBasic
            let settled = try await s.settle(stated, options: keyed("i1"))
            #expect(settled.hifpPay == 600)
            var wrong = claim("V10", [("XJ01CAA040A001010100001", 20, 50)])
            wrong.claim?.insutype = .employeeBasic
            let refused = await #expect(throws: RPCError.self) { _ = try await s.settle(wrong, options: keyed("i2")) }
            #expect(refused?.code == .failedPrecondition && refused?.message.hasPrefix("claim.insutype") == true, "\(String(describing: refused))")
            wrong.claim?.insutype = Insutype(rawValue: 999)
            let unknown = await #expect(throws: RPCError.self) { _ = try await s.settle(wrong, options: keyed("i3")) }
            #expect(unknown?.code == .invalidArgument && unknown?.message.hasPrefix("claim.insutype") == true, "\(String(describing: unknown))")
        }
    }

    @Test func categoryBDrugWithFirstSelfPay() async throws {
        try await withSettlement { s in
            // 10 x 2.50 = 25.00; first self-pay 10% = 2.50; scope 22.50; fund 60% = 13.50; cash 25.00 - 13.50 = 11.50.
            let r = try await s.settle(claim("V2", [("XC10AAA056B001020100004", 10, 250)]), options: keyed("k2"))
            #expect(r.medfeeSumamt == 2500 && r.preselfpayAmt == 250 && r.inscpScpAmt == 2250)
            #expect(r.hifpPay == 1350 && r.psnCashPay == 1150)
        }
    }

    @Test func categoryCItemIsFullySelfPaid() async throws {
        try await withSettlement { s in
            // 2 x 2.00 = 4.00, 丙: all own pay, nothing from the fund.
            let r = try await s.settle(claim("V3", [("XM01AEB011A002010100005", 2, 200)]), options: keyed("k3"))
            #expect(r.fulamtOwnpayAmt == 400 && r.inscpScpAmt == 0 && r.hifpPay == 0 && r.psnCashPay == 400)
        }
    }

    @Test func priceAboveTheReferenceIsCappedAndSelfPaid() async throws {
        try await withSettlement { s in
            // 10 x 0.60 = 6.00 against a reference of 0.50: 1.00 over the limit, self-paid;
            // 5.00 in scope; fund 60% = 3.00; cash 6.00 - 3.00 = 3.00.
            let r = try await s.settle(claim("V4", [("XJ01CAA040A001010100001", 10, 60)]), options: keyed("k4"))
            #expect(r.medfeeSumamt == 600 && r.overlmtSelfpay == 100 && r.inscpScpAmt == 500 && r.hifpPay == 300 && r.psnCashPay == 300)
        }
    }

    @Test func deductibleIsConsumedAcrossClaimsAndTheAccountPays() async throws {
        try await withSettlement { s in
            // Hangzhou: deductible 300.00, ratio 50%.
            // Claim A: 10.00 + 100 x 1.20 = 130.00 in scope, all deductible: fund 0, cash 130.00.
            let a = try await s.settle(claim("VA", person: hangzhou, [("001102000050000", 1, 1000), ("XC08CAX052B002010100002", 100, 120)]), options: keyed("ka"))
            #expect(a.medfeeSumamt == 13_000 && a.actPayDedc == 13_000 && a.hifpPay == 0 && a.psnCashPay == 13_000)
            // Claim B: 200 x 1.20 = 240.00; 170.00 of deductible left: dedc 170.00; 70.00 pooled at
            // 50% = 35.00 fund; self 205.00: account (100.00 balance) 100.00, cash 105.00.
            let b = try await s.settle(claim("VB", person: hangzhou, date: "2024-06-02", [("XC08CAX052B002010100002", 200, 120)], account: true), options: keyed("kb"))
            #expect(b.actPayDedc == 17_000 && b.hifpPay == 3_500 && b.acctPay == 10_000 && b.psnCashPay == 10_500)
            #expect(b.policyVersion == "zhejiang-2024.1")
            // Claim C: deductible exhausted: 10.00 at 50% = 5.00 fund; account empty, cash 5.00.
            let c = try await s.settle(claim("VC", person: hangzhou, date: "2024-06-03", [("001102000050000", 1, 1000)], account: true), options: keyed("kc"))
            #expect(c.actPayDedc == 0 && c.hifpPay == 500 && c.acctPay == 0 && c.psnCashPay == 500)
        }
    }

    @Test func annualCeilingCrossedInsideOneClaim() async throws {
        try await withSettlement { s in
            // Claim 1: 6000 x 0.50 = 3,000.00; fund 60% = 1,800.00 (ceiling 2,000.00).
            let first = try await s.settle(claim("VX1", [("XJ01CAA040A001010100001", 6000, 50)]), options: keyed("kx1"))
            #expect(first.hifpPay == 180_000)
            // Claim 2: 10.00 + 1000 x 0.50 = 510.00; 60% = 306.00 but only 200.00 of the ceiling
            // is left: fund 200.00, 106.00 over the ceiling, cash 310.00.
            let second = try await s.settle(claim("VX2", date: "2024-06-02", [("001102000050000", 1, 1000), ("XJ01CAA040A001010100001", 1000, 50)]), options: keyed("kx2"))
            #expect(second.hifpPay == 20_000 && second.overCeiling == 10_600 && second.psnCashPay == 31_000)
            // Claim 3: the ceiling is reached: no fund pay at all.
            let third = try await s.settle(claim("VX3", date: "2024-06-03", [("001102000050000", 1, 1000)]), options: keyed("kx3"))
            #expect(third.hifpPay == 0 && third.overCeiling == 600 && third.psnCashPay == 1000)
        }
    }

    @Test(arguments: Engine.all)
    func reversalRestoresTheAccumulatorsAndIsRefusedTwice(engine: Engine) async throws {
        try await withSettlement(engine: engine) { s in
            _ = try await s.settle(claim("VR1", [("XJ01CAA040A001010100001", 6000, 50)]), options: keyed("kr1"))  // fund 1,800.00
            let second = try await s.settle(claim("VR2", date: "2024-06-02", [("001102000050000", 1, 1000), ("XJ01CAA040A001010100001", 1000, 50)]), options: keyed("kr2"))
            #expect(second.hifpPay == 20_000)
            let reversal = try await s.reverse(ReverseRequest(setlID: second.setlID, reason: "wrong patient"), options: keyed("rev-1"))
            #expect(reversal.original?.status == .reversed)
            // The same reversal retried returns the first answer.
            #expect(try await s.reverse(ReverseRequest(setlID: second.setlID), options: keyed("rev-1")).reversalID == reversal.reversalID)
            // Another reversal is refused.
            let error = await #expect(throws: RPCError.self) {
                _ = try await s.reverse(ReverseRequest(setlID: second.setlID), options: keyed("rev-2"))
            }
            #expect(error?.code == .failedPrecondition && error?.message.contains("already reversed") == true)
            // The ceiling room is back: the same claim again gets 200.00 from the fund.
            let again = try await s.preSettle(claim("VR3", [("001102000050000", 1, 1000), ("XJ01CAA040A001010100001", 1000, 50)]))
            #expect(again.hifpPay == 20_000)
            let ledger = try await s.checkLedger(LedgerCheckRequest())
            #expect(ledger.balanced && ledger.problems.isEmpty && ledger.settlements == 2 && ledger.reversals == 1, "\(ledger.problems)")
            #expect(ledger.totalDebits == ledger.totalCredits && ledger.totalDebits == 300_000 + 2 * 51_000)
        }
    }

    @Test(arguments: Engine.all)
    func aRetriedSettleReturnsTheFirstAnswerAndPostsNothingNew(engine: Engine) async throws {
        try await withSettlement(engine: engine) { s in
            let first = try await s.settle(claim("VI", [("XJ01CAA040A001010100001", 20, 50)]), options: keyed("same"))
            let retried = try await s.settle(claim("VI", [("XJ01CAA040A001010100001", 20, 50)]), options: keyed("same"))
            // The stored answer, marked as a replay.
            var unmarked = retried
            unmarked.replay = false
            #expect(retried.setlID == first.setlID && unmarked == first && retried.replay && !first.replay)
            let ledger = try await s.checkLedger(LedgerCheckRequest())
            #expect(ledger.settlements == 1 && ledger.totalDebits == 1000 && ledger.balanced)
            let reused = await #expect(throws: RPCError.self) {
                _ = try await s.settle(claim("OTHER", [("XJ01CAA040A001010100001", 1, 50)]), options: keyed("same"))
            }
            #expect(reused?.code == .failedPrecondition)
            let noKey = await #expect(throws: RPCError.self) { _ = try await s.settle(claim("VK", [("001102000050000", 1, 1000)])) }
            #expect(noKey?.code == .invalidArgument && noKey?.message.contains("idempotency-key") == true)
        }
    }

    @Test(arguments: Engine.all)
    func concurrentSettlementsKeepTheLedgerBalanced(engine: Engine) async throws {
        try await withSettlement(engine: engine) { s in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<64 {
                    // One person, a day each (the same item twice on one day is R003).
                    let date = "2024-\(6 + i / 28 < 10 ? "0" : "")\(6 + i / 28)-\(1 + i % 28 < 10 ? "0" : "")\(1 + i % 28)"
                    group.addTask { _ = try await s.settle(claim("VC\(i)", date: date, [("XJ01CAA040A001010100001", 6000, 50)]), options: keyed("c\(i)")) }
                }
                try await group.waitForAll()
            }
            // 64 claims of 1,800.00 each against a 2,000.00 ceiling: exactly 2,000.00 paid in total.
            let ledger = try await s.checkLedger(LedgerCheckRequest())
            #expect(ledger.balanced, "\(ledger.problems)")
            #expect(ledger.settlements == 64)
        }
    }

    @Test(arguments: [
        (claim("B1", [("XJ01CAA040A001010100001", -1, 50)]), "claim.lines[0].quantity: must be 1-100000, got -1"),
        (claim("B2", [("NOPE", 1, 50)]), "claim.lines[0].item_code: 'NOPE' is not in the catalogue"),
        (claim("B3", [("XJ01CAA040A001010100001", 100_000, 100_000_000)]), "claim.lines[0]: quantity x unit_price exceeds 1000000000000 fen"),
        (claim("B4", date: "2024-02-30", [("XJ01CAA040A001010100001", 1, 50)]), "claim.visit_date: '2024-02-30' is not a date (YYYY-MM-DD)"),
        (claim("B5", visit: .emergency, [("XJ01CAA040A001010100001", 1, 50)]), "claim.med_type: 13 (emergency) is not settled at a village clinic: 11 (general outpatient) or 14 (chronic outpatient)"),
        (claim("B5", visit: .unspecified, [("XJ01CAA040A001010100001", 1, 50)]), "claim.med_type: is required: one of general_outpatient (11), outpatient_registration (12), emergency (13), chronic_outpatient (14)"),
        (SettleRequest(claim: Claim(mdtrtID: "B6", psnNo: "P001", fixmedinsCode: "H3308", medType: .generalOutpatient, visitDate: "2024-06-01",
                                    lines: [FeeLine(itemCode: "001102000050000", quantity: 1, unitPrice: 1000)])), "claim.fixmedins_code: 'H3308' is not an institution code (H followed by 11 digits)"),
        (claim("B7", date: "2023-06-01", [("XJ01CAA040A001010100001", 1, 50)]), "claim.visit_date: no benefit policy covers region 330802 and insurance type 390 on 2023-06-01"),
    ])
    func badClaimsAreRefusedNamingTheField(request: SettleRequest, message: String) async throws {
        try await withSettlement { s in
            let error = await #expect(throws: RPCError.self) { _ = try await s.settle(request, options: keyed("bad")) }
            #expect(error?.message == message)
            // Well formed but not covered by the policy or the catalogue: a precondition, as
            // review's R007 is through the gateway; out of form: the caller's argument.
            let precondition = message.contains("no benefit policy") || message.contains("is not in the catalogue")
            #expect(error?.code == (precondition ? .failedPrecondition : .invalidArgument))
            let ledger = try await s.checkLedger(LedgerCheckRequest())
            #expect(ledger.settlements == 0)
        }
    }

    @Test func suspendedPersonCannotSettle() async throws {
        try await withSettlement { s in
            let error = await #expect(throws: RPCError.self) {
                _ = try await s.settle(claim("VS", person: suspended, [("001102000050000", 1, 1000)]), options: keyed("ks"))
            }
            #expect(error?.code == .failedPrecondition)
        }
    }

    @Test func identityVerification() async throws {
        try await withSettlement { s in
            let ok = try await s.verifyIdentity(VerifyIdentityRequest(certno: quzhou.certno))
            #expect(ok.valid && ok.person?.psnNo == "P001" && ok.birthday == "1970-01-01" && ok.gend == .male)
            let bad = quzhou.certno.dropLast() + (quzhou.certno.last == "1" ? "2" : "1")
            let error = await #expect(throws: RPCError.self) { _ = try await s.verifyIdentity(VerifyIdentityRequest(certno: String(bad))) }
            #expect(error?.code == .invalidArgument && error?.message.hasPrefix("certno: check digit is") == true)
            let notEnrolled = try await s.verifyIdentity(VerifyIdentityRequest(certno: suspended.certno))
            #expect(!notEnrolled.valid && notEnrolled.reason == "enrolment is suspended")
        }
    }
}
