import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareStore
import MedicareTestSupport
import MedicareWire
import SettlementService
import Testing

/// A person's insurance records over time (1101's insuinfo): the record in force on the visit
/// day decides the insurance type and insured region, hence the policy and the funds; a day
/// no record covers, or covered by a suspended one, is refused; the records are checked on
/// import, naming the record and field.
@Suite struct InsuranceRecordTests {
    /// A resident in Hangzhou (390, region 330106: zhejiang-2024.1) until 2024-04-01, then an
    /// employee in Quzhou (310, 330802: quzhou-2024.1-employees), with a civil-servant
    /// subsidy; the resident record was enrolled from 2020-01-01.
    static let mover = InsuredPerson(
        psnNo: "R001", certno: residentID("33010619850505005"), name: "赵六", accountBalance: 0,
        insuinfo: [
            InsuInfo(insutype: .residentBasic, insuplcAdmdvs: "330106", psnInsuStas: .enrolled, psnInsuDate: "2020-01-01", pausInsuDate: "2024-04-01"),
            InsuInfo(insutype: .employeeBasic, insuplcAdmdvs: "330802", psnInsuStas: .enrolled, psnInsuDate: "2024-04-01"),
        ])
    /// A Quzhou resident whose insurance was suspended from 2024-05-01.
    static let lapsed = InsuredPerson(
        psnNo: "R002", certno: residentID("33080219750707007"), name: "钱七", accountBalance: 0,
        insuinfo: [
            InsuInfo(insutype: .residentBasic, insuplcAdmdvs: "330802", psnInsuStas: .enrolled, psnInsuDate: "2021-01-01", pausInsuDate: "2024-05-01"),
            InsuInfo(insutype: .residentBasic, insuplcAdmdvs: "330802", psnInsuStas: .suspended, psnInsuDate: "2024-05-01"),
        ])

    func presettle(_ s: SettlementClient, _ person: InsuredPerson, on day: String, stating insutype: Insutype = .unspecified) async throws -> SettlementResult {
        var request = claim("Q\(day)", person: person, date: day, [("XJ01CAA040A001010100001", 1_000, 50)])
        request.claim?.insutype = insutype
        return try await s.preSettle(request)
    }

    @Test(arguments: Engine.all)
    func theRecordInForceOnTheVisitDayDecidesTheTermsAndTheFunds(engine: Engine) async throws {
        try await withSettlement(engine: engine) { s in
            _ = try await s.importPersons(ImportPersonsRequest(persons: [Self.mover, Self.lapsed]))
            // 2024-03-15: a Hangzhou resident (the province's policy: 300.00 deductible, 50%).
            let before = try await presettle(s, Self.mover, on: "2024-03-15")
            #expect(before.policyVersion == "zhejiang-2024.1" && before.setldetail.map(\.fundPayType) == [.residentPooling], "\(before)")
            // 2024-06-01: a Quzhou employee, also when 310 is stated.
            let after = try await presettle(s, Self.mover, on: "2024-06-01", stating: .employeeBasic)
            #expect(after.policyVersion == "quzhou-2024.1-employees" && after.setldetail.first?.fundPayType == .employeePooling, "\(after)")
            // Stating 310 for a day of the resident record is refused, naming the field.
            let wrongType = await #expect(throws: RPCError.self) { _ = try await presettle(s, Self.mover, on: "2024-03-15", stating: .employeeBasic) }
            #expect(wrongType?.code == .failedPrecondition && wrongType?.message.hasPrefix("claim.insutype") == true, "\(String(describing: wrongType))")
            // A supplementary type is not what a visit settles under.
            let supplementary = await #expect(throws: RPCError.self) { _ = try await presettle(s, Self.mover, on: "2024-06-01", stating: .largeExpenseSubsidy) }
            #expect(supplementary?.code == .failedPrecondition && supplementary?.message.hasPrefix("claim.insutype") == true, "\(String(describing: supplementary))")
            // Before the first record: not insured that day.
            let uncovered = await #expect(throws: RPCError.self) { _ = try await presettle(s, Self.mover, on: "2019-12-31") }
            #expect(uncovered?.code == .failedPrecondition && uncovered?.message.hasPrefix("claim.psn_no") == true
                    && uncovered?.message.contains("2019-12-31") == true, "\(String(describing: uncovered))")
            // Suspended from 2024-05-01: the day before settles, the day after is refused, and so does a settle.
            _ = try await presettle(s, Self.lapsed, on: "2024-04-30")
            let suspended = await #expect(throws: RPCError.self) {
                _ = try await s.settle(claim("L1", person: Self.lapsed, date: "2024-06-01", [("XJ01CAA040A001010100001", 10, 50)]), options: keyed("L1"))
            }
            #expect(suspended?.code == .failedPrecondition && suspended?.message.contains("suspended") == true, "\(String(describing: suspended))")
            let settled = try await s.settle(claim("L2", person: Self.lapsed, date: "2024-04-30", [("XJ01CAA040A001010100001", 10, 50)]), options: keyed("L2"))
            #expect(settled.policyVersion == "quzhou-2024.1")

            // 1101: every record, newest first; the flat fields are today's (the employee record).
            let verified = try await s.verifyIdentity(VerifyIdentityRequest(certno: Self.mover.certno))
            #expect(verified.valid && verified.person?.insutype == .employeeBasic && verified.person?.insuAdmdvs == "330802")
            #expect(verified.person?.insuinfo.map(\.psnInsuDate) == ["2024-04-01", "2020-01-01"])
            let lapsedNow = try await s.verifyIdentity(VerifyIdentityRequest(certno: Self.lapsed.certno))
            #expect(!lapsedNow.valid && lapsedNow.reason.contains("suspended"), "\(lapsedNow)")

            // A new import replaces the records: reinstated from 2024-07-01.
            var reinstated = Self.lapsed
            reinstated.insuinfo[1].pausInsuDate = "2024-07-01"
            reinstated.insuinfo.append(InsuInfo(insutype: .residentBasic, insuplcAdmdvs: "330802", psnInsuStas: .enrolled, psnInsuDate: "2024-07-01"))
            _ = try await s.importPersons(ImportPersonsRequest(persons: [reinstated]))
            #expect(try await presettle(s, Self.lapsed, on: "2024-07-02").policyVersion == "quzhou-2024.1")
            #expect(try await s.verifyIdentity(VerifyIdentityRequest(certno: Self.lapsed.certno)).person?.insuinfo.count == 3)
        }
    }

    /// Records out of form are refused whole, naming the person, the record and the field.
    @Test func recordsAreCheckedOnImport() async throws {
        try await withSettlement { s in
            func refusal(_ person: InsuredPerson) async -> String {
                do {
                    _ = try await s.importPersons(ImportPersonsRequest(persons: [quzhou, person]))
                    return "accepted"
                } catch let error as RPCError {
                    return error.code == .invalidArgument ? error.message : "\(error.code): \(error.message)"
                } catch { return "\(error)" }
            }
            // Employee from 2024-04-01 while the resident record runs to 2024-05-01: 重复参保.
            var doubled = Self.mover
            doubled.insuinfo[0].pausInsuDate = "2024-05-01"
            #expect(await refusal(doubled).hasPrefix("persons[1].insuinfo[1].psn_insu_date: overlaps insuinfo[0]"))
            var sameType = Self.lapsed
            sameType.insuinfo[1].psnInsuDate = "2024-04-01"
            #expect(await refusal(sameType).hasPrefix("persons[1].insuinfo[1].psn_insu_date: overlaps insuinfo[0], a record of the same type"))
            var backwards = Self.mover
            backwards.insuinfo[0].pausInsuDate = "2019-06-01"
            #expect(await refusal(backwards).hasPrefix("persons[1].insuinfo[0].paus_insu_date"))
            var badDate = Self.mover
            badDate.insuinfo[1].psnInsuDate = "2024-02-30"
            #expect(await refusal(badDate).hasPrefix("persons[1].insuinfo[1].psn_insu_date"))
            var both = Self.mover
            both.insutype = .residentBasic
            #expect(await refusal(both).hasPrefix("persons[1].insutype"))
            var supplementOnly = Self.mover
            supplementOnly.insuinfo = [InsuInfo(insutype: .residentCriticalIllness, insuplcAdmdvs: "330802", psnInsuStas: .enrolled, psnInsuDate: "2024-01-01")]
            #expect(await refusal(supplementOnly).hasPrefix("persons[1].insuinfo: holds no basic insurance"))
            var region = Self.mover
            region.insuinfo[1].insuplcAdmdvs = "3308"
            #expect(await refusal(region).hasPrefix("persons[1].insuinfo[1].insuplc_admdvs"))
            var servant = Self.lapsed
            servant.cvlservFlag = true
            #expect(await refusal(servant).hasPrefix("persons[1].cvlserv_flag"))
            var many = Self.mover
            many.insuinfo = (0..<21).map { InsuInfo(insutype: .residentBasic, insuplcAdmdvs: "330802", psnInsuStas: .enrolled, psnInsuDate: "20\(String(format: "%02d", $0))-01-01", pausInsuDate: "20\(String(format: "%02d", $0))-06-01") }
            #expect(await refusal(many).hasPrefix("persons[1].insuinfo: at most 20"))
            // Nothing of a refused batch was kept.
            let absent = try await s.verifyIdentity(VerifyIdentityRequest(certno: Self.mover.certno))
            #expect(absent.reason == "not insured")
        }
    }
}

/// A legacy system's past settlements (``SettlementStore/loadHistory(_:)``) are stored as a
/// posting stores them: the ledger balances with them, R003 sees their billed items, and the
/// year's accumulators carry on from them.
@Suite struct HistoryTests {
    @Test(arguments: Engine.all)
    func pastSettlementsCountAsPostedOnes(engine: Engine) async throws {
        try await withSettlementService(engine: engine) { channel, db in
            let s = SettlementClient(channel)
            _ = try await s.importPersons(ImportPersonsRequest(persons: [quzhou]))
            // 1,900.00 yuan of pooling already paid in 2024 (Quzhou's general ceiling is 2,000.00).
            let past = SettlementResult(
                setlID: "HS00000000001", mdtrtID: "HM00000000001", psnNo: quzhou.psnNo, fixmedinsCode: "H33080200101", settleVia: "H33080200001",
                medfeeSumamt: 400_000, inscpScpAmt: 400_000, hifpPay: 190_000, poolPropSelfpay: 6_000, fundPaySumamt: 190_000, psnCashPay: 210_000,
                policyVersion: "quzhou-2024.1", status: .settled, setlDate: "2024-05-02", settledAs: .generalOutpatient,
                setldetail: [SetlDetail(fundPayType: .residentPooling, fundPayamt: 190_000)])
            try await SettlementStore(database: db).loadHistory([
                PastSettlement(result: past, visitDate: "2024-05-02", items: ["XJ01CAA040A001010100001"], scopedKey: "legacy HS00000000001", createdAt: "2024-05-02T09:00:00Z"),
            ])
            let ledger = try await s.checkLedger(LedgerCheckRequest())
            #expect(ledger.balanced && ledger.settlements == 1, "\(ledger)")
            // The same item for the same person on that day: R003.
            let duplicate = await #expect(throws: RPCError.self) {
                _ = try await s.settle(claim("N1", date: "2024-05-02", [("XJ01CAA040A001010100001", 10, 50)]), options: keyed("n1"))
            }
            #expect(duplicate?.code == .failedPrecondition, "\(String(describing: duplicate))")
            // 500.00 in scope would pay 300.00; the ceiling leaves 100.00.
            let next = try await s.settle(claim("N2", date: "2024-06-01", [("XJ01CAA040A001010100001", 1_000, 50)]), options: keyed("n2"))
            #expect(next.hifpPay == 10_000 && next.overCeiling == 20_000, "\(next)")
        }
    }
}
