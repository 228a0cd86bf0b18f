import MedicareContracts
import MedicareDomain
import MedicareWire

/// What a pushed institution record must satisfy; the first problem found names the field.
enum InstitutionRules {
    static let kinds = ["township_centre", "village_clinic"]
    static let modes = ["integrated", "integrating", "not_ready"]

    static func check(_ r: InstitutionRecord) throws(DomainError) {
        _ = try InstitutionCode(r.code, field: "code")
        guard !r.name.isEmpty, r.name.count <= 100 else { throw DomainError(field: "name", "must be 1-100 characters") }
        guard kinds.contains(r.kind) else { throw DomainError(field: "kind", "'\(r.kind.prefix(30))' is not township_centre or village_clinic") }
        let division = try DivisionCode(r.divisionCode, field: "division_code")
        if r.kind == "village_clinic" {
            guard division.level == .village else { throw DomainError(field: "division_code", "a village clinic needs a village code, got \(division.level)") }
            guard modes.contains(r.integrationMode) else {
                throw DomainError(field: "integration_mode", "'\(r.integrationMode.prefix(30))' is not integrated, integrating or not_ready")
            }
            if r.integrationMode != "not_ready" {
                _ = try InstitutionCode(r.parentCode, field: "parent_code")
            }
            if r.integrationMode == "integrating" {
                _ = try CivilDate(r.relationshipEnd, field: "relationship_end")
            }
        } else {
            guard division.level >= .county else { throw DomainError(field: "division_code", "a township centre needs a county, township or village code") }
            guard r.parentCode.isEmpty else { throw DomainError(field: "parent_code", "a township centre has no parent") }
        }
        guard r.recordVersion > 0 else { throw DomainError(field: "record_version", "must be positive") }
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
