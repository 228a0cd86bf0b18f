/// The outpatient benefit calculation, a pure function of the claim, the policy and the
/// person's year-to-date accumulators. Rounding: half up, to the fen, per line for
/// first self-pay and once for the pooling share.
public enum BenefitCalculator {
    /// One fee line of a claim: a catalogue item, how many units and the price charged per unit.
    public struct Line: Sendable {
        /// The catalogue record billed, with its category, its own first self-pay ratio if any
        /// and the reference price where the visit took place (``CatalogueItem/priced(inCounty:)``).
        public var item: CatalogueItem
        /// Units billed; must be positive.
        public var quantity: Int64
        /// The price charged per unit, fen; must not be negative.
        public var unitPrice: Int64

        /// Makes a fee line; ``calculate(_:policy:)`` checks the figures.
        public init(item: CatalogueItem, quantity: Int64, unitPrice: Int64) {
            self.item = item
            self.quantity = quantity
            self.unitPrice = unitPrice
        }
    }

    /// What the calculation needs beyond the policy: the claim's lines and visit type and the
    /// person's account balance and year-to-date accumulators.
    public struct Input: Sendable {
        /// The claim's fee lines; at least one.
        public var lines: [Line]
        /// The visit type, one of ``BenefitPolicy/visitTypes`` (`general_outpatient`, `chronic_outpatient`).
        public var visitType: String
        /// Whether the person asked to pay the self-paid part from the personal account.
        public var useAccount: Bool
        /// The personal account balance, fen (a negative balance counts as zero).
        public var accountBalance: Int64
        /// Deductible already met this year for this visit type, fen.
        public var deductibleUsed: Int64
        /// Pooling fund already paid this year for this visit type, fen.
        public var fundPaidThisYear: Int64
        /// The funds beyond pooling: what the person is and has had from them this year.
        public var beyond: Beyond

        /// Makes an input from the claim's lines and visit type and the person's account and accumulators.
        public init(lines: [Line], visitType: String, useAccount: Bool, accountBalance: Int64, deductibleUsed: Int64, fundPaidThisYear: Int64,
                    beyond: Beyond = Beyond()) {
            self.lines = lines
            self.visitType = visitType
            self.useAccount = useAccount
            self.accountBalance = accountBalance
            self.deductibleUsed = deductibleUsed
            self.fundPaidThisYear = fundPaidThisYear
            self.beyond = beyond
        }
    }

    /// The person's standing with the funds beyond basic pooling, and this year's totals
    /// (every visit type together), fen.
    public struct Beyond: Sendable, Hashable {
        /// 公务员 (`cvlserv_flag`): the civil-servant subsidy applies.
        public var civilServant = false
        /// The assistance category (``BenefitPolicy/assistanceCategories``), nil for none.
        public var assistanceCategory: String?
        /// In-scope amounts borne after basic pooling this year (合规个人负担), serious illness's base.
        public var borneThisYear: Int64 = 0
        /// Paid this year by serious illness (against its annual ceiling), fen.
        public var seriousIllnessPaid: Int64 = 0
        /// Paid this year by the civil-servant subsidy, fen.
        public var civilServantPaid: Int64 = 0
        /// Paid this year by medical assistance, fen.
        public var assistancePaid: Int64 = 0

        /// Makes a standing; amounts in fen (nothing yet, by default).
        public init(civilServant: Bool = false, assistanceCategory: String? = nil, borneThisYear: Int64 = 0, seriousIllnessPaid: Int64 = 0,
                    civilServantPaid: Int64 = 0, assistancePaid: Int64 = 0) {
            self.civilServant = civilServant
            self.assistanceCategory = assistanceCategory
            self.borneThisYear = borneThisYear
            self.seriousIllnessPaid = seriousIllnessPaid
            self.civilServantPaid = civilServantPaid
            self.assistancePaid = assistancePaid
        }
    }

    /// One line's split, fen; `amount` = `overLimitSelfPay` + `fullOwnPay` + `firstSelfPay` + `inScope`.
    public struct LineResult: Sendable, Hashable {
        /// The catalogue code of the line's item.
        public var itemCode: String
        /// The item's category: "A" 甲, "B" 乙 or "C" 丙.
        public var category: String
        /// quantity x unit price, fen.
        public var amount: Int64
        /// The part above quantity x reference price, fen, when the policy caps prices (overlmt_selfpay).
        public var overLimitSelfPay: Int64
        /// The allowed amount of a category "C" item, all paid by the person, fen (fulamt_ownpay_amt).
        public var fullOwnPay: Int64
        /// The first self-pay share of the allowed amount of an "A" or "B" item, fen (preselfpay_amt).
        public var firstSelfPay: Int64
        /// The allowed amount less first self-pay, within the fund's scope, fen (inscp_scp_amt).
        public var inScope: Int64
    }

    /// The whole claim's split, in fen, with the national settlement (2207) field names.
    public struct Output: Sendable, Hashable {
        /// Each line's split, in the claim's order.
        public var lines: [LineResult] = []
        /// Total medical fees (medfee_sumamt), fen.
        public var medfeeSumamt: Int64 = 0
        /// Fully self-paid amount, category "C" (fulamt_ownpay_amt), fen.
        public var fulamtOwnpayAmt: Int64 = 0
        /// Amount above reference prices (overlmt_selfpay), fen.
        public var overlmtSelfpay: Int64 = 0
        /// First self-pay of "A" and "B" items (preselfpay_amt), fen.
        public var preselfpayAmt: Int64 = 0
        /// Amount within the fund's scope (inscp_scp_amt), fen.
        public var inscpScpAmt: Int64 = 0
        /// Deductible paid by this claim (act_pay_dedc), fen.
        public var actPayDedc: Int64 = 0
        /// Pooling fund pay (hifp_pay), fen, after the annual ceiling.
        public var hifpPay: Int64 = 0
        /// The pooling ratio applied, basis points.
        public var poolingRatio: Int64 = 0
        /// Fund share the annual ceiling cut off (paid by the person instead), fen.
        public var overCeiling: Int64 = 0
        /// Personal account pay (acct_pay), fen.
        public var acctPay: Int64 = 0
        /// Cash paid by the person (psn_cash_pay), fen: medfee_sumamt - fund_pay_sumamt - acct_pay.
        public var psnCashPay: Int64 = 0
        /// The in-scope amount the person bears after basic pooling (合规个人负担: in scope less
        /// `hifp_pay`), fen: serious illness's base, added to the year's total.
        public var borne: Int64 = 0
        /// Serious-illness insurance pay (hifmi_pay), fen.
        public var hifmiPay: Int64 = 0
        /// Civil-servant medical subsidy pay (cvlserv_pay), fen.
        public var cvlservPay: Int64 = 0
        /// Medical assistance pay (maf_pay), fen.
        public var mafPay: Int64 = 0
        /// Total fund pay (fund_pay_sumamt), fen: pooling, serious illness, civil-servant subsidy
        /// and medical assistance.
        public var fundPaySumamt: Int64 { hifpPay + hifmiPay + cvlservPay + mafPay }
    }

    /// The largest claim total accepted, fen (10 billion yuan): far above any real claim,
    /// and small enough that ratio arithmetic cannot overflow.
    public static let maxTotal: Int64 = 1_000_000_000_000

    /// Splits a claim under a policy. Per line: an amount above the reference price is self-paid
    /// when `policy.priceCap` is "cap"; category "C" is fully self-paid; "A" and "B" lose their
    /// first self-pay share and the rest is in scope. Over the claim: the deductible left this
    /// year comes off the in-scope amount, the pooling ratio applies to the rest (rounded once),
    /// the annual ceiling limits fund pay; then serious illness (on this year's borne total above
    /// its threshold), the civil-servant subsidy and medical assistance each pay their ratio of
    /// what the earlier funds left borne, up to their annual ceilings (policy sections
    /// `seriousIllness`, `civilServant`, `medicalAssistance`); and the personal account pays the
    /// self-paid part when asked and allowed for the visit type, up to its balance. Money in
    /// fen, ratios in basis points.
    /// - Throws: ``DomainError`` `invalid` for an unknown visit type (`visit_type`), no lines,
    ///   a non-positive quantity, a negative unit price, or a line or claim total above
    ///   ``maxTotal``; `precondition` for a unit price above the reference price when
    ///   `policy.priceCap` is "refuse".
    public static func calculate(_ input: Input, policy: BenefitPolicy) throws(DomainError) -> Output {
        guard let ratio = policy.poolingRatio[input.visitType] else {
            throw DomainError(field: "visit_type", "'\(input.visitType)' is not one of \(BenefitPolicy.visitTypes.joined(separator: ", "))")
        }
        guard !input.lines.isEmpty else { throw DomainError(field: "lines", "a claim needs at least one fee line") }
        var out = Output()
        out.poolingRatio = ratio
        for (i, line) in input.lines.enumerated() {
            guard line.quantity > 0 else { throw DomainError(field: "lines[\(i)].quantity", "must be positive, got \(line.quantity)") }
            guard line.unitPrice >= 0 else { throw DomainError(field: "lines[\(i)].unit_price", "must not be negative, got \(line.unitPrice)") }
            let (amount, overflow) = line.quantity.multipliedReportingOverflow(by: line.unitPrice)
            guard !overflow, amount <= maxTotal else {
                throw DomainError(field: "lines[\(i)]", "quantity x unit_price exceeds \(maxTotal) fen")
            }
            var result = LineResult(itemCode: line.item.code, category: line.item.category, amount: amount, overLimitSelfPay: 0, fullOwnPay: 0, firstSelfPay: 0, inScope: 0)
            var allowed = amount
            if line.unitPrice > line.item.referencePrice {
                guard policy.priceCap == "cap" else {
                    throw DomainError(
                        .precondition, field: "lines[\(i)].unit_price",
                        "\(line.unitPrice) fen is above the reference price of \(line.item.code) (\(line.item.referencePrice) fen)"
                    )
                }
                allowed = line.quantity * line.item.referencePrice
                result.overLimitSelfPay = amount - allowed
            }
            switch line.item.category {
            case "C":
                result.fullOwnPay = allowed
            default:
                result.firstSelfPay = share(allowed, line.item.selfPayRatio ?? policy.firstSelfPay[line.item.category] ?? 0)
                result.inScope = allowed - result.firstSelfPay
            }
            out.lines.append(result)
            out.medfeeSumamt += amount
            guard out.medfeeSumamt <= maxTotal else { throw DomainError(field: "lines", "medfee_sumamt exceeds \(maxTotal) fen") }
            out.overlmtSelfpay += result.overLimitSelfPay
            out.fulamtOwnpayAmt += result.fullOwnPay
            out.preselfpayAmt += result.firstSelfPay
            out.inscpScpAmt += result.inScope
        }
        let deductible = policy.annualDeductible[input.visitType] ?? 0
        out.actPayDedc = min(out.inscpScpAmt, max(0, deductible - input.deductibleUsed))
        let fund = share(out.inscpScpAmt - out.actPayDedc, ratio)
        let room = max(0, (policy.annualCeiling[input.visitType] ?? 0) - input.fundPaidThisYear)
        out.hifpPay = min(fund, room)
        out.overCeiling = fund - out.hifpPay
        // The funds beyond pooling, in the national order, each on what the earlier left borne.
        let beyond = input.beyond
        out.borne = out.inscpScpAmt - out.hifpPay
        if let terms = policy.seriousIllness {
            // Only the part of this year's borne total above the threshold (crossed, perhaps,
            // inside this claim).
            let before = max(0, beyond.borneThisYear), threshold = terms.threshold ?? 0
            let above = max(0, before + out.borne - max(threshold, before))
            out.hifmiPay = min(share(above, terms.ratio), terms.room(after: beyond.seriousIllnessPaid))
        }
        if beyond.civilServant, let terms = policy.civilServant {
            out.cvlservPay = min(share(out.borne - out.hifmiPay, terms.ratio), terms.room(after: beyond.civilServantPaid))
        }
        if let category = beyond.assistanceCategory, let terms = policy.medicalAssistance?[category] {
            out.mafPay = min(share(out.borne - out.hifmiPay - out.cvlservPay, terms.ratio), terms.room(after: beyond.assistancePaid))
        }
        let selfPaid = out.medfeeSumamt - out.fundPaySumamt
        let accountAllowed = input.useAccount && policy.accountVisitTypes.contains(input.visitType)
        out.acctPay = accountAllowed ? min(selfPaid, max(0, input.accountBalance)) : 0
        out.psnCashPay = selfPaid - out.acctPay
        return out
    }

    /// amount x basis points / 10000, rounded half up.
    public static func share(_ amount: Int64, _ basisPoints: Int64) -> Int64 {
        (amount * basisPoints + 5_000) / 10_000
    }
}
