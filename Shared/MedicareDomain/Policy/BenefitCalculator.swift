/// The outpatient benefit calculation, a pure function of the claim, the policy and the
/// person's year-to-date accumulators. Rounding: half up, to the fen, per line for
/// first self-pay and once for the pooling share.
public enum BenefitCalculator {
    public struct Line: Sendable {
        public var item: CatalogueItem
        public var quantity: Int64
        public var unitPrice: Int64

        public init(item: CatalogueItem, quantity: Int64, unitPrice: Int64) {
            self.item = item
            self.quantity = quantity
            self.unitPrice = unitPrice
        }
    }

    public struct Input: Sendable {
        public var lines: [Line]
        public var visitType: String
        public var useAccount: Bool
        public var accountBalance: Int64
        public var deductibleUsed: Int64
        public var fundPaidThisYear: Int64

        public init(lines: [Line], visitType: String, useAccount: Bool, accountBalance: Int64, deductibleUsed: Int64, fundPaidThisYear: Int64) {
            self.lines = lines
            self.visitType = visitType
            self.useAccount = useAccount
            self.accountBalance = accountBalance
            self.deductibleUsed = deductibleUsed
            self.fundPaidThisYear = fundPaidThisYear
        }
    }

    public struct LineResult: Sendable, Hashable {
        public var itemCode: String
        public var category: String
        public var amount: Int64
        public var overLimitSelfPay: Int64
        public var fullOwnPay: Int64
        public var firstSelfPay: Int64
        public var inScope: Int64
    }

    public struct Output: Sendable, Hashable {
        public var lines: [LineResult] = []
        public var medfeeSumamt: Int64 = 0
        public var fulamtOwnpayAmt: Int64 = 0
        public var overlmtSelfpay: Int64 = 0
        public var preselfpayAmt: Int64 = 0
        public var inscpScpAmt: Int64 = 0
        public var actPayDedc: Int64 = 0
        public var hifpPay: Int64 = 0
        public var poolingRatio: Int64 = 0
        public var overCeiling: Int64 = 0
        public var acctPay: Int64 = 0
        public var psnCashPay: Int64 = 0
        public var fundPaySumamt: Int64 { hifpPay }
    }

    /// The largest claim total accepted, fen (10 billion yuan): far above any real claim,
    /// and small enough that ratio arithmetic cannot overflow.
    public static let maxTotal: Int64 = 1_000_000_000_000

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
                result.firstSelfPay = share(allowed, policy.firstSelfPay[line.item.category] ?? 0)
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
        let selfPaid = out.medfeeSumamt - out.hifpPay
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
