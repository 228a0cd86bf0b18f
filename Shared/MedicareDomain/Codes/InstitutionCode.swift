/// A designated-institution code: `H` followed by 11 digits (the national format, whose
/// first six digits are the institution's county).
public struct InstitutionCode: Hashable, Sendable, CustomStringConvertible {
    public let value: String

    public init(_ text: String, field: String = "fixmedins_code") throws(DomainError) {
        let u = Array(text.utf8)
        guard u.count == 12, u[0] == UInt8(ascii: "H"), u[1...].allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw DomainError(field: field, "'\(text.prefix(20))' is not an institution code (H followed by 11 digits)")
        }
        value = text
    }

    /// The six digits of the institution's county (GB/T 2260), digits 2-7 of the code.
    public var county: String { String(value.dropFirst().prefix(6)) }

    public var description: String { value }
}
