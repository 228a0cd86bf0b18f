import Foundation
import MedicareContracts
import MedicareDomain
import MedicareWire
import Synchronization

/// The published review rule sets (智能审核规则库), kept in supervision's store and compiled
/// in memory: a review asks for the set in force on its visit day (``inForce(on:)``).
/// Publishing through any replica reaches the others at their next ``refresh(from:)`` (every
/// few seconds), with no restart.
public final class RuleBook: Sendable {
    private let sets = Mutex<[CompiledRuleSet]>([])

    public init() {}

    /// A book of the given sets, validated, in memory only (benchmarks and tools; the service
    /// loads its book from the store with ``refresh(from:)``), published in the order given.
    /// Throws ``DomainError`` naming the first field out of form (``validated(_:)``).
    public convenience init(sets: [RuleSet]) throws(DomainError) {
        self.init()
        var compiled: [(seq: Int64, set: RuleSet)] = []
        for (i, set) in sets.enumerated() { compiled.append((Int64(i + 1), try Self.validated(set))) }
        install(compiled)
    }

    /// Every loaded set, in (effective_from, seq) order.
    public var all: [CompiledRuleSet] { sets.withLock { $0 } }

    /// The newest set in force on `day`: the latest effective_from on or before it, the latest
    /// published among equals. nil when none is.
    public func inForce(on day: CivilDate) -> CompiledRuleSet? {
        sets.withLock { sets in sets.last { $0.effectiveFrom <= day } }
    }

    /// Replaces the loaded sets with the store's when it holds more than are loaded (one
    /// query when nothing was published since). Throws the store's error (``StoreError``).
    public func refresh(from store: SupervisionStore) async throws {
        let loaded = sets.withLock { $0.map(\.seq).max() ?? 0 }
        guard try await store.latestRuleSetSeq() > loaded else { return }
        install(try await store.ruleSets())
    }

    /// Installs a snapshot of the store's sets unless the book already holds a newer one (two
    /// refreshes overlapping must not put an older snapshot back).
    func install(_ stored: [(seq: Int64, set: RuleSet)]) {
        let compiled = stored.compactMap { try? CompiledRuleSet($0.set, seq: $0.seq) }.sorted { ($0.effectiveFrom, $0.seq) < ($1.effectiveFrom, $1.seq) }
        let newest = compiled.map(\.seq).max() ?? 0
        sets.withLock { sets in
            guard newest >= (sets.map(\.seq).max() ?? 0) else { return }
            sets = compiled
        }
    }

    /// A set as sent for publication, checked whole: every error names its field
    /// (`rule_set.rules[3].params.max_quantity`). Answers the set with the publication fields
    /// cleared (supervision sets them).
    public static func validated(_ sent: RuleSet) throws(DomainError) -> RuleSet {
        var set = sent
        set.publishedAt = ""
        set.publishedBy = ""
        _ = try VersionName(set.version, field: "rule_set.version")
        guard (1...200).contains(set.name.count) else { throw DomainError(field: "rule_set.name", "must be 1-200 characters") }
        _ = try CivilDate(set.effectiveFrom, field: "rule_set.effective_from")
        guard (1...1_000).contains(set.rules.count) else { throw DomainError(field: "rule_set.rules", "must hold 1-1000 rules") }
        var ids = Set<String>()
        for (i, rule) in set.rules.enumerated() {
            let field = "rule_set.rules[\(i)]"
            try validate(rule, field: field, setFrom: try CivilDate(set.effectiveFrom, field: "rule_set.effective_from"))
            guard ids.insert(rule.ruleID).inserted else { throw DomainError(field: "\(field).rule_id", "\(rule.ruleID) appears twice") }
        }
        return set
    }

    /// The most past visits of a person a review reads (``SupervisionStore/visits(psnNo:from:to:)``).
    public static let maxHistory = 1_000

    /// Which parameters each kind reads; any other given is an error (a rule whose author
    /// expected a parameter to act must not run without it).
    static let parametersRead: [RuleKind: Set<String>] = [
        .notDesignated: [], .outsideCatalogue: ["items"], .aboveReferencePrice: ["items"], .duplicateItem: ["items"],
        .quantityLimit: ["items", "max_quantity"], .daysLimit: ["items", "max_days"], .amountLimit: ["items", "max_amount"],
        .visitFrequency: ["max_visits", "period_days", "same_institution"], .manyInstitutions: ["max_institutions", "period_days"],
        .ageRestriction: ["items", "min_age", "max_age"], .gendRestriction: ["items", "gend"],
        .diagnosisRequired: ["items", "diagnoses", "med_types"], .institutionBurst: ["max_persons", "window_minutes"],
        .outsideHours: ["max_persons", "window_minutes", "open_minute", "close_minute"], .personBurst: ["max_institutions", "window_minutes"],
        .volumeSpike: ["spike_ratio_bp", "baseline_days", "min_settlements"], .levelRestriction: ["items", "institution_kinds"],
    ]

    /// The visit types a claim can have (``BenefitPolicy/visitTypes``): a rule scoped to any
    /// other would never run.
    static let claimMedTypes: Set<MedType> = [.generalOutpatient, .chronicOutpatient]

    static func medType(_ type: MedType, field: String) throws(DomainError) {
        guard claimMedTypes.contains(type) else {
            throw DomainError(field: field, "must be one of \(claimMedTypes.map(\.code).sorted().joined(separator: ", ")) (the visit types claims have)")
        }
    }

    static func validate(_ rule: ReviewRule, field: String, setFrom: CivilDate) throws(DomainError) {
        guard (1...16).contains(rule.ruleID.utf8.count),
              rule.ruleID.utf8.allSatisfy({ (48...57).contains($0) || (65...90).contains($0) || $0 == 45 || $0 == 95 })
        else { throw DomainError(field: "\(field).rule_id", "must be 1-16 capital letters, digits, '-' or '_'") }
        guard rule.version >= 1 else { throw DomainError(field: "\(field).version", "must be 1 or more") }
        guard (1...200).contains(rule.name.count) else { throw DomainError(field: "\(field).name", "must be 1-200 characters") }
        let kind = try rule.kind.required("\(field).kind")
        guard try rule.verdict.required("\(field).verdict") != .pass else { throw DomainError(field: "\(field).verdict", "must be warn, flag or block") }
        _ = try rule.severity.required("\(field).severity")
        let from = try CivilDate(rule.effectiveFrom, field: "\(field).effective_from")
        if !rule.effectiveTo.isEmpty {
            let to = try CivilDate(rule.effectiveTo, field: "\(field).effective_to")
            guard to > from, to > setFrom else {
                throw DomainError(field: "\(field).effective_to", "must be after effective_from and after the set's effective_from (or the rule is never in force)")
            }
        }
        guard (1...500).contains(rule.message.count) else { throw DomainError(field: "\(field).message", "must be 1-500 characters") }
        for name in RuleMessage.names(in: rule.message) where !RuleMessage.placeholders.contains(name) {
            throw DomainError(field: "\(field).message", "{\(name.prefix(40))} is not a placeholder; known: \(RuleMessage.placeholders.sorted().joined(separator: ", "))")
        }
        guard (1...500).contains(rule.source.count) else { throw DomainError(field: "\(field).source", "must name the rule's source (1-500 characters)") }
        if let scope = rule.scope {
            guard scope.regions.count <= 100 else { throw DomainError(field: "\(field).scope.regions", "at most 100") }
            for (j, region) in scope.regions.enumerated() {
                let field = "\(field).scope.regions[\(j)]"
                guard !(try SupervisionStore.countyPrefix(region, field: field)).isEmpty else { throw DomainError(field: field, "must not be empty") }
            }
            for (j, type) in scope.medTypes.enumerated() { try medType(type, field: "\(field).scope.med_types[\(j)]") }
            for (j, kind) in scope.institutionKinds.enumerated() { _ = try kind.required("\(field).scope.institution_kinds[\(j)]") }
            for (j, type) in scope.insutypes.enumerated() { _ = try type.required("\(field).scope.insutypes[\(j)]") }
        }
        let p = rule.params ?? RuleParams()
        let given: [(String, Bool)] = [
            ("items", !p.items.isEmpty), ("max_quantity", p.maxQuantity != 0), ("max_days", p.maxDays != 0), ("max_amount", p.maxAmount != 0),
            ("min_age", p.minAge != 0), ("max_age", p.maxAge != 0), ("gend", p.gend.rawValue != 0), ("diagnoses", !p.diagnoses.isEmpty),
            ("max_visits", p.maxVisits != 0), ("period_days", p.periodDays != 0), ("same_institution", p.sameInstitution),
            ("max_institutions", p.maxInstitutions != 0), ("med_types", !p.medTypes.isEmpty), ("max_persons", p.maxPersons != 0),
            ("window_minutes", p.windowMinutes != 0), ("open_minute", p.openMinute != 0), ("close_minute", p.closeMinute != 0),
            ("spike_ratio_bp", p.spikeRatioBp != 0), ("baseline_days", p.baselineDays != 0), ("min_settlements", p.minSettlements != 0),
            ("institution_kinds", !p.institutionKinds.isEmpty),
        ]
        let read = parametersRead[kind] ?? []
        for (name, isGiven) in given where isGiven && !read.contains(name) {
            throw DomainError(field: "\(field).params.\(name)", "is not read by kind \(kind.code)")
        }
        guard p.items.count <= 1_000 else { throw DomainError(field: "\(field).params.items", "at most 1000") }
        // In the claims' own form (ItemCode), or the prefix could never match a claim's code.
        for (j, item) in p.items.enumerated() { _ = try ItemCode(item, field: "\(field).params.items[\(j)]") }
        guard p.diagnoses.count <= 200 else { throw DomainError(field: "\(field).params.diagnoses", "at most 200") }
        for (j, code) in p.diagnoses.enumerated() {
            let u = Array(code.utf8)
            guard (3...8).contains(u.count), (65...90).contains(u[0]), (48...57).contains(u[1]), (48...57).contains(u[2]),
                  u.dropFirst(3).allSatisfy({ (48...57).contains($0) || (65...90).contains($0) || $0 == 46 })
            else { throw DomainError(field: "\(field).params.diagnoses[\(j)]", "must be an ICD-10 code or prefix: a capital letter and two digits first (I10, E11.9)") }
        }
        for (j, type) in p.medTypes.enumerated() { try medType(type, field: "\(field).params.med_types[\(j)]") }
        for (j, kind) in p.institutionKinds.enumerated() { _ = try kind.required("\(field).params.institution_kinds[\(j)]") }
        // Within what a claim can reach, or the rule could never fire.
        let bounds: [(String, Int64, ClosedRange<Int64>)] = [
            ("max_quantity", p.maxQuantity, 0...Claim.maxQuantity), ("max_days", Int64(p.maxDays), 0...Int64(Claim.maxDays)),
            ("max_amount", p.maxAmount, 0...Claim.maxUnitPrice * Claim.maxQuantity), ("min_age", Int64(p.minAge), 0...150), ("max_age", Int64(p.maxAge), 0...150),
            ("max_visits", Int64(p.maxVisits), 0...Int64(maxHistory - 1)), ("max_institutions", Int64(p.maxInstitutions), 0...Int64(maxHistory - 1)),
            ("max_persons", Int64(p.maxPersons), 0...Int64(InstitutionMonitor.maxPersons)), ("window_minutes", Int64(p.windowMinutes), 0...1_440),
            ("open_minute", Int64(p.openMinute), 0...1_439), ("close_minute", Int64(p.closeMinute), 0...1_440),
            ("spike_ratio_bp", Int64(p.spikeRatioBp), 0...1_000_000), ("baseline_days", Int64(p.baselineDays), 0...Int64(InstitutionMonitor.maxBaselineDays)),
            ("min_settlements", Int64(p.minSettlements), 0...1_000_000),
        ]
        for (name, value, range) in bounds where !range.contains(value) {
            throw DomainError(field: "\(field).params.\(name)", "must be \(range.lowerBound)-\(range.upperBound), got \(value)")
        }
        switch kind {
        case .amountLimit where p.maxAmount <= 0:
            throw DomainError(field: "\(field).params.max_amount", "is required (fen, above 0)")
        case .visitFrequency where p.maxVisits == 0, .manyInstitutions where p.maxInstitutions == 0:
            throw DomainError(field: "\(field).params.\(kind == .visitFrequency ? "max_visits" : "max_institutions")", "is required (1 or more)")
        case .visitFrequency where !(1...366).contains(p.periodDays), .manyInstitutions where !(1...366).contains(p.periodDays):
            throw DomainError(field: "\(field).params.period_days", "is required: 1-366 days")
        case .ageRestriction where p.minAge == 0 && p.maxAge == 0:
            throw DomainError(field: "\(field).params.min_age", "min_age or max_age is required")
        case .ageRestriction where p.maxAge != 0 && p.maxAge < p.minAge:
            throw DomainError(field: "\(field).params.max_age", "must not be below min_age")
        case .ageRestriction where p.items.isEmpty, .gendRestriction where p.items.isEmpty:
            throw DomainError(field: "\(field).params.items", "is required: the items restricted")
        case .gendRestriction where p.gend != .male && p.gend != .female:
            throw DomainError(field: "\(field).params.gend", "must be male or female")
        case .institutionBurst where p.maxPersons == 0, .outsideHours where p.maxPersons == 0:
            throw DomainError(field: "\(field).params.max_persons", "is required (1 or more)")
        case .institutionBurst where p.windowMinutes == 0, .outsideHours where p.windowMinutes == 0, .personBurst where p.windowMinutes == 0:
            throw DomainError(field: "\(field).params.window_minutes", "is required: 1-1440 minutes")
        case .outsideHours where p.closeMinute <= p.openMinute:
            throw DomainError(field: "\(field).params.close_minute", "is required, after open_minute (minutes after midnight, 1-1440)")
        case .personBurst where p.maxInstitutions == 0:
            throw DomainError(field: "\(field).params.max_institutions", "is required (1 or more)")
        case .volumeSpike where p.spikeRatioBp <= 10_000:
            throw DomainError(field: "\(field).params.spike_ratio_bp", "is required, above 10000 (a day above the average)")
        case .volumeSpike where p.baselineDays < 7:
            throw DomainError(field: "\(field).params.baseline_days", "is required: 7-\(InstitutionMonitor.maxBaselineDays) days")
        case .volumeSpike where p.minSettlements == 0:
            throw DomainError(field: "\(field).params.min_settlements", "is required (1 or more)")
        case .levelRestriction where p.items.isEmpty:
            throw DomainError(field: "\(field).params.items", "is required: the items restricted")
        case .levelRestriction where p.institutionKinds.isEmpty:
            throw DomainError(field: "\(field).params.institution_kinds", "is required: the kinds of institution that may bill the items")
        case .diagnosisRequired where p.diagnoses.isEmpty:
            throw DomainError(field: "\(field).params.diagnoses", "is required")
        case .diagnosisRequired where p.items.isEmpty == p.medTypes.isEmpty:
            throw DomainError(field: "\(field).params.items", "give items or med_types (the visits that need a diagnosis), not both")
        default:
            return
        }
    }

    /// The bundled Zhejiang/Quzhou 2024 rule set (`Resources/rules-zhejiang-2024.json`),
    /// validated. Throws ``DomainError`` if the resource is missing or out of form.
    public static func bundled() throws -> RuleSet {
        guard let url = Bundle.module.url(forResource: "rules-zhejiang-2024", withExtension: "json") else {
            throw DomainError(field: "review.rules-file", "the bundled rule set is missing")
        }
        return try load(contentsOf: url)
    }

    /// A rule set document (``RuleSet/init(json:)``), validated. Throws the file's read error,
    /// or ``DomainError`` naming the first field out of form.
    public static func load(contentsOf url: URL) throws -> RuleSet {
        try validated(try RuleSet(json: try Data(contentsOf: url)))
    }
}

/// The visits of settling reviews on this replica in the last `window`, not blocked: the
/// history rules count them until the audit relay has delivered their postings (about a
/// tenth of a second behind), so that a burst of visits sent together cannot each see an
/// empty history. Keyed by psn_no; bounded (the oldest entries dropped beyond `capacity`).
public final class RecentVisits: Sendable {
    private struct State {
        var visits: [String: [(visit: PastVisit, at: ContinuousClock.Instant)]] = [:]
        var order: [(psnNo: String, at: ContinuousClock.Instant)] = []
        var head = 0

        func seen(_ psnNo: String, now: ContinuousClock.Instant, window: Duration) -> [PastVisit] {
            (visits[psnNo] ?? []).filter { now - $0.at < window }.map(\.visit)
        }

        mutating func remember(_ psnNo: String, _ visit: PastVisit, now: ContinuousClock.Instant, window: Duration, capacity: Int) {
            while head < order.count, now - order[head].at >= window || order.count - head >= capacity {
                let oldest = order[head].psnNo
                let full = order.count - head >= capacity
                visits[oldest]?.removeAll { now - $0.at >= window || (full && $0.at <= order[head].at) }
                if visits[oldest]?.isEmpty == true { visits[oldest] = nil }
                head += 1
            }
            if head > 4_096, head * 2 > order.count {
                order.removeFirst(head)
                head = 0
            }
            visits[psnNo, default: []].removeAll { $0.visit.fixmedinsCode == visit.fixmedinsCode && $0.visit.mdtrtID == visit.mdtrtID }
            visits[psnNo, default: []].append((visit, now))
            order.append((psnNo, now))
        }
    }

    private let state = Mutex(State())
    let window: Duration
    let capacity: Int

    /// - Parameters: `window`, how long a visit counts (zero: none is remembered); `capacity`,
    ///   the most visits held at once.
    public init(window: Duration, capacity: Int = 200_000) {
        self.window = window
        self.capacity = capacity
    }

    /// The person's visits seen within the window; with `visit`, that visit is remembered
    /// among them under the same lock, so two reviews of one person at once cannot both see
    /// the other missing (a review that then blocks its visit takes it back with ``forget(_:)``).
    public func visits(of psnNo: String, remembering visit: PastVisit? = nil) -> [PastVisit] {
        let now = ContinuousClock.now
        return state.withLock { state in
            let seen = state.seen(psnNo, now: now, window: window)
            if let visit, window > .zero { state.remember(psnNo, visit, now: now, window: window, capacity: capacity) }
            return seen
        }
    }

    /// Forgets visits by institution and visit number (any day): those whose postings have
    /// arrived (settled: the store has them; reversed: they no longer count) and those their
    /// review blocked.
    public func forget(_ visits: [(psnNo: String, fixmedinsCode: String, mdtrtID: String)]) {
        guard window > .zero, !visits.isEmpty else { return }
        state.withLock { state in
            for (psnNo, fixmedinsCode, mdtrtID) in visits where state.visits[psnNo] != nil {
                state.visits[psnNo]?.removeAll { $0.visit.fixmedinsCode == fixmedinsCode && $0.visit.mdtrtID == mdtrtID }
                if state.visits[psnNo]?.isEmpty == true { state.visits[psnNo] = nil }
            }
        }
    }
}
