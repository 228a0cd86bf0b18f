import ArgumentParser
import Foundation
import MedicareContracts
import MedicareRPC
import MedicareWire

// The designation campaign from the command line: apply, review, sign, the work ledger and
// the change feed (Registry/ApplyForDesignation, ReviewApplication, SignAgreement,
// GetApplication, GetWorkLedger, UpdateLedgerEntry, ListChanges).

/// Runs `body` with a gateway client, closing it after; a failed call exits 1 with one line.
func withRegistry(_ connection: Connection, _ body: (RegistryClient) async throws -> Void) async throws {
    let client = try connection.client()
    defer { Task { await client.close() } }
    do {
        try await body(RegistryClient(client))
    } catch {
        throw fail(error)
    }
}

extension DesignationApplication {
    var text: String {
        var lines = ["\(applicationID) \(fixmedinsCode) [\(status.code)] by \(applicant.code) \(filedBy) at \(filedAt)" + (remarks.isEmpty ? "" : ": \(remarks)")]
        lines += reviews.map { "  \($0.decision.code) by \($0.by) at \($0.at)" + ($0.reason.isEmpty ? "" : ": \($0.reason)") }
        if let a = agreement {
            lines.append("  agreement \(a.agreementNo) \(a.startDate)..\(a.endDate) [\(a.scopes.map(\.code).joined(separator: ", "))] signed \(a.signedDate) by \(a.signedBy)")
        }
        return lines.joined(separator: "\n")
    }

    var object: [String: Any] {
        var object: [String: Any] = [
            "application_id": applicationID, "fixmedins_code": fixmedinsCode, "applicant": applicant.code, "filed_by": filedBy, "filed_at": filedAt,
            "status": status.code, "remarks": remarks,
            "reviews": reviews.map { ["decision": $0.decision.code, "reason": $0.reason, "by": $0.by, "at": $0.at] },
        ]
        if let a = agreement {
            object["agreement"] = ["agreement_no": a.agreementNo, "start_date": a.startDate, "end_date": a.endDate, "scopes": a.scopes.map(\.code),
                                   "signed_date": a.signedDate, "signed_by": a.signedBy]
        }
        return object
    }
}

/// A closed set's value from its code on the command line ("approve", "general_outpatient").
func closedSet<E: ProtoEnum>(_ text: String, as type: E.Type, option: String) throws -> E {
    guard let value = E.known.first(where: { $0.code == text }) else {
        throw ValidationError("\(option) must be one of \(E.known.map(\.code).joined(separator: ", ")), got '\(text)'")
    }
    return value
}

struct Apply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply for designation (定点申请) for one or more institutions.")
    @OptionGroup var connection: Connection
    @Argument(help: "Institution codes, H + 11 digits.") var codes: [String]
    @Option(help: "Remarks for the county bureau.") var remarks = ""

    func run() async throws {
        try await withRegistry(connection) { registry in
            let filed = try await registry.applyForDesignation(ApplyForDesignationRequest(fixmedinsCodes: codes, remarks: remarks))
            emit(connection.json, filed.applications.map(\.text).joined(separator: "\n"), ["applications": filed.applications.map(\.object)])
        }
    }
}

struct Review: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Decide an application under review: approve, return or refuse.")
    @OptionGroup var connection: Connection
    @Argument(help: "Application id (A + 23 hex digits).") var application: String
    @Argument(help: "approve, return or refuse.") var decision: String
    @Option(help: "Why (required to return or refuse).") var reason = ""

    func run() async throws {
        let decided = try closedSet(decision, as: ReviewDecision.self, option: "decision")
        try await withRegistry(connection) { registry in
            let answer = try await registry.reviewApplication(ReviewApplicationRequest(applicationID: application, decision: decided, reason: reason))
            emit(connection.json, answer.text, answer.object)
        }
    }
}

struct Agreement: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Sign the service agreement of an approved application: the institution is designated from --start.")
    @OptionGroup var connection: Connection
    @Argument(help: "Application id.") var application: String
    @Option(help: "Agreement number.") var number: String
    @Option(help: "First day, YYYY-MM-DD.") var start: String
    @Option(help: "Last day, YYYY-MM-DD.") var end: String
    @Option(help: "Service scopes, comma-separated: general_outpatient, chronic_drugs, family_doctor, tcm, cross_region, mobile_payment.")
    var scopes = "general_outpatient"
    @Option(help: "Signing day, YYYY-MM-DD (default today).") var signed = ""

    func run() async throws {
        let list = try scopes.split(separator: ",").map { try closedSet(String($0), as: ServiceScope.self, option: "--scopes") }
        try await withRegistry(connection) { registry in
            let answer = try await registry.signAgreement(SignAgreementRequest(
                applicationID: application, agreementNo: number, startDate: start, endDate: end, scopes: list, signedDate: signed
            ))
            emit(connection.json, answer.text, answer.object)
        }
    }
}

struct ShowApplication: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "application", abstract: "Show an application with its reviews and agreement.")
    @OptionGroup var connection: Connection
    @Argument(help: "Application id.") var application: String

    func run() async throws {
        try await withRegistry(connection) { registry in
            let answer = try await registry.getApplication(GetApplicationRequest(applicationID: application))
            emit(connection.json, answer.text, answer.object)
        }
    }
}

struct Ledger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The work ledger (工作台账) of a region, or with --plan/--unit/--target/--note, update one clinic's entry.",
        discussion: "medicare ledger 330802 [--reason no_licensed_doctor]   medicare ledger H33080200102 --plan ... --note ..."
    )
    @OptionGroup var connection: Connection
    @Argument(help: "A region (division code prefix) to list, or a clinic code to update.") var target: String
    @Option(help: "Only this reason (suspended, under_review, no_licensed_doctor, not_applied, ...).") var reason: String?
    @Option(help: "Rows per page (1-1000).") var limit: UInt32 = 100
    @Option(help: "Continue after this clinic code.") var after = ""
    @Option(help: "Plan (整改计划).") var plan = ""
    @Option(help: "Responsible unit (责任单位).") var unit = ""
    @Option(help: "Target date, YYYY-MM-DD.") var targetDate = ""
    @Option(help: "A progress note to add.") var note = ""

    func run() async throws {
        try await withRegistry(connection) { registry in
            if target.hasPrefix("H") {
                let row = try await registry.updateLedgerEntry(UpdateLedgerEntryRequest(
                    fixmedinsCode: target, plan: plan, responsibleUnit: unit, targetDate: targetDate, note: note
                ))
                emit(connection.json, Self.text(row), Self.object(row))
                return
            }
            let only = try reason.map { try closedSet($0, as: LedgerReason.self, option: "--reason") } ?? .unspecified
            let ledger = try await registry.getWorkLedger(WorkLedgerRequest(region: target, reason: only, after: after, pageSize: limit))
            let counts = ledger.counts.map { "\($0.reason.code) \($0.clinics)" }.joined(separator: ", ")
            var lines = ["region \(ledger.region): \(ledger.clinics) clinics not under designated management (\(counts))"]
            lines += ledger.byDivision.map { "  \($0.divisionCode) \($0.name): \($0.clinics)" }
            lines += ledger.rows.map(Self.text)
            if ledger.more, let last = ledger.rows.last { lines.append("more: --after \(last.fixmedinsCode)") }
            emit(connection.json, lines.joined(separator: "\n"), [
                "region": ledger.region, "clinics": ledger.clinics, "more": ledger.more,
                "counts": ledger.counts.map { ["reason": $0.reason.code, "clinics": $0.clinics] },
                "by_division": ledger.byDivision.map { ["division_code": $0.divisionCode, "name": $0.name, "clinics": $0.clinics] },
                "rows": ledger.rows.map(Self.object),
            ])
        }
    }

    static func text(_ row: LedgerRow) -> String {
        var line = "\(row.fixmedinsCode) \(row.fixmedinsName) \(row.divisionCode) [\(row.reason.code)]"
        if !row.plan.isEmpty { line += " plan: \(row.plan)" }
        if !row.responsibleUnit.isEmpty { line += " unit: \(row.responsibleUnit)" }
        if !row.targetDate.isEmpty { line += " by \(row.targetDate)" }
        if let note = row.notes.last { line += "\n    latest note (\(note.at), \(note.by)): \(note.text)" }
        return line
    }

    static func object(_ row: LedgerRow) -> [String: Any] {
        ["fixmedins_code": row.fixmedinsCode, "fixmedins_name": row.fixmedinsName, "division_code": row.divisionCode, "reason": row.reason.code,
         "plan": row.plan, "responsible_unit": row.responsibleUnit, "target_date": row.targetDate,
         "notes": row.notes.map { ["text": $0.text, "by": $0.by, "at": $0.at] }]
    }
}

struct Changes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Institutions changed since a cursor (the 总对总 change feed).")
    @OptionGroup var connection: Connection
    @Option(help: "The cursor of the previous page (0 = from the start).") var after: UInt64 = 0
    @Option(help: "Only institutions whose division starts with this.") var region = ""
    @Option(help: "Changes per page (1-5000).") var limit: UInt32 = 1_000

    func run() async throws {
        try await withRegistry(connection) { registry in
            let page = try await registry.listChanges(ListChangesRequest(after: after, pageSize: limit, region: region))
            var lines = page.changes.map { "\($0.cursor) \($0.fixmedinsCode) [\($0.designationStatus.code)] v\($0.recordVersion) \($0.changedAt)" }
            lines.append("cursor \(page.cursor)\(page.more ? " (more)" : "")")
            emit(connection.json, lines.joined(separator: "\n"), [
                "cursor": page.cursor, "more": page.more,
                "changes": page.changes.map { ["cursor": $0.cursor, "fixmedins_code": $0.fixmedinsCode, "designation_status": $0.designationStatus.code,
                                               "record_version": $0.recordVersion, "changed_at": $0.changedAt] },
            ])
        }
    }
}
