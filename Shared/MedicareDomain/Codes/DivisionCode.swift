/// A 12-digit statistical division code (2+2+2+3+3): province, city, county, township,
/// village. The first six digits are GB/T 2260.
public struct DivisionCode: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// A level of the division hierarchy; the raw value is the number of leading digits that
    /// name a division at that level.
    public enum Level: Int, Sendable, Comparable {
        /// Province (2 digits), city (4), county (6), township (9), village (12).
        case province = 2, city = 4, county = 6, township = 9, village = 12
        /// Orders levels from the broadest (province) to the most specific (village).
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }

        /// The digits of a prefix's child divisions: 4 under a 2-digit province prefix, 6
        /// under a city, 9 under a county, 12 under a township; nil under a village (no
        /// children) or for a length that is no level.
        public static func childDigits(under prefixLength: Int) -> Int? {
            guard let level = Level(rawValue: prefixLength), level != .village else { return nil }
            return [Level.province, .city, .county, .township, .village].first { $0 > level }?.rawValue
        }
    }

    /// The 12 ASCII digits of the code, as sent.
    public let value: String

    /// Parses exactly 12 ASCII digits whose first two (the province) are not `00`.
    /// - Throws: ``DomainError`` (`invalid`) naming `field` when the text is not 12 digits or has
    ///   no province.
    public init(_ text: String, field: String = "division_code") throws(DomainError) {
        guard text.utf8.count == 12, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw DomainError(field: field, "'\(text.prefix(20))' is not a 12-digit division code")
        }
        guard text.prefix(2) != "00" else { throw DomainError(field: field, "'\(text)' has no province") }
        value = text
    }

    /// The most specific level this code names (trailing zero groups are unused levels).
    public var level: Level {
        let u = Array(value.utf8)
        func zero(_ range: Range<Int>) -> Bool { u[range].allSatisfy { $0 == 48 } }
        if !zero(9..<12) { return .village }
        if !zero(6..<9) { return .township }
        if !zero(4..<6) { return .county }
        if !zero(2..<4) { return .city }
        return .province
    }

    /// The division one level up, as a 12-digit code (nil for a province).
    public var parent: DivisionCode? {
        let up: Level? = switch level {
        case .province: nil
        case .city: .province
        case .county: .city
        case .township: .county
        case .village: .township
        }
        guard let up else { return nil }
        let digits = prefix(up) + String(repeating: "0", count: 12 - up.rawValue)
        return try? DivisionCode(digits)
    }

    /// The code's prefix for a level: "33", "3308", "330802", ...
    public func prefix(_ level: Level) -> String { String(value.prefix(level.rawValue)) }

    /// Validates a region prefix (2, 4, 6, 9 or 12 digits).
    public static func validatePrefix(_ text: String, field: String = "region") throws(DomainError) -> String {
        guard [2, 4, 6, 9, 12].contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw DomainError(field: field, "'\(text.prefix(20))' is not a division code prefix of 2, 4, 6, 9 or 12 digits")
        }
        return text
    }

    /// The half-open text range `lower..<upper` holding exactly the digit strings that start
    /// with `prefix` (digits only, possibly empty): `"3308"` gives `"3308"..<"3309"`, `"39"`
    /// gives `"39"..<"40"`, and all nines or empty end at `"A"`. Unlike an upper bound of
    /// `prefix + "~"`, it holds under any collation a database may compare text with (a
    /// PostgreSQL database created with `en_US.utf8` ignores punctuation at the first level,
    /// so `"3308~"` sorts before `"330802"`): only digits and letters are compared.
    public static func textRange(prefix: String) -> (lower: String, upper: String) {
        var digits = Array(prefix.utf8)
        while let last = digits.last, last == UInt8(ascii: "9") { digits.removeLast() }
        guard let last = digits.popLast() else { return (prefix, "A") }
        return (prefix, String(decoding: digits + [last + 1], as: UTF8.self))
    }

    /// The 12-digit code.
    public var description: String { value }
    /// Orders codes as text (which, for equal-length digit strings, is numeric order).
    public static func < (a: DivisionCode, b: DivisionCode) -> Bool { a.value < b.value }
}
