import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareStore
import MedicareWire

// Liaisons, quarterly progress reports and the national view (notice §五): each province
// names a liaison per department and reports its progress on the campaign's dates; the
// national bureau ranks provinces by coverage and sees what is slow or overdue.

extension RegistryStore {
    static let reportingMigrations: [Migration] = [
        Migration(11, "liaisons and progress reports", sql: """
            CREATE TABLE liaisons (province TEXT NOT NULL, department TEXT NOT NULL, name TEXT NOT NULL, title TEXT NOT NULL, phone TEXT NOT NULL,
                registered_at TEXT NOT NULL, registered_by TEXT NOT NULL, PRIMARY KEY (province, department));
            CREATE TABLE progress_reports (province TEXT NOT NULL, period TEXT NOT NULL, as_of TEXT NOT NULL, villages BIGINT NOT NULL,
                covered BIGINT NOT NULL, clinics BIGINT NOT NULL, designated_clinics BIGINT NOT NULL, ledger_clinics BIGINT NOT NULL, text TEXT NOT NULL,
                filed_at TEXT NOT NULL, filed_by TEXT NOT NULL, late BIGINT NOT NULL, PRIMARY KEY (province, period))
            """),
        Migration.closedSets(12, "liaison departments hold only their codes", reportingSets),
    ]

    static let reportingSets = [ClosedSet("liaisons", "department", ["medical_insurance", "health_commission"])]

    func register(_ liaison: Liaison) async throws {
        try await database.write { tx in
            try await tx.execute(
                """
                INSERT INTO liaisons (province, department, name, title, phone, registered_at, registered_by) VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT (province, department) DO UPDATE SET name = excluded.name, title = excluded.title, phone = excluded.phone,
                  registered_at = excluded.registered_at, registered_by = excluded.registered_by
                """,
                [.text(liaison.province), liaison.department.stored, .text(liaison.name), .text(liaison.title), .text(liaison.phone),
                 .text(liaison.registeredAt), .text(liaison.registeredBy)]
            )
        }
    }

    func file(_ report: ProgressReport) async throws {
        try await database.write { tx in
            try await tx.execute(
                """
                INSERT INTO progress_reports (province, period, as_of, villages, covered, clinics, designated_clinics, ledger_clinics, text, filed_at, filed_by, late)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                ON CONFLICT (province, period) DO UPDATE SET as_of = excluded.as_of, villages = excluded.villages, covered = excluded.covered,
                  clinics = excluded.clinics, designated_clinics = excluded.designated_clinics, ledger_clinics = excluded.ledger_clinics,
                  text = excluded.text, filed_at = excluded.filed_at, filed_by = excluded.filed_by, late = excluded.late
                """,
                [.text(report.province), .text(report.period), .text(report.asOf), .integer(Int64(report.villages)), .integer(Int64(report.covered)),
                 .integer(Int64(report.clinics)), .integer(Int64(report.designatedClinics)), .integer(Int64(report.ledgerClinics)), .text(report.text),
                 .text(report.filedAt), .text(report.filedBy), .integer(report.late ? 1 : 0)]
            )
        }
    }

    /// Every province's liaison departments and filed report periods.
    func reporting() async throws -> (liaisons: [String: Set<LiaisonDepartment>], reports: [String: Set<String>]) {
        try await database.read { tx in
            var liaisons: [String: Set<LiaisonDepartment>] = [:], reports: [String: Set<String>] = [:]
            for row in try await tx.query("SELECT province, department FROM liaisons", []) {
                liaisons[try row.string("province"), default: []].insert(try row.code("department"))
            }
            for row in try await tx.query("SELECT province, period FROM progress_reports", []) {
                reports[try row.string("province"), default: []].insert(try row.string("period"))
            }
            return (liaisons, reports)
        }
    }
}

extension RegistryProvider {
    /// `Registry/RegisterLiaison`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func registerLiaison(_ request: RegisterLiaisonRequest, context: CallContext) async throws -> Liaison {
        guard var liaison = request.liaison else { throw DomainError(field: "liaison", "is required") }
        liaison.province = try Self.province(liaison.province, field: "liaison.province")
        _ = try liaison.department.required("liaison.department")
        guard (1...50).contains(liaison.name.count) else { throw DomainError(field: "liaison.name", "must be 1-50 characters") }
        guard liaison.title.count <= 50 else { throw DomainError(field: "liaison.title", "at most 50 characters") }
        let phone = liaison.phone.utf8
        guard (7...20).contains(phone.count), phone.enumerated().allSatisfy({ i, c in (c >= 48 && c <= 57) || c == 32 || c == 45 || (i == 0 && c == 43) }) else {
            throw DomainError(field: "liaison.phone", "must be 7-20 digits, spaces or dashes (a leading + allowed)")
        }
        let caller = try context.actingCaller()
        // Each department names its own: the health commission's systems only the health
        // commission's liaison (the bureau's operators may register either).
        if caller.department == PeerIdentity.Department.healthCommission, liaison.department != .healthCommission {
            throw DomainError(.permissionDenied, field: "liaison.department", "\(caller.role) '\(caller.commonName)' of the health commission registers only its own liaison")
        }
        liaison.registeredAt = Date().formatted(.iso8601)
        liaison.registeredBy = caller.description
        try await store.register(liaison)
        return liaison
    }

    /// `Registry/FileProgressReport`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func fileProgressReport(_ request: FileProgressReportRequest, context: CallContext) async throws -> ProgressReport {
        let province = try Self.province(request.province, field: "province")
        guard (1...5_000).contains(request.text.count) else { throw DomainError(field: "text", "must be 1-5000 characters") }
        let today = CivilDate.today()
        let version = campaign.version(on: today.description)
        guard let asked = version.reports.first(where: { $0.period == request.period }) else {
            throw DomainError(field: "period", "\(quoted(request.period)) is not a period \(version.version) asks for (\(version.reports.map(\.period).joined(separator: ", ")))")
        }
        let figures = try await store.coverage(region: province, day: today.description, childLength: nil, maxGaps: 0)
        let report = ProgressReport(
            province: province, period: asked.period, asOf: today.description, villages: figures.villages, covered: figures.covered,
            clinics: figures.clinics, designatedClinics: figures.designatedClinics, ledgerClinics: figures.clinics - figures.designatedClinics,
            text: request.text, filedAt: Date().formatted(.iso8601), filedBy: try context.actingCaller().description, late: today.description > asked.due
        )
        try await store.file(report)
        return report
    }

    /// `Registry/GetNationalView`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func getNationalView(_ request: NationalViewRequest, context: CallContext) async throws -> NationalView {
        let day = request.asOf.isEmpty ? CivilDate.today().description : try CivilDate(request.asOf, field: "as_of").description
        let version = campaign.version(on: day)
        let coverage = try await store.namedCoverage(region: "", day: day, childLength: 2, maxGaps: 0)
        let (liaisons, reports) = try await store.reporting()
        let national = coverage.villages == 0 ? 0 : Int(UInt64(coverage.covered) * 10_000 / UInt64(coverage.villages))
        var provinces = coverage.children.map { c -> ProvinceProgress in
            let code = String(c.divisionCode.prefix(2))
            let share = c.villages == 0 ? 0 : Int(UInt64(c.covered) * 10_000 / UInt64(c.villages))
            let filed = reports[code] ?? []
            return ProvinceProgress(
                province: code, name: c.name, villages: c.villages, covered: c.covered, clinics: c.clinics, designatedClinics: c.designatedClinics,
                shareBp: UInt32(share),
                slow: share < version.slowBelowShareBasisPoints || share + version.slowBelowNationalByBasisPoints < national,
                liaisonsMissing: day > version.liaisonDue ? LiaisonDepartment.known.filter { !(liaisons[code] ?? []).contains($0) } : [],
                reportsMissing: version.reports.filter { $0.due < day && !filed.contains($0.period) }.map(\.period),
                reportsFiled: filed.sorted()
            )
        }
        provinces.sort { ($0.shareBp, $1.province) > ($1.shareBp, $0.province) }
        for i in provinces.indices { provinces[i].rank = UInt32(i + 1) }
        return NationalView(
            asOf: day, provinces: provinces, nationalShareBp: UInt32(national),
            slowRule: "share below \(version.slowBelowShareBasisPoints) bp, or more than \(version.slowBelowNationalByBasisPoints) bp below the national share",
            campaignVersion: version.version
        )
    }

    /// A province: 2 digits.
    static func province(_ value: String, field: String) throws -> String {
        guard value.utf8.count == 2, value.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), value != "00" else {
            throw DomainError(field: field, "must be a province's 2-digit division code")
        }
        return value
    }
}
