import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareStore
import MedicareWire

/// What a person holds on a visit day that decides how a chronic outpatient claim (med_type
/// 14) is settled: the conditions registered through 2503 and in force, and the primary
/// institution of the family-doctor contract in force.
///
/// Notice 003 §六 (衢州, 提高签约服务保障): a registered chronic condition treated at the
/// contracted primary institution is reimbursed at the chronic outpatient ratio (not below
/// 65%, the policy's `chronic_outpatient` terms); elsewhere, or without a contract, the claim is
/// settled on general outpatient terms. A chronic claim for a condition not registered is
/// refused, as the national platform refuses 门诊慢特病 without 备案.
struct ChronicStandingOnDay: Sendable, Equatable {
    /// The registered conditions in force (opsp_dise_code: ICD-10 codes or categories).
    var conditions: [String] = []
    /// The contracted institution (fixmedins_code) in force, if any.
    var contractedInstitution: String?

    /// The medical type whose terms settle `claim` (``SettlementResult/settledAs``): the claim's
    /// own for a general outpatient claim; for a chronic one, chronic terms at the contracted
    /// institution (the clinic itself, or the township centre it settles through: 乡村一体化,
    /// the centre's family-doctor teams include its village doctors), general terms elsewhere.
    /// - Throws: ``DomainError`` (`precondition`, `claim.med_type`) for a chronic claim none of
    ///   whose diagnoses falls under a registered condition in force.
    func settledAs(_ claim: ValidatedClaim) throws(DomainError) -> MedType {
        let medType = claim.claim.medType
        guard medType == .chronicOutpatient else { return medType }
        guard claim.claim.diagnoses.contains(where: { diagnosis in conditions.contains { Self.covers($0, diagnosis) } }) else {
            throw DomainError(
                .precondition, field: "claim.med_type",
                "person \(claim.claim.psnNo) has no chronic condition registered (2503) and in force on \(claim.visitDate) for the claim's diagnoses "
                    + "\(claim.claim.diagnoses.joined(separator: ", ")): settle it as general outpatient (11), or register the condition first"
            )
        }
        guard let contracted = contractedInstitution, contracted == claim.clinic.value || contracted == claim.settleVia.value else {
            return .generalOutpatient
        }
        return .chronicOutpatient
    }

    /// Whether a registered condition covers a diagnosis: the same code, or the diagnosis is
    /// a subdivision of it (`I10` covers `I10.X00`; `E11.9` does not cover `E11`).
    static func covers(_ condition: String, _ diagnosis: String) -> Bool {
        diagnosis == condition || (diagnosis.hasPrefix(condition) && diagnosis.dropFirst(condition.count).first == "." && !condition.contains("."))
    }

    /// The contract in force on `day`: of those in force, the one that began latest.
    static func contract(_ contracts: [FamilyDoctorContract], on day: String) -> FamilyDoctorContract? {
        contracts.filter { inForce($0.begndate, $0.enddate, on: day) }.max { $0.begndate < $1.begndate }
    }

    /// From `begndate` through `enddate` (inclusive; empty: open), dates as YYYY-MM-DD.
    static func inForce(_ begndate: String, _ enddate: String, on day: String) -> Bool {
        begndate <= day && (enddate.isEmpty || day <= enddate)
    }
}

extension ChronicStandingOnDay {
    /// The standing on `day` from a person's registrations and contracts as stored (any days).
    init(registrations: [ChronicRegistration], contracts: [FamilyDoctorContract], on day: String) {
        self.init(
            conditions: registrations.filter { Self.inForce($0.begndate, $0.enddate, on: day) }.map(\.opspDiseCode),
            contractedInstitution: Self.contract(contracts, on: day)?.fixmedinsCode)
    }
}

/// 2503 registrations and family-doctor contracts. What each method takes, answers and
/// refuses is documented on its RPC in settlement.proto.
extension SettlementProvider {
    /// `Settlement/RegisterChronicCondition` (2503).
    public func registerChronicCondition(_ request: ChronicRegistration, context: CallContext) async throws -> ChronicRegistration {
        let institution = try InstitutionCode(request.ideFixmedinsNo, field: "ide_fixmedins_no").value
        var registration = ChronicRegistration(
            psnNo: try PersonNumber(request.psnNo).value, opspDiseCode: try DiagnosisCode(request.opspDiseCode, field: "opsp_dise_code").value,
            opspDiseName: try FreeText.checked(request.opspDiseName, field: "opsp_dise_name", max: 100), ideFixmedinsNo: institution,
            diagDrCodg: try HISNumber(request.diagDrCodg, field: "diag_dr_codg").value
        )
        (registration.begndate, registration.enddate) = try Self.period(request.begndate, request.enddate, today: today())
        let actor = try actor(request.opterNo)
        registration.opterNo = actor.opterNo
        try await requireEnrolled(registration.psnNo)
        try await store.requirePractitioners(institution, [("diag_dr_codg", registration.diagDrCodg)])
        registration.trtDclaDetlSn = timeOrderedID(prefix: "D")
        registration.registeredAt = actor.at
        return try await store.registerChronicCondition(registration, by: actor)
    }

    /// `Settlement/RevokeChronicRegistration` (2504).
    public func revokeChronicRegistration(_ request: RevokeChronicRegistrationRequest, context: CallContext) async throws -> ChronicRegistration {
        let psnNo = try PersonNumber(request.psnNo).value
        let institution = try InstitutionCode(request.ideFixmedinsNo, field: "ide_fixmedins_no").value
        let number = try HISNumber(request.trtDclaDetlSn, field: "trt_dcla_detl_sn").value
        let actor = try actor(request.opterNo)
        return try await store.revokeChronicRegistration(number, of: psnNo, by: institution, yesterday: today().adding(days: -1).description, actor: actor)
    }

    /// `Settlement/SignFamilyDoctorContract`.
    public func signFamilyDoctorContract(_ request: FamilyDoctorContract, context: CallContext) async throws -> FamilyDoctorContract {
        var contract = FamilyDoctorContract(
            psnNo: try PersonNumber(request.psnNo).value, fixmedinsCode: try InstitutionCode(request.fixmedinsCode).value,
            drCode: try HISNumber(request.drCode, field: "dr_code").value
        )
        (contract.begndate, contract.enddate) = try Self.period(request.begndate, request.enddate, today: today())
        let actor = try actor(request.opterNo)
        contract.opterNo = actor.opterNo
        try await requireEnrolled(contract.psnNo)
        try await store.requirePractitioners(contract.fixmedinsCode, [("dr_code", contract.drCode)])
        contract.signedAt = actor.at
        return try await store.signFamilyDoctorContract(contract, by: actor)
    }

    /// `Settlement/GetChronicStanding`.
    public func getChronicStanding(_ request: ChronicStandingRequest, context: CallContext) async throws -> ChronicStanding {
        let psnNo = try PersonNumber(request.psnNo).value
        let certno = try ResidentID(request.certno, field: "certno").value
        let day = request.date.isEmpty ? today().description : try CivilDate(request.date, field: "date").description
        // The answer holds the person's diagnoses: only for the ID the person presents.
        guard let person = try await store.person(psnNo: psnNo), person.certno == certno else {
            throw DomainError(.notFound, field: "psn_no", "no insured person \(psnNo) with that certno")
        }
        // Read already limited to those in force on the day.
        let (registrations, contracts) = try await store.chronicRecords(of: [psnNo], from: day, through: day)
        return ChronicStanding(registrations: registrations[psnNo] ?? [], contract: ChronicStandingOnDay.contract(contracts[psnNo] ?? [], on: day))
    }

    /// How far from today a registration or contract may begin: a year back (a condition
    /// certified earlier), 90 days ahead.
    static let beginsWithin = (before: 366, after: 90)

    /// A period's first and last day (YYYY-MM-DD; the last may be empty: open), the first
    /// within ``beginsWithin`` of `today`, the last not before the first.
    static func period(_ begndate: String, _ enddate: String, today: CivilDate) throws(DomainError) -> (String, String) {
        let first = try CivilDate(begndate, field: "begndate")
        guard today.adding(days: -beginsWithin.before) <= first, first <= today.adding(days: beginsWithin.after) else {
            throw DomainError(field: "begndate", "\(first) is more than \(beginsWithin.before) days before or \(beginsWithin.after) days after today (\(today))")
        }
        guard !enddate.isEmpty else { return (first.description, "") }
        let last = try CivilDate(enddate, field: "enddate")
        guard first <= last else { throw DomainError(field: "enddate", "\(last) is before begndate \(first)") }
        return (first.description, last.description)
    }

    private func requireEnrolled(_ psnNo: String) async throws {
        guard let person = try await store.person(psnNo: psnNo) else { throw DomainError(.notFound, field: "psn_no", "no insured person \(psnNo)") }
        _ = try person.enrolled(on: today().description, field: "psn_no", insutypeField: "insutype")
    }
}

extension SettlementStore {
    /// Records a registration unless the person has one of the same condition from the same
    /// day: that one is answered, with `replay` when its content is the same.
    /// - Throws: ``DomainError`` (`precondition`) when the operator has not signed in that
    ///   day at the institution; (`conflict`) when the person, condition and day are
    ///   registered with other content.
    func registerChronicCondition(_ registration: ChronicRegistration, by actor: VisitActor) async throws -> ChronicRegistration {
        try await database.write { tx in
            try await Self.requireSignIn(tx, registration.ideFixmedinsNo, actor)
            let r = registration
            let existing = try await tx.queryOne(
                "SELECT trt_dcla_detl_sn FROM chronic_registrations WHERE psn_no = $1 AND opsp_dise_code = $2 AND begndate = $3",
                [.text(r.psnNo), .text(r.opspDiseCode), .text(r.begndate)])
            if existing == nil { try await Self.requireRoom(tx, "chronic_registrations", r.psnNo, Self.maxRegistrations, "registrations") }
            try await tx.execute(
                """
                INSERT INTO chronic_registrations (trt_dcla_detl_sn, psn_no, opsp_dise_code, opsp_dise_name, ide_fixmedins_no, diag_dr_codg,
                    begndate, enddate, opter_no, registered_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (psn_no, opsp_dise_code, begndate) DO NOTHING
                """,
                [.text(r.trtDclaDetlSn), .text(r.psnNo), .text(r.opspDiseCode), .text(r.opspDiseName), .text(r.ideFixmedinsNo), .text(r.diagDrCodg),
                 .text(r.begndate), .text(r.enddate), .text(r.opterNo), .text(r.registeredAt)]
            )
            guard let row = try await tx.queryOne(
                "SELECT * FROM chronic_registrations WHERE psn_no = $1 AND opsp_dise_code = $2 AND begndate = $3",
                [.text(r.psnNo), .text(r.opspDiseCode), .text(r.begndate)]
            ) else { throw StoreError.decoding("chronic_registrations: the registration of \(r.psnNo) \(r.opspDiseCode) is missing") }
            var stored = try Self.registration(row)
            guard stored.trtDclaDetlSn != r.trtDclaDetlSn else { return stored }
            guard (stored.opspDiseName, stored.ideFixmedinsNo, stored.diagDrCodg, stored.enddate) == (r.opspDiseName, r.ideFixmedinsNo, r.diagDrCodg, r.enddate) else {
                throw DomainError(
                    .conflict, field: "opsp_dise_code",
                    "\(r.psnNo)'s \(r.opspDiseCode) from \(r.begndate) is registered as \(stored.trtDclaDetlSn) with other content"
                )
            }
            stored.replay = true
            return stored
        }
    }

    /// Ends a registration yesterday (one not yet begun then never takes effect), unless it ended before today
    /// already: then it is answered as it stands, with `replay`.
    /// - Throws: ``DomainError`` (`precondition`) when the operator has not signed in that day
    ///   at the institution; (`notFound`) for no such registration of the person by the institution.
    func revokeChronicRegistration(_ number: String, of psnNo: String, by institution: String, yesterday: String, actor: VisitActor) async throws -> ChronicRegistration {
        try await database.write { tx in
            try await Self.requireSignIn(tx, institution, actor)
            guard let row = try await tx.queryOne(
                "SELECT * FROM chronic_registrations WHERE trt_dcla_detl_sn = $1 AND psn_no = $2 AND ide_fixmedins_no = $3\(tx.dialect.forUpdate)",
                [.text(number), .text(psnNo), .text(institution)]
            ) else { throw DomainError(.notFound, field: "trt_dcla_detl_sn", "no registration \(number) of \(psnNo) by \(institution)") }
            var registration = try Self.registration(row)
            if !registration.enddate.isEmpty, registration.enddate <= yesterday {
                registration.replay = true
                return registration
            }
            // One not yet begun gets an empty period: it never takes effect.
            try await tx.execute("UPDATE chronic_registrations SET enddate = $1 WHERE trt_dcla_detl_sn = $2", [.text(yesterday), .text(number)])
            registration.enddate = yesterday
            return registration
        }
    }

    /// Records a contract unless the person has one from the same day: that one is answered,
    /// with `replay` when its content is the same.
    /// - Throws: ``DomainError`` (`precondition`) when the operator has not signed in that
    ///   day at the institution; (`conflict`) when the person has a contract from that day
    ///   with other content.
    func signFamilyDoctorContract(_ contract: FamilyDoctorContract, by actor: VisitActor) async throws -> FamilyDoctorContract {
        try await database.write { tx in
            try await Self.requireSignIn(tx, contract.fixmedinsCode, actor)
            let c = contract
            // The person locked (on PostgreSQL, where replicas write at once; SQLite's one writer
            // already does), so that two signings for one person are decided one after the other.
            if !tx.dialect.forUpdate.isEmpty { _ = try await tx.queryOne("SELECT psn_no FROM persons WHERE psn_no = $1 FOR UPDATE", [.text(c.psnNo)]) }
            let held = try await tx.query("SELECT * FROM family_doctor_contracts WHERE psn_no = $1 ORDER BY begndate", [.text(c.psnNo)]).map(Self.contract)
            if var stored = held.first(where: { $0.begndate == c.begndate }) {
                guard stored.fixmedinsCode == c.fixmedinsCode, stored.drCode == c.drCode else {
                    throw DomainError(.conflict, field: "begndate", "\(c.psnNo) has another contract from \(c.begndate)")
                }
                if stored.enddate == c.enddate {
                    stored.replay = true
                    return stored
                }
                // Ending it (or ending it sooner): the institution that holds it says when.
                guard !c.enddate.isEmpty, stored.enddate.isEmpty || c.enddate < stored.enddate else {
                    throw DomainError(.conflict, field: "enddate", "the contract from \(c.begndate) ends \(stored.enddate.isEmpty ? "never" : stored.enddate): it may only be ended sooner")
                }
                try await tx.execute("UPDATE family_doctor_contracts SET enddate = $1 WHERE psn_no = $2 AND begndate = $3", [.text(c.enddate), .text(c.psnNo), .text(c.begndate)])
                stored.enddate = c.enddate
                return stored
            }
            // One contract at a time: another institution's, in force on a day of this one, must end first.
            let last = c.enddate.isEmpty ? "9999-12-31" : c.enddate
            if let other = held.first(where: { $0.fixmedinsCode != c.fixmedinsCode && $0.begndate <= last && ($0.enddate.isEmpty || $0.enddate >= c.begndate) }) {
                throw DomainError(
                    .precondition, field: "begndate",
                    "\(c.psnNo) has another institution's contract in force from \(other.begndate)\(other.enddate.isEmpty ? "" : " to \(other.enddate)"): it must end first"
                )
            }
            guard held.count < Self.maxContracts else {
                throw DomainError(.precondition, field: "psn_no", "\(c.psnNo) holds \(Self.maxContracts) contracts already")
            }
            try await tx.execute(
                """
                INSERT INTO family_doctor_contracts (psn_no, begndate, fixmedins_code, dr_code, enddate, opter_no, signed_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                """,
                [.text(c.psnNo), .text(c.begndate), .text(c.fixmedinsCode), .text(c.drCode), .text(c.enddate), .text(c.opterNo), .text(c.signedAt)]
            )
            return c
        }
    }

    /// The most registrations (2503) and family-doctor contracts a person may hold: what a
    /// posting reads for a chronic claim's person stays bounded.
    static let maxRegistrations = 50, maxContracts = 20

    /// Refuses a record for a person who holds `limit` of them already.
    static func requireRoom(_ tx: any SQLTransaction, _ table: String, _ psnNo: String, _ limit: Int, _ what: String) async throws {
        let held = try await tx.queryOne("SELECT COUNT(*) AS n FROM \(table) WHERE psn_no = $1", [.text(psnNo)])?.int("n") ?? 0
        guard held < limit else { throw DomainError(.precondition, field: "psn_no", "\(psnNo) holds \(limit) \(what) already") }
    }

    /// The standing on `day` of a person, for a claim of medical type `medType` (read only for
    /// a chronic claim: a general one needs none).
    func chronicStanding(of psnNo: String, on day: String, for medType: MedType) async throws -> ChronicStandingOnDay {
        guard medType == .chronicOutpatient else { return ChronicStandingOnDay() }
        let records = try await chronicRecords(of: [psnNo], from: day, through: day)
        return ChronicStandingOnDay(registrations: records.registrations[psnNo] ?? [], contracts: records.contracts[psnNo] ?? [], on: day)
    }

    /// The persons' registrations and contracts in force on some day from `first` through
    /// `last` (YYYY-MM-DD), by person, in one statement (``chronicRecords(_:of:from:through:)``
    /// inside a posting's transaction).
    func chronicRecords(of persons: [String], from first: String, through last: String) async throws
        -> (registrations: [String: [ChronicRegistration]], contracts: [String: [FamilyDoctorContract]])
    {
        try await database.lookup { tx in try await Self.chronicRecords(tx, of: persons, from: first, through: last) }
    }

    /// The persons' registrations and contracts in force on some day from `first` through
    /// `last` (YYYY-MM-DD), by person, in one statement.
    static func chronicRecords(_ tx: any SQLTransaction, of persons: [String], from first: String, through last: String) async throws
        -> (registrations: [String: [ChronicRegistration]], contracts: [String: [FamilyDoctorContract]])
    {
        guard !persons.isEmpty else { return ([:], [:]) }
        var binds: [SQLValue] = [.text(first), .text(last)]
        let registered = SQLPlaceholders.isIn("psn_no", persons.map { .text($0) }, dialect: tx.dialect, binds: &binds)
        let contracted = SQLPlaceholders.isIn("psn_no", persons.map { .text($0) }, dialect: tx.dialect, binds: &binds)
        let during = "begndate <= $2 AND (enddate = '' OR enddate >= $1)"
        // One statement, both tables: t1-t3 are the registration's condition and institution or
        // the contract's institution and doctor.
        let rows = try await tx.query(
            """
            SELECT 0 AS part, psn_no, trt_dcla_detl_sn AS t1, opsp_dise_code AS t2, opsp_dise_name AS t3, ide_fixmedins_no AS t4, diag_dr_codg AS t5,
              begndate, enddate, opter_no, registered_at AS at FROM chronic_registrations WHERE \(registered) AND \(during)
            UNION ALL SELECT 1, psn_no, fixmedins_code, dr_code, '', '', '', begndate, enddate, opter_no, signed_at FROM family_doctor_contracts
              WHERE \(contracted) AND \(during)
            """, binds)
        var registrations: [String: [ChronicRegistration]] = [:], contracts: [String: [FamilyDoctorContract]] = [:]
        for row in rows {
            let psnNo = try row.string("psn_no")
            if try row.int("part") == 0 {
                registrations[psnNo, default: []].append(ChronicRegistration(
                    psnNo: psnNo, opspDiseCode: try row.string("t2"), opspDiseName: try row.string("t3"), ideFixmedinsNo: try row.string("t4"),
                    diagDrCodg: try row.string("t5"), begndate: try row.string("begndate"), enddate: try row.string("enddate"),
                    opterNo: try row.string("opter_no"), trtDclaDetlSn: try row.string("t1"), registeredAt: try row.string("at")))
            } else {
                contracts[psnNo, default: []].append(FamilyDoctorContract(
                    psnNo: psnNo, fixmedinsCode: try row.string("t1"), drCode: try row.string("t2"), begndate: try row.string("begndate"),
                    enddate: try row.string("enddate"), opterNo: try row.string("opter_no"), signedAt: try row.string("at")))
            }
        }
        return (registrations, contracts)
    }

    static func registration(_ row: SQLRow) throws -> ChronicRegistration {
        ChronicRegistration(
            psnNo: try row.string("psn_no"), opspDiseCode: try row.string("opsp_dise_code"), opspDiseName: try row.string("opsp_dise_name"),
            ideFixmedinsNo: try row.string("ide_fixmedins_no"), diagDrCodg: try row.string("diag_dr_codg"), begndate: try row.string("begndate"),
            enddate: try row.string("enddate"), opterNo: try row.string("opter_no"), trtDclaDetlSn: try row.string("trt_dcla_detl_sn"),
            registeredAt: try row.string("registered_at")
        )
    }

    static func contract(_ row: SQLRow) throws -> FamilyDoctorContract {
        FamilyDoctorContract(
            psnNo: try row.string("psn_no"), fixmedinsCode: try row.string("fixmedins_code"), drCode: try row.string("dr_code"),
            begndate: try row.string("begndate"), enddate: try row.string("enddate"), opterNo: try row.string("opter_no"), signedAt: try row.string("signed_at")
        )
    }
}
