import Foundation
import MedicareContracts
import MedicareCrypto
import MedicareDomain
import MedicareRuntime
import MedicareWire

/// A claim settlement can calculate: checked and canonical (``Claim/validated()``, the one
/// validation every path runs), its visit no later than today (the business day) and no
/// earlier than the person's birth (checked against the person in ``SettlementProvider``) or
/// the first benefit policy, and its lines resolved against the catalogue records in force on the visit day, priced at
/// the treating clinic's regional reference price, and its diagnoses in the disease list in
/// force that day (when the catalogue holds one). An item or diagnosis not in the
/// catalogue is `FAILED_PRECONDITION` (the code is well formed; the catalogue does not list
/// it), as review's R007 block is through the gateway.
public struct ValidatedClaim: Sendable {
    /// The claim in canonical form (upper-case `X`, person number and diagnoses).
    public let claim: Claim
    public let clinic: InstitutionCode
    public let settleVia: InstitutionCode
    public let visitDate: CivilDate
    public let lines: [BenefitCalculator.Line]
    /// The resident ID on the claim, when given.
    public let certno: ResidentID?

    public init(_ claim: Claim, catalogue: Catalogue, today: CivilDate) throws(DomainError) {
        let checked = try claim.checked()
        let canonical = checked.claim
        certno = checked.certno
        clinic = checked.clinic
        settleVia = checked.settleVia
        visitDate = checked.visitDate
        guard visitDate <= today else {
            throw DomainError(field: "claim.visit_date", "\(visitDate) is after today (\(today)): a visit is settled on or after its day")
        }
        try Self.requireListed(canonical.diagnoses, in: catalogue, on: visitDate.description, field: "claim.diagnoses")
        var lines: [BenefitCalculator.Line] = []
        lines.reserveCapacity(canonical.lines.count)
        for (i, line) in canonical.lines.enumerated() {
            guard let item = catalogue.billable(line.itemCode, on: visitDate.description) else {
                let why = catalogue.whyNotBillable(line.itemCode, on: visitDate.description)
                throw DomainError(.precondition, field: "claim.lines[\(i)].item_code", "\(quoted(line.itemCode, max: 30)) \(why)")
            }
            // The treatment region's reference price (the clinic's county digits).
            lines.append(BenefitCalculator.Line(item: item.priced(inCounty: clinic.county), quantity: line.quantity, unitPrice: line.unitPrice))
        }
        self.claim = canonical
        self.lines = lines
    }

    /// Checks that each diagnosis (canonical, upper case) is in the catalogue's disease list
    /// in force on `day`, when it holds one (``Catalogue/diseaseCount``); without a list only
    /// the codes' form is checked (``DiagnosisCode``).
    /// - Throws: ``DomainError`` (`FAILED_PRECONDITION`) naming `field[i]`: the code is well
    ///   formed, the list does not hold it that day.
    public static func requireListed(_ diagnoses: [String], in catalogue: Catalogue, on day: String, field: String) throws(DomainError) {
        guard catalogue.diseaseCount > 0 else { return }
        for (i, code) in diagnoses.enumerated() where catalogue.diagnosis(code, on: day) == nil {
            let why = catalogue[code]?.isDisease == true ? "is not in the disease list on \(day)" : "is not in the disease list (医保疾病诊断分类与代码)"
            throw DomainError(.precondition, field: "\(field)[\(i)]", "\(quoted(code, max: 30)) \(why)")
        }
    }

    /// What makes two settle requests "the same claim": the canonical claim without the route
    /// the gateway adds (`settle_via`), encoded once. Its SM3 (``digest(of:)``) tells a retry
    /// from a different request, and the same bytes go to the audit record (the settlement
    /// beside it names the route). A retry whose route changed in between is the same claim.
    public func encodedWithoutRoute() throws -> [UInt8] {
        try Self.encodedWithoutRoute(claim)
    }

    /// `claim` (in canonical form, ``Claim/checked()``'s) encoded without `settle_via`: the
    /// bytes ``encodedWithoutRoute()`` gives for the claim validated from it.
    public static func encodedWithoutRoute(_ claim: Claim) throws -> [UInt8] {
        var bare = claim
        bare.settleVia = ""
        return try bare.encodedBytes()
    }

    /// Hex SM3 of ``encodedWithoutRoute()``'s bytes.
    public static func digest(of bytes: [UInt8]) -> String { SM3.hex(SM3.digest(bytes)) }
}
