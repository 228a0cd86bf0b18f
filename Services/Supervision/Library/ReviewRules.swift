import MedicareContracts
import MedicareDomain
import MedicareWire

/// What every review rule sees: the claim (validated and canonical), the clinic's status if
/// the caller gave it, and the catalogue in force. Amounts are fen.
public struct ReviewInput: Sendable {
    public let claim: Claim
    public let designationStatus: DesignationStatus
    public let catalogue: [String: CatalogueItem]
    /// The claim's total (quantity x unit price over its lines), fen.
    public let total: Int64
    /// The diagnoses' ICD-10 categories (first three characters).
    public let categories: [String]
    /// Each line with its position and catalogue item (lines not in the catalogue left out),
    /// looked up once for every rule.
    let cataloguedLines: [(index: Int, line: FeeLine, item: CatalogueItem)]

    public init(_ request: ReviewRequest, catalogue: [String: CatalogueItem]) {
        let claim = request.claim ?? Claim()
        self.claim = claim
        designationStatus = request.designationStatus
        self.catalogue = catalogue
        total = claim.lines.reduce(Int64(0)) { $0 &+ Self.amount($1) }
        categories = claim.diagnoses.map { String($0.prefix(3)).uppercased() }
        cataloguedLines = claim.lines.enumerated().compactMap { i, line in catalogue[line.itemCode].map { (i, line, $0) } }
    }

    static func amount(_ line: FeeLine) -> Int64 { line.quantity.multipliedReportingOverflow(by: line.unitPrice).partialValue }
}

/// One rule of the smart review (智能审核, notice §三): its id and version, what it checks and
/// where the rule comes from; given a claim, the findings it makes, each explaining itself
/// (verdict, evidence, amount at issue in fen, the item concerned).
public protocol ReviewRule: Sendable {
    var id: String { get }
    var name: String { get }
    /// The rule's source: the notice's or the national specification's section.
    var source: String { get }
    func findings(_ input: ReviewInput) -> [Finding]
}

extension ReviewRule {
    func finding(_ verdict: Verdict, _ evidence: String, amount: Int64, item: String = "") -> Finding {
        Finding(ruleID: id, ruleVersion: ReviewRules.version, verdict: verdict, evidence: evidence, amountAtIssue: amount, itemCode: item)
    }
}

/// R001: only a designated institution's visits are paid.
struct NotDesignated: ReviewRule {
    let id = "R001", name = "institution not designated or suspended", source = "notice §二: settlement only under a service agreement (定点协议)"
    func findings(_ input: ReviewInput) -> [Finding] {
        guard input.designationStatus != .unspecified, input.designationStatus != .designated else { return [] }
        return [finding(.block, "\(input.claim.fixmedinsCode) is \(input.designationStatus.code.replacingOccurrences(of: "_", with: " "))", amount: input.total)]
    }
}

/// R002: a unit price above the item's reference price; the excess is at issue.
struct AboveReferencePrice: ReviewRule {
    let id = "R002", name = "price above the reference price", source = "notice §三 (智能审核): prices within the published limits"
    func findings(_ input: ReviewInput) -> [Finding] {
        input.cataloguedLines.compactMap { i, line, item in
            guard line.unitPrice > item.referencePrice else { return nil }
            let excess = (line.unitPrice - item.referencePrice).multipliedReportingOverflow(by: line.quantity).partialValue
            return finding(.warn, "lines[\(i)]: \(line.unitPrice) fen > reference \(item.referencePrice) fen", amount: excess, item: item.code)
        }
    }
}

/// R003 within one claim: the same item billed twice for the day. Across claims it is
/// settlement's, in the posting's transaction (two claims sent together cannot both pass it).
struct BilledTwice: ReviewRule {
    let id = "R003", name = "same item billed twice in one claim (across claims: refused by settlement)", source = "notice §三: duplicate billing (重复收费)"
    func findings(_ input: ReviewInput) -> [Finding] {
        var seen = Set<String>()
        return input.cataloguedLines.compactMap { i, line, item in
            guard seen.insert(item.code).inserted else {
                return finding(.block, "lines[\(i)]: \(item.code) already billed to \(input.claim.psnNo) on \(input.claim.visitDate)",
                               amount: ReviewInput.amount(line), item: item.code)
            }
            return nil
        }
    }
}

/// R004: quantity or days of supply over the item's limit.
struct OverLimit: ReviewRule {
    let id = "R004", name = "quantity or days of supply over the item's limit", source = "notice §三: rational prescribing (合理用药)"
    func findings(_ input: ReviewInput) -> [Finding] {
        input.cataloguedLines.flatMap { i, line, item -> [Finding] in
            var found: [Finding] = []
            if let max = item.maxQuantity, line.quantity > max {
                found.append(finding(.block, "lines[\(i)]: quantity \(line.quantity) > limit \(max)", amount: (line.quantity - max) &* line.unitPrice, item: item.code))
            }
            if let max = item.maxDays, Int64(line.days) > max {
                found.append(finding(.block, "lines[\(i)]: \(line.days) days of supply > limit \(max)", amount: ReviewInput.amount(line), item: item.code))
            }
            return found
        }
    }
}

/// The ICD-10 categories of the two diseases (两病) whose outpatient drugs the fund covers.
enum ChronicDiagnoses {
    static let categories = ["hypertension": ["I10", "I11", "I12", "I13", "I15"], "diabetes": ["E10", "E11", "E12", "E13", "E14"]]
}

/// R005: a 两病 drug without a diagnosis of its disease.
struct ChronicDrugWithoutDiagnosis: ReviewRule {
    let id = "R005", name = "两病 drug without a hypertension or diabetes diagnosis", source = "notice §三; 两病门诊用药保障 (医保发〔2019〕54号)"
    func findings(_ input: ReviewInput) -> [Finding] {
        input.cataloguedLines.compactMap { i, line, item in
            guard let condition = item.chronicCondition, let codes = ChronicDiagnoses.categories[condition],
                  !input.categories.contains(where: codes.contains) else { return nil }
            return finding(.block, "lines[\(i)]: \(item.code) is a \(condition) drug but no diagnosis \(codes.joined(separator: "/")) is given",
                           amount: ReviewInput.amount(line), item: item.code)
        }
    }
}

/// R007: an item the catalogue does not list.
struct OutsideCatalogue: ReviewRule {
    let id = "R007", name = "item outside the catalogue", source = "notice §三: items within the medical-insurance catalogue (医保目录)"
    func findings(_ input: ReviewInput) -> [Finding] {
        input.claim.lines.enumerated().compactMap { i, line in
            guard input.catalogue[line.itemCode] == nil else { return nil }
            return finding(.block, "lines[\(i)]: \(line.itemCode.prefix(40)) is not in the catalogue", amount: ReviewInput.amount(line), item: line.itemCode)
        }
    }
}

/// R008: the chronic-disease outpatient benefit (higher ratio, no deductible) is for the
/// diseases it covers: a visit coded so must carry one of their diagnoses.
struct ChronicVisitWithoutDiagnosis: ReviewRule {
    let id = "R008", name = "chronic outpatient visit without a chronic (两病) diagnosis", source = "national code list 医疗类别 14 (门诊慢特病)"
    func findings(_ input: ReviewInput) -> [Finding] {
        let covered = ChronicDiagnoses.categories.values.joined()
        guard input.claim.medType == .chronicOutpatient, !input.categories.contains(where: covered.contains) else { return [] }
        return [finding(.block, "med_type 14 (chronic outpatient) without a hypertension or diabetes diagnosis", amount: input.total)]
    }
}

/// The smart review rules (智能审核), version 2024.1. R006 (a malformed identity number) was
/// retired: a claim is validated before any rule runs (``Claim/validated()``), and a malformed
/// `certno` is INVALID_ARGUMENT on every path, not a finding on one.
public enum ReviewRules {
    public static let version = "2024.1"

    public static let rules: [any ReviewRule] = [
        NotDesignated(), AboveReferencePrice(), BilledTwice(), OverLimit(), ChronicDrugWithoutDiagnosis(), OutsideCatalogue(),
        ChronicVisitWithoutDiagnosis(),
    ]

    /// Evaluates every rule against the claim alone; the verdict is the worst finding's (a
    /// pass when there is none). Reads and writes nothing.
    public static func evaluate(_ request: ReviewRequest, catalogue: [String: CatalogueItem]) -> ReviewResponse {
        let input = ReviewInput(request, catalogue: catalogue)
        let findings = rules.flatMap { $0.findings(input) }
        let verdict: Verdict = findings.contains { $0.verdict == .block } ? .block : findings.isEmpty ? .pass : .warn
        return ReviewResponse(verdict: verdict, findings: findings, rulesEvaluated: UInt32(rules.count))
    }
}
