import MedicareContracts
import MedicareDomain
import MedicareRuntime
import MedicareWire

/// A person's insurance records over time (1101's `insuinfo`): checking them on import and
/// finding the one in force on a day. Pure values; the store keeps them in
/// `insurance_records` and hands them back with the person.
extension InsuredPerson {
    /// The most records one person may hold (a working life of changes of scheme and region).
    static let maxInsuranceRecords = 20

    /// Whether `insutype` is a basic insurance, the one a visit settles under: employees'
    /// (310) or urban and rural residents' (390). The other types supplement one of them.
    static func isBasic(_ insutype: Insutype) -> Bool { insutype == .employeeBasic || insutype == .residentBasic }

    /// `sent` as it is stored: identifiers canonical and its insurance as records. The flat
    /// fields make one running record (from before records were kept) unless `insuinfo` is
    /// given; then they must be unset and the records are the history. The flat fields of the
    /// result summarize the newest basic record.
    /// - Throws: ``DomainError`` (`INVALID_ARGUMENT`) naming `persons[i].…`, and for a record
    ///   `persons[i].insuinfo[j].…`: a type not in the code list, a region not 6 digits, a
    ///   status unset, a date out of form, a period ending on or before its start, two basic
    ///   records (310, 390) overlapping (重复参保), two records of one type overlapping, no
    ///   basic record at all, the civil-servant flag without an employee record.
    static func forImport(_ sent: InsuredPerson, at i: Int) throws -> InsuredPerson {
        let field = "persons[\(i)]"
        var person = sent
        person.psnNo = try PersonNumber(sent.psnNo, field: "\(field).psn_no").value
        person.certno = try ResidentID(sent.certno, field: "\(field).certno").value
        guard !sent.name.isEmpty, sent.name.count <= 50 else { throw DomainError(field: "\(field).name", "must be 1-50 characters") }
        var records: [InsuInfo]
        if sent.insuinfo.isEmpty {
            records = [InsuInfo(insutype: sent.insutype, insuplcAdmdvs: sent.insuAdmdvs, psnInsuStas: sent.psnInsuStas)]
            try check(records[0], field: field, flat: true)
        } else {
            for (name, given) in [("insutype", sent.insutype.rawValue != 0), ("insu_admdvs", !sent.insuAdmdvs.isEmpty), ("psn_insu_stas", sent.psnInsuStas.rawValue != 0)] where given {
                throw DomainError(field: "\(field).\(name)", "give the insurance as insuinfo records or as the flat fields (insutype, insu_admdvs, psn_insu_stas), not both")
            }
            guard sent.insuinfo.count <= maxInsuranceRecords else {
                throw DomainError(field: "\(field).insuinfo", "at most \(maxInsuranceRecords) records, got \(sent.insuinfo.count)")
            }
            records = sent.insuinfo
            for (j, record) in records.enumerated() { try check(record, field: "\(field).insuinfo[\(j)]", flat: false) }
            for j in records.indices {
                for k in records.indices where k < j && overlap(records[j], records[k]) {
                    // Named by the record's period (its start): that is what overlaps.
                    if records[j].insutype == records[k].insutype {
                        throw DomainError(field: "\(field).insuinfo[\(j)].psn_insu_date", "overlaps insuinfo[\(k)], a record of the same type \(records[j].insutype.rawValue)")
                    }
                    if isBasic(records[j].insutype) && isBasic(records[k].insutype) {
                        throw DomainError(field: "\(field).insuinfo[\(j)].psn_insu_date", "overlaps insuinfo[\(k)]: one basic insurance (310 or 390) at a time (重复参保)")
                    }
                }
            }
        }
        guard let newest = newestBasic(records) else {
            throw DomainError(field: "\(field).insuinfo", "holds no basic insurance (310 or 390): the other types supplement one")
        }
        // 公务员医疗补助 supplements employees' basic insurance.
        guard !sent.cvlservFlag || records.contains(where: { $0.insutype == .employeeBasic }) else {
            throw DomainError(field: "\(field).cvlserv_flag", "the civil-servant subsidy supplements employees' insurance (310), which the person does not hold")
        }
        guard (0...1_000_000_000).contains(sent.accountBalance) else {
            throw DomainError(field: "\(field).account_balance", "must be 0-1000000000 fen")
        }
        guard sent.psnIdetType == .unspecified || sent.psnIdetType.isKnown else {
            throw DomainError(field: "\(field).psn_idet_type", "\(sent.psnIdetType.rawValue) is not an assistance category (1-4)")
        }
        person.insuinfo = records.sorted { $0.psnInsuDate > $1.psnInsuDate }
        (person.insutype, person.insuAdmdvs, person.psnInsuStas) = (newest.insutype, newest.insuplcAdmdvs, newest.psnInsuStas)
        return person
    }

    /// The person as of `day`: the flat fields are the record in force that day of the type
    /// `stated` (2201's and 2207's insutype), or of the basic type when none is stated; nil
    /// when no such record covers the day. A record covers `psn_insu_date` up to, not
    /// including, `paus_insu_date`. A suspended or terminated record in force is returned as it
    /// is: the caller refuses it by its status.
    func inForce(on day: String, insutype stated: Insutype = .unspecified) -> InsuredPerson? {
        let wanted = { (r: InsuInfo) in stated.rawValue == 0 ? Self.isBasic(r.insutype) : r.insutype == stated }
        guard let record = insuinfo.first(where: { wanted($0) && $0.psnInsuDate <= day && ($0.pausInsuDate.isEmpty || day < $0.pausInsuDate) }) else {
            return nil
        }
        var person = self
        (person.insutype, person.insuAdmdvs, person.psnInsuStas) = (record.insutype, record.insuplcAdmdvs, record.psnInsuStas)
        return person
    }

    /// ``inForce(on:insutype:)`` enrolled, or the precondition failure that refuses the visit:
    /// a stated type that is not basic (310, 390), no record of the stated (or a basic) type
    /// covers the day, or the one that does is not `enrolled`.
    /// - Throws: ``DomainError`` (`FAILED_PRECONDITION`) naming `field` (psn_no), or
    ///   `insutypeField` when a stated type is not held that day.
    func enrolled(on day: String, insutype stated: Insutype = .unspecified, field: String, insutypeField: String) throws -> InsuredPerson {
        // A visit settles under a basic insurance; the others supplement it (their funds follow
        // from the basic record and the person's flags).
        guard stated.rawValue == 0 || Self.isBasic(stated) else {
            throw DomainError(.precondition, field: insutypeField, "\(stated.rawValue) is supplementary: a visit settles under a basic insurance (310 or 390)")
        }
        guard let person = inForce(on: day, insutype: stated) else {
            if stated.rawValue != 0, let held = inForce(on: day)?.insutype.rawValue {
                throw DomainError(.precondition, field: insutypeField, "\(psnNo) is not insured under \(stated.rawValue) on \(day) (insured under \(held))")
            }
            throw DomainError(.precondition, field: field, "\(psnNo) holds no \(stated.rawValue == 0 ? "basic" : String(stated.rawValue)) insurance in force on \(day)")
        }
        guard person.psnInsuStas == .enrolled else {
            throw DomainError(.precondition, field: field, "\(psnNo)'s enrolment on \(day) is \(person.psnInsuStas.code)")
        }
        return person
    }

    private static func check(_ record: InsuInfo, field: String, flat: Bool) throws {
        let (type, region, status) = flat ? ("insutype", "insu_admdvs", "psn_insu_stas") : ("insutype", "insuplc_admdvs", "psn_insu_stas")
        let insutype = try record.insutype.required("\(field).\(type)")
        guard insutype.isKnown else { throw DomainError(field: "\(field).\(type)", "\(insutype.rawValue) is not in the insutype code list") }
        if flat, !isBasic(insutype) {
            throw DomainError(field: "\(field).insutype", "\(insutype.rawValue) is supplementary: a person's primary insutype is 310 or 390")
        }
        guard record.insuplcAdmdvs.utf8.count == 6, record.insuplcAdmdvs.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw DomainError(field: "\(field).\(region)", "must be 6 digits")
        }
        _ = try record.psnInsuStas.required("\(field).\(status)")
        guard record.psnInsuStas.isKnown else { throw DomainError(field: "\(field).\(status)", "\(record.psnInsuStas.rawValue) is not in the code list") }
        if !record.psnInsuDate.isEmpty { _ = try CivilDate(record.psnInsuDate, field: "\(field).psn_insu_date") }
        if !record.pausInsuDate.isEmpty {
            _ = try CivilDate(record.pausInsuDate, field: "\(field).paus_insu_date")
            guard record.pausInsuDate > record.psnInsuDate else {
                throw DomainError(field: "\(field).paus_insu_date", "\(record.pausInsuDate) is not after psn_insu_date \(record.psnInsuDate)")
            }
        }
    }

    /// Whether two records' periods share a day (an empty start is the beginning of time, an
    /// empty end the end of it).
    private static func overlap(_ a: InsuInfo, _ b: InsuInfo) -> Bool {
        let beforeEnd = { (start: String, record: InsuInfo) in record.pausInsuDate.isEmpty || start < record.pausInsuDate }
        return beforeEnd(a.psnInsuDate, b) && beforeEnd(b.psnInsuDate, a)
    }

    private static func newestBasic(_ records: [InsuInfo]) -> InsuInfo? {
        records.filter { isBasic($0.insutype) }.max { $0.psnInsuDate < $1.psnInsuDate }
    }
}
