import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareStore
import MedicareTestSupport
import MedicareWire
import SettlementService
import Testing

/// Every fund of the split, hand-computed to the fen under a test policy (Quzhou, every
/// insurance type; general outpatient: no deductible, pooling 60%, ceiling 2,000.00 yuan;
/// serious illness 60% of the year's borne amount above 1,000.00 yuan, at most 500.00 a year;
/// civil-servant subsidy 50%, at most 300.00; medical assistance: 低保 70% up to 200.00,
/// 特困 100% up to 10,000.00). Amoxicillin (XJ01CAA040A001010100001, 甲) at its reference price of 0.50
/// yuan, so that a line is all in scope.
@Suite struct FundSplitTests {
    static let terms: BenefitPolicy = {
        var policy = try! PolicyBook.bundled().policies.first { $0.version == "quzhou-2024.1" }!
        policy.version = "funds-test.1"
        policy.effectiveFrom = "2024-05-01"  // after quzhou-2024.1 (and its employees' version), so that it is the one in force
        policy.insutypes = ["310", "390"]
        policy.seriousIllness = .init(threshold: 100_000, ratio: 6_000, ceiling: 50_000)
        policy.civilServant = .init(ratio: 5_000, ceiling: 30_000)
        policy.medicalAssistance = ["subsistence": .init(ratio: 7_000, ceiling: 20_000), "extreme_poverty": .init(ratio: 10_000, ceiling: 1_000_000)]
        return policy
    }()

    static func person(_ n: Int, insutype: Insutype = .residentBasic, category: PsnIdetType = .unspecified, civilServant: Bool = false,
                       balance: Int64 = 0) -> InsuredPerson {
        let first17 = "330802" + String(format: "%04d%02d%02d%03d", 1960 + n, 1 + n, 1 + n, 1)
        return InsuredPerson(psnNo: "F\(n)", certno: first17 + String(ResidentID.checkCharacter(first17)), name: "参保人\(n)", insutype: insutype,
                             insuAdmdvs: "330802", psnInsuStas: .enrolled, accountBalance: balance, cvlservFlag: civilServant, psnIdetType: category)
    }

    static let plain = person(1), subsistence = person(2, category: .subsistence), servant = person(3, insutype: .employeeBasic, civilServant: true, balance: 4_000)
    static let poorest = person(4, category: .extremePoverty)

    func settle(_ s: SettlementClient, _ person: InsuredPerson, _ id: String, day: Int, _ lines: [(String, Int64, Int64)], account: Bool = false) async throws -> SettlementResult {
        var request = claim(id, person: person, date: "2024-06-\(String(format: "%02d", day))", lines, account: account)
        request.claim?.insutype = person.insutype
        return try await s.settle(request, options: keyed(id))
    }

    func withFunds(_ engine: Engine, _ body: @escaping @Sendable (SettlementClient) async throws -> Void) async throws {
        var book = try PolicyBook.bundled()
        book.policies.append(Self.terms)
        try await withSettlement(engine: engine, policies: book) { s in
            _ = try await s.importPersons(ImportPersonsRequest(persons: [Self.plain, Self.subsistence, Self.servant, Self.poorest]))
            try await body(s)
        }
    }

    /// The civil-servant subsidy follows the employee record in force on the visit day: a
    /// former civil servant now insured as a resident has none, whatever the person's flag.
    @Test(arguments: Engine.all)
    func theCivilServantSubsidyNeedsTheEmployeeRecordInForce(engine: Engine) async throws {
        try await withFunds(engine) { s in
            var former = Self.person(9, civilServant: true)
            (former.insutype, former.insuAdmdvs, former.psnInsuStas) = (.unspecified, "", .unspecified)
            former.insuinfo = [
                InsuInfo(insutype: .employeeBasic, insuplcAdmdvs: "330802", psnInsuStas: .enrolled, psnInsuDate: "2020-01-01", pausInsuDate: "2024-06-05"),
                InsuInfo(insutype: .residentBasic, insuplcAdmdvs: "330802", psnInsuStas: .enrolled, psnInsuDate: "2024-06-05"),
            ]
            _ = try await s.importPersons(ImportPersonsRequest(persons: [former]))
            var employee = former
            employee.insutype = .employeeBasic
            let before = try await settle(s, employee, "C1", day: 4, [("XJ01CAA040A001010100001", 1_000, 50)])
            #expect(before.cvlservPay > 0, "\(before)")
            var resident = former
            resident.insutype = .residentBasic
            let after = try await settle(s, resident, "C2", day: 6, [("XJ01CAA040A001010100001", 1_000, 50)])
            #expect(after.cvlservPay == 0 && after.setldetail.map(\.fundPayType) == [.residentPooling], "\(after)")
        }
    }

    /// Serious illness: nothing below the threshold; the threshold crossed inside a claim pays
    /// on the part above it; the annual ceiling crossed inside a claim pays up to it. The
    /// ledger's funds, the accumulators and a reversal all agree.
    @Test(arguments: Engine.all)
    func seriousIllnessPaysAboveItsThresholdUpToItsCeiling(engine: Engine) async throws {
        try await withFunds(engine) { s in
            // 500.00 in scope: pooling 300.00, borne 200.00 (the year: 200.00 < 1,000.00).
            let first = try await settle(s, Self.plain, "S1", day: 1, [("XJ01CAA040A001010100001", 1_000, 50)])
            #expect(first.hifpPay == 30_000 && first.hifmiPay == 0 && first.psnCashPay == 20_000 && first.policyVersion == "funds-test.1")
            #expect(first.setldetail == [SetlDetail(fundPayType: .residentPooling, fundPayamt: 30_000)])
            // 2,500.00: pooling 1,500.00, borne 1,000.00; the year reaches 1,200.00, 200.00 above
            // the threshold: serious illness 60% = 120.00; cash 880.00.
            let second = try await settle(s, Self.plain, "S2", day: 2, [("XJ01CAA040A001010100001", 5_000, 50)])
            #expect(second.hifpPay == 150_000 && second.hifmiPay == 12_000 && second.psnCashPay == 88_000 && second.fundPaySumamt == 162_000)
            #expect(second.setldetail == [SetlDetail(fundPayType: .residentPooling, fundPayamt: 150_000),
                                          SetlDetail(fundPayType: .residentSeriousIllness, fundPayamt: 12_000)])
            // 1,000.00: pooling's ceiling leaves 200.00 of its 600.00 (400.00 over); borne 800.00,
            // all above the threshold: 60% = 480.00, but the ceiling leaves 380.00; cash 420.00.
            let third = try await settle(s, Self.plain, "S3", day: 3, [("XJ01CAA040A001010100001", 2_000, 50)])
            #expect(third.hifpPay == 20_000 && third.overCeiling == 40_000 && third.hifmiPay == 38_000 && third.psnCashPay == 42_000)
            // Nothing more this year from either fund.
            let fourth = try await settle(s, Self.plain, "S4", day: 4, [("XJ01CAA040A001010100001", 100, 50)])
            #expect(fourth.hifpPay == 0 && fourth.hifmiPay == 0 && fourth.psnCashPay == 5_000)
            // Reversing the third gives its room back: the same claim again pays the same.
            _ = try await s.reverse(ReverseRequest(setlID: third.setlID, reason: "test"), options: keyed("r3"))
            let again = try await settle(s, Self.plain, "S5", day: 5, [("XJ01CAA040A001010100001", 2_000, 50)])
            #expect(again.hifpPay == 20_000 && again.hifmiPay == 38_000 && again.psnCashPay == 42_000)
            let ledger = try await s.checkLedger(LedgerCheckRequest())
            #expect(ledger.balanced && ledger.problems.isEmpty, "\(ledger.problems)")
        }
    }

    /// Medical assistance pays its category's ratio of what insurance left borne, up to its
    /// ceiling, and never the fully self-paid (丙) part; the civil-servant subsidy pays an
    /// employee with the flag before the account and cash; a person in no category gets none.
    @Test(arguments: Engine.all)
    func assistanceAndTheCivilServantSubsidyPayWhatInsuranceLeftBorne(engine: Engine) async throws {
        try await withFunds(engine) { s in
            // 低保: 500.00 in scope, pooling 300.00, borne 200.00: assistance 70% = 140.00; cash 60.00.
            let aided = try await settle(s, Self.subsistence, "A1", day: 1, [("XJ01CAA040A001010100001", 1_000, 50)])
            #expect(aided.hifpPay == 30_000 && aided.mafPay == 14_000 && aided.psnCashPay == 6_000)
            #expect(aided.setldetail.map(\.fundPayType) == [.residentPooling, .medicalAssistance])
            // The next claim: 140.00 again, but 60.00 is left of the 200.00 ceiling; cash 140.00.
            let capped = try await settle(s, Self.subsistence, "A2", day: 2, [("XJ01CAA040A001010100001", 1_000, 50)])
            #expect(capped.mafPay == 6_000 && capped.psnCashPay == 14_000)
            // 特困: 100% of the borne 200.00; the 丙 drug (20 x 2.00 = 40.00) stays the person's.
            let poorest = try await settle(s, Self.poorest, "A3", day: 1, [("XJ01CAA040A001010100001", 1_000, 50), ("XM01AEB011A002010100005", 20, 200)])
            #expect(poorest.hifpPay == 30_000 && poorest.mafPay == 20_000 && poorest.fulamtOwnpayAmt == 4_000 && poorest.psnCashPay == 4_000)
            // A civil servant (employee): pooling 300.00, subsidy 50% of the borne 200.00 = 100.00,
            // the account 40.00 of the rest, cash 60.00; the employees' fund types.
            let servant = try await settle(s, Self.servant, "A4", day: 1, [("XJ01CAA040A001010100001", 1_000, 50)], account: true)
            #expect(servant.hifpPay == 30_000 && servant.cvlservPay == 10_000 && servant.acctPay == 4_000 && servant.psnCashPay == 6_000)
            #expect(servant.setldetail == [SetlDetail(fundPayType: .employeePooling, fundPayamt: 30_000),
                                           SetlDetail(fundPayType: .civilServantSubsidy, fundPayamt: 10_000),
                                           SetlDetail(fundPayType: .employeeAccount, fundPayamt: 4_000)])
            // In no category and no flag: pooling only.
            let plain = try await settle(s, Self.plain, "A5", day: 1, [("XJ01CAA040A001010100001", 1_000, 50)])
            #expect(plain.mafPay == 0 && plain.cvlservPay == 0 && plain.psnCashPay == 20_000)
            // Every result adds up: the funds, the account and cash make the total.
            for r in [aided, capped, poorest, servant, plain] {
                #expect(r.hifpPay + r.hifmiPay + r.cvlservPay + r.mafPay == r.fundPaySumamt && r.fundPaySumamt + r.acctPay + r.psnCashPay == r.medfeeSumamt)
            }
            let ledger = try await s.checkLedger(LedgerCheckRequest())
            #expect(ledger.balanced && ledger.problems.isEmpty, "\(ledger.problems)")
        }
    }

    /// A settlement posted before the funds (migration 21) counts toward this year's serious
    /// illness once settlement starts: its borne amount is read from its stored result and
    /// added to the person's accumulators, once, so that the next claim crosses the threshold
    /// where it should.
    @Test(arguments: Engine.all)
    func anOlderSettlementCountsTowardTheThresholdAfterTheUpgrade(engine: Engine) async throws {
        var policies = try PolicyBook.bundled()
        policies.policies.append(Self.terms)
        let book = policies
        try await withSettlementService(engine: engine, policies: book) { channel, db in
            let s = SettlementClient(channel)
            _ = try await s.importPersons(ImportPersonsRequest(persons: [Self.plain]))
            // 2,500.00 in scope: pooling 1,500.00, borne 1,000.00 (the threshold, not above it).
            let old = try await settle(s, Self.plain, "U1", day: 1, [("XJ01CAA040A001010100001", 5_000, 50)])
            #expect(old.hifmiPay == 0)
            // As it would stand had it been posted before migration 21.
            try await db.write { tx in
                try await tx.execute("UPDATE settlements SET borne = NULL WHERE setl_id = $1", [.text(old.setlID)])
                try await tx.execute("UPDATE accumulators SET borne = 0 WHERE psn_no = $1", [.text(Self.plain.psnNo)])
            }
            let store = SettlementStore(database: db)
            #expect(try await store.countBorneOfOlderSettlements(thisYear: 2024) == 1)
            #expect(try await store.countBorneOfOlderSettlements(thisYear: 2024) == 0)
            // 500.00: pooling 300.00, borne 200.00, all above the threshold now: 60% = 120.00.
            let next = try await settle(s, Self.plain, "U2", day: 2, [("XJ01CAA040A001010100001", 1_000, 50)])
            #expect(next.hifmiPay == 12_000, "\(next)")
            let ledger = try await s.checkLedger(LedgerCheckRequest())
            #expect(ledger.balanced && ledger.problems.isEmpty, "\(ledger.problems)")
        }
    }

    /// A fund section out of bounds, or assistance for a category that does not exist, is
    /// refused when the policy loads, naming the field.
    @Test func fundTermsAreCheckedWhenThePolicyLoads() throws {
        var policy = Self.terms
        policy.seriousIllness?.ratio = 12_000
        #expect(throws: DomainError.self) { try policy.validate() }
        policy = Self.terms
        policy.medicalAssistance?["rich"] = .init(ratio: 1_000, ceiling: 1)
        let error = #expect(throws: DomainError.self) { try policy.validate() }
        #expect(error?.field == "funds-test.1.medicalAssistance.rich")
    }
}
