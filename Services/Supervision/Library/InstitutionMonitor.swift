import Foundation
import MedicareContracts
import MedicareDomain
import MedicareWire
import Synchronization

/// Real-time monitoring (实时监控, notice §三) on the settlement stream: the postings settlement's
/// audit relay delivers are observed as they arrive, per institution in a sliding window, and
/// each monitoring rule of the set in force (``CompiledRule/isMonitoring``) raises an alert with
/// its evidence when it fires, at most once per institution and rule within its window.
///
/// In memory on each supervision replica, bounded: at most ``maxPersons`` + 1 settlements are
/// kept per institution and rule (enough to tell "more than max_persons"), and at most
/// ``maxInstitutions`` institution-rule windows (beyond that the least recently active tenth
/// is dropped).
public final class InstitutionMonitor: Sendable {
    /// The largest `max_persons` a rule may set.
    public static let maxPersons = 10_000
    /// Institutions watched at once.
    public static let maxInstitutions = 100_000

    struct Seen {
        var at: ContinuousClock.Instant
        var wall: Date
        var psnNo: String
        var setlID: String
        var amount: Int64
    }

    struct Watch {
        var events: [Seen] = []
        var quietUntil: ContinuousClock.Instant?
        var lastActive: ContinuousClock.Instant
    }

    private let watches = Mutex<[String: Watch]>([:])

    public init() {}

    /// Observes settled postings (reversals and repeats of a setl_id already seen are ignored)
    /// and answers the alerts the set's monitoring rules raise, unnumbered (`alert_id` 0: the
    /// store numbers them), amounts in fen, times ISO 8601. `now` and `wall` are injectable for
    /// tests. Throws nothing; an empty answer when the set has no monitoring rule.
    public func observe(_ postings: [SettlementResult], set: CompiledRuleSet, now: ContinuousClock.Instant = .now, wall: Date = Date()) -> [Alert] {
        let monitoring = set.rules.filter(\.isMonitoring)
        guard !monitoring.isEmpty else { return [] }
        var alerts: [Alert] = []
        watches.withLock { watches in
            for posting in postings where posting.status == .settled {
                for rule in monitoring where rule.covers(posting.fixmedinsCode) {
                    let key = "\(rule.rule.ruleID)\t\(posting.fixmedinsCode)"
                    var watch = watches[key] ?? Watch(lastActive: now)
                    let window = Duration.seconds(Int64(rule.params.windowMinutes) * 60)
                    watch.lastActive = now
                    watch.events.removeAll { now - $0.at >= window }
                    guard !watch.events.contains(where: { $0.setlID == posting.setlID }) else { watches[key] = watch; continue }
                    watch.events.append(Seen(at: now, wall: wall, psnNo: posting.psnNo, setlID: posting.setlID, amount: posting.medfeeSumamt))
                    if watch.events.count > Int(rule.params.maxPersons) + 1 { watch.events.removeFirst(watch.events.count - Int(rule.params.maxPersons) - 1) }
                    let persons = Set(watch.events.map(\.psnNo)).count
                    if persons > Int(rule.params.maxPersons), watch.quietUntil.map({ now >= $0 }) ?? true {
                        let amount = watch.events.reduce(Int64(0)) { $0 &+ $1.amount }
                        let values = ["fixmedins_code": posting.fixmedinsCode, "persons": "\(persons)", "settlements": "\(watch.events.count)",
                                      "amount": "\(amount)", "window_minutes": "\(rule.params.windowMinutes)", "limit": "\(rule.params.maxPersons)"]
                        alerts.append(Alert(
                            ruleID: rule.rule.ruleID, ruleVersion: rule.rule.version, ruleSetVersion: set.set.version, severity: rule.rule.severity,
                            fixmedinsCode: posting.fixmedinsCode, raisedAt: wall.formatted(.iso8601), evidence: RuleMessage.render(rule.rule.message, values),
                            persons: UInt32(persons), settlements: UInt32(watch.events.count), amount: amount,
                            windowStart: (watch.events.first?.wall ?? wall).formatted(.iso8601)
                        ))
                        watch.quietUntil = now + window
                        watch.events.removeAll()
                    }
                    watches[key] = watch
                }
            }
            // Beyond the bound, the least recently active tenth goes at once (not one sort per batch).
            if watches.count > Self.maxInstitutions {
                let oldest = watches.sorted { $0.value.lastActive < $1.value.lastActive }.prefix(watches.count - Self.maxInstitutions * 9 / 10).map(\.key)
                for key in oldest { watches[key] = nil }
            }
        }
        return alerts
    }
}
