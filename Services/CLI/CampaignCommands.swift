import ArgumentParser
import Foundation
import MedicareContracts
import MedicareRPC
import MedicareTransport
import MedicareWire

// The designation campaign from the command line: apply, review, sign, the work ledger and
// the change feed (Registry/ApplyForDesignation, ReviewApplication, SignAgreement,
// GetApplication, GetWorkLedger, UpdateLedgerEntry, ListChanges).

/// Runs `body` with a gateway client, closing it after; a failed call exits 1 with one line.
func withGateway(_ connection: Connection, _ body: (RPCClient) async throws -> Void) async throws {
    let client: RPCClient
    do {
        client = try connection.client()
    } catch {
        throw fail(error)  // one line, as every other failure (not the usage text)
    }
    defer { Task { await client.close() } }
    do {
        try await body(client)
    } catch {
        throw fail(error)
    }
}

/// ``withGateway(_:_:)`` with the registry's client.
func withRegistry(_ connection: Connection, _ body: (RegistryClient) async throws -> Void) async throws {
    try await withGateway(connection) { try await body(RegistryClient($0)) }
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

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Liaisons, progress reports and the national view (notice §五).",
        subcommands: [NationalViewCommand.self, FileReport.self, RegisterLiaisonCommand.self]
    )
}

struct NationalViewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "national", abstract: "Every province ranked by coverage, the slow ones flagged, what is overdue.")
    @OptionGroup var connection: Connection
    @Option(help: "Day, YYYY-MM-DD (default today).") var asOf = ""

    func run() async throws {
        try await withRegistry(connection) { registry in
            let view = try await registry.getNationalView(NationalViewRequest(asOf: asOf))
            var lines = ["as of \(view.asOf): national share \(Double(view.nationalShareBp) / 100)% (\(view.campaignVersion); slow: \(view.slowRule))"]
            lines += view.provinces.map { p in
                var line = "\(p.rank). \(p.province) \(p.name) \(p.covered)/\(p.villages) villages (\(Double(p.shareBp) / 100)%)\(p.slow ? " SLOW" : "")"
                if !p.liaisonsMissing.isEmpty { line += "; liaisons missing: \(p.liaisonsMissing.map(\.code).joined(separator: ", "))" }
                if !p.reportsMissing.isEmpty { line += "; reports overdue: \(p.reportsMissing.joined(separator: ", "))" }
                return line
            }
            emit(connection.json, lines.joined(separator: "\n"), [
                "as_of": view.asOf, "national_share_bp": view.nationalShareBp, "slow_rule": view.slowRule, "campaign_version": view.campaignVersion,
                "provinces": view.provinces.map {
                    ["province": $0.province, "name": $0.name, "rank": $0.rank, "villages": $0.villages, "covered": $0.covered, "share_bp": $0.shareBp,
                     "slow": $0.slow, "liaisons_missing": $0.liaisonsMissing.map(\.code), "reports_missing": $0.reportsMissing, "reports_filed": $0.reportsFiled] as [String: Any]
                },
            ])
        }
    }
}

struct FileReport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "file", abstract: "File a province's progress report for a period (2024Q3, 2024Q4).")
    @OptionGroup var connection: Connection
    @Argument(help: "Province, 2 digits.") var province: String
    @Argument(help: "Period.") var period: String
    @Option(help: "The report's text.") var text: String

    func run() async throws {
        try await withRegistry(connection) { registry in
            let r = try await registry.fileProgressReport(FileProgressReportRequest(province: province, period: period, text: text))
            emit(connection.json, "\(r.province) \(r.period) as of \(r.asOf): \(r.covered)/\(r.villages) villages, \(r.designatedClinics)/\(r.clinics) clinics, \(r.ledgerClinics) in the ledger\(r.late ? " (late)" : "")",
                 ["province": r.province, "period": r.period, "as_of": r.asOf, "villages": r.villages, "covered": r.covered, "clinics": r.clinics,
                  "designated_clinics": r.designatedClinics, "ledger_clinics": r.ledgerClinics, "late": r.late])
        }
    }
}

struct RegisterLiaisonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "liaison", abstract: "Register a province's liaison for a department.")
    @OptionGroup var connection: Connection
    @Argument(help: "Province, 2 digits.") var province: String
    @Argument(help: "medical_insurance or health_commission.") var department: String
    @Option(help: "Name.") var name: String
    @Option(help: "Position.") var title = ""
    @Option(help: "Phone.") var phone: String

    func run() async throws {
        let dept = try closedSet(department, as: LiaisonDepartment.self, option: "department")
        try await withRegistry(connection) { registry in
            let l = try await registry.registerLiaison(RegisterLiaisonRequest(liaison: Liaison(province: province, department: dept, name: name, title: title, phone: phone)))
            emit(connection.json, "\(l.province) \(l.department.code): \(l.name) \(l.title) \(l.phone), registered \(l.registeredAt)",
                 ["province": l.province, "department": l.department.code, "name": l.name, "title": l.title, "phone": l.phone, "registered_at": l.registeredAt])
        }
    }
}

struct Relationships: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Temporary management relationships due within the notice period, and those ended.")
    @OptionGroup var connection: Connection
    @Argument(help: "Region, a division code prefix.") var region: String
    @Option(help: "Day, YYYY-MM-DD (default today).") var asOf = ""

    func run() async throws {
        try await withRegistry(connection) { registry in
            let r = try await registry.listRelationships(RelationshipsRequest(region: region, asOf: asOf))
            func line(_ x: Relationship) -> String { "  \(x.fixmedinsCode) \(x.fixmedinsName) with \(x.parentCode) ends \(x.relationshipEnd) (\(x.daysLeft) days)" }
            let text = (["as of \(r.asOf) (deadline \(r.integrationDeadline), \(r.noticeDays) days' notice): \(r.due.count) due, \(r.ended.count) ended"]
                + r.due.map(line) + r.ended.map(line)).joined(separator: "\n")
            func object(_ x: Relationship) -> [String: Any] {
                ["fixmedins_code": x.fixmedinsCode, "fixmedins_name": x.fixmedinsName, "parent_code": x.parentCode, "relationship_end": x.relationshipEnd, "days_left": x.daysLeft]
            }
            emit(connection.json, text, ["as_of": r.asOf, "integration_deadline": r.integrationDeadline, "notice_days": r.noticeDays,
                                         "due": r.due.map(object), "ended": r.ended.map(object)])
        }
    }
}

struct Prices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A clinic's published price list (价格公示); with --set, publish a new one.",
        discussion: "medicare prices H33080200101   medicare prices H33080200101 --set XJ01CAA040A001010100001=45 --set 001102000050000=1000"
    )
    @OptionGroup var connection: Connection
    @Argument(help: "Institution code.") var code: String
    @Option(help: "ITEM_CODE=PRICE_IN_FEN, once per item: replaces the list.") var set: [String] = []

    func run() async throws {
        let items = try set.map { pair -> PriceItem in
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let price = Int64(parts[1]) else { throw ValidationError("--set must be ITEM_CODE=PRICE_IN_FEN, got '\(pair)'") }
            return PriceItem(itemCode: String(parts[0]), unitPrice: price)
        }
        try await withRegistry(connection) { registry in
            let list = items.isEmpty
                ? try await registry.getPriceList(GetPriceListRequest(fixmedinsCode: code))
                : try await registry.publishPriceList(PublishPriceListRequest(fixmedinsCode: code, items: items))
            let lines = ["\(list.fixmedinsCode) \(list.fixmedinsName), published \(list.publishedAt) by \(list.publishedBy)"]
                + list.items.map { "  \($0.itemCode) \($0.name): \(yuan($0.unitPrice)) (reference \(yuan($0.referencePrice)))" }
            emit(connection.json, lines.joined(separator: "\n"), [
                "fixmedins_code": list.fixmedinsCode, "fixmedins_name": list.fixmedinsName, "published_at": list.publishedAt, "published_by": list.publishedBy,
                "items": list.items.map { ["item_code": $0.itemCode, "name": $0.name, "unit_price": $0.unitPrice, "reference_price": $0.referencePrice] as [String: Any] },
            ])
        }
    }
}
