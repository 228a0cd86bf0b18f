import MedicareContracts
import MedicareDomain
import MedicareWire

/// Checks a claim's fields and resolves its lines against the catalogue.
public struct ValidatedClaim: Sendable {
    public let claim: Claim
    public let clinic: InstitutionCode
    public let settleVia: InstitutionCode
    public let visitDate: CivilDate
    public let lines: [BenefitCalculator.Line]

    public init(_ claim: Claim, catalogue: [String: CatalogueItem]) throws(DomainError) {
        guard !claim.mdtrtID.isEmpty, claim.mdtrtID.utf8.count <= 64 else { throw DomainError(field: "claim.mdtrt_id", "must be 1-64 characters") }
        guard !claim.psnNo.isEmpty else { throw DomainError(field: "claim.psn_no", "is required") }
        clinic = try InstitutionCode(claim.fixmedinsCode, field: "claim.fixmedins_code")
        settleVia = claim.settleVia.isEmpty ? clinic : try InstitutionCode(claim.settleVia, field: "claim.settle_via")
        visitDate = try CivilDate(claim.visitDate, field: "claim.visit_date")
        guard BenefitPolicy.visitTypes.contains(claim.visitType) else {
            throw DomainError(field: "claim.visit_type", "'\(claim.visitType.prefix(40))' is not one of \(BenefitPolicy.visitTypes.joined(separator: ", "))")
        }
        guard !claim.lines.isEmpty, claim.lines.count <= 500 else { throw DomainError(field: "claim.lines", "must hold 1-500 fee lines") }
        var lines: [BenefitCalculator.Line] = []
        for (i, line) in claim.lines.enumerated() {
            guard let item = catalogue[line.itemCode] else {
                throw DomainError(field: "claim.lines[\(i)].item_code", "'\(line.itemCode.prefix(40))' is not in the catalogue")
            }
            guard line.quantity > 0 else { throw DomainError(field: "claim.lines[\(i)].quantity", "must be positive, got \(line.quantity)") }
            guard line.unitPrice >= 0 else { throw DomainError(field: "claim.lines[\(i)].unit_price", "must not be negative, got \(line.unitPrice)") }
            let (amount, overflow) = line.quantity.multipliedReportingOverflow(by: line.unitPrice)
            guard !overflow, amount <= BenefitCalculator.maxTotal else {
                throw DomainError(field: "claim.lines[\(i)]", "quantity x unit_price exceeds \(BenefitCalculator.maxTotal) fen")
            }
            lines.append(BenefitCalculator.Line(item: item, quantity: line.quantity, unitPrice: line.unitPrice))
        }
        self.claim = claim
        self.lines = lines
    }
}
