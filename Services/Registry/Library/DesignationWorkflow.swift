import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareStore
import MedicareWire

// Designation as a workflow (notice §二(三); Quzhou §九): application -> county review ->
// service agreement -> designated. Every step is a recorded row with the acting caller; the
// agreement's scope is what routes carry to the gateway.

extension RegistryStore {
    /// The registry's tables for the workflow (migration 8) and their closed sets (9).
    static let workflowMigrations: [Migration] = [
        Migration(8, "designation applications, reviews and service agreements", sql: """
            CREATE TABLE applications (application_id TEXT PRIMARY KEY, code TEXT NOT NULL, applicant TEXT NOT NULL, filed_by TEXT NOT NULL,
                filed_at TEXT NOT NULL, status TEXT NOT NULL, remarks TEXT NOT NULL);
            CREATE INDEX applications_code ON applications (code);
            CREATE UNIQUE INDEX applications_open ON applications (code) WHERE status IN ('under_review', 'approved');
            CREATE TABLE application_reviews (application_id TEXT NOT NULL, seq BIGINT NOT NULL, decision TEXT NOT NULL, reason TEXT NOT NULL,
                by_whom TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (application_id, seq));
            CREATE TABLE agreements (agreement_no TEXT PRIMARY KEY, code TEXT NOT NULL, application_id TEXT NOT NULL UNIQUE, start_date TEXT NOT NULL,
                end_date TEXT NOT NULL, scopes TEXT NOT NULL, signed_date TEXT NOT NULL, signed_by TEXT NOT NULL);
            CREATE INDEX agreements_code ON agreements (code, start_date)
            """),
        Migration.closedSets(9, "the workflow's closed sets hold only their codes", workflowSets),
    ]

    /// Who filed an application, as an institution (migration 17).
    static let filerMigrations: [Migration] = [
        Migration(17, "the institution that filed an application", sql: "ALTER TABLE applications ADD COLUMN filer_code TEXT NOT NULL DEFAULT ''"),
    ]

    /// The workflow's closed-set columns as migration 9 fixed them.
    static let workflowSets = [
        ClosedSet("applications", "status", ["under_review", "returned", "refused", "approved", "contracted"]),
        ClosedSet("applications", "applicant", ["institution", "centre", "health_commission", "bureau"]),
        ClosedSet("application_reviews", "decision", ["approve", "return", "refuse"]),
    ]

    /// An institution as an application needs it.
    struct Applying: Sendable {
        let code: String
        let parent: String
        let division: String
        let status: DesignationStatus
    }

    /// Files one application per code (the codes distinct), all or none: each institution
    /// registered, `permit`ted for the caller (it throws otherwise), neither designated nor
    /// suspended, and without an application in progress. A handful of statements whatever
    /// the count: the institutions and their open applications read at once, one insert.
    func apply(
        codes: [String], applicant: @escaping @Sendable (Applying) throws -> Applicant, by: String, filer: String, remarks: String
    ) async throws -> [DesignationApplication] {
        try await database.write { tx in
            // The change counter first, the lock every workflow write takes before its rows.
            try await Self.lockChanges(tx)
            var binds: [SQLValue] = []
            let named = SQLPlaceholders.isIn("code", codes.map { .text($0) }, dialect: tx.dialect, binds: &binds)
            var institutions: [String: Applying] = [:]
            for row in try await tx.query("SELECT code, parent_code, division_code, designation_status FROM institutions WHERE \(named)", binds) {
                let code = try row.string("code")
                institutions[code] = Applying(
                    code: code, parent: try row.string("parent_code"), division: try row.string("division_code"), status: try row.code("designation_status")
                )
            }
            var open: [String: (id: String, status: ApplicationStatus)] = [:]
            for row in try await tx.query("SELECT code, application_id, status FROM applications WHERE status IN ('\(ApplicationStatus.underReview.code)', '\(ApplicationStatus.approved.code)') AND \(named)", binds) {
                open[try row.string("code")] = (try row.string("application_id"), try row.code("status"))
            }
            var filed: [DesignationApplication] = []
            let now = Date().formatted(.iso8601)
            for (i, code) in codes.enumerated() {
                let field = "fixmedins_codes[\(i)]"
                guard let institution = institutions[code] else { throw DomainError(.notFound, field: field, "no institution \(code)") }
                let who = try applicant(institution)
                guard institution.status == .notDesignated || institution.status == .terminated else {
                    throw DomainError(.precondition, field: field, "\(code) is \(RegistryProvider.words(institution.status)); only an institution not designated or terminated applies")
                }
                if let (id, status) = open[code] {
                    throw DomainError(.conflict, field: field, "\(code) has application \(id) \(RegistryProvider.words(status)); it must be decided first")
                }
                filed.append(DesignationApplication(
                    applicationID: timeOrderedID(prefix: "A"), fixmedinsCode: code, applicant: who, filedBy: by, filedAt: now, status: .underReview, remarks: remarks,
                    filerCode: filer
                ))
            }
            try await tx.insert(
                into: "applications", columns: ["application_id", "code", "applicant", "filed_by", "filed_at", "status", "remarks", "filer_code"],
                rows: filed.map { a in
                    [.text(a.applicationID), .text(a.fixmedinsCode), a.applicant.stored, .text(by), .text(now), ApplicationStatus.underReview.stored, .text(remarks), .text(filer)]
                }
            )
            return filed
        }
    }

    /// Records a county bureau's decision on applications under review, all or none.
    /// `field(i)` names the i-th application's field in errors ("application_id"). Set-wise:
    /// the applications and their review counts read at once, one update, one insert.
    func review(_ ids: [String], decision: ReviewDecision, reason: String, by: String, field: @escaping @Sendable (Int) -> String) async throws -> [DesignationApplication] {
        try await database.write { tx in
            try await Self.lockChanges(tx)
            let statuses = try await Self.statuses(tx, ids)
            for (i, id) in ids.enumerated() {
                guard let status = statuses[id] else { throw DomainError(.notFound, field: field(i), "no application \(id)") }
                guard status == .underReview else {
                    throw DomainError(.precondition, field: field(i), "application \(id) is \(RegistryProvider.words(status)), not under review")
                }
            }
            let to: ApplicationStatus = switch decision {
            case .approve: .approved
            case .return: .returned
            default: .refused
            }
            try await Self.record(tx, ids, decision: decision, reason: reason, by: by, to: to)
            let decided = try await Self.applications(tx, ids)
            return ids.compactMap { decided[$0] }
        }
    }

    /// Signs approved applications' agreements, all or none: each agreement row, the
    /// institution designated from its start (one designation event, audited), the
    /// application contracted. `field(i)` prefixes the i-th agreement's fields in errors.
    /// Set-wise (a campaign signs 5,000 at a time): the applications, the agreement numbers
    /// taken and the institutions read at once, then multi-row writes.
    func sign(_ agreements: [(id: String, agreement: ServiceAgreement)], by: String, field: @escaping @Sendable (Int) -> String) async throws -> [DesignationApplication] {
        try await database.write { tx in
            // The change counter first (the lock every institution-changing write takes first),
            // one cursor per agreement's designation.
            let firstChange = try await Self.reserveChanges(tx, agreements.count)
            let ids = agreements.map(\.id)
            var binds: [SQLValue] = []
            let named = SQLPlaceholders.isIn("application_id", ids.map { .text($0) }, dialect: tx.dialect, binds: &binds)
            var applications: [String: (status: ApplicationStatus, code: String)] = [:]
            for row in try await tx.query("SELECT application_id, status, code FROM applications WHERE \(named)\(tx.dialect.forUpdate)", binds) {
                applications[try row.string("application_id")] = (try row.code("status"), try row.string("code"))
            }
            var numberBinds: [SQLValue] = []
            let numbers = SQLPlaceholders.isIn("agreement_no", agreements.map { .text($0.agreement.agreementNo) }, dialect: tx.dialect, binds: &numberBinds)
            let taken = Set(try await tx.query("SELECT agreement_no FROM agreements WHERE \(numbers)", numberBinds).map { try $0.string("agreement_no") })
            var rows: [[SQLValue]] = [], changes: [DesignationChange] = []
            for (i, (id, agreement)) in agreements.enumerated() {
                let refusal: DomainError? = if let (status, _) = applications[id] {
                    status != .approved
                        ? DomainError(.precondition, field: field(i) + "application_id", "application \(id) is \(RegistryProvider.words(status)); only an approved one is signed")
                        : taken.contains(agreement.agreementNo)
                        ? DomainError(.conflict, field: field(i) + "agreement_no", "agreement \(agreement.agreementNo) already exists") : nil
                } else {
                    DomainError(.notFound, field: field(i) + "application_id", "no application \(id)")
                }
                if let refusal {
                    // Agreements are judged in order, each whole: an earlier one whose
                    // designation does not apply is the error to answer.
                    _ = try await Self.planDesignations(tx, changes, by: by, firstChange: firstChange, lock: tx.dialect.forUpdate)
                    throw refusal
                }
                let code = applications[id]!.code
                rows.append([.text(agreement.agreementNo), .text(code), .text(id), .text(agreement.startDate), .text(agreement.endDate),
                             .text(agreement.scopes.map(\.code).joined(separator: ",")), .text(agreement.signedDate), .text(by)])
                changes.append(DesignationChange(
                    code: code, action: .designate, reason: "service agreement \(agreement.agreementNo) signed", effective: agreement.startDate
                ) { own in field(i) + (own == "effective_date" ? "start_date" : "application_id") })
            }
            try await tx.insert(
                into: "agreements", columns: ["agreement_no", "code", "application_id", "start_date", "end_date", "scopes", "signed_date", "signed_by"], rows: rows
            )
            try await Self.changeDesignations(tx, changes, by: by, firstChange: firstChange, lock: tx.dialect.forUpdate)
            try await Self.record(tx, ids, decision: nil, reason: "", by: by, to: .contracted)
            let signed = try await Self.applications(tx, ids)
            return ids.compactMap { signed[$0] }
        }
    }

    func application(_ id: String) async throws -> DesignationApplication? {
        try await database.lookup { tx in try await Self.application(tx, id) }
    }

    /// The applications' statuses by id, locked until commit on PostgreSQL (ids not found are left out).
    private static func statuses(_ tx: any SQLTransaction, _ ids: [String]) async throws -> [String: ApplicationStatus] {
        var binds: [SQLValue] = []
        let named = SQLPlaceholders.isIn("application_id", ids.map { .text($0) }, dialect: tx.dialect, binds: &binds)
        var found: [String: ApplicationStatus] = [:]
        for row in try await tx.query("SELECT application_id, status FROM applications WHERE \(named)\(tx.dialect.forUpdate)", binds) {
            found[try row.string("application_id")] = try row.code("status")
        }
        return found
    }

    /// The applications' new status and, with a decision, each one's review (numbered after
    /// its earlier ones): one update and one insert whatever the count.
    private static func record(_ tx: any SQLTransaction, _ ids: [String], decision: ReviewDecision?, reason: String, by: String, to: ApplicationStatus) async throws {
        var binds: [SQLValue] = [to.stored]
        let named = SQLPlaceholders.isIn("application_id", ids.map { .text($0) }, dialect: tx.dialect, binds: &binds)
        try await tx.execute("UPDATE applications SET status = $1 WHERE \(named)", binds)
        guard let decision else { return }
        var countBinds: [SQLValue] = []
        let counted = SQLPlaceholders.isIn("application_id", ids.map { .text($0) }, dialect: tx.dialect, binds: &countBinds)
        var earlier: [String: Int64] = [:]
        for row in try await tx.query("SELECT application_id, COUNT(*) AS n FROM application_reviews WHERE \(counted) GROUP BY application_id", countBinds) {
            earlier[try row.string("application_id")] = try row.int("n")
        }
        let at = Date().formatted(.iso8601)
        try await tx.insert(
            into: "application_reviews", columns: ["application_id", "seq", "decision", "reason", "by_whom", "at"],
            rows: ids.map { [.text($0), .integer((earlier[$0] ?? 0) + 1), decision.stored, .text(reason), .text(by), .text(at)] }
        )
    }

    static func application(_ tx: any SQLTransaction, _ id: String) async throws -> DesignationApplication? {
        try await applications(tx, [id])[id]
    }

    /// Applications by id with their reviews (in order) and agreements, in three queries
    /// whatever the count (ids not found are left out).
    static func applications(_ tx: any SQLTransaction, _ ids: [String]) async throws -> [String: DesignationApplication] {
        var binds: [SQLValue] = []
        let named = SQLPlaceholders.isIn("application_id", ids.map { .text($0) }, dialect: tx.dialect, binds: &binds)
        var reviews: [String: [ApplicationReview]] = [:]
        for r in try await tx.query("SELECT * FROM application_reviews WHERE \(named) ORDER BY application_id, seq", binds) {
            reviews[try r.string("application_id"), default: []].append(
                ApplicationReview(decision: try r.code("decision"), reason: try r.string("reason"), by: try r.string("by_whom"), at: try r.string("at"))
            )
        }
        var agreements: [String: ServiceAgreement] = [:]
        for a in try await tx.query("SELECT * FROM agreements WHERE \(named)", binds) {
            let id = try a.string("application_id")
            agreements[id] = ServiceAgreement(
                agreementNo: try a.string("agreement_no"), fixmedinsCode: try a.string("code"), startDate: try a.string("start_date"),
                endDate: try a.string("end_date"), scopes: try Agreement.scopes(try a.string("scopes")), signedDate: try a.string("signed_date"),
                signedBy: try a.string("signed_by"), applicationID: id
            )
        }
        var found: [String: DesignationApplication] = [:]
        for row in try await tx.query("SELECT * FROM applications WHERE \(named)", binds) {
            let id = try row.string("application_id")
            found[id] = DesignationApplication(
                applicationID: id, fixmedinsCode: try row.string("code"), applicant: try row.code("applicant"), filedBy: try row.string("filed_by"),
                filedAt: try row.string("filed_at"), status: try row.code("status"), remarks: try row.string("remarks"), reviews: reviews[id] ?? [],
                agreement: agreements[id], filerCode: try row.string("filer_code")
            )
        }
        return found
    }
}

extension RegistryProvider {
    /// See `Registry/ApplyForDesignation` in registry.proto. Who may apply for whom is the
    /// acting caller's role: a clinic or centre for itself, a centre also for its village
    /// stations (`parent_code`), the health commission's provincial system for its region,
    /// the bureau (operators, services) for any.
    public func applyForDesignation(_ request: ApplyForDesignationRequest, context: CallContext) async throws -> ApplyForDesignationResponse {
        guard (1...Self.maxBatch).contains(request.fixmedinsCodes.count) else {
            throw DomainError(field: "fixmedins_codes", "must name 1-\(Self.maxBatch) institutions, got \(request.fixmedinsCodes.count)")
        }
        try FreeText.checked(request.remarks, field: "remarks", required: false)
        var codes: [String] = [], seen = Set<String>()
        for (i, sent) in request.fixmedinsCodes.enumerated() {
            let code = try InstitutionCode(sent, field: "fixmedins_codes[\(i)]").value
            guard seen.insert(code).inserted else { throw DomainError(field: "fixmedins_codes[\(i)]", "\(code) appears twice") }
            codes.append(code)
        }
        let caller = try context.actingCaller()
        do {
            let applications = try await store.apply(codes: codes, applicant: { institution in try Self.applicant(caller, for: institution) },
                                                     by: caller.description, filer: Self.institutionOf(caller), remarks: request.remarks)
            return ApplyForDesignationResponse(applications: applications)
        } catch StoreError.constraint {
            // Another application for one of them was filed at the same moment (applications_open).
            throw DomainError(.conflict, field: "fixmedins_codes", "an application for one of these institutions was filed at the same moment; nothing was filed")
        }
    }

    /// The caller's institution code when it is a clinic or a township centre, else "".
    static func institutionOf(_ caller: PeerIdentity) -> String {
        caller.role == PeerIdentity.Role.clinic || caller.role == PeerIdentity.Role.townshipCentre ? caller.commonName : ""
    }

    /// Who `caller` is as the applicant for `institution`, or PERMISSION_DENIED (fails closed:
    /// a role not listed applies for nothing).
    static func applicant(_ caller: PeerIdentity, for institution: RegistryStore.Applying) throws -> Applicant {
        switch caller.standing(toward: institution.code, parent: institution.parent, division: institution.division) {
        case .itself: return .institution
        case .itsCentre: return .centre
        case .healthCommission: return .healthCommission
        case .bureau: return .bureau
        case .none:
            throw DomainError(.permissionDenied, field: "fixmedins_codes", "\(caller.role) '\(caller.commonName)' may not apply for \(institution.code)")
        }
    }

    /// `Registry/ReviewApplication`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func reviewApplication(_ request: ReviewApplicationRequest, context: CallContext) async throws -> DesignationApplication {
        let id = try Self.applicationID(request.applicationID, field: "application_id")
        let decision = try Self.checkDecision(request.decision, reason: request.reason)
        return try await store.review([id], decision: decision, reason: request.reason, by: try context.actingCaller().description) { _ in "application_id" }[0]
    }

    /// `Registry/ReviewApplications`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func reviewApplications(_ request: ReviewApplicationsRequest, context: CallContext) async throws -> ReviewApplicationsResponse {
        guard (1...Self.maxBatch).contains(request.applicationIds.count) else {
            throw DomainError(field: "application_ids", "must name 1-\(Self.maxBatch) applications, got \(request.applicationIds.count)")
        }
        var seen = Set<String>()
        let ids = try request.applicationIds.enumerated().map { i, id in
            let valid = try Self.applicationID(id, field: "application_ids[\(i)]")
            guard seen.insert(valid).inserted else { throw DomainError(field: "application_ids[\(i)]", "\(valid) appears twice") }
            return valid
        }
        let decision = try Self.checkDecision(request.decision, reason: request.reason)
        return ReviewApplicationsResponse(applications: try await store.review(
            ids, decision: decision, reason: request.reason, by: try context.actingCaller().description
        ) { "application_ids[\($0)]" })
    }

    private static func checkDecision(_ sent: ReviewDecision, reason: String) throws -> ReviewDecision {
        let decision = try sent.required("decision")
        if decision != .approve { guard !reason.isEmpty else { throw DomainError(field: "reason", "is required to \(decision.code) an application") } }
        try FreeText.checked(reason, field: "reason", required: false)
        return decision
    }

    /// `Registry/SignAgreement`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func signAgreement(_ request: SignAgreementRequest, context: CallContext) async throws -> DesignationApplication {
        let agreement = try Self.agreement(request, prefix: "")
        let signed = try await Self.unique { try await store.sign([agreement], by: try context.actingCaller().description) { _ in "" } }
        relay?.nudge()
        Self.countDesignations(to: .designated, 1)
        return signed[0]
    }

    /// `Registry/SignAgreements`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func signAgreements(_ request: SignAgreementsRequest, context: CallContext) async throws -> SignAgreementsResponse {
        guard (1...Self.maxBatch).contains(request.agreements.count) else {
            throw DomainError(field: "agreements", "must hold 1-\(Self.maxBatch) agreements, got \(request.agreements.count)")
        }
        var numbers = Set<String>(), ids = Set<String>()
        let agreements = try request.agreements.enumerated().map { i, sent in
            let agreement = try Self.agreement(sent, prefix: "agreements[\(i)].")
            guard numbers.insert(agreement.agreement.agreementNo).inserted else { throw DomainError(field: "agreements[\(i)].agreement_no", "appears twice") }
            guard ids.insert(agreement.id).inserted else { throw DomainError(field: "agreements[\(i)].application_id", "appears twice") }
            return agreement
        }
        let signed = try await Self.unique { try await store.sign(agreements, by: try context.actingCaller().description) { "agreements[\($0)]." } }
        relay?.nudge()
        Self.countDesignations(to: .designated, signed.count)
        return SignAgreementsResponse(applications: signed)
    }

    /// `body`, with a unique index refusing it (an agreement number signed at the same moment
    /// elsewhere) answered ALREADY_EXISTS instead of INTERNAL; nothing was signed.
    private static func unique<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch StoreError.constraint {
            throw DomainError(.conflict, field: "agreement_no", "an agreement with this number was signed at the same moment; nothing was signed")
        }
    }

    /// A signing request checked: its application and agreement, fields named under `prefix`.
    private static func agreement(_ request: SignAgreementRequest, prefix: String) throws -> (id: String, agreement: ServiceAgreement) {
        let id = try Self.applicationID(request.applicationID, field: prefix + "application_id")
        guard (1...40).contains(request.agreementNo.utf8.count), request.agreementNo.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw DomainError(field: prefix + "agreement_no", "must be 1-40 printable ASCII characters")
        }
        let start = try CivilDate(request.startDate, field: prefix + "start_date"), end = try CivilDate(request.endDate, field: prefix + "end_date")
        guard start <= end else { throw DomainError(field: prefix + "end_date", "\(end) is before start_date \(start)") }
        let signed = request.signedDate.isEmpty ? CivilDate.today() : try CivilDate(request.signedDate, field: prefix + "signed_date")
        guard signed <= start else { throw DomainError(field: prefix + "signed_date", "\(signed) is after start_date \(start): an agreement is signed before it starts") }
        guard !request.scopes.isEmpty else { throw DomainError(field: prefix + "scopes", "an agreement covers at least one service scope") }
        var scopes: [ServiceScope] = []
        for (i, scope) in request.scopes.enumerated() {
            let known = try scope.required(prefix + "scopes[\(i)]")
            guard !scopes.contains(known) else { throw DomainError(field: prefix + "scopes[\(i)]", "\(known.code) appears twice") }
            scopes.append(known)
        }
        return (id, ServiceAgreement(
            agreementNo: request.agreementNo, startDate: start.description, endDate: end.description, scopes: scopes, signedDate: signed.description
        ))
    }

    /// `Registry/GetApplication`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func getApplication(_ request: GetApplicationRequest, context: CallContext) async throws -> DesignationApplication {
        let id = try Self.applicationID(request.applicationID, field: "application_id")
        guard let application = try await store.application(id) else { throw DomainError(.notFound, field: "application_id", "no such application") }
        return application
    }

    static func applicationID(_ value: String, field: String) throws -> String {
        guard value.utf8.count == 24, value.hasPrefix("A"), value.utf8.dropFirst().allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else {
            throw DomainError(field: field, "must be A and 23 lower-case hex digits")
        }
        return value
    }
}
