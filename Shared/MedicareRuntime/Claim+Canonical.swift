import MedicareDomain
import MedicareWire

extension Claim {
    /// At most this many fee lines on a claim.
    public static let maxLines = 500

    /// The claim with its identifiers in canonical form, as every service that takes a claim
    /// needs it: `mdtrt_id` (``VisitID``), `psn_no` (``PersonNumber``, upper case),
    /// `fixmedins_code` and `visit_date` checked, at most ``DiagnosisCode/maxPerClaim``
    /// diagnoses each in ICD-10 form (upper case), at most ``maxLines`` lines. Throws
    /// `INVALID_ARGUMENT`-kind ``DomainError`` naming the first field (`claim.…`) out of form.
    /// The resident ID and the lines' own values are left to the caller (settlement refuses
    /// what review reports as a finding).
    public func canonicalIdentifiers() throws(DomainError) -> Claim {
        var claim = self
        claim.mdtrtID = try VisitID(mdtrtID, field: "claim.mdtrt_id").value
        claim.psnNo = try PersonNumber(psnNo, field: "claim.psn_no").value
        _ = try InstitutionCode(fixmedinsCode, field: "claim.fixmedins_code")
        _ = try CivilDate(visitDate, field: "claim.visit_date")
        guard diagnoses.count <= DiagnosisCode.maxPerClaim else {
            throw DomainError(field: "claim.diagnoses", "at most \(DiagnosisCode.maxPerClaim) diagnoses, got \(diagnoses.count)")
        }
        var canonical: [String] = []
        canonical.reserveCapacity(diagnoses.count)
        for (i, code) in diagnoses.enumerated() { canonical.append(try DiagnosisCode(code, field: "claim.diagnoses[\(i)]").value) }
        claim.diagnoses = canonical
        guard lines.count <= Self.maxLines else { throw DomainError(field: "claim.lines", "at most \(Self.maxLines) fee lines, got \(lines.count)") }
        return claim
    }
}
