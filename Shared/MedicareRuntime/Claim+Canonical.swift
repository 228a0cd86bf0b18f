import MedicareDomain
import MedicareWire

/// A claim that passed ``Claim/checked()``: in canonical form, with the values its checks
/// parsed, so that no later step parses them again.
public struct CheckedClaim: Sendable {
    /// The claim in canonical form.
    public let claim: Claim
    /// `fixmedins_code`.
    public let clinic: InstitutionCode
    /// `settle_via`, or the clinic when the claim names none.
    public let settleVia: InstitutionCode
    /// `visit_date`.
    public let visitDate: CivilDate
    /// `certno`, when given.
    public let certno: ResidentID?
}

extension Claim {
    /// At most this many fee lines on a claim.
    public static let maxLines = 500
    /// Bounds of a fee line: units, fen per unit, days of supply.
    public static let maxQuantity: Int64 = 100_000
    /// The highest unit price on a fee line, fen (1,000,000 yuan).
    public static let maxUnitPrice: Int64 = 100_000_000
    /// The most days of supply on a fee line.
    public static let maxDays: UInt32 = 366

    /// The claim checked field by field and in canonical form: the one validation every path
    /// a claim takes runs (the gateway before its checks, review, settlement), so that the
    /// same bad claim is refused with the same status and message whichever way it arrives.
    ///
    /// - `mdtrt_id` (``VisitID``), `psn_no` (``PersonNumber``, upper case), `fixmedins_code`
    ///   (``InstitutionCode``), `settle_via` when given, `visit_date` (a real day), `certno`
    ///   when given (``ResidentID``: GB 11643 with its check character, upper-case `X`);
    /// - `med_type` one the benefit policy prices at a village clinic (11 general outpatient,
    ///   14 chronic outpatient: national code list 医疗类别);
    /// - at most ``DiagnosisCode/maxPerClaim`` diagnoses, each ICD-10 (upper case);
    /// - 1-``maxLines`` fee lines, each with a catalogue-form `item_code`, quantity
    ///   1-``maxQuantity``, unit price 0-``maxUnitPrice`` fen, days 0-``maxDays``, and
    ///   quantity x unit price within ``BenefitCalculator/maxTotal`` (bounds far below the
    ///   frame limit, so that a claim's audit record always fits one frame).
    ///
    /// Throws an `INVALID_ARGUMENT`-kind ``DomainError`` naming the first field (`claim.…`) out
    /// of form. Whether the items are in the catalogue, the visit is not in the future, and the
    /// person may settle are the services' own checks after this one.
    public func validated() throws(DomainError) -> Claim { try checked().claim }

    /// ``validated()`` with the values it parsed (see ``CheckedClaim``).
    public func checked() throws(DomainError) -> CheckedClaim {
        var claim = self
        claim.mdtrtID = try VisitID(mdtrtID, field: "claim.mdtrt_id").value
        claim.psnNo = try PersonNumber(psnNo, field: "claim.psn_no").value
        let clinic = try InstitutionCode(fixmedinsCode, field: "claim.fixmedins_code")
        let via = settleVia.isEmpty ? clinic : try InstitutionCode(settleVia, field: "claim.settle_via")
        let id = certno.isEmpty ? nil : try ResidentID(certno, field: "claim.certno")
        claim.certno = id?.value ?? ""
        let date = try CivilDate(visitDate, field: "claim.visit_date")
        let medType = try medType.required("claim.med_type")
        guard BenefitPolicy.visitTypes.contains(medType.code) else {
            throw DomainError(field: "claim.med_type", "\(medType.rawValue) (\(medType)) is not settled at a village clinic: 11 (general outpatient) or 14 (chronic outpatient)")
        }
        // Optional (zero: not stated); anything else must be a declared code.
        if insutype.rawValue != 0 { _ = try insutype.required("claim.insutype") }
        guard diagnoses.count <= DiagnosisCode.maxPerClaim else {
            throw DomainError(field: "claim.diagnoses", "at most \(DiagnosisCode.maxPerClaim) diagnoses, got \(diagnoses.count)")
        }
        var canonical: [String] = []
        canonical.reserveCapacity(diagnoses.count)
        for (i, code) in diagnoses.enumerated() { canonical.append(try DiagnosisCode(code, field: "claim.diagnoses[\(i)]").value) }
        claim.diagnoses = canonical
        guard (1...Self.maxLines).contains(lines.count) else {
            throw DomainError(field: "claim.lines", "must hold 1-\(Self.maxLines) fee lines, got \(lines.count)")
        }
        for (i, line) in lines.enumerated() { claim.lines[i] = try line.checked("claim.lines[\(i)]") }
        return CheckedClaim(claim: claim, clinic: clinic, settleVia: via, visitDate: date, certno: id)
    }
}

extension FeeLine {
    /// The line within a claim's bounds, its item code in canonical form: a catalogue-form
    /// `item_code`, quantity 1-``Claim/maxQuantity``, unit price 0-``Claim/maxUnitPrice`` fen,
    /// days 0-``Claim/maxDays``, quantity x unit price within ``BenefitCalculator/maxTotal``.
    /// `field` is the line's path (`claim.lines[2]`); `names` are its fields' names where they
    /// arrive under others (2204's fee details: `med_list_codg`, `cnt`, `pric`).
    /// - Throws: ``DomainError`` (`invalid`) naming the first field out of bounds.
    public func checked(
        _ field: String, names: (itemCode: String, quantity: String, unitPrice: String) = ("item_code", "quantity", "unit_price")
    ) throws(DomainError) -> FeeLine {
        var line = self
        line.itemCode = try ItemCode(itemCode, field: "\(field).\(names.itemCode)").value
        guard (1...Claim.maxQuantity).contains(quantity) else {
            throw DomainError(field: "\(field).\(names.quantity)", "must be 1-\(Claim.maxQuantity), got \(quantity)")
        }
        guard (0...Claim.maxUnitPrice).contains(unitPrice) else {
            throw DomainError(field: "\(field).\(names.unitPrice)", "must be 0-\(Claim.maxUnitPrice) fen, got \(unitPrice)")
        }
        guard days <= Claim.maxDays else { throw DomainError(field: "\(field).days", "must be 0-\(Claim.maxDays), got \(days)") }
        let (amount, overflow) = quantity.multipliedReportingOverflow(by: unitPrice)
        guard !overflow, amount <= BenefitCalculator.maxTotal else {
            throw DomainError(field: field, "\(names.quantity) x \(names.unitPrice) exceeds \(BenefitCalculator.maxTotal) fen")
        }
        return line
    }
}
