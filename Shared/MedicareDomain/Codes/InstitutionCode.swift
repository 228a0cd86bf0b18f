/// A designated-institution code: `H` followed by 11 digits (the national format, whose
/// first six digits are the institution's county).
public struct InstitutionCode: Hashable, Sendable, CustomStringConvertible {
    /// The code (fixmedins_code): `H` and 11 ASCII digits.
    public let value: String

    /// Parses exactly `H` followed by 11 ASCII digits (an upper-case `H` only), keeping the text.
    /// - Throws: ``DomainError`` (`invalid`) naming `field` for anything else.
    public init(_ text: String, field: String = "fixmedins_code") throws(DomainError) {
        let u = Array(text.utf8)
        guard u.count == 12, u[0] == UInt8(ascii: "H"), u[1...].allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw DomainError(field: field, "'\(text.prefix(20))' is not an institution code (H followed by 11 digits)")
        }
        value = text
    }

    /// The six digits of the institution's county (GB/T 2260), digits 2-7 of the code.
    public var county: String { String(value.dropFirst().prefix(6)) }

    /// The code (fixmedins_code).
    public var description: String { value }
}
