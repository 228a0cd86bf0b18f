/// An 18-character resident identity number (GB 11643): region (6), birth date (8),
/// sequence (3, odd = male), check character (ISO 7064 MOD 11-2).
public struct ResidentID: Hashable, Sendable, CustomStringConvertible {
    public let value: String

    private static let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    private static let checks: [Character] = ["1", "0", "X", "9", "8", "7", "6", "5", "4", "3", "2"]

    public init(_ text: String, field: String = "certno") throws(DomainError) {
        let chars = Array(text.uppercased())
        guard chars.count == 18, chars[..<17].allSatisfy(\.isASCIIDigitValue), chars[17].isASCIIDigitValue || chars[17] == "X" else {
            throw DomainError(field: field, "must be 18 characters: 17 digits and a check digit or X")
        }
        let expected = Self.checkCharacter(String(chars[..<17]))
        guard chars[17] == expected else {
            throw DomainError(field: field, "check digit is \(chars[17]) but should be \(expected)")
        }
        let year = Int(String(chars[6..<10]))!, month = Int(String(chars[10..<12]))!, day = Int(String(chars[12..<14]))!
        guard (1900...2100).contains(year), (1...12).contains(month), (1...CivilDate.daysIn(month: month, year: year)).contains(day) else {
            throw DomainError(field: field, "birth date \(String(chars[6..<14])) is not a date")
        }
        value = String(chars)
    }

    /// The check character for the first 17 digits.
    public static func checkCharacter(_ first17: String) -> Character {
        let sum = zip(first17, weights).reduce(0) { $0 + Int(String($1.0))! * $1.1 }
        return checks[sum % 11]
    }

    public var birthDate: String {
        let c = Array(value)
        return "\(String(c[6..<10]))-\(String(c[10..<12]))-\(String(c[12..<14]))"
    }

    /// "1" male, "2" female (the national gender codes).
    public var gender: String { Int(String(Array(value)[16]))! % 2 == 1 ? "1" : "2" }

    public var description: String { value }
}

extension Character {
    var isASCIIDigitValue: Bool { isASCII && isNumber }
}
