import MedicareContracts
import MedicareDomain
import MedicareWire

/// What a pushed institution record must satisfy; the first problem found names the field.
enum InstitutionRules {
    static let kinds = ["township_centre", "village_clinic"]
    static let modes = ["integrated", "integrating", "not_ready"]

    /// The largest record version accepted (stored as a signed 64-bit integer).
    static let maxRecordVersion = UInt64(Int64.max)

    /// What a record must satisfy on its own. Its parent is checked against the registry in
    /// ``RegistryStore/importRecords(_:)``: an existing township centre of the same county.
    static func check(_ r: InstitutionRecord) throws(DomainError) {
        let code = try InstitutionCode(r.code, field: "code")
        guard !r.name.isEmpty, r.name.count <= 100 else { throw DomainError(field: "name", "must be 1-100 characters") }
        guard kinds.contains(r.kind) else { throw DomainError(field: "kind", "'\(r.kind.prefix(30))' is not township_centre or village_clinic") }
        let division = try DivisionCode(r.divisionCode, field: "division_code")
        // The national code's digits 2-7 are the institution's county (GB/T 2260).
        guard code.county == division.prefix(.county) else {
            throw DomainError(field: "code", "\(code)'s county \(code.county) is not the county of division_code \(division.prefix(.county))")
        }
        if r.kind == "village_clinic" {
            guard division.level == .village else { throw DomainError(field: "division_code", "a village clinic needs a village code, got \(division.level)") }
            guard modes.contains(r.integrationMode) else {
                throw DomainError(field: "integration_mode", "'\(r.integrationMode.prefix(30))' is not integrated, integrating or not_ready")
            }
            if r.integrationMode != "not_ready" {
                let parent = try InstitutionCode(r.parentCode, field: "parent_code")
                guard parent != code else { throw DomainError(field: "parent_code", "a clinic cannot be its own parent") }
                guard parent.county == code.county else {
                    throw DomainError(field: "parent_code", "\(parent) is not in the clinic's county \(code.county)")
                }
            } else if !r.parentCode.isEmpty {
                _ = try InstitutionCode(r.parentCode, field: "parent_code")
            }
            if r.integrationMode == "integrating" {
                _ = try CivilDate(r.relationshipEnd, field: "relationship_end")
            }
        } else {
            guard division.level >= .county else { throw DomainError(field: "division_code", "a township centre needs a county, township or village code") }
            guard r.parentCode.isEmpty else { throw DomainError(field: "parent_code", "a township centre has no parent") }
        }
        guard (1...maxRecordVersion).contains(r.recordVersion) else {
            throw DomainError(field: "record_version", "must be 1-\(maxRecordVersion), got \(r.recordVersion)")
        }
        guard r.licensedDoctors <= 1000 else { throw DomainError(field: "licensed_doctors", "is implausible (\(r.licensedDoctors))") }
    }

    /// Allowed designation changes: action -> (from statuses, to status).
    static let transitions: [String: (from: Set<String>, to: String)] = [
        "designate": (["not_designated", "terminated"], "designated"),
        "suspend": (["designated"], "suspended"),
        "restore": (["suspended"], "designated"),
        "terminate": (["designated", "suspended"], "terminated"),
    ]
}
