/// A catalogue record (医保目录): one drug product, medical service item or consumable, with
/// its category, first self-pay ratio and reference prices for a period. The national
/// platform publishes its catalogue as versioned records (downloads 1301–1321, each record
/// with `ver`, `begndate` and `enddate`); a code may hold several records, one per period.
public struct CatalogueItem: Codable, Sendable, Hashable {
    /// The national code (医疗目录编码, `med_list_codg`): its form depends on ``listType``
    /// (``CatalogueItem/ListType``).
    public var code: String
    /// The item's name.
    public var name: String
    /// "A" 甲, "B" 乙, "C" 丙 (`chrgitm_lv` 01/02/03).
    public var category: String
    /// The reference price (医保支付限价, `hilist_pric_uplmt_amt`) per unit where no regional
    /// price applies, fen.
    public var referencePrice: Int64
    /// Most units per claim line, and most days of supply; nil = no limit.
    public var maxQuantity: Int64?
    /// Most days of supply per claim line; nil = no limit.
    public var maxDays: Int64?
    /// "hypertension" or "diabetes" for 两病 drugs, which need the matching diagnosis.
    public var chronicCondition: String?
    /// Prescribing statistics (合理用药, notice §三): an antibacterial drug (抗菌药物).
    public var antibiotic: Bool?
    /// Given by injection or infusion (注射、输液), a drug or the service itself.
    public var injection: Bool?
    /// A product of national or provincial volume-based procurement (集采).
    public var vbp: Bool?
    /// The national list type (`list_type`): "101" 西药中成药, "102" 中药饮片, "201" 医疗服务项目,
    /// "301" 医用耗材; nil = the one the code's form says (``inferredListType``).
    public var listType: String?
    /// The item's own first self-pay ratio (先行自付比例, `selfpay_prop`), basis points, which
    /// replaces the policy's ratio for its category; nil = the policy's.
    public var selfPayRatio: Int64?
    /// Reference prices by treatment region (限价 by 统筹区): a division-code prefix ("3308"
    /// Quzhou) to fen per unit. The most specific prefix of the treating institution's county
    /// applies; none: ``referencePrice``.
    public var regionalPrices: [String: Int64]?
    /// The first day the record applies (YYYY-MM-DD, `begndate`); nil = always.
    public var begndate: String?
    /// The last day the record applies (YYYY-MM-DD, inclusive, `enddate`); nil = open-ended.
    public var enddate: String?

    /// Makes a record; money in fen, ratios in basis points (see the properties).
    public init(
        code: String, name: String, category: String, referencePrice: Int64, listType: String? = nil, selfPayRatio: Int64? = nil,
        regionalPrices: [String: Int64]? = nil, begndate: String? = nil, enddate: String? = nil, maxQuantity: Int64? = nil,
        maxDays: Int64? = nil, chronicCondition: String? = nil, antibiotic: Bool? = nil, injection: Bool? = nil, vbp: Bool? = nil
    ) {
        self.code = code
        self.name = name
        self.category = category
        self.referencePrice = referencePrice
        self.listType = listType
        self.selfPayRatio = selfPayRatio
        self.regionalPrices = regionalPrices
        self.begndate = begndate
        self.enddate = enddate
        self.maxQuantity = maxQuantity
        self.maxDays = maxDays
        self.chronicCondition = chronicCondition
        self.antibiotic = antibiotic
        self.injection = injection
        self.vbp = vbp
    }

    private enum CodingKeys: String, CodingKey {
        case code, name, category, referencePrice, maxQuantity, maxDays, chronicCondition, antibiotic, injection, vbp, listType, selfPayRatio
        case regionalPrices, begndate, enddate
    }

    /// Decodes a file's record; `category` and `referencePrice` may be left out (a disease
    /// record has neither: ``validate(_:)`` requires them of every other).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            code: try c.decode(String.self, forKey: .code), name: try c.decode(String.self, forKey: .name),
            category: try c.decodeIfPresent(String.self, forKey: .category) ?? "",
            referencePrice: try c.decodeIfPresent(Int64.self, forKey: .referencePrice) ?? 0,
            listType: try c.decodeIfPresent(String.self, forKey: .listType), selfPayRatio: try c.decodeIfPresent(Int64.self, forKey: .selfPayRatio),
            regionalPrices: try c.decodeIfPresent([String: Int64].self, forKey: .regionalPrices),
            begndate: try c.decodeIfPresent(String.self, forKey: .begndate), enddate: try c.decodeIfPresent(String.self, forKey: .enddate),
            maxQuantity: try c.decodeIfPresent(Int64.self, forKey: .maxQuantity), maxDays: try c.decodeIfPresent(Int64.self, forKey: .maxDays),
            chronicCondition: try c.decodeIfPresent(String.self, forKey: .chronicCondition),
            antibiotic: try c.decodeIfPresent(Bool.self, forKey: .antibiotic), injection: try c.decodeIfPresent(Bool.self, forKey: .injection),
            vbp: try c.decodeIfPresent(Bool.self, forKey: .vbp))
    }

    /// A drug (western medicine X…, Chinese patent medicine Z…, the national drug codes'
    /// first letter), as prescribing statistics count them.
    public var isDrug: Bool { code.hasPrefix("X") || code.hasPrefix("Z") }

    /// The national list types (`list_type`) and the form of their codes.
    public enum ListType: String, CaseIterable, Sendable {
        /// 西药中成药: 23 characters, `X` (western) or `Z` (Chinese patent), the category (ATC
        /// level 4 for western drugs, 5), the generic name (4), the dosage form (4), the
        /// specification (4) and the product (5): `XJ01CAA040A001010100001`.
        case drug = "101"
        /// 中药饮片: `T` and 9-22 letters or digits.
        case herbal = "102"
        /// 医疗服务项目: 15 digits, `00`, the 9-digit national price item code and 4 more.
        case service = "201"
        /// 医用耗材: 27 characters, `C`, the category (2+2+2 digits), the generic name (5), the
        /// material (3), the feature (4) and the product (8).
        case consumable = "301"
        /// The disease list (医保疾病诊断分类与代码, the national insurance version of ICD-10):
        /// ICD-10 codes in upper case (``DiagnosisCode``: `I10`, `E11.900`, `I10.X00X001`).
        /// Not a national `list_type`: the national platform downloads the disease list apart
        /// (1307); here it is versioned and published with the catalogue under this number.
        /// A disease record has a name and dates only: no category, price or limits.
        case disease = "901"

        /// Whether `code` has this list type's form.
        public func admits(_ code: String) -> Bool {
            let u = Array(code.utf8)
            let alnum = u.allSatisfy { isASCIIDigit($0) || isASCIIUpper($0) }
            switch self {
            case .drug: return u.count == 23 && alnum && (u[0] == UInt8(ascii: "X") || u[0] == UInt8(ascii: "Z"))
            case .herbal: return (10...23).contains(u.count) && alnum && u[0] == UInt8(ascii: "T")
            case .service: return u.count == 15 && u.allSatisfy(isASCIIDigit)
            case .consumable: return u.count == 27 && u[0] == UInt8(ascii: "C") && u.dropFirst().allSatisfy(isASCIIDigit)
            case .disease: return (try? DiagnosisCode(code))?.value == code
            }
        }
    }

    /// A record of the disease list (``ListType/disease``), not a billable item.
    public var isDisease: Bool { resolvedListType == .disease }

    /// The list type the code's form says, nil when it has none of the national forms.
    public var inferredListType: ListType? { ListType.allCases.first { $0.admits(code) } }

    /// The list type: the one given, else the one the code's form says.
    public var resolvedListType: ListType? { listType.flatMap(ListType.init(rawValue:)) ?? inferredListType }

    /// The reference price per unit at an institution in `county` (its 6-digit division code),
    /// fen: the most specific regional price whose prefix it starts with, else
    /// ``referencePrice``.
    public func referencePrice(inCounty county: String) -> Int64 {
        guard let regionalPrices, !regionalPrices.isEmpty else { return referencePrice }
        var best: (length: Int, price: Int64)? = nil
        for (prefix, price) in regionalPrices where county.hasPrefix(prefix) && prefix.count > (best?.length ?? -1) {
            best = (prefix.count, price)
        }
        return best?.price ?? referencePrice
    }

    /// The record with ``referencePrice`` set to the price in `county` (``referencePrice(inCounty:)``).
    public func priced(inCounty county: String) -> CatalogueItem {
        var item = self
        item.referencePrice = referencePrice(inCounty: county)
        return item
    }

    /// Whether the record applies on `day` (its begndate to its enddate, both inclusive).
    public func applies(on day: String) -> Bool {
        (begndate.map { $0 <= day } ?? true) && (enddate.map { day <= $0 } ?? true)
    }

    /// The most records a catalogue holds (a bound on imports: the national catalogue has about
    /// 150,000 products, items and consumables).
    public static let maxRecords = 1_000_000

    /// Checks the record, naming `field` (`records[3]`, `catalogue.XJ01…`) and its part at
    /// fault: the code in its list type's form, a name of 1-200 characters, category A/B/C,
    /// prices 0-100,000,000 fen, a ratio 0-10000, regional prefixes of 2-6 digits, dates in
    /// form with begndate ≤ enddate, a known chronic condition.
    /// - Throws: ``DomainError`` (`invalid`).
    public func validate(_ field: String) throws(DomainError) {
        if let listType {
            guard let type = ListType(rawValue: listType) else {
                throw DomainError(field: "\(field).listType", "\(quoted(listType)) is not a list type (101, 102, 201, 301; 901 the disease list)")
            }
            if type != .disease { _ = try ItemCode(code, field: "\(field).code") }
            guard type.admits(code) else { throw DomainError(field: "\(field).code", "\(quoted(code, max: 60)) is not in the form of list type \(listType)") }
        } else {
            _ = try ItemCode(code, field: "\(field).code")
            guard inferredListType != nil else {
                throw DomainError(field: "\(field).code", "\(code) has none of the national code forms (drug 23, service 15, consumable 27 characters)")
            }
        }
        guard (1...200).contains(name.count) else { throw DomainError(field: "\(field).name", "must be 1-200 characters") }
        if isDisease {
            // A diagnosis: a name and a period, nothing to price.
            guard category.isEmpty else { throw DomainError(field: "\(field).category", "a disease record has no category") }
            let given: [(String, Bool)] = [
                ("referencePrice", referencePrice != 0), ("selfPayRatio", selfPayRatio != nil), ("regionalPrices", regionalPrices != nil),
                ("maxQuantity", maxQuantity != nil), ("maxDays", maxDays != nil), ("chronicCondition", chronicCondition != nil),
                ("antibiotic", antibiotic != nil), ("injection", injection != nil), ("vbp", vbp != nil),
            ]
            for (name, isGiven) in given where isGiven {
                throw DomainError(field: "\(field).\(name)", "a disease record has a name and dates only: no prices, ratios, limits or drug flags")
            }
        }
        guard isDisease || ["A", "B", "C"].contains(category) else { throw DomainError(field: "\(field).category", "must be A, B or C") }
        guard (0...100_000_000).contains(referencePrice) else { throw DomainError(field: "\(field).referencePrice", "must be 0-100000000 fen") }
        if let selfPayRatio, !(0...10_000).contains(selfPayRatio) { throw DomainError(field: "\(field).selfPayRatio", "must be 0...10000 basis points") }
        for (prefix, price) in regionalPrices ?? [:] {
            guard (2...6).contains(prefix.count), prefix.utf8.allSatisfy(isASCIIDigit) else {
                throw DomainError(field: "\(field).regionalPrices", "\(quoted(prefix)) is not a division-code prefix of 2-6 digits")
            }
            guard (0...100_000_000).contains(price) else { throw DomainError(field: "\(field).regionalPrices.\(prefix)", "must be 0-100000000 fen") }
        }
        if let maxQuantity, maxQuantity < 1 { throw DomainError(field: "\(field).maxQuantity", "must be positive") }
        if let maxDays, maxDays < 1 { throw DomainError(field: "\(field).maxDays", "must be positive") }
        if let chronicCondition, !["hypertension", "diabetes"].contains(chronicCondition) {
            throw DomainError(field: "\(field).chronicCondition", "must be hypertension or diabetes")
        }
        let from = try begndate.map { d throws(DomainError) in try CivilDate(d, field: "\(field).begndate") }
        let to = try enddate.map { d throws(DomainError) in try CivilDate(d, field: "\(field).enddate") }
        if let from, let to, to < from { throw DomainError(field: "\(field).enddate", "\(to) is before begndate \(from)") }
    }
}

/// The catalogue in force: every record of every code, looked up by code and day. A code's
/// records are kept in begndate order; a newer version's record for the same code and
/// begndate replaces the older one.
public struct Catalogue: Sendable {
    private var records: [String: [CatalogueItem]] = [:]
    /// The publication revision the catalogue holds (0: none published; a file's copy).
    public private(set) var revision: Int64

    /// A catalogue of `items` at `revision`.
    public init(_ items: [CatalogueItem] = [], revision: Int64 = 0) {
        self.revision = revision
        apply(items, revision: revision)
    }

    /// How many codes it lists.
    public var count: Int { records.count }

    /// How many of them are diagnoses (the disease list, ``CatalogueItem/ListType/disease``):
    /// with none, a claim's diagnoses are checked for their form only.
    public private(set) var diseaseCount = 0

    /// The disease-list record of `code` in force on `day`, nil when the list does not hold it then.
    public func diagnosis(_ code: String, on day: String) -> CatalogueItem? {
        guard let item = item(code, on: day), item.isDisease else { return nil }
        return item
    }

    /// The code's latest record (by begndate), whatever the day; nil when it does not list it.
    public subscript(code: String) -> CatalogueItem? { records[code]?.last }

    /// The code's record that applies on `day`: the latest begndate on or before it whose
    /// enddate has not passed; nil when none does.
    public func item(_ code: String, on day: String) -> CatalogueItem? {
        records[code]?.last { $0.applies(on: day) }
    }

    /// The billable record of `code` (a product, service or consumable, not a diagnosis) in
    /// force on `day`, or on any day when `day` is nil (its latest); nil when there is none.
    public func billable(_ code: String, on day: String?) -> CatalogueItem? {
        guard let item = day.map({ item(code, on: $0) }) ?? self[code], !item.isDisease else { return nil }
        return item
    }

    /// Why ``billable(_:on:)`` has no record: "is a diagnosis of the disease list, not a
    /// billable item", "is not in the catalogue", or "is not in the catalogue on DAY".
    public func whyNotBillable(_ code: String, on day: String?) -> String {
        guard let latest = self[code] else { return "is not in the catalogue" }
        if latest.isDisease { return "is a diagnosis of the disease list, not a billable item" }
        return "is not in the catalogue" + (day.map { " on \($0)" } ?? "")
    }

    /// The code's record that begins on `begndate` (nil: the one without a begndate).
    public func record(_ code: String, begndate: String?) -> CatalogueItem? {
        records[code]?.first { $0.begndate == begndate }
    }

    /// Adds records published at `revision`, each replacing the one of its code and begndate.
    public mutating func apply(_ items: [CatalogueItem], revision: Int64) {
        for item in items {
            var list = records[item.code, default: []]
            if list.isEmpty && item.isDisease { diseaseCount += 1 }
            if let at = list.firstIndex(where: { $0.begndate == item.begndate }) {
                list[at] = item
            } else {
                list.append(item)
                list.sort { ($0.begndate ?? "") < ($1.begndate ?? "") }
            }
            records[item.code] = list
        }
        self.revision = max(self.revision, revision)
    }

    /// Every record, by code then begndate.
    public var all: [CatalogueItem] { records.keys.sorted().flatMap { records[$0]! } }
}
