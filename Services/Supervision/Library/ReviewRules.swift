import MedicareContracts
import MedicareDomain
import MedicareWire

/// The smart review rules (智能审核), version 2024.1. Each explains itself: rule id, verdict,
/// evidence, amount at issue. R006 (a malformed identity number) was retired: a claim is
/// validated before any rule runs (``Claim/validated()``), and a malformed `certno` is
/// INVALID_ARGUMENT on every path, not a finding on one.
public enum ReviewRules {
    public static let version = "2024.1"

    public struct Rule: Sendable {
        public let id: String
        public let name: String
    }

    public static let rules = [
        Rule(id: "R001", name: "institution not designated or suspended"),
        Rule(id: "R002", name: "price above the reference price"),
        Rule(id: "R003", name: "same item billed twice in one claim (across claims: refused by settlement)"),
        Rule(id: "R004", name: "quantity or days of supply over the item's limit"),
        Rule(id: "R005", name: "两病 drug without a hypertension or diabetes diagnosis"),
        Rule(id: "R007", name: "item outside the catalogue"),
        Rule(id: "R008", name: "chronic outpatient visit without a chronic (两病) diagnosis"),
    ]

    static let chronicDiagnoses = ["hypertension": ["I10", "I11", "I12", "I13", "I15"], "diabetes": ["E10", "E11", "E12", "E13", "E14"]]

    /// Evaluates every rule against the claim alone. R003 here finds an item billed twice in
    /// one claim; the same item for the person and day in another settlement is refused by
    /// settlement atomically with the posting (notice §三: a check that decides whether money
    /// moves is made in the transaction that moves it).
    public static func evaluate(_ request: ReviewRequest, catalogue: [String: CatalogueItem]) -> ReviewResponse {
        var findings: [Finding] = []
        func finding(_ id: String, _ verdict: Verdict, _ evidence: String, _ amount: Int64 = 0, item: String = "") {
            findings.append(Finding(ruleID: id, ruleVersion: version, verdict: verdict, evidence: evidence, amountAtIssue: amount, itemCode: item))
        }
        let claim = request.claim ?? Claim()
        let total = claim.lines.reduce(Int64(0)) { $0 &+ $1.quantity.multipliedReportingOverflow(by: $1.unitPrice).partialValue }

        if request.designationStatus != .unspecified, request.designationStatus != .designated {
            finding("R001", .block, "\(claim.fixmedinsCode) is \(request.designationStatus.code.replacingOccurrences(of: "_", with: " "))", total)
        }
        var inClaim = Set<String>()
        let diagnoses = claim.diagnoses.map { String($0.prefix(3)).uppercased() }
        for (i, line) in claim.lines.enumerated() {
            let amount = line.quantity.multipliedReportingOverflow(by: line.unitPrice).partialValue
            guard let item = catalogue[line.itemCode] else {
                finding("R007", .block, "lines[\(i)]: \(line.itemCode.prefix(40)) is not in the catalogue", amount, item: line.itemCode)
                continue
            }
            if line.unitPrice > item.referencePrice {
                let excess = (line.unitPrice - item.referencePrice).multipliedReportingOverflow(by: line.quantity).partialValue
                finding("R002", .warn, "lines[\(i)]: \(line.unitPrice) fen > reference \(item.referencePrice) fen", excess, item: item.code)
            }
            let key = "\(item.code)|\(claim.visitDate)"
            if !inClaim.insert(key).inserted {
                finding("R003", .block, "lines[\(i)]: \(item.code) already billed to \(claim.psnNo) on \(claim.visitDate)", amount, item: item.code)
            }
            if let max = item.maxQuantity, line.quantity > max {
                finding("R004", .block, "lines[\(i)]: quantity \(line.quantity) > limit \(max)", (line.quantity - max) &* line.unitPrice, item: item.code)
            }
            if let max = item.maxDays, Int64(line.days) > max {
                finding("R004", .block, "lines[\(i)]: \(line.days) days of supply > limit \(max)", amount, item: item.code)
            }
            if let condition = item.chronicCondition, let codes = chronicDiagnoses[condition], !diagnoses.contains(where: codes.contains) {
                finding("R005", .block, "lines[\(i)]: \(item.code) is a \(condition) drug but no diagnosis \(codes.joined(separator: "/")) is given", amount, item: item.code)
            }
        }
        // The chronic-disease outpatient benefit (higher ratio, no deductible) is for the
        // diseases it covers: a visit coded so must carry one of their diagnoses.
        if claim.medType == .chronicOutpatient, !diagnoses.contains(where: { code in chronicDiagnoses.values.contains { $0.contains(code) } }) {
            finding("R008", .block, "med_type 14 (chronic outpatient) without a hypertension or diabetes diagnosis", total)
        }
        let verdict: Verdict = findings.contains { $0.verdict == .block } ? .block : findings.isEmpty ? .pass : .warn
        return ReviewResponse(verdict: verdict, findings: findings, rulesEvaluated: UInt32(rules.count))
    }
}
