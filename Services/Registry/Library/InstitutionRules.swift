import MedicareContracts
import MedicareDomain
import MedicareRuntime
import MedicareWire

/// What a pushed institution record must satisfy; the first problem found names the field.
enum InstitutionRules {
    /// The largest record version accepted (stored as a signed 64-bit integer).
    static let maxRecordVersion = UInt64(Int64.max)

    /// What a record must satisfy on its own. Its parent is checked against the registry in
    /// ``RegistryStore/importRecords(_:)``: an existing township centre of the same county.
    static func check(_ r: InstitutionRecord) throws(DomainError) {
        let code = try InstitutionCode(r.fixmedinsCode, field: "fixmedins_code")
        guard !r.fixmedinsName.isEmpty, r.fixmedinsName.count <= 100 else { throw DomainError(field: "fixmedins_name", "must be 1-100 characters") }
        let kind = try r.kind.required("kind")
        let division = try DivisionCode(r.divisionCode, field: "division_code")
        // The national code's digits 2-7 are the institution's county (GB/T 2260).
        guard code.county == division.prefix(.county) else {
            throw DomainError(field: "fixmedins_code", "\(code)'s county \(code.county) is not the county of division_code \(division.prefix(.county))")
        }
        switch kind {
        case .villageClinic:
            guard division.level == .village else { throw DomainError(field: "division_code", "a village clinic needs a village code, got \(division.level)") }
            let mode = try r.integrationMode.required("integration_mode")
            if mode != .notReady {
                let parent = try InstitutionCode(r.parentCode, field: "parent_code")
                guard parent != code else { throw DomainError(field: "parent_code", "a clinic cannot be its own parent") }
                guard parent.county == code.county else {
                    throw DomainError(field: "parent_code", "\(parent) is not in the clinic's county \(code.county)")
                }
            } else if !r.parentCode.isEmpty {
                _ = try InstitutionCode(r.parentCode, field: "parent_code")
            }
            if mode == .integrating {
                _ = try CivilDate(r.relationshipEnd, field: "relationship_end")
            }
        case .townshipCentre, .unspecified, .unrecognized:
            // A township centre settles under its own agreement: its integration_mode is not read.
            guard division.level >= .county else { throw DomainError(field: "division_code", "a township centre needs a county, township or village code") }
            guard r.parentCode.isEmpty else { throw DomainError(field: "parent_code", "a township centre has no parent") }
        }
        guard (1...maxRecordVersion).contains(r.recordVersion) else {
            throw DomainError(field: "record_version", "must be 1-\(maxRecordVersion), got \(r.recordVersion)")
        }
        guard r.licensedDoctors <= 1000 else { throw DomainError(field: "licensed_doctors", "is implausible (\(r.licensedDoctors))") }
        if !r.effectiveDate.isEmpty { _ = try CivilDate(r.effectiveDate, field: "effective_date") }
    }

    /// The designation change an action makes: the statuses it may start from and the one it
    /// leads to (定点协议管理; a terminated institution re-enters only by a new designation).
    static func transition(_ action: DesignationAction) throws(DomainError) -> (from: Set<DesignationStatus>, to: DesignationStatus) {
        switch try action.required("action") {
        case .designate: ([.notDesignated, .terminated], .designated)
        case .suspend: ([.designated], .suspended)
        case .restore: ([.suspended], .designated)
        case .terminate: ([.designated, .suspended], .terminated)
        case .unspecified, .unrecognized: throw DomainError(field: "action", "is required")
        }
    }
}
