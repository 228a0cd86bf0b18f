import Foundation
import MedicareContracts
import MedicareRPC
import MedicareRuntime
import MedicareStore
import MedicareTestSupport
import MedicareWire
import RegistryService
import SettlementService
import SupervisionService
import Testing
@testable import RegistryService
@testable import SettlementService
@testable import SupervisionService

/// Closed sets are enums on the wire and in Swift, and stable codes under a check in SQL.
@Suite struct ClosedSetTests {
    static func codes<E: ProtoEnum>(_ type: E.Type) -> [String] { E.known.map(\.code) }

    /// Each column's check lists exactly its enum's codes: a value added to an enum without a
    /// migration that widens the check fails here, not in production.
    @Test func eachChecksCodesAreItsEnumsCodes() {
        let registry = Dictionary(uniqueKeysWithValues: RegistryDefinition.closedSets.map { ("\($0.table).\($0.column)", $0.codes) })
        #expect(registry["institutions.kind"] == Self.codes(InstitutionKind.self))
        #expect(registry["institutions.integration_mode"] == [""] + Self.codes(IntegrationMode.self))
        for column in ["institutions.designation_status", "designation_history.from_status", "designation_history.to_status"] {
            #expect(registry[column] == Self.codes(DesignationStatus.self), "\(column)")
        }
        #expect(registry["registry_audit_outbox.kind"] == [AuditKind.designation.code])
        let later = Dictionary(uniqueKeysWithValues: RegistryDefinition.laterSets.map { ("\($0.table).\($0.column)", $0.codes) })
        #expect(later["integration_history.integration_mode"] == [""] + Self.codes(IntegrationMode.self))
        #expect(later["agreements.scopes"] == Self.codes(ServiceScope.self))
        #expect(RegistryDefinition.laterSets.map(\.separated) == [false, true])
        let workflow = Dictionary(uniqueKeysWithValues: RegistryStore.workflowSets.map { ("\($0.table).\($0.column)", $0.codes) })
        #expect(workflow["applications.status"] == Self.codes(ApplicationStatus.self))
        #expect(workflow["applications.applicant"] == Self.codes(Applicant.self))
        #expect(workflow["application_reviews.decision"] == Self.codes(ReviewDecision.self))
        #expect(RegistryStore.reportingSets.first?.codes == Self.codes(LiaisonDepartment.self))

        let settlement = Dictionary(uniqueKeysWithValues: SettlementStore.closedSets.map { ("\($0.table).\($0.column)", $0.codes) })
        #expect(settlement["persons.insutype"] == Insutype.known.map { String($0.rawValue) })
        #expect(settlement["persons.status"] == Self.codes(PsnInsuStas.self))
        #expect(settlement["accumulators.visit_type"] == Self.codes(MedType.self))
        #expect(settlement["settlements.visit_type"] == Self.codes(MedType.self))
        // Pre-settlements are never stored.
        #expect(settlement["settlements.status"] == [SettlementStatus.settled.code, SettlementStatus.reversed.code])
        #expect(settlement["audit_outbox.kind"] == [AuditKind.settlement.code, AuditKind.reversal.code])
        let visits = Dictionary(uniqueKeysWithValues: SettlementStore.visitSets.map { ("\($0.table).\($0.column)", $0.codes) })
        #expect(visits["outpatient_visits.insutype"] == Insutype.known.map { String($0.rawValue) })
        #expect(visits["outpatient_visits.med_type"] == Self.codes(MedType.self))
        #expect(SettlementStore.practitionerSets.first?.codes == Self.codes(PracticeType.self))
        #expect(SettlementStore.certificateSets.first?.codes == Self.codes(MdtrtCertType.self))
        // Settling and reversing are the settlements' own rows, not stored events.
        #expect(visits["outpatient_visit_events.kind"] == Self.codes(VisitEventKind.self).filter { $0 != "settled" && $0 != "reversed" })

        #expect(SupervisionDefinition.closedSets.first { $0.table == "audit" && $0.column == "kind" }?.codes == Self.codes(AuditKind.self))
    }

    /// Closed sets checked inline in a table's definition (`kind TEXT NOT NULL CHECK (kind IN
    /// (...))`) list exactly their enum's codes too: read from the migrations' own SQL, so a
    /// table added later with such a check is compared as soon as it is named here, and one
    /// not named here fails.
    @Test func inlineChecksListTheirEnumsCodes() throws {
        let expected: [String: [String]] = [
            "receivables.kind": Self.codes(ReceivableKind.self),
            "findings.status": Self.codes(FindingStatus.self),
            "inspections.status": Self.codes(InspectionStatus.self),
            "cases.status": Self.codes(CaseStatus.self),
            "institution_kinds.kind": Self.codes(InstitutionKind.self),
            "publications.kind": ["policy", "catalogue"],
            "insurance_records.insutype": Insutype.known.map { String($0.rawValue) },
            "insurance_records.status": Self.codes(PsnInsuStas.self),
        ]
        let migrations = RegistryDefinition.migrations + SettlementDefinition.migrations + SupervisionDefinition.migrations
        let table = try Regex(#"CREATE TABLE (\w+) \("#), check = try Regex(#"(\w+) TEXT NOT NULL CHECK \((\w+) IN \(([^)]*)\)\)"#)
        var found: [String: [String]] = [:]
        for step in migrations.flatMap({ $0.steps + ($0.postgresSteps ?? []) }) {
            guard let created = step.firstMatch(of: table), let name = created.output[1].substring else { continue }
            for match in step.matches(of: check) {
                guard let column = match.output[1].substring, let codes = match.output[3].substring else { continue }
                found["\(name).\(column)"] = codes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "'")) }
            }
        }
        #expect(Set(found.keys) == Set(expected.keys), "inline checks: \(found.keys.sorted())")
        for (column, codes) in expected { #expect(found[column] == codes, "\(column): \(found[column] ?? []) against \(codes)") }
    }

    /// The database itself refuses another value, whoever writes it.
    @Test(arguments: Engine.all)
    func theDatabaseRefusesAValueOutsideTheSet(engine: Engine) async throws {
        try await withService("registry", engine: engine, migrations: RegistryDefinition.migrations, router: { _ in RPCRouter() }) { _, db in
            let insert = """
                INSERT INTO institutions (code, name, kind, division_code, parent_code, integration_mode, relationship_end, licensed_doctors,
                has_computer, has_network, record_version, updated_at, designation_status) VALUES ($1, 'x', $2, '330802101201', '', '', '', 1, 1, 1, 1, 'now', $3)
                """
            try await db.write { tx in try await tx.execute(insert, [.text("H33080200001"), .text("township_centre"), .text("not_designated")]) }
            for (kind, status) in [("hospital", "not_designated"), ("township_centre", "approved")] {
                await #expect(throws: StoreError.self, "\(kind) \(status)") {
                    try await db.write { tx in try await tx.execute(insert, [.text("H33080200002"), .text(kind), .text(status)]) }
                }
            }
            await #expect(throws: StoreError.self) {
                try await db.write { tx in try await tx.execute("UPDATE institutions SET designation_status = 'approved' WHERE code = 'H33080200001'", []) }
            }
            // A list of codes: each must be one, and there must be one.
            let agreement = """
                INSERT INTO agreements (agreement_no, code, application_id, start_date, end_date, scopes, signed_date, signed_by)
                VALUES ($1, 'H33080200001', $1, '2024-01-01', '2026-12-31', $2, '2024-01-01', 'op')
                """
            try await db.write { tx in try await tx.execute(agreement, [.text("Z1"), .text("general_outpatient,tcm")]) }
            try await db.write { tx in try await tx.execute(agreement, [.text("Z2"), .text("chronic_drugs")]) }
            for scopes in ["", "general", "general_outpatient,,tcm", "tcm,general_outpatients", ",tcm", "tcm,"] {
                await #expect(throws: StoreError.self, "\(scopes)") {
                    try await db.write { tx in try await tx.execute(agreement, [.text("Z3"), .text(scopes)]) }
                }
            }
        }
    }
}

/// Services may share one PostgreSQL database (replicas over it: the replica stack runs so),
/// where tables, indexes and triggers share one namespace: no two services may create the same name.
@Suite struct SchemaNameTests {
    @Test func noTwoServicesCreateTheSameTableIndexOrTrigger() throws {
        let created = try Regex(#"CREATE (?:UNIQUE )?(?:TABLE|INDEX|TRIGGER) (?:IF NOT EXISTS )?(\w+)"#)
        var owner: [String: String] = [:]
        for (service, migrations) in [("registry", RegistryDefinition.migrations), ("settlement", SettlementDefinition.migrations),
                                      ("supervision", SupervisionDefinition.migrations)] {
            for step in migrations.flatMap({ $0.steps + ($0.postgresSteps ?? []) }) {
                for match in step.matches(of: created) {
                    guard let name = match.output[1].substring.map(String.init) else { continue }
                    if let other = owner[name], other != service { Issue.record("\(name) is created by \(other) and \(service)") }
                    owner[name] = service
                }
            }
        }
        #expect(owner["outpatient_visits"] == "settlement" && owner["visits"] == "supervision")
    }
}
