import MedicareContracts
import MedicareDomain
import MedicareWire

/// What settling a claim decides, as values: the split (``result(person:accumulator:)``)
/// and the ledger entries that post it (``LedgerEntry/entries(of:reverse:)``). The store runs
/// it inside the posting's transaction with the person and their year's accumulator as the
/// transaction locked them, and persists what it decided; nothing here reads or writes.
struct Settling: Sendable {
    let claim: ValidatedClaim
    let policies: PolicyBook
    /// The clinic's kind (level) from the registry's route (``SettleRequest/fixmedinsKind``).
    var institutionKind: InstitutionKind = .unspecified

    /// The split of the claim for `person` on the terms of `settledAs` (the claim's medical
    /// type, or general outpatient for a chronic claim away from the contracted institution:
    /// ``ChronicStandingOnDay/settledAs(_:)``) with `accumulator` (deductible used and fund
    /// paid this year on those terms), by the benefit policy of the insured region and
    /// insurance type of the person's record in force on the visit day
    /// (``InsuredPerson/enrolled(on:insutype:field:insutypeField:)``) and the clinic's level in force on the visit day
    /// (``PolicyBook/policy(region:insutype:institutionKind:on:)``). Errors: FAILED_PRECONDITION (no
    /// record in force that day or not enrolled in it; a stated insutype the person does not hold that day; no policy covers the region and day), INVALID_ARGUMENT (`certno` is not the
    /// person's; a visit before the person's birth).
    /// `year`: the person's accumulators of this year over every visit type
    /// (``SettlementStore/Accumulator/year(of:)``), for serious illness, the civil-servant
    /// subsidy and medical assistance, which count by year.
    func result(person held: InsuredPerson, settledAs: MedType, accumulator: SettlementStore.Accumulator, year: SettlementStore.Accumulator) throws -> SettlementResult {
        // The insurance record in force on the visit day, of the stated type (2207's insutype)
        // or the basic one: its type and insured region choose the policy.
        let person = try held.enrolled(on: claim.visitDate.description, insutype: claim.claim.insutype, field: "claim.psn_no", insutypeField: "claim.insutype")
        if let certno = claim.certno, certno.value != person.certno {
            throw DomainError(field: "claim.certno", "does not match person \(person.psnNo)")
        }
        // The person's birth from their resident ID: a visit before it is not plausible.
        if let id = try? ResidentID(person.certno), claim.visitDate < id.birth {
            throw DomainError(field: "claim.visit_date", "\(claim.visitDate) is before the person's birth")
        }
        let policy = try policies.policy(
            region: person.insuAdmdvs, insutype: person.insutype.rawValue, institutionKind: institutionKind == .unspecified ? nil : institutionKind.code,
            on: claim.visitDate.description)
        let output = try BenefitCalculator.calculate(
            .init(
                lines: claim.lines, visitType: settledAs.code, useAccount: claim.claim.useAccount,
                accountBalance: person.accountBalance, deductibleUsed: accumulator.deductibleUsed, fundPaidThisYear: accumulator.fundPaid,
                beyond: .init(
                    civilServant: person.cvlservFlag && person.insutype == .employeeBasic, assistanceCategory: person.psnIdetType == .unspecified ? nil : person.psnIdetType.code,
                    borneThisYear: year.borne, seriousIllnessPaid: year.hifmiPaid, civilServantPaid: year.cvlservPaid, assistancePaid: year.mafPaid
                )
            ),
            policy: policy
        )
        return SettlementResult(
            mdtrtID: claim.claim.mdtrtID, psnNo: person.psnNo, fixmedinsCode: claim.clinic.value, settleVia: claim.settleVia.value,
            medfeeSumamt: output.medfeeSumamt, fulamtOwnpayAmt: output.fulamtOwnpayAmt, overlmtSelfpay: output.overlmtSelfpay,
            preselfpayAmt: output.preselfpayAmt, inscpScpAmt: output.inscpScpAmt, actPayDedc: output.actPayDedc, hifpPay: output.hifpPay,
            poolPropSelfpay: output.poolingRatio, fundPaySumamt: output.fundPaySumamt, acctPay: output.acctPay, psnCashPay: output.psnCashPay,
            overCeiling: output.overCeiling, policyVersion: policy.version,
            lines: output.lines.map {
                LineResult(itemCode: $0.itemCode, chrgitmLv: Self.chrgitmLv($0.category), amount: $0.amount, overlmtSelfpay: $0.overLimitSelfPay,
                           fulamtOwnpayAmt: $0.fullOwnPay, preselfpayAmt: $0.firstSelfPay, inscpScpAmt: $0.inScope)
            },
            settledAs: settledAs, hifmiPay: output.hifmiPay, cvlservPay: output.cvlservPay, mafPay: output.mafPay,
            setldetail: Self.setldetail(output, insutype: person.insutype)
        )
    }

    /// 2207's setldetail: each fund that paid, in payment order, typed by the scheme the person
    /// is insured under (an employee's pooling and large-expense subsidy, a resident's basic
    /// and serious-illness funds).
    static func setldetail(_ output: BenefitCalculator.Output, insutype: Insutype) -> [SetlDetail] {
        let employee = insutype == .employeeBasic || insutype == .civilServantSubsidy || insutype == .largeExpenseSubsidy || insutype == .retireeSupport
        let paid: [(FundPayType, Int64)] = [
            (employee ? .employeePooling : .residentPooling, output.hifpPay),
            (employee ? .largeExpenseSubsidy : .residentSeriousIllness, output.hifmiPay),
            (.civilServantSubsidy, output.cvlservPay),
            (.medicalAssistance, output.mafPay),
            (.employeeAccount, output.acctPay),
        ]
        return paid.filter { $0.1 != 0 }.map { SetlDetail(fundPayType: $0.0, fundPayamt: $0.1) }
    }

    /// The catalogue's category (甲 "A", 乙 "B", 丙 "C") as the national 收费项目等级 code.
    static func chrgitmLv(_ category: String) -> ChrgitmLv {
        switch category {
        case "A": .classA
        case "B": .classB
        case "C": .classC
        default: .unspecified
        }
    }
}

/// One line of a balanced posting: an account and its debit or credit, fen.
struct LedgerEntry: Sendable, Equatable {
    let account: String
    let debit: Int64
    let credit: Int64

    /// Each fund's ledger account, the settlements column that holds what it paid, and where a
    /// result says it.
    static let funds: [(account: String, column: String, paid: KeyPath<SettlementResult, Int64> & Sendable)] = [
        ("fund:pooling", "hifp_pay", \.hifpPay), ("fund:serious_illness", "hifmi_pay", \.hifmiPay),
        ("fund:civil_servant", "cvlserv_pay", \.cvlservPay), ("fund:medical_assistance", "maf_pay", \.mafPay),
    ]

    /// A settlement's entries: each fund (pooling, serious illness, civil-servant subsidy,
    /// medical assistance: ``funds``), the person's account and their cash pay the
    /// settling institution (`settle_via`) the total; a reversal the same entries mirrored.
    /// Zero lines are left out. Debits equal credits by construction (the split's parts add
    /// up to `medfee_sumamt`, which ``BenefitCalculator`` guarantees).
    static func entries(of result: SettlementResult, reverse: Bool) -> [LedgerEntry] {
        let lines: [(String, Int64, Int64)] = funds.map { ($0.account, result[keyPath: $0.paid], 0) } + [
            ("person:account:\(result.psnNo)", result.acctPay, 0),
            ("person:cash:\(result.psnNo)", result.psnCashPay, 0),
            ("institution:payable:\(result.settleVia)", 0, result.medfeeSumamt),
        ]
        return lines.compactMap { account, debit, credit in
            guard debit != 0 || credit != 0 else { return nil }
            return reverse ? LedgerEntry(account: account, debit: credit, credit: debit) : LedgerEntry(account: account, debit: debit, credit: credit)
        }
    }
}
