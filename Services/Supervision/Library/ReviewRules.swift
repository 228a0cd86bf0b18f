import Foundation
import MedicareContracts
import MedicareDomain
import MedicareWire

/// One earlier visit of the insured person, as the history rules see it: settled (from the
/// audit relay) or reviewed in the last minute and not blocked (not yet relayed).
public struct PastVisit: Hashable, Sendable {
    public let fixmedinsCode: String
    public let mdtrtID: String
    /// YYYY-MM-DD.
    public let visitDate: String

    public init(fixmedinsCode: String, mdtrtID: String, visitDate: String) {
        self.fixmedinsCode = fixmedinsCode
        self.mdtrtID = mdtrtID
        self.visitDate = visitDate
    }
}

/// What every rule sees: the claim (validated and canonical), the clinic's status if the
/// caller gave it, the catalogue in force and the person's earlier visits. Amounts are fen.
public struct ReviewInput: Sendable {
    public let claim: Claim
    public let designationStatus: DesignationStatus
    /// The person's earlier visits in the rule set's history window (``CompiledRuleSet/historyDays``).
    public let history: [PastVisit]
    /// The claim's total (quantity x unit price over its lines), fen.
    public let total: Int64
    /// Each line with its position and catalogue item (nil: not in the catalogue), looked up
    /// once for every rule.
    let lines: [(index: Int, line: FeeLine, item: CatalogueItem?)]
    /// The visit day.
    let visitDay: CivilDate
    /// Whole years of age on the visit day, and 性别 (gend), from the resident ID; nil when
    /// the claim names the person by psn_no alone (the age and gend rules then do not judge).
    let age: Int?
    let gend: Gend?
    /// The clinic's kind (level) as the registry's designation records told supervision; nil
    /// when none has (the scope and level rules then do not judge).
    let institutionKind: InstitutionKind?

    /// - Parameters: `request` with a claim already validated (``Claim/validated()``), the
    ///   catalogue, the person's earlier visits.
    /// - Throws: ``DomainError`` naming `claim.visit_date` or `claim.certno` when they are out
    ///   of form (never for a validated claim).
    public init(
        _ request: ReviewRequest, catalogue: Catalogue, history: [PastVisit] = [], institutionKind: InstitutionKind? = nil
    ) throws(DomainError) {
        self.institutionKind = institutionKind
        let claim = request.claim ?? Claim()
        self.claim = claim
        designationStatus = request.designationStatus
        self.history = history
        total = claim.lines.reduce(Int64(0)) { $0 &+ Self.amount($1) }
        visitDay = try CivilDate(claim.visitDate, field: "claim.visit_date")
        // The record in force on the visit day, at the treating clinic's regional price (as
        // settlement prices it).
        let county = String(claim.fixmedinsCode.dropFirst().prefix(6)), day = claim.visitDate
        lines = claim.lines.enumerated().map { ($0, $1, catalogue.billable($1.itemCode, on: day)?.priced(inCounty: county)) }
        let id = claim.certno.isEmpty ? nil : try ResidentID(claim.certno, field: "claim.certno")
        age = id?.age(on: visitDay)
        gend = id?.gend
    }

    static func amount(_ line: FeeLine) -> Int64 { line.quantity.multipliedReportingOverflow(by: line.unitPrice).partialValue }
}

/// A published rule set ready to run: its rules with their dates parsed and their scopes as
/// sets. Built once when the set is loaded (``init(_:seq:)``), then shared by every review.
public struct CompiledRuleSet: Sendable {
    public let set: RuleSet
    public let effectiveFrom: CivilDate
    /// Publication order (later sets win over earlier ones with the same effective_from).
    public let seq: Int64
    let rules: [CompiledRule]
    /// How many days of a person's visits the history rules need (0: none reads history).
    public let historyDays: Int

    /// The first day of the history window ending on `day` (`historyDays` days in all).
    public func historyStart(endingOn day: CivilDate) -> CivilDate { day.adding(days: -(historyDays - 1)) }

    /// Compiles a validated set (``RuleBook/validated(_:)``) published as number `seq`.
    /// Throws ``DomainError`` naming a date out of form (never for a validated set).
    public init(_ set: RuleSet, seq: Int64) throws(DomainError) {
        self.set = set
        self.seq = seq
        effectiveFrom = try CivilDate(set.effectiveFrom, field: "rule_set.effective_from")
        var rules: [CompiledRule] = []
        for (i, rule) in set.rules.enumerated() { rules.append(try CompiledRule(rule, field: "rule_set.rules[\(i)]")) }
        self.rules = rules
        historyDays = rules.filter { $0.rule.kind == .visitFrequency || $0.rule.kind == .manyInstitutions }.map { Int($0.params.periodDays) }.max() ?? 0
    }

    /// Runs every rule whose dates and scope fit the claim; the verdict is the worst
    /// finding's (BLOCK over FLAG over WARN), PASS when there is none. Reads and writes nothing.
    public func evaluate(_ input: ReviewInput) -> ReviewResponse {
        var findings: [Finding] = []
        var evaluated: UInt32 = 0
        for rule in rules where !rule.isMonitoring && rule.applies(to: input) {
            evaluated += 1
            findings += rule.findings(input)
        }
        let verdict = findings.map(\.verdict).max(by: { Self.rank($0) < Self.rank($1) }) ?? .pass
        return ReviewResponse(verdict: verdict, findings: findings, rulesEvaluated: evaluated, ruleSetVersion: set.version)
    }

    /// PASS < WARN < FLAG < BLOCK.
    static func rank(_ verdict: Verdict) -> Int {
        switch verdict {
        case .block: 3
        case .flag: 2
        case .warn: 1
        default: 0
        }
    }
}

/// One rule of a set, its dates parsed and its parameters checked for its kind. A class: a
/// review walks every rule, and a struct of this size was copied field by field each time
/// (its value witnesses were a tenth of supervision's event loop in the visit flow's profile).
final class CompiledRule: Sendable {
    let rule: ReviewRule
    let params: RuleParams
    let from: CivilDate
    let to: CivilDate?
    let medTypes: Set<MedType>
    let institutionKinds: Set<InstitutionKind>
    let insutypes: Set<Insutype>

    init(_ rule: ReviewRule, field: String) throws(DomainError) {
        institutionKinds = Set(rule.scope?.institutionKinds ?? [])
        insutypes = Set(rule.scope?.insutypes ?? [])
        self.rule = rule
        params = rule.params ?? RuleParams()
        from = try CivilDate(rule.effectiveFrom, field: "\(field).effective_from")
        to = rule.effectiveTo.isEmpty ? nil : try CivilDate(rule.effectiveTo, field: "\(field).effective_to")
        medTypes = Set(rule.scope?.medTypes ?? [])
    }

    /// A monitoring rule: run on the settlement stream (``InstitutionMonitor``), not in review.
    var isMonitoring: Bool {
        switch rule.kind {
        case .institutionBurst, .outsideHours, .personBurst, .volumeSpike: true
        default: false
        }
    }

    /// In force on the visit day, for the clinic's region and kind (a rule scoped by kind
    /// skips a clinic of unknown kind), the visit's medical type and the claim's insurance
    /// type (a claim stating none is reviewed by every rule: the stricter review).
    func applies(to input: ReviewInput) -> Bool {
        guard from <= input.visitDay, to.map({ input.visitDay < $0 }) ?? true else { return false }
        if !institutionKinds.isEmpty { guard let kind = input.institutionKind, institutionKinds.contains(kind) else { return false } }
        if !insutypes.isEmpty, input.claim.insutype.rawValue != 0, !insutypes.contains(input.claim.insutype) { return false }
        return covers(input.claim.fixmedinsCode) && (medTypes.isEmpty || medTypes.contains(input.claim.medType))
    }

    /// Whether the rule's regions (prefixes of the county digits; none: all) hold an institution.
    func covers(_ fixmedinsCode: String) -> Bool {
        guard let regions = rule.scope?.regions, !regions.isEmpty else { return true }
        let county = fixmedinsCode.dropFirst()
        return regions.contains { county.hasPrefix($0) }
    }

    /// Whether the rule concerns a catalogue code: `items` lists codes or code prefixes.
    func concerns(_ code: String) -> Bool { params.items.isEmpty || params.items.contains { code.hasPrefix($0) } }

    func hasDiagnosis(_ input: ReviewInput) -> Bool {
        // Both sides upper case: the claim's by validation, the rule's by publication.
        input.claim.diagnoses.contains { diagnosis in params.diagnoses.contains { diagnosis.hasPrefix($0) } }
    }

    /// The distinct visits in the window (the visit day and the period_days - 1 days before),
    /// this one included, at this institution only if `same_institution`.
    func visitsInWindow(_ input: ReviewInput, sameInstitution: Bool) -> Set<PastVisit> {
        let first = input.visitDay.adding(days: -(Int(params.periodDays) - 1)).description, last = input.claim.visitDate
        var visits = Set<PastVisit>(minimumCapacity: input.history.count + 1)
        for visit in input.history where visit.visitDate >= first && visit.visitDate <= last { visits.insert(visit) }
        visits.insert(PastVisit(fixmedinsCode: input.claim.fixmedinsCode, mdtrtID: input.claim.mdtrtID, visitDate: last))
        if sameInstitution { visits = visits.filter { $0.fixmedinsCode == input.claim.fixmedinsCode } }
        return visits
    }

    func finding(_ values: [String: String], amount: Int64, item: String = "") -> Finding {
        Finding(
            ruleID: rule.ruleID, ruleVersion: String(rule.version), verdict: rule.verdict, evidence: RuleMessage.render(rule.message, values),
            amountAtIssue: amount, itemCode: item, ruleName: rule.name, severity: rule.severity, source: rule.source
        )
    }

    /// The lines the rule concerns, with their positions and catalogue items.
    func lines(_ input: ReviewInput) -> [(index: Int, line: FeeLine, item: CatalogueItem?)] {
        params.items.isEmpty ? input.lines : input.lines.filter { concerns($0.line.itemCode) }
    }

    func findings(_ input: ReviewInput) -> [Finding] {
        let claim = input.claim
        // The values every finding's message may use, made only for a finding (most rules find nothing).
        func with(_ extra: [String: String]) -> [String: String] {
            extra.merging(["fixmedins_code": claim.fixmedinsCode, "psn_no": claim.psnNo, "visit_date": claim.visitDate]) { own, _ in own }
        }
        switch rule.kind {
        case .notDesignated:
            guard input.designationStatus != .unspecified, input.designationStatus != .designated else { return [] }
            return [finding(with(["status": input.designationStatus.code]), amount: input.total)]
        case .aboveReferencePrice:
            return lines(input).compactMap { i, line, item in
                guard let item, line.unitPrice > item.referencePrice else { return nil }
                let excess = (line.unitPrice - item.referencePrice).multipliedReportingOverflow(by: line.quantity).partialValue
                return finding(with(["line": "\(i)", "item": item.code, "price": "\(line.unitPrice)", "reference": "\(item.referencePrice)"]), amount: excess, item: item.code)
            }
        case .outsideCatalogue:
            return lines(input).compactMap { i, line, item in
                guard item == nil else { return nil }
                return finding(with(["line": "\(i)", "item": String(line.itemCode.prefix(40))]), amount: ReviewInput.amount(line), item: line.itemCode)
            }
        case .quantityLimit:
            return lines(input).compactMap { i, line, item in
                guard let limit = params.maxQuantity > 0 ? params.maxQuantity : item?.maxQuantity, line.quantity > limit else { return nil }
                return finding(with(["line": "\(i)", "item": line.itemCode, "quantity": "\(line.quantity)", "limit": "\(limit)"]),
                               amount: (line.quantity - limit).multipliedReportingOverflow(by: line.unitPrice).partialValue, item: line.itemCode)
            }
        case .daysLimit:
            return lines(input).compactMap { i, line, item in
                guard let limit = params.maxDays > 0 ? Int64(params.maxDays) : item?.maxDays, Int64(line.days) > limit else { return nil }
                return finding(with(["line": "\(i)", "item": line.itemCode, "days": "\(line.days)", "limit": "\(limit)"]), amount: ReviewInput.amount(line), item: line.itemCode)
            }
        case .amountLimit:
            let amount = lines(input).reduce(Int64(0)) { $0 &+ ReviewInput.amount($1.line) }
            guard amount > params.maxAmount else { return [] }
            return [finding(with(["amount": "\(amount)", "limit": "\(params.maxAmount)"]), amount: amount - params.maxAmount)]
        case .duplicateItem:
            var seen = Set<String>()
            return lines(input).compactMap { i, line, _ in
                if seen.insert(line.itemCode).inserted { return nil }
                return finding(with(["line": "\(i)", "item": line.itemCode]), amount: ReviewInput.amount(line), item: line.itemCode)
            }
        case .visitFrequency:
            let visits = visitsInWindow(input, sameInstitution: params.sameInstitution)
            guard visits.count > Int(params.maxVisits) else { return [] }
            return [finding(with(["visits": "\(visits.count)", "limit": "\(params.maxVisits)", "period_days": "\(params.periodDays)"]), amount: input.total)]
        case .manyInstitutions:
            let institutions = Set(visitsInWindow(input, sameInstitution: false).map(\.fixmedinsCode))
            guard institutions.count > Int(params.maxInstitutions) else { return [] }
            return [finding(with(["institutions": "\(institutions.count)", "limit": "\(params.maxInstitutions)", "period_days": "\(params.periodDays)"]),
                            amount: input.total)]
        case .ageRestriction:
            guard let age = input.age else { return [] }
            let young = params.minAge > 0 && age < Int(params.minAge), old = params.maxAge > 0 && age > Int(params.maxAge)
            guard young || old else { return [] }
            return lines(input).map { i, line, _ in
                finding(with(["line": "\(i)", "item": line.itemCode, "age": "\(age)", "limit": young ? "\(params.minAge)" : "\(params.maxAge)"]),
                        amount: ReviewInput.amount(line), item: line.itemCode)
            }
        case .gendRestriction:
            guard let gend = input.gend, gend != params.gend else { return [] }
            return lines(input).map { i, line, _ in
                finding(with(["line": "\(i)", "item": line.itemCode, "gend": gend.code]), amount: ReviewInput.amount(line), item: line.itemCode)
            }
        case .diagnosisRequired:
            guard !hasDiagnosis(input) else { return [] }
            let diagnoses = params.diagnoses.joined(separator: "/")
            if !params.medTypes.isEmpty {
                guard params.medTypes.contains(claim.medType) else { return [] }
                return [finding(with(["diagnoses": diagnoses, "item": ""]), amount: input.total)]
            }
            return lines(input).map { i, line, _ in
                finding(with(["line": "\(i)", "item": line.itemCode, "diagnoses": diagnoses]), amount: ReviewInput.amount(line), item: line.itemCode)
            }
        case .levelRestriction:
            guard let kind = input.institutionKind, kind.isKnown, !params.institutionKinds.contains(kind) else { return [] }
            return lines(input).map { i, line, _ in
                finding(with(["line": "\(i)", "item": line.itemCode, "kind": kind.code]), amount: ReviewInput.amount(line), item: line.itemCode)
            }
        case .institutionBurst, .outsideHours, .personBurst, .volumeSpike, .unspecified, .unrecognized:
            return []
        }
    }
}

/// A rule's message template: `{name}` placeholders filled from the finding's values.
enum RuleMessage {
    /// Every placeholder a template may use.
    static let placeholders: Set<String> = [
        "item", "line", "quantity", "limit", "price", "reference", "days", "amount", "age", "gend", "diagnoses", "visits",
        "institutions", "period_days", "status", "fixmedins_code", "psn_no", "visit_date", "persons", "settlements", "window_minutes",
        "open", "close", "baseline", "ratio", "kind",
    ]

    /// The placeholders named in a template, in order.
    static func names(in template: String) -> [String] {
        var names: [String] = []
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            names.append(String(rest[rest.index(after: open)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return names
    }

    static func render(_ template: String, _ values: [String: String]) -> String {
        var text = template
        for name in names(in: template) { text = text.replacingOccurrences(of: "{\(name)}", with: values[name] ?? "") }
        return text
    }
}
