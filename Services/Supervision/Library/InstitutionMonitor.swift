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
/// At most one alert per key (institution or person), rule and window (for a spike: day; the
/// store keeps spikes once across replicas and restarts). Windows slide on the postings' own
/// times (`posted_ms`), so a backlog delivered late is judged as it happened. They are in
/// memory on each replica, bounded: at most ``maxPersons`` + 1 settlements per key and rule,
/// at most ``maxInstitutions`` institution windows and ``maxPeople`` person windows (expired
/// ones go first, then the least recently active tenth). With several supervision replicas
/// each sees the postings its relays deliver: a burst split across replicas may go unseen by
/// the window kinds.
public final class InstitutionMonitor: Sendable {
    /// The largest `max_persons` a rule may set.
    public static let maxPersons = 10_000
    /// Institution windows (per rule) watched at once.
    public static let maxInstitutions = 100_000
    /// Person windows (per rule) watched at once: a province's hour of distinct persons.
    public static let maxPeople = 1_000_000
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
        var wall: Date
        var psnNo: String
        var fixmedinsCode: String
        var setlID: String
        var amount: Int64
    }

    struct Watch {
        var events: [Seen] = []
        var quietUntil: Date?
        /// The latest posting's time, and when the window empties without another.
        var lastActive: Date
        var expires: Date
    }

    private struct Windows {
        var institutions: [String: Watch] = [:]
        var people: [String: Watch] = [:]
    }

    private let windows = Mutex(Windows())
    /// Volume spikes raised here, and baselines read, by "rule\tinstitution\tday" and
    /// "institution\tday\tdays": earlier days' counts do not change during a day.
    private let spiked = Mutex<Set<String>>([])
    private let baselines = Mutex<[String: Double?]>([:])
    let calendar: Calendar

    /// `timeZone`: the business time zone the opening hours are in.
    public init(timeZone: TimeZone = .current) {
        calendar = CivilDate.gregorian(in: timeZone)
    }

    /// Observes settled postings (reversals and repeats of a setl_id already seen are ignored)
    /// with the window kinds and answers the alerts raised, unnumbered (`alert_id` 0: the
    /// store numbers them), amounts in fen, times ISO 8601 (`wall`: when raised). Throws
    /// nothing; an empty answer when the set has no window rule.
    public func observe(_ postings: [Posting], set: CompiledRuleSet, wall: Date = Date()) -> [Alert] {
        let monitoring = set.rules.filter { $0.isMonitoring && $0.rule.kind != .volumeSpike }
        guard !monitoring.isEmpty else { return [] }
        var alerts: [Alert] = []
        windows.withLock { windows in
            for posting in postings where posting.settlement.status == .settled {
                let now = posting.postedAt
                let settlement = posting.settlement
                for rule in monitoring where rule.covers(settlement.fixmedinsCode) {
                    let p = rule.params
                    if rule.rule.kind == .outsideHours {
                        let minute = minuteOfDay(posting.postedAt)
                        guard minute < p.openMinute || minute >= p.closeMinute else { continue }
                    }
                    let byPerson = rule.rule.kind == .personBurst
                    let key = "\(rule.rule.ruleID)\t\(byPerson ? settlement.psnNo : settlement.fixmedinsCode)"
                    // Mutated in place (the dictionary's own storage), so that a window's events
                    // are not copied for every posting.
                    let watches: WritableKeyPath<Windows, [String: Watch]> = byPerson ? \.people : \.institutions
                    let raised = Self.see(settlement, at: now, in: &windows[keyPath: watches][key, default: Watch(lastActive: now, expires: now)],
                                          rule: rule, byPerson: byPerson) { events, distinct in
                        self.alert(rule, set: set, posting: settlement, events: events, distinct: distinct, byPerson: byPerson, wall: wall)
                    }
                    if let raised { alerts.append(raised) }
                }
            }
            Self.bound(&windows.institutions, Self.maxInstitutions)
            Self.bound(&windows.people, Self.maxPeople)
        }
        return alerts
    }

    /// Adds one settlement to a rule's window for a key and answers the alert it raises, if
    /// any (`raise` gets the window's events and the distinct count).
    private static func see(
        _ settlement: SettlementResult, at now: Date, in watch: inout Watch, rule: CompiledRule, byPerson: Bool,
        raise: ([Seen], Int) -> Alert
    ) -> Alert? {
        let p = rule.params
        let window = TimeInterval(p.windowMinutes) * 60
        watch.lastActive = max(watch.lastActive, now)
        watch.expires = watch.lastActive.addingTimeInterval(window)
        let lastActive = watch.lastActive
        watch.events.removeAll { lastActive.timeIntervalSince($0.wall) >= window }
        guard !watch.events.contains(where: { $0.setlID == settlement.setlID }) else { return nil }
        watch.events.append(Seen(wall: now, psnNo: settlement.psnNo, fixmedinsCode: settlement.fixmedinsCode,
                                 setlID: settlement.setlID, amount: settlement.medfeeSumamt))
        let limit = Int(byPerson ? p.maxInstitutions : p.maxPersons)
        if watch.events.count > maxPersons + 1 { watch.events.removeFirst(watch.events.count - maxPersons - 1) }
        let distinct = byPerson ? Set(watch.events.map(\.fixmedinsCode)).count : Set(watch.events.map(\.psnNo)).count
        if distinct > limit, watch.quietUntil.map({ now >= $0 }) ?? true {
            let alert = raise(watch.events, distinct)
            watch.quietUntil = now.addingTimeInterval(window)
            watch.expires = max(watch.expires, now.addingTimeInterval(window))
            watch.events.removeAll()
            return alert
        }
        if !byPerson, watch.events.count > limit + 1 {
            // Enough to tell "more than max_persons" (a person's window keeps more: it counts institutions).
            watch.events.removeFirst(watch.events.count - limit - 1)
        }
        return nil
    }

    /// Minutes after midnight of `date` in the business time zone (its offset at that instant).
    func minuteOfDay(_ date: Date) -> UInt32 {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down)) + calendar.timeZone.secondsFromGMT(for: date)
        return UInt32(((seconds % 86_400) + 86_400) % 86_400 / 60)
    }

    /// Beyond `limit`, the windows that have emptied go, then (if still over) the least
    /// recently active tenth: once per overflow, not once per batch.
    static func bound(_ watches: inout [String: Watch], _ limit: Int) {
        guard watches.count > limit, let latest = watches.values.map(\.lastActive).max() else { return }
        watches = watches.filter { $0.value.expires > latest }
        guard watches.count > limit * 9 / 10 else { return }
        let oldest = watches.sorted { $0.value.lastActive < $1.value.lastActive }.prefix(watches.count - limit * 9 / 10).map(\.key)
        for key in oldest { watches[key] = nil }
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
    /// the rule's `baseline_days` before, nil while its counts do not reach that far back;
    /// asked once per institution and day, when the count could be a spike), at most once per
    /// rule, institution and day here. Each alert comes with its key (`rule\tinstitution\tday`),
    /// by which the store keeps it once across replicas and restarts.
    public func spike(
        _ day: (fixmedinsCode: String, day: String, settlements: Int64), set: CompiledRuleSet, wall: Date = Date(),
        baseline: (_ days: Int) async throws -> Double?
    ) async rethrows -> [(alert: Alert, onceKey: String)] {
        var alerts: [(Alert, String)] = []
        for rule in set.rules where rule.rule.kind == .volumeSpike && rule.covers(day.fixmedinsCode) {
            let p = rule.params
            let key = "\(rule.rule.ruleID)\t\(day.fixmedinsCode)\t\(day.day)"
            guard day.settlements >= Int64(p.minSettlements), !spiked.withLock({ $0.contains(key) }) else { continue }
            let cacheKey = "\(day.fixmedinsCode)\t\(day.day)\t\(p.baselineDays)"
            let average: Double?
            if let cached = baselines.withLock({ $0[cacheKey] }) {
                average = cached
            } else {
                average = try await baseline(Int(p.baselineDays))
                baselines.withLock { $0[cacheKey] = average }
            }
            // settlements > ratio × average, in basis points; no baseline, no spike.
            guard let average, Double(day.settlements) * 10_000 > Double(p.spikeRatioBp) * average, spiked.withLock({ $0.insert(key).inserted }) else { continue }
            // Bounded: the memory of older days goes first (the store keeps the alert once anyway).
            spiked.withLock { keys in if keys.count > Self.maxInstitutions { keys = keys.filter { $0.hasSuffix("\t" + day.day) } } }
            baselines.withLock { cache in if cache.count > Self.maxInstitutions { cache = cache.filter { $0.key.contains("\t" + day.day + "\t") } } }
            let rounded = UInt32(min(average.rounded(), Double(UInt32.max)))
            let values = ["fixmedins_code": day.fixmedinsCode, "settlements": "\(day.settlements)", "baseline": "\(rounded)",
                          "ratio": String(format: "%.1f", average > 0 ? Double(day.settlements) / average : 0), "limit": "\(p.spikeRatioBp)",
                          "days": "\(p.baselineDays)", "visit_date": day.day]
            alerts.append((Alert(
                ruleID: rule.rule.ruleID, ruleVersion: rule.rule.version, ruleSetVersion: set.set.version, severity: rule.rule.severity,
                fixmedinsCode: day.fixmedinsCode, raisedAt: wall.formatted(.iso8601), evidence: RuleMessage.render(rule.rule.message, values),
                settlements: UInt32(clamping: day.settlements), windowStart: day.day, baseline: rounded
            ), key))
        }
        return alerts
    }
}
