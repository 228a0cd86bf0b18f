import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareWire

/// The national outpatient flow before settlement (2201 register, 2203 diagnoses, 2204 fee
/// details, 2205 undo), each step by an operator signed in that day (9001). Settlement and
/// reversal of a visit are Gateway/Settle with `visit` and Gateway/Reverse: the same checks
/// and posting as a claim sent whole. What each method takes, answers and refuses is
/// documented on its RPC in settlement.proto.
extension SettlementProvider {
    /// `Settlement/RegisterVisit` (2201).
    public func registerVisit(_ request: RegisterVisitRequest, context: CallContext) async throws -> Visit {
        let medType = try request.medType.required("med_type")
        guard BenefitPolicy.visitTypes.contains(medType.code) else {
            throw DomainError(field: "med_type", "\(medType.rawValue) (\(medType)) is not settled at a village clinic: 11 (general outpatient) or 14 (chronic outpatient)")
        }
        let visit = VisitRecord(
            fixmedinsCode: try InstitutionCode(request.fixmedinsCode).value, mdtrtID: timeOrderedID(prefix: "M"),
            iptOtpNo: try HISNumber(request.iptOtpNo, field: "ipt_otp_no").value, psnNo: try PersonNumber(request.psnNo).value,
            insutype: try request.insutype.required("insutype"), medType: medType,
            begntime: try CivilDate(request.begntime, field: "begntime").description, atddrNo: try HISNumber(request.atddrNo, field: "atddr_no").value
        )
        guard visit.begntime <= today().description else { throw DomainError(field: "begntime", "\(visit.begntime) is in the future") }
        var presented = visit
        presented.mdtrtCertType = try request.mdtrtCertType.required("mdtrt_cert_type")
        let id = presented.mdtrtCertType == .idCard ? try ResidentID(request.mdtrtCertNo, field: "mdtrt_cert_no") : nil
        presented.mdtrtCertNo = try id?.value ?? FreeText.checked(request.mdtrtCertNo, field: "mdtrt_cert_no", max: 50)
        let actor = try actor(request.opterNo)
        guard let person = try await store.person(psnNo: visit.psnNo) else { throw DomainError(.notFound, field: "psn_no", "no insured person \(visit.psnNo)") }
        if let id, id.value != person.certno {
            throw DomainError(.precondition, field: "mdtrt_cert_no", "the resident ID presented is not \(visit.psnNo)'s")
        }
        // The record in force on the visit day must be of the stated type and enrolled.
        _ = try person.enrolled(on: visit.begntime, insutype: visit.insutype, field: "psn_no", insutypeField: "insutype")
        let (stored, replay) = try await store.registerVisit(presented, by: actor)
        guard replay else {
            // Registered just now: nothing has happened to it but its registration, so the
            // answer is made here rather than read back (five statements fewer a visit).
            var answer = stored.answer
            answer.history = [VisitEvent(kind: .registered, at: actor.at, opterNo: actor.opterNo, detail: SettlementStore.eventDetail(stored.iptOtpNo))]
            return answer
        }
        guard var answer = try await store.visitState(stored.fixmedinsCode, stored.mdtrtID) else {
            throw DomainError(.notFound, field: "mdtrt_id", "no visit \(stored.mdtrtID)")
        }
        answer.replay = true
        return answer
    }

    /// `Settlement/UploadDiagnoses` (2203).
    public func uploadDiagnoses(_ request: UploadDiagnosesRequest, context: CallContext) async throws -> Visit {
        let (code, visitID) = (try InstitutionCode(request.fixmedinsCode).value, try VisitID(request.mdtrtID).value)
        guard (1...DiagnosisCode.maxPerClaim).contains(request.diagnoses.count) else {
            throw DomainError(field: "diagnoses", "must hold 1-\(DiagnosisCode.maxPerClaim) ICD-10 codes, got \(request.diagnoses.count)")
        }
        let uploaded = try Self.distinct(request.diagnoses, "diagnoses") { try DiagnosisCode($0, field: $1).value }
        let catalogue = policy.current.catalogue
        let changed = try await store.changeVisit(code, visitID, by: try actor(request.opterNo)) { visit in
            // In the disease list on the visit's day (when the catalogue holds one).
            try ValidatedClaim.requireListed(uploaded, in: catalogue, on: visit.begntime, field: "diagnoses")
            guard visit.diagnoses != uploaded else { return nil }
            visit.diagnoses = uploaded
            return VisitChange(kind: .diagnosesUploaded, detail: uploaded.joined(separator: ","))
        }
        return changed.answer
    }

    /// `Settlement/UploadFeeDetails` (2204).
    public func uploadFeeDetails(_ request: UploadFeeDetailsRequest, context: CallContext) async throws -> Visit {
        let (code, visitID) = (try InstitutionCode(request.fixmedinsCode).value, try VisitID(request.mdtrtID).value)
        guard (1...Claim.maxLines).contains(request.details.count) else {
            throw DomainError(field: "details", "must hold 1-\(Claim.maxLines) fee details, got \(request.details.count)")
        }
        let catalogue = policy.current.catalogue
        let ownCodes = try request.details.enumerated().map { i, sent throws(DomainError) in
            try FreeText.checked(sent.medinsListCodg, field: "details[\(i)].medins_list_codg", max: 30)
        }
        // 3301: a code the institution mapped names its national code (which may then be left out).
        let mapped = try await store.mappedCodes(code, Array(Set(ownCodes)))
        var batch: [FeeDetail] = [], numbers = Set<String>()
        for (i, sent) in request.details.enumerated() {
            let field = "details[\(i)]"
            var detail = sent
            detail.feedetlSn = try HISNumber(sent.feedetlSn, field: "\(field).feedetl_sn").value
            guard numbers.insert(detail.feedetlSn).inserted else { throw DomainError(field: "\(field).feedetl_sn", "\(detail.feedetlSn) appears twice") }
            detail.medinsListCodg = ownCodes[i]
            if let national = mapped[ownCodes[i]] {
                guard sent.medListCodg.isEmpty || sent.medListCodg == national else {
                    throw DomainError(.precondition, field: "\(field).med_list_codg", "\(quoted(sent.medListCodg, max: 30)) is not the code \(ownCodes[i]) is mapped to (3301): \(national)")
                }
                detail.medListCodg = national
            } else if sent.medListCodg.isEmpty {
                throw DomainError(.precondition, field: "\(field).med_list_codg", "is required: \(quoted(ownCodes[i], max: 30)) is not mapped to a national code (3301)")
            }
            // The bounds of a claim's fee line (the details become the visit's claim lines).
            detail.medListCodg = try FeeLine(itemCode: detail.medListCodg, quantity: sent.cnt, unitPrice: sent.pric, days: sent.days)
                .checked(field, names: ("med_list_codg", "cnt", "pric")).itemCode
            guard catalogue.billable(detail.medListCodg, on: nil) != nil else {
                let why = catalogue.whyNotBillable(detail.medListCodg, on: nil)
                throw DomainError(.precondition, field: "\(field).med_list_codg", "\(detail.medListCodg) \(why)")
            }
            detail.bilgDrCodg = try HISNumber(sent.bilgDrCodg, field: "\(field).bilg_dr_codg").value
            batch.append(detail)
        }
        let uploaded = batch
        let doctors = uploaded.enumerated().map { (field: "details[\($0)].bilg_dr_codg", code: $1.bilgDrCodg) }
        let changed = try await store.changeVisit(code, visitID, by: try actor(request.opterNo), practitioners: doctors) { visit in
            let existing = Dictionary(uniqueKeysWithValues: visit.details.map { ($0.feedetlSn, $0) })
            var added: [String] = []
            for (i, detail) in uploaded.enumerated() {
                if let had = existing[detail.feedetlSn] {
                    guard had == detail else {
                        throw DomainError(.conflict, field: "details[\(i)].feedetl_sn", "\(detail.feedetlSn) was uploaded with other content: undo it first (2205)")
                    }
                    continue
                }
                visit.details.append(detail)
                added.append(detail.feedetlSn)
            }
            guard visit.details.count <= Claim.maxLines else {
                throw DomainError(.precondition, field: "details", "a visit holds at most \(Claim.maxLines) fee details; this batch makes \(visit.details.count)")
            }
            return added.isEmpty ? nil : VisitChange(kind: .detailsUploaded, detail: added.joined(separator: ","))
        }
        return changed.answer
    }

    /// `Settlement/UndoFeeDetails` (2205).
    public func undoFeeDetails(_ request: UndoFeeDetailsRequest, context: CallContext) async throws -> Visit {
        let (code, visitID) = (try InstitutionCode(request.fixmedinsCode).value, try VisitID(request.mdtrtID).value)
        guard request.feedetlSns.count <= Claim.maxLines else { throw DomainError(field: "feedetl_sns", "at most \(Claim.maxLines)") }
        let undo = try Self.distinct(request.feedetlSns, "feedetl_sns") { try HISNumber($0, field: $1).value }
        let changed = try await store.changeVisit(code, visitID, by: try actor(request.opterNo)) { visit in
            let present = Set(visit.details.map(\.feedetlSn))
            for (i, sn) in undo.enumerated() where !present.contains(sn) {
                throw DomainError(.notFound, field: "feedetl_sns[\(i)]", "visit \(visit.mdtrtID) has no fee detail \(sn)")
            }
            let gone = undo.isEmpty ? visit.details.map(\.feedetlSn) : undo
            guard !gone.isEmpty else { return nil }
            visit.details.removeAll { gone.contains($0.feedetlSn) }
            return VisitChange(kind: .detailsUndone, detail: gone.joined(separator: ","))
        }
        return changed.answer
    }

    /// `Settlement/ImportPractitioners`.
    public func importPractitioners(_ request: ImportPractitionersRequest, context: CallContext) async throws -> ImportPractitionersResponse {
        guard (1...5_000).contains(request.practitioners.count) else {
            throw DomainError(field: "practitioners", "must hold 1-5000 practitioners, got \(request.practitioners.count)")
        }
        var checked: [Practitioner] = [], seen = Set<String>()
        for (i, sent) in request.practitioners.enumerated() {
            let field = "practitioners[\(i)]"
            var p = sent
            p.fixmedinsCode = try InstitutionCode(sent.fixmedinsCode, field: "\(field).fixmedins_code").value
            p.drCode = try HISNumber(sent.drCode, field: "\(field).dr_code").value
            guard seen.insert(p.fixmedinsCode + "/" + p.drCode).inserted else { throw DomainError(field: "\(field).dr_code", "\(p.drCode) at \(p.fixmedinsCode) appears twice") }
            p.drName = try FreeText.checked(sent.drName, field: "\(field).dr_name", max: 50)
            p.pracType = try sent.pracType.required("\(field).prac_type")
            checked.append(p)
        }
        try await store.importPractitioners(checked)
        return ImportPractitionersResponse(imported: UInt32(checked.count))
    }

    /// `Settlement/GetVisit`.
    public func getVisit(_ request: VisitRef, context: CallContext) async throws -> Visit {
        try await answer(try InstitutionCode(request.fixmedinsCode).value, try VisitID(request.mdtrtID).value)
    }

    /// The visit as stored, with its status, history and the claim its details make.
    private func answer(_ code: String, _ visitID: String) async throws -> Visit {
        guard let visit = try await store.visitState(code, visitID) else {
            throw DomainError(.notFound, field: "mdtrt_id", "no visit \(visitID) at \(code)")
        }
        return visit
    }

    /// Each of `values` parsed by `parse` (given the element's field, `name[i]`), each once.
    /// - Throws: the first parse error, or ``DomainError`` (`invalid`) naming a repeated one.
    static func distinct(_ values: [String], _ name: String, _ parse: (String, String) throws -> String) throws -> [String] {
        var parsed: [String] = []
        for (i, value) in values.enumerated() {
            let one = try parse(value, "\(name)[\(i)]")
            guard !parsed.contains(one) else { throw DomainError(field: "\(name)[\(i)]", "\(one) appears twice") }
            parsed.append(one)
        }
        return parsed
    }

    /// The operator acting now, on today's business day.
    func actor(_ opterNo: String) throws -> VisitActor {
        VisitActor(opterNo: try HISNumber(opterNo, field: "opter_no").value, day: today().description, at: Date().formatted(.iso8601))
    }
}
