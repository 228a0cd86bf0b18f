import Foundation
import Metrics
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareStore
import MedicareWire

/// medicare.v1.Settlement: 1101 identity, 2206 pre-settlement, 2207 settlement, 2208 reversal.
public struct SettlementProvider: SettlementService {
    let store: SettlementStore
    /// The benefit policy and catalogue in force (replaced whole on SIGHUP: ``PolicyHolder``).
    let policy: PolicyHolder

    static let settled = CounterFamily("medicare_settlement_settled_total", dimensions: ["region", "med_type"])
    static let fundPaid = CounterFamily("medicare_settlement_fund_paid_fen_total", dimensions: ["region"])
    static let reversed = CounterFamily("medicare_settlement_reversed_total")
    /// Told after each posting, so that its audit record leaves the outbox at once.
    let relay: AuditRelay?
    /// The business day money is counted on (`business.time-zone`).
    let days: DayClock

    public init(store: SettlementStore, policies: PolicyBook, relay: AuditRelay? = nil, timeZone: TimeZone = .current) {
        self.init(store: store, policy: PolicyHolder(PolicyHolder.current(policies)), relay: relay, timeZone: timeZone)
    }

    /// A provider whose policy can be replaced while it serves (`policy.replace`).
    public init(store: SettlementStore, policy: PolicyHolder, relay: AuditRelay? = nil, timeZone: TimeZone = .current) {
        self.store = store
        self.policy = policy
        self.relay = relay
        self.days = DayClock(in: timeZone)
    }

    /// Adds or updates insured persons by `psn_no`, at most 10,000 per call, all or none; a
    /// person's insurance records (`insuinfo`, or one running record from the flat fields)
    /// replace those held (``InsuredPerson/forImport(_:at:)`` checks them). Every identifier is stored in its canonical form (upper-case `X` in `certno`), so one
    /// resident ID is one person: an ID already registered to another `psn_no` is refused
    /// (`FAILED_PRECONDITION`), as is any field out of format (`INVALID_ARGUMENT`, naming it).
    public func importPersons(_ request: ImportPersonsRequest, context: CallContext) async throws -> ImportPersonsResponse {
        guard request.persons.count <= 10_000 else { throw DomainError(field: "persons", "at most 10000 per call") }
        var persons: [InsuredPerson] = []
        persons.reserveCapacity(request.persons.count)
        for (i, sent) in request.persons.enumerated() { persons.append(try InsuredPerson.forImport(sent, at: i)) }
        var certnos = Set<String>(), numbers = Set<String>()
        for (i, person) in persons.enumerated() {
            guard certnos.insert(person.certno).inserted else { throw DomainError(field: "persons[\(i)].certno", "appears twice in this batch") }
            guard numbers.insert(person.psnNo).inserted else { throw DomainError(field: "persons[\(i)].psn_no", "appears twice in this batch") }
        }
        do {
            try await store.importPersons(persons)
        } catch StoreError.constraint {
            throw DomainError(.precondition, field: "persons", "a certno in this batch is already registered to another psn_no")
        }
        return ImportPersonsResponse(imported: UInt32(persons.count))
    }

    /// 1101: the person behind a resident ID with their insurance records; the flat fields
    /// are the basic insurance in force today (``InsuredPerson/inForce(on:insutype:)``).
    public func verifyIdentity(_ request: VerifyIdentityRequest, context: CallContext) async throws -> VerifyIdentityResponse {
        let id = try ResidentID(request.certno, field: "certno")
        guard let person = try await store.person(certno: id.value) else {
            return VerifyIdentityResponse(valid: false, reason: "not insured", birthday: id.birthDate, gend: id.gend)
        }
        let day = today().description
        guard let current = person.inForce(on: day) else {
            return VerifyIdentityResponse(person: person, valid: false, reason: "no basic insurance in force on \(day)", birthday: id.birthDate, gend: id.gend)
        }
        let enrolled = current.psnInsuStas == .enrolled
        return VerifyIdentityResponse(
            person: current, valid: enrolled, reason: enrolled ? "" : "enrolment is \(current.psnInsuStas.code)", birthday: id.birthDate, gend: id.gend
        )
    }

    /// 9001 签到: the operator's sign-in for the business day, recorded once per institution,
    /// operator and day (a second call that day answers the first's number and time).
    /// - Throws: ``DomainError`` (`INVALID_ARGUMENT`) naming fixmedins_code, opter_no,
    ///   opter_name, mac or ip when one is out of form.
    public func signIn(_ request: SignInRequest, context: CallContext) async throws -> SignInResponse {
        let signIn = OperatorSignIn(
            signNo: timeOrderedID(prefix: "G"), fixmedinsCode: try InstitutionCode(request.fixmedinsCode).value,
            opterNo: try HISNumber(request.opterNo, field: "opter_no").value,
            opterName: try FreeText.checked(request.opterName, field: "opter_name", max: 50),
            signDate: today().description, signedAt: Date().formatted(.iso8601),
            mac: try FreeText.checked(request.mac, field: "mac", max: 20, required: false),
            ip: try FreeText.checked(request.ip, field: "ip", max: 45, required: false)
        )
        let recorded = try await store.signIn(signIn)
        return SignInResponse(signNo: recorded.signNo, signTime: recorded.signedAt, signDate: recorded.signDate)
    }

    public func preSettle(_ request: SettleRequest, context: CallContext) async throws -> SettlementResult {
        // One policy for the whole call: a reload meanwhile applies to the next.
        let current = policy.current
        let claim = try validated(request, current.catalogue)
        guard let person = try await store.person(psnNo: claim.claim.psnNo) else {
            throw DomainError(.notFound, field: "claim.psn_no", "no insured person \(claim.claim.psnNo)")
        }
        let standing = try await store.chronicStanding(of: person.psnNo, on: claim.visitDate.description, for: claim.claim.medType)
        let settledAs = try standing.settledAs(claim)
        let (accumulator, year) = try await store.accumulator(psnNo: person.psnNo, year: Int64(claim.visitDate.year), visitType: settledAs.code)
        var result = try Settling(claim: claim, policies: current.book, institutionKind: request.fixmedinsKind).result(person: person, settledAs: settledAs, accumulator: accumulator, year: year)
        result.status = .presettled
        return result
    }

    /// 2207: posts a settlement once. Replays come before anything else (see
    /// ``SettlementStore/replay(_:_:claim:)``), so a retry is answered even if the person or
    /// the claim would now be refused. Keys are scoped to the acting caller.
    public func settle(_ request: SettleRequest, context: CallContext) async throws -> SettlementResult {
        let current = policy.current
        let claim = try validated(request, current.catalogue)
        let bytes = try claim.encodedWithoutRoute()
        let identity = SettlementStore.SettleIdentity(
            scope: try context.actingCaller().idempotencyScope, key: try idempotencyKey(context),
            digest: ValidatedClaim.digest(of: bytes), day: today().description
        )
        let result = try await store.settle(identity, settling: Settling(claim: claim, policies: current.book, institutionKind: request.fixmedinsKind), claimBytes: bytes)
        if !result.replay {
            relay?.nudge()
            // Business metrics, by the clinic's county (its code's 6 digits): bounded by the
            // nation's counties, never by persons or visits.
            let county = String(claim.clinic.value.dropFirst().prefix(6))
            Self.settled.increment(county, claim.claim.medType.code)
            Self.fundPaid.increment(county, by: max(0, result.fundPaySumamt))
        }
        return result
    }

    /// The stored answer for a settle, posting nothing (see ``SettlementStore/replay(_:claim:)``).
    public func replay(_ request: SettleRequest, context: CallContext) async throws -> SettlementResult {
        let current = policy.current
        let claim = try validated(request, current.catalogue)
        let identity = SettlementStore.SettleIdentity(
            scope: try context.actingCaller().idempotencyScope, key: try idempotencyKey(context), digest: ValidatedClaim.digest(of: try claim.encodedWithoutRoute()), day: today().description
        )
        return try await store.replay(identity, claim: claim)
    }

    /// 2208: reverses a settlement once; the reversal counts on today's business day.
    public func reverse(_ request: ReverseRequest, context: CallContext) async throws -> ReverseResponse {
        let key = try idempotencyKey(context)
        guard !request.setlID.isEmpty, request.setlID.utf8.count <= 64, request.setlID.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw DomainError(field: "setl_id", "must be 1-64 printable ASCII characters")
        }
        try FreeText.checked(request.reason, field: "reason", required: false)
        let response = try await store.reverse(
            scope: try context.actingCaller().idempotencyScope, key: key, setlID: request.setlID, reason: request.reason, day: today().description
        )
        if !response.replay {
            relay?.nudge()
            Self.reversed.increment()
        }
        return response
    }

    public func getSettlement(_ request: GetSettlementRequest, context: CallContext) async throws -> SettlementResult {
        guard let result = try await store.settlement(request.setlID) else {
            throw DomainError(.notFound, field: "setl_id", "no such settlement")
        }
        return result
    }

    /// 3202: one page of an institution's settlements posted on a business day (its own and
    /// those it settled for its clinics), in setl_id order.
    public func listSettlements(_ request: ListSettlementsRequest, context: CallContext) async throws -> ListSettlementsResponse {
        let institution = try InstitutionCode(request.institution, field: "institution")
        let date = try CivilDate(request.date, field: "date")
        guard request.setlID.utf8.count <= 64 else { throw DomainError(field: "setl_id", "at most 64 characters") }
        guard request.pageSize <= 1_000 else { throw DomainError(field: "page_size", "at most 1000, got \(request.pageSize)") }
        let size = request.pageSize == 0 ? 100 : Int(request.pageSize)
        let page = try await store.settlements(of: institution.value, on: date.description, after: request.setlID, limit: size + 1)
        return ListSettlementsResponse(settlements: Array(page.prefix(size)), more: page.count > size)
    }

    public func checkLedger(_ request: LedgerCheckRequest, context: CallContext) async throws -> LedgerCheckResponse {
        try await store.checkLedger()
    }

    /// The checkpoints kept and the delivered postings' summary, for Gateway/VerifyAuditTrail.
    public func getAuditEvidence(_ request: AuditEvidenceRequest, context: CallContext) async throws -> AuditEvidence {
        try await store.auditEvidence()
    }

    // MARK: rules

    private func idempotencyKey(_ context: CallContext) throws -> String {
        guard let key = context.idempotencyKey, !key.isEmpty else {
            throw DomainError(field: "idempotency-key", "metadata 'idempotency-key' is required so that a retry is not posted twice")
        }
        return try IdempotencyKey(key).value
    }

    func today() -> CivilDate { days.today() }

    private func validated(_ request: SettleRequest, _ catalogue: Catalogue) throws -> ValidatedClaim {
        guard let claim = request.claim else { throw DomainError(field: "claim", "is required") }
        return try ValidatedClaim(claim, catalogue: catalogue, today: today())
    }
}


/// The benefit policy book and the catalogue in force, replaced whole when a publication
/// lands (``PolicyInForce/refreshed(from:skipped:)``, every `policy.refresh-ms`) or the policy
/// file is read again (SIGHUP): a call reads it once and uses that book throughout. The
/// book's versions carry their own effective dates, so a publication changes what applies
/// from those dates, not settlements already posted.
public typealias PolicyHolder = Reloadable<PolicyInForce>

/// A policy book with the catalogue in force, at a publication revision.
public struct PolicyInForce: Sendable {
    /// The benefit policy versions (its `catalogue` is empty: see ``catalogue``).
    public let book: PolicyBook
    /// Every catalogue record, by code and period.
    public let catalogue: Catalogue
    /// The publication revision it holds (0: the file's book, nothing published yet).
    public let revision: Int64
}

extension Reloadable where Value == PolicyInForce {
    /// `book` with its catalogue indexed by code, at revision 0.
    public static func current(_ book: PolicyBook) -> PolicyInForce {
        PolicyInForce(book: PolicyBook(policies: book.policies, catalogue: []), catalogue: Catalogue(book.catalogue), revision: 0)
    }
}

/// An operator's sign-in (9001) for a business day, as the provider decides it and the store
/// keeps it: `signNo` and `signedAt` are the day's first sign-in's.
///
/// - `signNo`: 签到编号, "G" and 23 hex digits (``timeOrderedID(prefix:)``);
/// - `opterNo`, `opterName`: the operator's number at the institution (1-30 characters) and name (1-50);
/// - `signDate`: the business day, YYYY-MM-DD; `signedAt`: when it was recorded, ISO 8601 UTC;
/// - `mac`, `ip`: the terminal's addresses as the HIS sends them ('' when not sent).
struct OperatorSignIn: Sendable, Equatable {
    var signNo, fixmedinsCode, opterNo, opterName, signDate, signedAt, mac, ip: String
}
