import Foundation
import MedicareDomain
import MedicareWire

/// A review rule set (`medicare.v1.RuleSet`) as a JSON document, the form in which rule sets
/// are written, reviewed and kept beside the code (`Services/Supervision/Library/Resources`)
/// and published with `medicare rules publish FILE`.
///
/// The keys are the proto's field names (`rule_id`, `effective_from`, `max_quantity`); closed
/// sets are their codes (`"block"`, `"quantity_limit"`, `"chronic_outpatient"`, `"female"`).
/// Decoding is strict: an unknown key, a value of the wrong type or an unknown code is an
/// error naming its path (`rules[3].params.max_qty: not a field of RuleParams`), so a typo
/// never silently disables a rule. Only the form is checked here; what the values mean is
/// checked when the set is published (supervision's `RuleBook.validated`).
extension RuleSet {
    /// Decodes a document. Errors: ``DomainError`` naming the path of the first bad value.
    public init(json data: Data) throws(DomainError) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw DomainError(field: "rule_set", "is not JSON: \(error.localizedDescription.prefix(200))")
        }
        var reader = try JSONReader(object, path: "")
        self.init()
        version = try reader.string("version")
        name = try reader.string("name")
        effectiveFrom = try reader.string("effective_from")
        publishedAt = try reader.string("published_at")
        publishedBy = try reader.string("published_by")
        rules = try reader.objects("rules").map { reader throws(DomainError) in
            var reader = reader
            var rule = ReviewRule()
            rule.ruleID = try reader.string("rule_id")
            rule.version = try reader.uint32("version")
            rule.name = try reader.string("name")
            rule.kind = try reader.code("kind")
            rule.verdict = try reader.code("verdict")
            rule.severity = try reader.code("severity")
            rule.effectiveFrom = try reader.string("effective_from")
            rule.effectiveTo = try reader.string("effective_to")
            rule.message = try reader.string("message")
            rule.source = try reader.string("source")
            if var scope = try reader.object("scope") {
                rule.scope = RuleScope(regions: try scope.strings("regions"), medTypes: try scope.codes("med_types"),
                                       institutionKinds: try scope.codes("institution_kinds"), insutypes: try scope.codes("insutypes"))
                try scope.finish("RuleScope")
            }
            if var p = try reader.object("params") {
                rule.params = RuleParams(
                    items: try p.strings("items"), maxQuantity: try p.int64("max_quantity"), maxDays: try p.uint32("max_days"),
                    maxAmount: try p.int64("max_amount"), minAge: try p.uint32("min_age"), maxAge: try p.uint32("max_age"),
                    gend: try p.code("gend"), diagnoses: try p.strings("diagnoses"), maxVisits: try p.uint32("max_visits"),
                    periodDays: try p.uint32("period_days"), sameInstitution: try p.bool("same_institution"),
                    maxInstitutions: try p.uint32("max_institutions"), medTypes: try p.codes("med_types"), maxPersons: try p.uint32("max_persons"),
                    windowMinutes: try p.uint32("window_minutes"), openMinute: try p.uint32("open_minute"), closeMinute: try p.uint32("close_minute"),
                    spikeRatioBp: try p.uint32("spike_ratio_bp"), baselineDays: try p.uint32("baseline_days"), minSettlements: try p.uint32("min_settlements"),
                    institutionKinds: try p.codes("institution_kinds")
                )
                try p.finish("RuleParams")
            }
            try reader.finish("ReviewRule")
            return rule
        }
        try reader.finish("RuleSet")
    }

    /// The document for this set: the keys of ``init(json:)``, zero values left out, sorted
    /// keys and indented, so that two exports of the same set are byte-identical.
    public func json() -> Data {
        func codes<E: ProtoEnum>(_ values: [E]) -> [String] { values.map(\.code) }
        func put(_ dict: inout [String: Any], _ key: String, _ value: Any) {
            switch value {
            case let s as String where s.isEmpty: return
            case let a as [Any] where a.isEmpty: return
            case let d as [String: Any] where d.isEmpty: return
            case let n as Int64 where n == 0: return
            case let n as UInt32 where n == 0: return
            case let b as Bool where !b: return
            default: dict[key] = value
            }
        }
        var set: [String: Any] = [:]
        put(&set, "version", version)
        put(&set, "name", name)
        put(&set, "effective_from", effectiveFrom)
        put(&set, "published_at", publishedAt)
        put(&set, "published_by", publishedBy)
        put(&set, "rules", rules.map { rule -> [String: Any] in
            var r: [String: Any] = [:]
            put(&r, "rule_id", rule.ruleID)
            put(&r, "version", rule.version)
            put(&r, "name", rule.name)
            if rule.kind.rawValue != 0 { r["kind"] = rule.kind.code }
            if rule.verdict.rawValue != 0 { r["verdict"] = rule.verdict.code }
            if rule.severity.rawValue != 0 { r["severity"] = rule.severity.code }
            put(&r, "effective_from", rule.effectiveFrom)
            put(&r, "effective_to", rule.effectiveTo)
            put(&r, "message", rule.message)
            put(&r, "source", rule.source)
            if let scope = rule.scope {
                var s: [String: Any] = [:]
                put(&s, "regions", scope.regions)
                put(&s, "med_types", codes(scope.medTypes))
                put(&s, "institution_kinds", codes(scope.institutionKinds))
                put(&s, "insutypes", codes(scope.insutypes))
                put(&r, "scope", s)
            }
            if let p = rule.params {
                var d: [String: Any] = [:]
                put(&d, "items", p.items)
                put(&d, "max_quantity", p.maxQuantity)
                put(&d, "max_days", p.maxDays)
                put(&d, "max_amount", p.maxAmount)
                put(&d, "min_age", p.minAge)
                put(&d, "max_age", p.maxAge)
                if p.gend.rawValue != 0 { d["gend"] = p.gend.code }
                put(&d, "diagnoses", p.diagnoses)
                put(&d, "max_visits", p.maxVisits)
                put(&d, "period_days", p.periodDays)
                put(&d, "same_institution", p.sameInstitution)
                put(&d, "max_institutions", p.maxInstitutions)
                put(&d, "med_types", codes(p.medTypes))
                put(&d, "max_persons", p.maxPersons)
                put(&d, "window_minutes", p.windowMinutes)
                put(&d, "open_minute", p.openMinute)
                put(&d, "close_minute", p.closeMinute)
                put(&d, "spike_ratio_bp", p.spikeRatioBp)
                put(&d, "baseline_days", p.baselineDays)
                put(&d, "min_settlements", p.minSettlements)
                put(&d, "institution_kinds", codes(p.institutionKinds))
                put(&r, "params", d)
            }
            return r
        })
        // Every value above is a string, number, bool, array or object: serialisation cannot fail.
        return (try? JSONSerialization.data(withJSONObject: set, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
    }
}

/// Reads one JSON object's keys by type, each read key struck off, so that ``finish(_:)`` can
/// name a key nobody read (a typo, a field of another message).
struct JSONReader {
    private var values: [String: Any]
    let path: String

    init(_ object: Any, path: String) throws(DomainError) {
        guard let values = object as? [String: Any] else { throw DomainError(field: path.isEmpty ? "rule_set" : path, "must be an object") }
        self.values = values
        self.path = path
    }

    private func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private mutating func take(_ key: String) -> Any? {
        guard let value = values.removeValue(forKey: key), !(value is NSNull) else { return nil }
        return value
    }

    mutating func string(_ key: String) throws(DomainError) -> String {
        guard let value = take(key) else { return "" }
        guard let text = value as? String else { throw DomainError(field: field(key), "must be a string") }
        return text
    }

    mutating func strings(_ key: String) throws(DomainError) -> [String] {
        guard let value = take(key) else { return [] }
        guard let list = value as? [Any] else { throw DomainError(field: field(key), "must be a list of strings") }
        var texts: [String] = []
        for (i, item) in list.enumerated() {
            guard let text = item as? String else { throw DomainError(field: "\(field(key))[\(i)]", "must be a string") }
            texts.append(text)
        }
        return texts
    }

    private mutating func integer(_ key: String, in range: ClosedRange<Int64>) throws(DomainError) -> Int64 {
        guard let value = take(key) else { return 0 }
        guard let number = value as? NSNumber, !Self.isBool(number), let exact = Int64(exactly: number.doubleValue),
              range.contains(exact) else {
            throw DomainError(field: field(key), "must be a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return exact
    }

    mutating func int64(_ key: String) throws(DomainError) -> Int64 { try integer(key, in: 0...Int64(1) << 50) }
    mutating func uint32(_ key: String) throws(DomainError) -> UInt32 { UInt32(try integer(key, in: 0...Int64(UInt32.max))) }

    /// JSON's true and false: Foundation parses them into NSNumbers of type char ("c"), which
    /// no JSON number becomes.
    static func isBool(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }

    mutating func bool(_ key: String) throws(DomainError) -> Bool {
        guard let value = take(key) else { return false }
        guard let number = value as? NSNumber, Self.isBool(number) else { throw DomainError(field: field(key), "must be true or false") }
        return number.boolValue
    }

    mutating func code<E: ProtoEnum>(_ key: String) throws(DomainError) -> E {
        guard let value = take(key) else { return E() }
        guard let text = value as? String, let code = E(code: text) else {
            throw DomainError(field: field(key), "must be one of \(E.known.map(\.code).joined(separator: ", "))")
        }
        return code
    }

    mutating func codes<E: ProtoEnum>(_ key: String) throws(DomainError) -> [E] {
        try strings(key).enumerated().map { i, text throws(DomainError) in
            guard let code = E(code: text) else {
                throw DomainError(field: "\(field(key))[\(i)]", "must be one of \(E.known.map(\.code).joined(separator: ", "))")
            }
            return code
        }
    }

    mutating func object(_ key: String) throws(DomainError) -> JSONReader? {
        guard let value = take(key) else { return nil }
        return try JSONReader(value, path: field(key))
    }

    mutating func objects(_ key: String) throws(DomainError) -> [JSONReader] {
        guard let value = take(key) else { return [] }
        guard let list = value as? [Any] else { throw DomainError(field: field(key), "must be a list of objects") }
        var readers: [JSONReader] = []
        for (i, item) in list.enumerated() { readers.append(try JSONReader(item, path: "\(field(key))[\(i)]")) }
        return readers
    }

    /// Fails on the first key not read (in sorted order, so the error is the same every time).
    func finish(_ message: String) throws(DomainError) {
        if let key = values.keys.sorted().first { throw DomainError(field: field(key), "is not a field of \(message)") }
    }
}
