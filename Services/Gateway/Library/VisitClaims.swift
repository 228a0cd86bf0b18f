import MedicareContracts
import MedicareWire
import NIOCore
import Synchronization

/// The claim a registered visit's details make, as the answer to its last fee-detail upload
/// (2204) through this gateway said, so that settling the visit by reference (`Gateway/Settle`
/// with `visit`, 2207) need not read it from settlement again (that read was about an eighth
/// of a visit's CPU in the national flow: docs/scaling.md). A change to the visit's diagnoses
/// (2203) or an undo (2205) through this gateway forgets it.
///
/// Correctness does not rest on it. Settlement settles a registered visit only with the
/// details it holds when the posting locks it (it compares the claim's digest), so a claim
/// kept here that is no longer the visit's (changed through another gateway replica, or by
/// a call whose answer was lost) is refused, and ``GatewayProvider/settle(_:context:)`` then
/// reads the visit and settles what it holds. A preview (2206) is not checked that way and
/// always reads the visit. An entry is taken (removed) by the settle that uses it, and lives
/// at most `ttl`; a zero `ttl` turns the memory off.
///
/// Bounded by visits (`capacity`) and by fee lines in all (`maxLines`; a claim holds up to
/// 500): when either is reached, the expired entries go, and if that leaves it more than
/// nine tenths full, all of them, so that the sweep runs at most once per tenth of the bound.
final class VisitClaims: Sendable {
    struct Key: Hashable, Sendable {
        let clinic: String
        let mdtrtID: String
    }

    private struct Entry {
        let claim: Claim
        let expires: ContinuousClock.Instant
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var lines = 0
    }

    let ttl: Duration
    let capacity: Int
    let maxLines: Int
    private let state = Mutex(State())

    init(ttl: Duration, capacity: Int = 50_000, maxLines: Int = 500_000) {
        self.ttl = ttl
        self.capacity = capacity
        self.maxLines = maxLines
    }

    var isEnabled: Bool { ttl > .zero }

    /// What a forwarded settlement method's call tells this memory.
    enum Hook {
        /// The answer is the visit with the claim its details make now: remember it (2204).
        case remember
        /// The call changes the visit's claim (2203 diagnoses, 2205 undo): forget the visit
        /// the request names (its answer is not decoded: reading the small request is cheaper).
        case forget
    }

    /// The hook of each forwarded method that has one. 2201 has none: a new visit has no
    /// details, and a repeated registration changes nothing.
    static let hooks: [String: Hook] = [
        SettlementMethods.uploadFeeDetails.fullName: .remember,
        SettlementMethods.uploadDiagnoses.fullName: .forget, SettlementMethods.undoFeeDetails.fullName: .forget,
    ]

    /// Applies `hook` after a forwarded call: `request` and `answer` are its payloads
    /// (`answer` nil when it failed: the change may still have been made, so the visit is
    /// forgotten). A payload that does not decode is the caller's or settlement's to answer,
    /// not this memory's: nothing is remembered from it.
    func apply(_ hook: Hook, method: String, request: ByteBuffer, answer: ByteBuffer?) {
        if hook == .remember, let answer {
            if let visit = try? Visit(decoding: answer) { remember(visit) }
            return
        }
        let key: Key? = switch method {
        case SettlementMethods.uploadDiagnoses.fullName: (try? UploadDiagnosesRequest(decoding: request)).map { Key(clinic: $0.fixmedinsCode, mdtrtID: $0.mdtrtID) }
        case SettlementMethods.undoFeeDetails.fullName: (try? UndoFeeDetailsRequest(decoding: request)).map { Key(clinic: $0.fixmedinsCode, mdtrtID: $0.mdtrtID) }
        default: (try? UploadFeeDetailsRequest(decoding: request)).map { Key(clinic: $0.fixmedinsCode, mdtrtID: $0.mdtrtID) }
        }
        if let key { forget(key) }
    }

    /// Remembers the claim of a visit as answered: only a registered visit (not settled or
    /// reversed) whose details make a claim; any other answer forgets the visit.
    func remember(_ visit: Visit, now: ContinuousClock.Instant = .now) {
        guard isEnabled else { return }
        let key = Key(clinic: visit.fixmedinsCode, mdtrtID: visit.mdtrtID)
        guard visit.status == .registered, let claim = visit.claim, !claim.lines.isEmpty, claim.lines.count <= maxLines else {
            forget(key)
            return
        }
        state.withLock { state in
            if let old = state.entries.removeValue(forKey: key) { state.lines -= old.claim.lines.count }
            if state.entries.count >= capacity || state.lines + claim.lines.count > maxLines {
                state.entries = state.entries.filter { $0.value.expires > now }
                state.lines = state.entries.values.reduce(0) { $0 + $1.claim.lines.count }
                if state.entries.count * 10 > capacity * 9 || (state.lines + claim.lines.count) * 10 > maxLines * 9 {
                    state = State()
                }
            }
            state.entries[key] = Entry(claim: claim, expires: now + ttl)
            state.lines += claim.lines.count
        }
    }

    /// The kept claim of the visit, if fresh, removed from the memory.
    func take(_ key: Key, now: ContinuousClock.Instant = .now) -> Claim? {
        guard isEnabled else { return nil }
        return state.withLock { state in
            guard let entry = state.entries.removeValue(forKey: key) else { return nil }
            state.lines -= entry.claim.lines.count
            return entry.expires > now ? entry.claim : nil
        }
    }

    func forget(_ key: Key) {
        guard isEnabled else { return }
        state.withLock { state in
            if let old = state.entries.removeValue(forKey: key) { state.lines -= old.claim.lines.count }
        }
    }

    /// Visits kept, and their fee lines in all.
    var count: Int { state.withLock { $0.entries.count } }
    var lines: Int { state.withLock { $0.lines } }
}
