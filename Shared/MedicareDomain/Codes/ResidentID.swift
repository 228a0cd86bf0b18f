/// An 18-character resident identity number (GB 11643): region (6), birth date (8),
/// sequence (3, odd = male), check character (ISO 7064 MOD 11-2).
public struct ResidentID: Hashable, Sendable, CustomStringConvertible {
    /// The 18-character number (certno), with an upper-case `X` check character if it has one.
    public let value: String

    private static let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    private static let checks: [Character] = ["1", "0", "X", "9", "8", "7", "6", "5", "4", "3", "2"]

    /// Parses strictly: 17 ASCII digits and a check character (a digit, or `X` in either
    /// case); the canonical form has an upper-case `X`. Spaces, signs and full-width digits are
    /// refused.
    public init(_ text: String, field: String = "certno") throws(DomainError) {
        var u = Array(text.utf8)
        guard u.count == 18, u[..<17].allSatisfy(isASCIIDigit), isASCIIDigit(u[17]) || u[17] == UInt8(ascii: "X") || u[17] == UInt8(ascii: "x") else {
            throw DomainError(field: field, "must be 18 characters: 17 digits and a check digit or X")
        }
        if u[17] == UInt8(ascii: "x") { u[17] = UInt8(ascii: "X") }
        let first17 = String(decoding: u[..<17], as: UTF8.self)
        let expected = Self.checkCharacter(first17)
        guard Character(UnicodeScalar(u[17])) == expected else {
            throw DomainError(field: field, "check digit is \(Character(UnicodeScalar(u[17]))) but should be \(expected)")
        }
        func number(_ r: Range<Int>) -> Int { u[r].reduce(0) { $0 * 10 + Int($1 - 48) } }
        let year = number(6..<10), month = number(10..<12), day = number(12..<14)
        guard (1900...2100).contains(year), (1...12).contains(month), (1...CivilDate.daysIn(month: month, year: year)).contains(day) else {
            throw DomainError(field: field, "birth date \(String(decoding: u[6..<14], as: UTF8.self)) is not a date")
        }
        value = String(decoding: u, as: UTF8.self)
    }

    /// The birth date the number carries.
    public var birth: CivilDate {
        // Validated at init: cannot fail.
        try! CivilDate(birthDate, field: "certno")
    }

    /// The check character for the first 17 digits.
    public static func checkCharacter(_ first17: String) -> Character {
        let sum = zip(first17, weights).reduce(0) { $0 + Int(String($1.0))! * $1.1 }
        return checks[sum % 11]
    }

    /// The birth date the number carries, as `YYYY-MM-DD` text (characters 7-14).
    public var birthDate: String {
        let c = Array(value)
        return "\(String(c[6..<10]))-\(String(c[10..<12]))-\(String(c[12..<14]))"
    }

    /// Whole years of age on `day` (the birthday counted on its day; negative before birth).
    public func age(on day: CivilDate) -> Int {
        let birth = self.birth
        return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day) ? 1 : 0)
    }

    /// "1" male, "2" female (the national gender codes).
    public var gender: String { Int(String(Array(value)[16]))! % 2 == 1 ? "1" : "2" }

    /// The number (certno), canonical form.
    public var description: String { value }
}

extension Character {
    var isASCIIDigitValue: Bool { isASCII && isNumber }
}
