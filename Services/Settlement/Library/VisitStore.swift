import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRuntime
import MedicareStore
import MedicareWire
import Synchronization

/// An outpatient visit as the store keeps it (2201-2205): what the provider decided, never
/// parsed again. Its settlements are the settlements table's, found by the visit's key.
struct VisitRecord: Sendable, Equatable {
    var fixmedinsCode, mdtrtID, iptOtpNo, psnNo: String
    var insutype: Insutype
    var medType: MedType
    /// The visit day, YYYY-MM-DD; the attending doctor's code.
    var begntime, atddrNo: String
    /// What the person presented (2201): its type and number.
    var mdtrtCertType: MdtrtCertType = .idCard
    var mdtrtCertNo = ""
    var diagnoses: [String] = []
    var details: [FeeDetail] = []
    /// The highest serial (`seq`) its details hold as read; 0 for none.
    var detailSeq: Int64 = 0

    /// Registration's own fields (not diagnoses or details) are the same.
    func sameRegistration(as other: VisitRecord) -> Bool {
        (iptOtpNo, psnNo, insutype, medType, begntime, atddrNo) == (other.iptOtpNo, other.psnNo, other.insutype, other.medType, other.begntime, other.atddrNo)
            && (mdtrtCertType, mdtrtCertNo) == (other.mdtrtCertType, other.mdtrtCertNo)
    }
}

extension VisitRecord {
    /// The visit as answered on the wire: registration, diagnoses and details as they stand,
    /// status REGISTERED (a change is refused once settled: ``SettlementStore/visitState(_:_:)``
    /// adds the status and history from the settlements), and the claim they make, which is
    /// what Gateway/Settle settles for the visit.
    var answer: Visit {
        var visit = Visit(
            fixmedinsCode: fixmedinsCode, mdtrtID: mdtrtID, iptOtpNo: iptOtpNo, psnNo: psnNo, insutype: insutype, medType: medType,
            begntime: begntime, atddrNo: atddrNo, diagnoses: diagnoses, details: details, status: .registered,
            mdtrtCertType: mdtrtCertType, mdtrtCertNo: mdtrtCertNo
        )
        visit.claim = Claim(
            mdtrtID: mdtrtID, psnNo: psnNo, fixmedinsCode: fixmedinsCode, medType: medType, visitDate: begntime, diagnoses: diagnoses,
            lines: details.map { FeeLine(itemCode: $0.medListCodg, quantity: $0.cnt, unitPrice: $0.pric, days: $0.days) }, insutype: insutype
        )
        return visit
    }
}

/// Who changes a visit and when: the operator (signed in that business day, 9001) and the time.
struct VisitActor: Sendable {
    var opterNo: String
    /// The business day (for the sign-in) and the instant, ISO 8601 UTC.
    var day: String, at: String
}

/// What a change to a visit's diagnoses or details did, for its history.
struct VisitChange: Sendable {
    var kind: VisitEventKind
    var detail: String
}

extension SettlementStore {
    /// Visits' closed sets (migration 13).
    static let visitSets = [
        ClosedSet("outpatient_visits", "insutype", insutypes),
        ClosedSet("outpatient_visits", "med_type", medTypes),
        ClosedSet("outpatient_visit_events", "kind", ["registered", "diagnoses_uploaded", "details_uploaded", "details_undone"]),
    ]

    /// Registers a visit unless its institution has one of the same `ipt_otp_no`: then that
    /// visit is answered, with `replay` when its registration is the same.
    /// - Throws: ``DomainError`` (`precondition`) when the operator has not signed in that day
    ///   or the attending doctor (`atddr_no`) is not an active practitioner of the institution;
    ///   (`conflict`) when the number was registered with other content.
    func registerVisit(_ visit: VisitRecord, by actor: VisitActor) async throws -> (VisitRecord, replay: Bool) {
        try await writeStep(visit.fixmedinsCode, by: actor, practitioners: [("atddr_no", visit.atddrNo)]) { tx in
            let inserted = try await tx.queryOne(
                """
                INSERT INTO outpatient_visits (fixmedins_code, mdtrt_id, ipt_otp_no, psn_no, insutype, med_type, begntime, atddr_no, diagnoses,
                    mdtrt_cert_type, mdtrt_cert_no)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '', $9, $10) ON CONFLICT (fixmedins_code, ipt_otp_no) DO NOTHING RETURNING mdtrt_id
                """,
                [.text(visit.fixmedinsCode), .text(visit.mdtrtID), .text(visit.iptOtpNo), .text(visit.psnNo), .text(String(visit.insutype.rawValue)),
                 visit.medType.stored, .text(visit.begntime), .text(visit.atddrNo), visit.mdtrtCertType.stored, .text(visit.mdtrtCertNo)]
            )
            // A new registration is stored as sent, without diagnoses or details: nothing to read back.
            if inserted != nil {
                var stored = visit
                (stored.diagnoses, stored.details) = ([], [])
                try await Self.record(tx, stored, VisitChange(kind: .registered, detail: visit.iptOtpNo), actor)
                return (stored, false)
            }
            guard let row = try await tx.queryOne("SELECT mdtrt_id FROM outpatient_visits WHERE fixmedins_code = $1 AND ipt_otp_no = $2",
                                                  [.text(visit.fixmedinsCode), .text(visit.iptOtpNo)]),
                  let stored = try await Self.visit(tx, visit.fixmedinsCode, try row.string("mdtrt_id"))
            else { throw StoreError.decoding("visits: the registration of \(visit.iptOtpNo) is missing") }
            // Registered before (under the visit number it was given then).
            guard stored.sameRegistration(as: visit) else {
                throw DomainError(.conflict, field: "ipt_otp_no", "\(visit.iptOtpNo) is registered as visit \(stored.mdtrtID) with other content")
            }
            return (stored, true)
        }
    }

    /// Changes a visit's diagnoses or details in one transaction: the operator must have
    /// signed in, the doctors `practitioners` names (a field and a code each) must be active
    /// practitioners of the institution, the visit must exist and have no live settlement;
    /// `change` decides on the visit as stored and returns what it did (nil: nothing, nothing
    /// is written).
    /// - Throws: ``DomainError`` (`notFound` for `mdtrt_id`, `precondition` for a settled
    ///   visit, an operator not signed in or a doctor not practising there, naming the field),
    ///   and whatever `change` throws.
    func changeVisit(
        _ fixmedinsCode: String, _ mdtrtID: String, by actor: VisitActor, practitioners: [(field: String, code: String)] = [],
        _ change: @escaping @Sendable (inout VisitRecord) throws -> VisitChange?
    ) async throws -> VisitRecord {
        try await writeStep(fixmedinsCode, by: actor, practitioners: practitioners) { tx in
            guard let (found, live) = try await Self.visitToChange(tx, fixmedinsCode, mdtrtID) else {
                throw DomainError(.notFound, field: "mdtrt_id", "no visit \(mdtrtID) at \(fixmedinsCode)")
            }
            if let live {
                throw DomainError(.precondition, field: "mdtrt_id", "visit \(mdtrtID) is settled (\(live)): reverse it first (2208)")
            }
            var visit = found
            let before = visit
            guard let done = try change(&visit) else { return visit }

            if visit.diagnoses != before.diagnoses {
                try await tx.execute("UPDATE outpatient_visits SET diagnoses = $3 WHERE fixmedins_code = $1 AND mdtrt_id = $2",
                                     [.text(fixmedinsCode), .text(mdtrtID), .text(visit.diagnoses.joined(separator: ","))])
            }
            let kept = Set(visit.details.map(\.feedetlSn))
            for gone in before.details where !kept.contains(gone.feedetlSn) {
                try await tx.execute("DELETE FROM outpatient_visit_details WHERE fixmedins_code = $1 AND mdtrt_id = $2 AND feedetl_sn = $3",
                                     [.text(fixmedinsCode), .text(mdtrtID), .text(gone.feedetlSn)])
            }
            let had = Set(before.details.map(\.feedetlSn))
            let new = visit.details.filter { !had.contains($0.feedetlSn) }
            // The next serial numbers after the highest held (read with the details, under the visit's lock).
            var seq = before.detailSeq
            let added = new.map { d -> [SQLValue] in
                seq += 1
                return [.text(fixmedinsCode), .text(mdtrtID), .text(d.feedetlSn), .integer(seq), .text(d.medListCodg), .text(d.medinsListCodg),
                        .integer(d.cnt), .integer(d.pric), .text(d.bilgDrCodg), .integer(Int64(d.days))]
            }
            try await tx.insert(into: "outpatient_visit_details", columns: ["fixmedins_code", "mdtrt_id", "feedetl_sn", "seq", "med_list_codg", "medins_list_codg",
                                                                 "cnt", "pric", "bilg_dr_codg", "days"], rows: added, tail: "")
            try await Self.record(tx, visit, done, actor)
            return visit
        }
    }

    /// `body` in the write transaction of an operator's visit step at an institution: the
    /// operator's sign-in that day (9001) is required, read unless ``SignInMemory`` knows it,
    /// and remembered once the step has committed; the doctors `practitioners` names must be
    /// active practitioners there, read in the step's transaction (share-locked on PostgreSQL),
    /// so that a step and an import deactivating its doctor do not overlap: the step sees the
    /// import, or the import waits for the step. The sign-in is checked first.
    /// - Throws: ``DomainError`` (`precondition` naming `opter_no`) without a sign-in,
    ///   (`precondition` naming the doctor's field) for a doctor not practising there, and
    ///   whatever `body` throws.
    private func writeStep<T: Sendable>(
        _ fixmedinsCode: String, by actor: VisitActor, practitioners: [(field: String, code: String)],
        _ body: @escaping @Sendable (any SQLTransaction) async throws -> T
    ) async throws -> T {
        let signedIn = signIns.contains(fixmedinsCode, actor)
        let value = try await database.write { tx in
            if !signedIn { try await Self.requireSignIn(tx, fixmedinsCode, actor) }
            try await Self.requirePractitioners(tx, fixmedinsCode, practitioners, locking: true)
            return try await body(tx)
        }
        signIns.remember(fixmedinsCode, actor)
        return value
    }

    /// A visit with its diagnoses and details, and its status and history (with its
    /// settlements and their reversals), or nil.
    func visitState(_ fixmedinsCode: String, _ mdtrtID: String) async throws -> Visit? {
        try await database.read { tx in
            guard let record = try await Self.visit(tx, fixmedinsCode, mdtrtID) else { return nil }
            var visit = record.answer
            var events: [VisitEvent] = []
            for row in try await tx.query(
                "SELECT kind, at, opter_no, detail FROM outpatient_visit_events WHERE fixmedins_code = $1 AND mdtrt_id = $2 ORDER BY seq", [.text(fixmedinsCode), .text(mdtrtID)]
            ) {
                events.append(VisitEvent(kind: try row.code("kind"), at: try row.string("at"), opterNo: try row.string("opter_no"), detail: try row.string("detail")))
            }
            // The reversed settlements (their partial index), then the live one (its partial
            // unique index), in one statement: each branch keeps its own index.
            let settlements = { (status: SettlementStatus, part: Int) in
                """
                SELECT \(part) AS part, s.setl_id AS setl_id, s.created_at AS created_at, s.caller AS caller, r.created_at AS reversed_at, r.caller AS reversed_by FROM settlements s
                LEFT JOIN reversals r ON r.setl_id = s.setl_id WHERE s.mdtrt_id = $1 AND s.fixmedins_code = $2 AND s.status = '\(status.code)'
                """
            }
            for row in try await tx.query(
                settlements(.reversed, 1) + " UNION ALL " + settlements(.settled, 2) + " ORDER BY part, created_at, setl_id", [.text(mdtrtID), .text(fixmedinsCode)]
            ) {
                let setlID = try row.string("setl_id")
                events.append(VisitEvent(kind: .settled, at: try row.string("created_at"), opterNo: try row.string("caller"), detail: setlID))
                if let at = try row.optionalString("reversed_at") {
                    events.append(VisitEvent(kind: .reversed, at: at, opterNo: try row.optionalString("reversed_by") ?? "", detail: setlID))
                }
                visit.setlID = setlID
                visit.status = try row.int("part") == 2 ? .settled : .reversed
            }
            // By time; at the same instant, in the order read (the visit's own events by seq,
            // then its settlements'): a stable order, whatever the sort.
            visit.history = events.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }.map(\.element)
            return visit
        }
    }

    /// The visit's row, diagnoses and details, or nil.
    private static func visit(_ tx: any SQLTransaction, _ fixmedinsCode: String, _ mdtrtID: String) async throws -> VisitRecord? {
        guard let row = try await tx.queryOne(
            "SELECT * FROM outpatient_visits WHERE fixmedins_code = $1 AND mdtrt_id = $2", [.text(fixmedinsCode), .text(mdtrtID)]
        ) else { return nil }
        return try await withDetails(tx, try record(row))
    }

    /// The visit locked for a change, with its details and its live settlement's `setl_id` if
    /// it has one, or nil. On SQLite (one writer: nothing changes under the transaction) the
    /// live settlement is read with the visit's row. On PostgreSQL the row is locked first and
    /// the settlement read after, in statements of their own: under READ COMMITTED a statement
    /// sees other tables as they were when it began, so a subquery in the locking statement
    /// that waited on a posting's lock would miss the settlement that posting just committed.
    private static func visitToChange(_ tx: any SQLTransaction, _ fixmedinsCode: String, _ mdtrtID: String) async throws -> (VisitRecord, live: String?)? {
        let settled = SettlementStatus.settled.code
        guard tx.dialect == .postgres else {
            guard let row = try await tx.queryOne(
                """
                SELECT v.*, (SELECT s.setl_id FROM settlements s WHERE s.mdtrt_id = v.mdtrt_id AND s.fixmedins_code = v.fixmedins_code
                    AND s.status = '\(settled)') AS live_setl_id
                FROM outpatient_visits v WHERE v.fixmedins_code = $1 AND v.mdtrt_id = $2
                """, [.text(fixmedinsCode), .text(mdtrtID)]
            ) else { return nil }
            return (try await withDetails(tx, try record(row)), try row.optionalString("live_setl_id"))
        }
        guard let row = try await tx.queryOne(
            "SELECT * FROM outpatient_visits WHERE fixmedins_code = $1 AND mdtrt_id = $2" + tx.dialect.forUpdate, [.text(fixmedinsCode), .text(mdtrtID)]
        ) else { return nil }
        let live = try await tx.queryOne(
            "SELECT setl_id FROM settlements WHERE mdtrt_id = $1 AND fixmedins_code = $2 AND status = '\(settled)'", [.text(mdtrtID), .text(fixmedinsCode)]
        )
        return (try await withDetails(tx, try record(row)), try live?.string("setl_id"))
    }

    /// `visit` with its details in serial order, and the highest serial.
    private static func withDetails(_ tx: any SQLTransaction, _ visit: VisitRecord) async throws -> VisitRecord {
        var visit = visit
        for d in try await tx.query(
            "SELECT * FROM outpatient_visit_details WHERE fixmedins_code = $1 AND mdtrt_id = $2 ORDER BY seq", [.text(visit.fixmedinsCode), .text(visit.mdtrtID)]
        ) {
            visit.details.append(try detail(d))
            visit.detailSeq = try d.int("seq")
        }
        return visit
    }

    /// The registered visits among `keys`, with their diagnoses and details, in two statements
    /// whatever their number (each key probed by index); visits not registered are absent.
    static func visits(_ tx: any SQLTransaction, _ keys: [VisitKey]) async throws -> [VisitKey: VisitRecord] {
        guard !keys.isEmpty else { return [:] }
        let pairs = keys.map { [SQLValue.text($0.clinic), .text($0.mdtrtID)] }
        let columns = [("fixmedins_code", "text"), ("mdtrt_id", "text")]
        var binds: [SQLValue] = []
        var found: [VisitKey: VisitRecord] = [:]
        for row in try await tx.query("SELECT o.* " + SQLPlaceholders.probe("outpatient_visits", as: "o", by: columns, keys: pairs, dialect: tx.dialect, binds: &binds), binds) {
            let visit = try record(row)
            found[VisitKey(clinic: visit.fixmedinsCode, mdtrtID: visit.mdtrtID)] = visit
        }
        // None registered (claims sent whole): no details to read.
        guard !found.isEmpty else { return found }
        binds = []
        let details = SQLPlaceholders.probe("outpatient_visit_details", as: "d", by: columns, keys: pairs, dialect: tx.dialect, binds: &binds)
        for row in try await tx.query("SELECT d.* \(details) ORDER BY d.fixmedins_code, d.mdtrt_id, d.seq", binds) {
            found[VisitKey(clinic: try row.string("fixmedins_code"), mdtrtID: try row.string("mdtrt_id"))]?.details.append(try detail(row))
        }
        return found
    }

    private static func record(_ row: SQLRow) throws -> VisitRecord {
        let diagnoses = try row.string("diagnoses")
        return VisitRecord(
            fixmedinsCode: try row.string("fixmedins_code"), mdtrtID: try row.string("mdtrt_id"), iptOtpNo: try row.string("ipt_otp_no"), psnNo: try row.string("psn_no"),
            insutype: Insutype(rawValue: Int32(try row.string("insutype")) ?? 0), medType: try row.code("med_type"),
            begntime: try row.string("begntime"), atddrNo: try row.string("atddr_no"),
            mdtrtCertType: try row.code("mdtrt_cert_type"), mdtrtCertNo: try row.string("mdtrt_cert_no"),
            diagnoses: diagnoses.isEmpty ? [] : diagnoses.split(separator: ",").map(String.init)
        )
    }

    private static func detail(_ d: SQLRow) throws -> FeeDetail {
        FeeDetail(
            feedetlSn: try d.string("feedetl_sn"), medListCodg: try d.string("med_list_codg"), medinsListCodg: try d.string("medins_list_codg"),
            cnt: try d.int("cnt"), pric: try d.int("pric"), bilgDrCodg: try d.string("bilg_dr_codg"), days: UInt32(clamping: try d.int("days"))
        )
    }

    /// Adds or updates practitioners by institution and code, all in one transaction.
    func importPractitioners(_ practitioners: [Practitioner]) async throws {
        let at = Date().formatted(.iso8601)
        try await database.write { tx in
            try await tx.insert(
                into: "practitioners", columns: ["fixmedins_code", "dr_code", "dr_name", "prac_type", "active", "updated_at"],
                rows: practitioners.map { [.text($0.fixmedinsCode), .text($0.drCode), .text($0.drName), $0.pracType.stored, .integer($0.active ? 1 : 0), .text(at)] },
                tail: """
                    ON CONFLICT (fixmedins_code, dr_code) DO UPDATE SET dr_name = excluded.dr_name, prac_type = excluded.prac_type,
                    active = excluded.active, updated_at = excluded.updated_at
                    """
            )
        }
    }

    /// Refuses a doctor's code that is not an active practitioner of the institution, naming
    /// the field that sent it (the first such), read in a transaction of its own. (A visit
    /// step reads them in its own write transaction: ``writeStep(_:by:practitioners:_:)``.)
    /// - Throws: ``DomainError`` (`precondition`) naming the field.
    func requirePractitioners(_ fixmedinsCode: String, _ named: [(field: String, code: String)]) async throws {
        guard !named.isEmpty else { return }
        try await database.lookup { tx in try await Self.requirePractitioners(tx, fixmedinsCode, named) }
    }

    /// Refuses a doctor's code that is not an active practitioner of the institution as
    /// `tx` sees them, naming the field that sent it (the first such). `locking` (in a write
    /// transaction): on PostgreSQL the rows read are share-locked until it ends, so that an
    /// import deactivating one waits for the step rather than committing under it (SQLite's
    /// one writer needs no lock).
    /// - Throws: ``DomainError`` (`precondition`) naming the field.
    static func requirePractitioners(
        _ tx: any SQLTransaction, _ fixmedinsCode: String, _ named: [(field: String, code: String)], locking: Bool = false
    ) async throws {
        let codes = Array(Set(named.map(\.code)))
        guard !codes.isEmpty else { return }
        let lock = locking && tx.dialect == .postgres ? " FOR SHARE" : ""
        let known = Set(try await tx.query(
            "SELECT dr_code FROM practitioners WHERE fixmedins_code = $1 AND active = 1 AND dr_code IN (\(SQLPlaceholders.list(codes.count, from: 2)))" + lock,
            [.text(fixmedinsCode)] + codes.map { .text($0) }
        ).map { try $0.string("dr_code") })
        if let unknown = named.first(where: { !known.contains($0.code) }) {
            throw DomainError(.precondition, field: unknown.field, "\(quoted(unknown.code)) is not a practitioner registered at \(fixmedinsCode)")
        }
    }

    /// Refuses an operator without a sign-in (9001) at the institution on the actor's day
    /// (asked only when ``SignInMemory`` does not know it already).
    static func requireSignIn(_ tx: any SQLTransaction, _ fixmedinsCode: String, _ actor: VisitActor) async throws {
        guard try await tx.queryOne(
            "SELECT sign_no FROM sign_ins WHERE fixmedins_code = $1 AND opter_no = $2 AND sign_date = $3",
            [.text(fixmedinsCode), .text(actor.opterNo), .text(actor.day)]
        ) != nil else {
            throw DomainError(.precondition, field: "opter_no", "\(quoted(actor.opterNo)) has not signed in at \(fixmedinsCode) on \(actor.day) (9001)")
        }
    }

    /// An event's detail as kept: whole up to 500 characters; a longer list of numbers as its
    /// count and the numbers that fit whole.
    static func eventDetail(_ detail: String) -> String {
        guard detail.count > 500 else { return detail }
        let numbers = detail.split(separator: ",")
        var kept = "\(numbers.count): "
        for (i, number) in numbers.enumerated() {
            guard kept.count + number.count + 4 <= 500 else { kept += "…"; break }
            kept += (i == 0 ? "" : ",") + number
        }
        return kept
    }

    /// Appends an event to the visit's history.
    private static func record(_ tx: any SQLTransaction, _ visit: VisitRecord, _ change: VisitChange, _ actor: VisitActor) async throws {
        try await tx.execute(
            """
            INSERT INTO outpatient_visit_events (fixmedins_code, mdtrt_id, seq, kind, at, opter_no, detail)
            SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5, $6 FROM outpatient_visit_events WHERE fixmedins_code = $1 AND mdtrt_id = $2
            """,
            [.text(visit.fixmedinsCode), .text(visit.mdtrtID), change.kind.stored, .text(actor.at), .text(actor.opterNo), .text(Self.eventDetail(change.detail))]
        )
    }

    /// The digest a settle of this visit must carry (``SettleIdentity/digest``): that of the
    /// claim its diagnoses and details make as they stand (``VisitRecord/answer``), in
    /// canonical form without its route, as settlement digests the claim the gateway sends
    /// for the visit. Empty while the details do not make a claim (none uploaded yet), which
    /// no settle matches. The posting computes it from the visit it has locked and compares
    /// (``post(_:_:)``), so that a visit is settled only with the details it holds then.
    static func claimDigest(_ visit: VisitRecord) -> String {
        guard let claim = visit.answer.claim, let checked = try? claim.checked(),
              let bytes = try? ValidatedClaim.encodedWithoutRoute(checked.claim) else { return "" }
        return ValidatedClaim.digest(of: bytes)
    }
}

/// The operators' sign-ins (9001) this replica knows to be stored, for the business day in
/// hand: a visit step's transaction then need not read `sign_ins` (one statement a step). A
/// sign-in is never withdrawn (there is no 9002 sign-out here), so one known stays true for
/// its day; one made through another replica is read from the store the first time. Only a
/// committed sign-in is remembered (after its transaction, or the step's that read it,
/// returned). Holds one day (a new day empties it) and at most `capacity` sign-ins (then it
/// starts over).
final class SignInMemory: Sendable {
    private struct State {
        var day = ""
        var known: Set<String> = []
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 200_000) { self.capacity = capacity }

    private static func key(_ fixmedinsCode: String, _ opterNo: String) -> String { fixmedinsCode + "/" + opterNo }

    /// Whether the operator's sign-in at the institution on `actor.day` is known to be stored.
    func contains(_ fixmedinsCode: String, _ actor: VisitActor) -> Bool {
        state.withLock { $0.day == actor.day && $0.known.contains(Self.key(fixmedinsCode, actor.opterNo)) }
    }

    /// Remembers a stored sign-in of the operator at the institution on `actor.day`.
    func remember(_ fixmedinsCode: String, _ actor: VisitActor) {
        state.withLock { state in
            if state.day != actor.day {
                // A later day replaces the one held; a step still on the day before is not remembered.
                guard actor.day > state.day else { return }
                state = State(day: actor.day)
            }
            if state.known.count >= capacity { state.known.removeAll(keepingCapacity: true) }
            state.known.insert(Self.key(fixmedinsCode, actor.opterNo))
        }
    }
}
