import Foundation
import MedicareContracts
import MedicareCrypto
import MedicareDomain
import MedicareRuntime
import MedicareWire

/// Checks a claim's fields, puts every identifier into its canonical form and resolves its
/// lines against the catalogue. The first problem found names the caller's field.
///
/// Bounds (far below the 4 MiB frame limit, so that a claim's audit record always fits one):
/// `mdtrt_id` 1-64 characters; 1-500 fee lines; at most 20 ICD-10 diagnoses; quantity
/// 1-100,000 units; unit price 0-100,000,000 fen; days of supply 0-366; the visit date a real
/// day no later than today (the business day) and no earlier than the person's birth (checked
/// against the person in ``SettlementProvider``) or the first benefit policy.
public struct ValidatedClaim: Sendable {
    public static let maxQuantity: Int64 = 100_000
    public static let maxUnitPrice: Int64 = 100_000_000
    public static let maxDays: UInt32 = 366

    /// The claim in canonical form (upper-case `X`, person number and diagnoses).
    public let claim: Claim
    public let clinic: InstitutionCode
    public let settleVia: InstitutionCode
    public let visitDate: CivilDate
    public let lines: [BenefitCalculator.Line]
    /// The resident ID on the claim, when given.
    public let certno: ResidentID?

    public init(_ claim: Claim, catalogue: [String: CatalogueItem], today: CivilDate) throws(DomainError) {
        var canonical = try claim.canonicalIdentifiers()
        certno = claim.certno.isEmpty ? nil : try ResidentID(claim.certno, field: "claim.certno")
        canonical.certno = certno?.value ?? ""
        clinic = try InstitutionCode(claim.fixmedinsCode, field: "claim.fixmedins_code")
        settleVia = claim.settleVia.isEmpty ? clinic : try InstitutionCode(claim.settleVia, field: "claim.settle_via")
        visitDate = try CivilDate(claim.visitDate, field: "claim.visit_date")
        guard visitDate <= today else {
            throw DomainError(field: "claim.visit_date", "\(visitDate) is after today (\(today)): a visit is settled on or after its day")
        }
        // A village clinic settles the outpatient medical types the benefit policy prices.
        let medType = try claim.medType.required("claim.med_type")
        guard BenefitPolicy.visitTypes.contains(medType.code) else {
            throw DomainError(field: "claim.med_type", "\(medType.rawValue) (\(medType)) is not settled at a village clinic: 11 (general outpatient) or 14 (chronic outpatient)")
        }
        guard !claim.lines.isEmpty else { throw DomainError(field: "claim.lines", "must hold 1-\(Claim.maxLines) fee lines, got 0") }
        var lines: [BenefitCalculator.Line] = []
        lines.reserveCapacity(claim.lines.count)
        for (i, line) in claim.lines.enumerated() {
            let code = try ItemCode(line.itemCode, field: "claim.lines[\(i)].item_code")
            guard let item = catalogue[code.value] else {
                throw DomainError(field: "claim.lines[\(i)].item_code", "\(quoted(line.itemCode)) is not in the catalogue")
            }
            guard (1...Self.maxQuantity).contains(line.quantity) else {
                throw DomainError(field: "claim.lines[\(i)].quantity", "must be 1-\(Self.maxQuantity), got \(line.quantity)")
            }
            guard (0...Self.maxUnitPrice).contains(line.unitPrice) else {
                throw DomainError(field: "claim.lines[\(i)].unit_price", "must be 0-\(Self.maxUnitPrice) fen, got \(line.unitPrice)")
            }
            guard line.days <= Self.maxDays else {
                throw DomainError(field: "claim.lines[\(i)].days", "must be 0-\(Self.maxDays), got \(line.days)")
            }
            let (amount, overflow) = line.quantity.multipliedReportingOverflow(by: line.unitPrice)
            guard !overflow, amount <= BenefitCalculator.maxTotal else {
                throw DomainError(field: "claim.lines[\(i)]", "quantity x unit_price exceeds \(BenefitCalculator.maxTotal) fen")
            }
            lines.append(BenefitCalculator.Line(item: item, quantity: line.quantity, unitPrice: line.unitPrice))
        }
        self.claim = canonical
        self.lines = lines
    }

    /// What makes two settle requests "the same claim": the canonical claim without the route
    /// the gateway adds (`settle_via`), encoded once. Its SM3 (``digest(of:)``) tells a retry
    /// from a different request, and the same bytes go to the audit record (the settlement
    /// beside it names the route). A retry whose route changed in between is the same claim.
    public func encodedWithoutRoute() throws -> [UInt8] {
        var bare = claim
        bare.settleVia = ""
        return try bare.encodedBytes()
    }

    /// Hex SM3 of ``encodedWithoutRoute()``'s bytes.
    public static func digest(of bytes: [UInt8]) -> String { SM3.hex(SM3.digest(bytes)) }
}
