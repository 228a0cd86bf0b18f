/// One region's benefit rules for a period: versioned data, never constants in code.
/// Money in fen, ratios in basis points (6500 = 65%), so every figure is exact.
public struct BenefitPolicy: Codable, Sendable, Hashable {
    /// The division-code prefix it applies to ("3308" Quzhou, "33" Zhejiang).
    public var region: String
    /// The insurance types (险种类型, their national numbers: "310" employees' basic, "390"
    /// residents' basic, ...) it applies to; absent or empty, every type. Employees' and
    /// residents' schemes set their own deductibles, ratios and ceilings.
    public var insutypes: [String]?
    /// The institution levels (kinds: `township_centre` 乡镇卫生院, `village_clinic` 村卫生室)
    /// it applies to; absent or empty, every level.
    public var institutionKinds: [String]?
    /// The policy's version name; error fields start with it.
    public var version: String
    /// YYYY-MM-DD, inclusive.
    public var effectiveFrom: String
    /// YYYY-MM-DD, exclusive; nil = open-ended.
    public var effectiveTo: String?
    /// Annual deductible (起付线) by visit type, fen.
    public var annualDeductible: [String: Int64]
    /// Pooling ratio by visit type, basis points.
    public var poolingRatio: [String: Int64]
    /// Annual ceiling of pooling-fund pay by visit type, fen.
    public var annualCeiling: [String: Int64]
    /// First self-pay ratio by catalogue category ("A" 甲, "B" 乙, "C" 丙), basis points.
    public var firstSelfPay: [String: Int64]
    /// Visit types whose self-paid part the personal account may pay.
    public var accountVisitTypes: [String]
    /// What happens to a price above the reference price: "cap" (the excess is self-paid) or "refuse".
    public var priceCap: String
    /// 大病保险 (residents' serious-illness insurance; employees' 大额医疗费用补助): pays
    /// `ratio` of the in-scope amount the person bears after basic pooling (合规个人负担), on the
    /// part of this year's total of it above `threshold`, up to `ceiling` a year. Absent: not paid.
    public var seriousIllness: FundTerms?
    /// 公务员医疗补助 (civil-servant medical subsidy, for persons with `cvlserv_flag`): `ratio` of
    /// the in-scope amount still borne after basic pooling and serious illness, up to `ceiling`
    /// a year. Absent: not paid.
    public var civilServant: FundTerms?
    /// 医疗救助 (medical assistance) by the person's assistance category (`psn_idet_type`'s
    /// code: `extreme_poverty` 特困, `subsistence` 低保, `marginal` 低保边缘,
    /// `poverty_monitored` 防返贫监测): `ratio` of the in-scope amount still borne after every
    /// insurance fund, up to `ceiling` a year. A category it does not name gets none.
    public var medicalAssistance: [String: FundTerms]?

    /// One fund's terms beyond basic pooling. Money in fen, the ratio in basis points.
    public struct FundTerms: Codable, Sendable, Hashable {
        /// This year's total of the amount the fund pays on, below which it pays nothing, fen
        /// (serious illness only; 0 elsewhere).
        public var threshold: Int64?
        /// The share of the amount it pays on, basis points.
        public var ratio: Int64
        /// The most it pays a person in a year, fen; absent: no ceiling (不设封顶线).
        public var ceiling: Int64?

        /// Makes terms; money in fen, the ratio in basis points.
        public init(threshold: Int64? = nil, ratio: Int64, ceiling: Int64?) {
            self.threshold = threshold
            self.ratio = ratio
            self.ceiling = ceiling
        }

        /// What is left of the ceiling after `paid` this year (unbounded without one).
        public func room(after paid: Int64) -> Int64 { ceiling.map { max(0, $0 - paid) } ?? .max }

        func validate(_ field: String) throws(DomainError) {
            guard (0...10_000).contains(ratio) else { throw DomainError(field: "\(field).ratio", "must be 0...10000 basis points") }
            guard (ceiling ?? 0) >= 0 else { throw DomainError(field: "\(field).ceiling", "must not be negative") }
            guard (threshold ?? 0) >= 0 else { throw DomainError(field: "\(field).threshold", "must not be negative") }
        }
    }

    /// The assistance categories a policy's `medicalAssistance` may name.
    public static let assistanceCategories: Set<String> = ["extreme_poverty", "subsistence", "marginal", "poverty_monitored"]

    /// The national insurance type numbers a policy may name (险种类型).
    public static let insutypeNumbers: Set<Int32> = [310, 320, 330, 340, 390, 392, 510]

    /// Whether it applies to the insurance type numbered `insutype` (every type when it names none).
    public func covers(insutype: Int32) -> Bool {
        guard let insutypes, !insutypes.isEmpty else { return true }
        return insutypes.contains(String(insutype))
    }

    /// The institution kinds a policy may name.
    public static let institutionKindCodes: Set<String> = ["township_centre", "village_clinic"]

    /// Whether it applies to an institution of the kind `kind` (its code; nil: not known, which
    /// only a policy for every level covers).
    public func covers(institutionKind kind: String?) -> Bool {
        guard let kinds = institutionKinds, !kinds.isEmpty else { return true }
        return kind.map(kinds.contains) ?? false
    }

    /// The visit types every policy must price: `general_outpatient` and `chronic_outpatient`.
    public static let visitTypes = ["general_outpatient", "chronic_outpatient"]

    /// Checks the policy is complete and sane; the error names the field.
    public func validate() throws(DomainError) {
        for (i, code) in (insutypes ?? []).enumerated() {
            guard let number = Int32(code), Self.insutypeNumbers.contains(number) else {
                throw DomainError(field: "\(version).insutypes[\(i)]", "\(code) is not a national insurance type number (\(Self.insutypeNumbers.sorted().map(String.init).joined(separator: ", ")))")
            }
        }
        for (i, kind) in (institutionKinds ?? []).enumerated() where !Self.institutionKindCodes.contains(kind) {
            throw DomainError(field: "\(version).institutionKinds[\(i)]", "\(kind) is not an institution kind (\(Self.institutionKindCodes.sorted().joined(separator: ", ")))")
        }
        guard ["cap", "refuse"].contains(priceCap) else { throw DomainError(field: "\(version).priceCap", "must be cap or refuse") }
        for type in Self.visitTypes {
            guard let ratio = poolingRatio[type], (0...10_000).contains(ratio) else {
                throw DomainError(field: "\(version).poolingRatio.\(type)", "must be 0...10000 basis points")
            }
            guard let ceiling = annualCeiling[type], ceiling >= 0 else { throw DomainError(field: "\(version).annualCeiling.\(type)", "missing or negative") }
            guard let deductible = annualDeductible[type], deductible >= 0 else { throw DomainError(field: "\(version).annualDeductible.\(type)", "missing or negative") }
        }
        for category in ["A", "B", "C"] {
            guard let ratio = firstSelfPay[category], (0...10_000).contains(ratio) else {
                throw DomainError(field: "\(version).firstSelfPay.\(category)", "must be 0...10000 basis points")
            }
        }
        try seriousIllness?.validate("\(version).seriousIllness")
        try civilServant?.validate("\(version).civilServant")
        // Only serious illness counts the year up to a threshold; elsewhere one would be ignored.
        if civilServant?.threshold != nil { throw DomainError(field: "\(version).civilServant.threshold", "only seriousIllness has a threshold") }
        for (category, terms) in medicalAssistance ?? [:] where terms.threshold != nil {
            throw DomainError(field: "\(version).medicalAssistance.\(category).threshold", "only seriousIllness has a threshold")
        }
        for (category, terms) in medicalAssistance ?? [:] {
            guard Self.assistanceCategories.contains(category) else {
                throw DomainError(field: "\(version).medicalAssistance.\(category)", "is not an assistance category (\(Self.assistanceCategories.sorted().joined(separator: ", ")))")
            }
            try terms.validate("\(version).medicalAssistance.\(category)")
        }
        _ = try CivilDate(effectiveFrom, field: "\(version).effectiveFrom")
        if let effectiveTo { _ = try CivilDate(effectiveTo, field: "\(version).effectiveTo") }
    }
}

/// Every policy version and the catalogue, as loaded from a policy file.
public struct PolicyBook: Codable, Sendable {
    /// Every policy version, for all regions and periods.
    public var policies: [BenefitPolicy]
    /// The catalogue items, each code once.
    public var catalogue: [CatalogueItem]

    /// Makes a book from policies and a catalogue without validating them (see ``validate()``).
    public init(policies: [BenefitPolicy], catalogue: [CatalogueItem]) {
        self.policies = policies
        self.catalogue = catalogue
    }

    /// The policy for an insured region, insurance type (its national number) and institution
    /// level (its kind's code; nil: not known) on a date: of those whose region prefixes
    /// `region`, whose types include `insutype` (or that name none), whose levels include the
    /// institution's (or that name none) and whose effective period contains the date, the most
    /// specific region first, then one naming the type over one for every type, then one
    /// naming the level, then the latest to take effect.
    /// - Throws: ``DomainError`` (`precondition`, `claim.visit_date`) when none covers them.
    public func policy(region: String, insutype: Int32, institutionKind: String? = nil, on date: String) throws(DomainError) -> BenefitPolicy {
        let matching = policies.filter {
            region.hasPrefix($0.region) && $0.covers(insutype: insutype) && $0.covers(institutionKind: institutionKind) && $0.effectiveFrom <= date
                && ($0.effectiveTo.map { date < $0 } ?? true)
        }
        func rank(_ policy: BenefitPolicy) -> (Int, Int, Int, String) {
            (policy.region.count, (policy.insutypes ?? []).isEmpty ? 0 : 1, (policy.institutionKinds ?? []).isEmpty ? 0 : 1, policy.effectiveFrom)
        }
        guard let best = matching.max(by: { rank($0) < rank($1) }) else {
            throw DomainError(.precondition, field: "claim.visit_date", "no benefit policy covers region \(region) and insurance type \(insutype) on \(date)")
        }
        return best
    }

    /// Validates every policy (``BenefitPolicy/validate()``) and the catalogue: each code and
    /// begndate once, each record valid (``CatalogueItem/validate(_:)``).
    /// - Throws: ``DomainError`` (`invalid`) naming the policy or catalogue field at fault.
    public func validate() throws(DomainError) {
        for policy in policies { try policy.validate() }
        var seen = Set<String>()
        for item in catalogue {
            guard seen.insert("\(item.code) \(item.begndate ?? "")").inserted else { throw DomainError(field: "catalogue.\(item.code)", "appears twice") }
            try item.validate("catalogue.\(item.code)")
        }
    }
}
