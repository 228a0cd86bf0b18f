import Foundation
import MedicareContracts
import MedicareDomain
import MedicareWire
import Synchronization

/// Real-time monitoring (实时监控, notice §三) on the settlement stream: the postings settlement's
/// audit relay delivers are observed as they arrive, and each monitoring rule of the set in
/// force (``CompiledRule/isMonitoring``) raises an alert with its evidence when it fires:
///
/// - `institution_burst`: more than `max_persons` distinct persons settled at one institution
///   within `window_minutes` (集中刷卡);
/// - `outside_hours`: the same, counting only settlements made outside the institution's
///   opening hours (`open_minute` to `close_minute`, the business time zone);
/// - `person_burst`: one person settled at more than `max_institutions` institutions within
///   `window_minutes` (冒名就医), keyed by the person;
/// - `volume_spike`: an institution's settlements on a day above `spike_ratio_bp` of its
///   average day over the `baseline_days` before (``spike(_:set:baseline:)``, from the day
///   counts supervision keeps in its store, so it survives restarts and sums every replica).
///
/// At most one alert per key (institution or person), rule and window (for a spike: day).
/// The windows are in memory on each replica, bounded: at most ``maxPersons`` + 1 settlements
/// per key and rule, and at most ``maxInstitutions`` windows (beyond that the least recently
/// active tenth is dropped). With several supervision replicas each sees the postings its
/// relays deliver: a burst split across replicas may go unseen by the window kinds.
public final class InstitutionMonitor: Sendable {
    /// The largest `max_persons` a rule may set.
    public static let maxPersons = 10_000
    /// Windows (institutions or persons, per rule) watched at once.
    public static let maxInstitutions = 100_000
    /// The longest baseline a volume-spike rule may average.
    public static let maxBaselineDays = 92

    /// One posting as monitoring sees it: the settlement and when it was posted (the relay's
    /// `posted_ms`; when the record does not say, when it arrived).
    public struct Posting: Sendable {
        public let settlement: SettlementResult
        public let postedAt: Date

        public init(_ settlement: SettlementResult, postedAt: Date) {
            self.settlement = settlement
            self.postedAt = postedAt
        }
    }

    struct Seen {
        var at: ContinuousClock.Instant
        var wall: Date
        var psnNo: String
        var fixmedinsCode: String
        var setlID: String
        var amount: Int64
    }

    struct Watch {
        var events: [Seen] = []
        var quietUntil: ContinuousClock.Instant?
        var lastActive: ContinuousClock.Instant
    }

    private let watches = Mutex<[String: Watch]>([:])
    /// Volume spikes already raised: "rule\tinstitution\tday".
    private let spiked = Mutex<Set<String>>([])
    let calendar: Calendar

    /// `timeZone`: the business time zone the opening hours are in.
    public init(timeZone: TimeZone = .current) {
        calendar = CivilDate.gregorian(in: timeZone)
    }

    /// Observes settled postings (reversals and repeats of a setl_id already seen are ignored)
    /// with the window kinds and answers the alerts raised, unnumbered (`alert_id` 0: the
    /// store numbers them), amounts in fen, times ISO 8601. `now` and `wall` are injectable for
    /// tests. Throws nothing; an empty answer when the set has no window rule.
    public func observe(_ postings: [Posting], set: CompiledRuleSet, now: ContinuousClock.Instant = .now, wall: Date = Date()) -> [Alert] {
        let monitoring = set.rules.filter { $0.isMonitoring && $0.rule.kind != .volumeSpike }
        guard !monitoring.isEmpty else { return [] }
        var alerts: [Alert] = []
        watches.withLock { watches in
            for posting in postings where posting.settlement.status == .settled {
                let settlement = posting.settlement
                for rule in monitoring where rule.covers(settlement.fixmedinsCode) {
                    let p = rule.params
                    if rule.rule.kind == .outsideHours {
                        let parts = calendar.dateComponents([.hour, .minute], from: posting.postedAt)
                        let minute = UInt32((parts.hour ?? 0) * 60 + (parts.minute ?? 0))
                        guard minute < p.openMinute || minute >= p.closeMinute else { continue }
                    }
                    let byPerson = rule.rule.kind == .personBurst
                    let key = "\(rule.rule.ruleID)\t\(byPerson ? settlement.psnNo : settlement.fixmedinsCode)"
                    var watch = watches[key] ?? Watch(lastActive: now)
                    let window = Duration.seconds(Int64(p.windowMinutes) * 60)
                    watch.lastActive = now
                    watch.events.removeAll { now - $0.at >= window }
                    guard !watch.events.contains(where: { $0.setlID == settlement.setlID }) else { watches[key] = watch; continue }
                    watch.events.append(Seen(at: now, wall: posting.postedAt, psnNo: settlement.psnNo, fixmedinsCode: settlement.fixmedinsCode,
                                             setlID: settlement.setlID, amount: settlement.medfeeSumamt))
                    let limit = Int(byPerson ? p.maxInstitutions : p.maxPersons)
                    if watch.events.count > Self.maxPersons + 1 { watch.events.removeFirst(watch.events.count - Self.maxPersons - 1) }
                    let distinct = byPerson ? Set(watch.events.map(\.fixmedinsCode)).count : Set(watch.events.map(\.psnNo)).count
                    if distinct > limit, watch.quietUntil.map({ now >= $0 }) ?? true {
                        alerts.append(alert(rule, set: set, posting: settlement, events: watch.events, distinct: distinct, byPerson: byPerson, wall: wall))
                        watch.quietUntil = now + window
                        watch.events.removeAll()
                    } else if !byPerson, watch.events.count > limit + 1 {
                        // Enough to tell "more than max_persons" (a person's window keeps more: it counts institutions).
                        watch.events.removeFirst(watch.events.count - limit - 1)
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

    private func alert(_ rule: CompiledRule, set: CompiledRuleSet, posting: SettlementResult, events: [Seen], distinct: Int, byPerson: Bool, wall: Date) -> Alert {
        let amount = events.reduce(Int64(0)) { $0 &+ $1.amount }
        let persons = Set(events.map(\.psnNo)).count, institutions = Set(events.map(\.fixmedinsCode)).count
        let p = rule.params
        let values = ["fixmedins_code": posting.fixmedinsCode, "psn_no": posting.psnNo, "persons": "\(persons)", "institutions": "\(institutions)",
                      "settlements": "\(events.count)", "amount": "\(amount)", "window_minutes": "\(p.windowMinutes)",
                      "limit": "\(byPerson ? p.maxInstitutions : p.maxPersons)", "open": Self.clock(p.openMinute), "close": Self.clock(p.closeMinute)]
        return Alert(
            ruleID: rule.rule.ruleID, ruleVersion: rule.rule.version, ruleSetVersion: set.set.version, severity: rule.rule.severity,
            fixmedinsCode: posting.fixmedinsCode, raisedAt: wall.formatted(.iso8601), evidence: RuleMessage.render(rule.rule.message, values),
            persons: UInt32(persons), settlements: UInt32(events.count), amount: amount, windowStart: (events.first?.wall ?? wall).formatted(.iso8601),
            psnNo: byPerson ? posting.psnNo : "", institutions: byPerson ? UInt32(institutions) : 0
        )
    }

    /// "08:00" for 480 minutes after midnight.
    static func clock(_ minute: UInt32) -> String {
        let h = minute / 60, m = minute % 60
        return (h < 10 ? "0" : "") + "\(h):" + (m < 10 ? "0" : "") + "\(m)"
    }

    /// The volume-spike rules of `set` that fire on an institution's day count (`settlements`
    /// on `day`, every replica's postings included) against `baseline` (its average day over
    /// the rule's `baseline_days` before; asked only when the count could be a spike), at
    /// most once per rule, institution and day.
    public func spike(
        _ day: (fixmedinsCode: String, day: String, settlements: Int64), set: CompiledRuleSet, wall: Date = Date(),
        baseline: (_ days: Int) async throws -> Double
    ) async rethrows -> [Alert] {
        var alerts: [Alert] = []
        for rule in set.rules where rule.rule.kind == .volumeSpike && rule.covers(day.fixmedinsCode) {
            let p = rule.params
            let key = "\(rule.rule.ruleID)\t\(day.fixmedinsCode)\t\(day.day)"
            guard day.settlements >= Int64(p.minSettlements), !spiked.withLock({ $0.contains(key) }) else { continue }
            let average = try await baseline(Int(p.baselineDays))
            // settlements > ratio × average, in basis points.
            guard Double(day.settlements) * 10_000 > Double(p.spikeRatioBp) * average, spiked.withLock({ $0.insert(key).inserted }) else { continue }
            spiked.withLock { if $0.count > Self.maxInstitutions { $0.removeAll() } }
            let rounded = UInt32(min(average.rounded(), Double(UInt32.max)))
            let values = ["fixmedins_code": day.fixmedinsCode, "settlements": "\(day.settlements)", "baseline": "\(rounded)",
                          "ratio": String(format: "%.1f", average > 0 ? Double(day.settlements) / average : 0), "limit": "\(p.spikeRatioBp)",
                          "days": "\(p.baselineDays)", "visit_date": day.day]
            alerts.append(Alert(
                ruleID: rule.rule.ruleID, ruleVersion: rule.rule.version, ruleSetVersion: set.set.version, severity: rule.rule.severity,
                fixmedinsCode: day.fixmedinsCode, raisedAt: wall.formatted(.iso8601), evidence: RuleMessage.render(rule.rule.message, values),
                settlements: UInt32(clamping: day.settlements), windowStart: day.day, baseline: rounded
            ))
        }
        return alerts
    }
}
