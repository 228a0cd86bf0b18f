import Foundation
/// Identifiers that enter the system from outside callers, each parsed once at the edge into
/// its one canonical form and stored and compared only in that form. Anything not strictly in
/// the format (signs, spaces, full-width digits, control characters) is refused naming the
/// field; messages quote at most a short prefix of what was sent.

/// ASCII bytes only, for the strict checks below.
@inlinable func isASCIIDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }
@inlinable func isASCIIUpper(_ b: UInt8) -> Bool { b >= 65 && b <= 90 }
@inlinable func isASCIILower(_ b: UInt8) -> Bool { b >= 97 && b <= 122 }

/// A short printable quote of caller input for an error message (at most 20 characters).
public func quoted(_ text: String, max: Int = 20) -> String {
    let cleaned = String(text.unicodeScalars.prefix(max).map { $0.properties.generalCategory == .control ? "?" : Character($0) })
    return "'" + cleaned + (text.unicodeScalars.count > max ? "…'" : "'")
}

/// A person number (人员编号, `psn_no`): 1-32 ASCII letters and digits; letters are stored in
/// upper case.
public struct PersonNumber: Hashable, Sendable, CustomStringConvertible {
    /// The longest person number accepted, in characters.
    public static let maxLength = 32
    /// The person number (psn_no), upper case.
    public let value: String

    /// Parses 1-32 ASCII letters and digits and upper-cases the letters.
    /// - Throws: ``DomainError`` (`invalid`) naming `field` for anything else (empty, too long,
    ///   spaces, signs, non-ASCII characters).
    public init(_ text: String, field: String = "psn_no") throws(DomainError) {
        let u = Array(text.utf8)
        guard (1...Self.maxLength).contains(u.count), u.allSatisfy({ isASCIIDigit($0) || isASCIIUpper($0) || isASCIILower($0) }) else {
            throw DomainError(field: field, "\(quoted(text)) is not a person number (1-\(Self.maxLength) ASCII letters and digits)")
        }
        value = String(decoding: u.map { isASCIILower($0) ? $0 - 32 : $0 }, as: UTF8.self)
    }

    /// The person number (psn_no), upper case.
    public var description: String { value }
}

/// A visit number (就诊ID, `mdtrt_id`), numbered by the institution's HIS: 1-64 ASCII
/// letters, digits, `-` and `_`, kept as sent (HIS numbering is case-sensitive). A visit is
/// identified by the institution and this number together.
public struct VisitID: Hashable, Sendable, CustomStringConvertible {
    /// The longest visit number accepted, in characters.
    public static let maxLength = 64
    /// The visit number (mdtrt_id), exactly as sent (case kept).
    public let value: String

    /// Parses 1-64 ASCII letters, digits, `-` and `_`, keeping the text as sent.
    /// - Throws: ``DomainError`` (`invalid`) naming `field` for anything else.
    public init(_ text: String, field: String = "mdtrt_id") throws(DomainError) {
        guard HISNumber.holds(text, maxLength: Self.maxLength) else {
            throw DomainError(field: field, "must be 1-\(Self.maxLength) ASCII letters, digits, '-' or '_'")
        }
        value = text
    }

    /// The visit number (mdtrt_id), as sent.
    public var description: String { value }
}

/// A number an institution's HIS gives its own records: 门诊号 `ipt_otp_no` (2201), 费用明细
/// 流水号 `feedetl_sn` (2204): 1-30 ASCII letters, digits, `-` and `_`, kept as sent.
public struct HISNumber: Hashable, Sendable, CustomStringConvertible {
    /// The longest number accepted, in characters (the national fields' length).
    public static let maxLength = 30
    /// The number, as sent.
    public let value: String

    /// Parses 1-30 ASCII letters, digits, `-` and `_`, keeping the text as sent.
    /// - Throws: ``DomainError`` (`invalid`) naming `field` for anything else.
    public init(_ text: String, field: String) throws(DomainError) {
        guard Self.holds(text, maxLength: Self.maxLength) else {
            throw DomainError(field: field, "\(quoted(text)) must be 1-\(Self.maxLength) ASCII letters, digits, '-' or '_'")
        }
        value = text
    }

    /// Whether `text` is 1-`maxLength` ASCII letters, digits, `-` and `_`.
    static func holds(_ text: String, maxLength: Int) -> Bool {
        (1...maxLength).contains(text.utf8.count)
            && text.utf8.allSatisfy { isASCIIDigit($0) || isASCIIUpper($0) || isASCIILower($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
    }

    /// The number, as sent.
    public var description: String { value }
}

/// A catalogue item code (医保目录编码): 1-50 ASCII upper-case letters and digits (the
/// national codes are upper case; a lower-case letter is refused rather than guessed at).
public struct ItemCode: Hashable, Sendable, CustomStringConvertible {
    /// The longest catalogue code accepted, in characters.
    public static let maxLength = 50
    /// The catalogue code, upper-case ASCII letters and digits.
    public let value: String

    /// Parses 1-50 upper-case ASCII letters and digits, keeping the text as sent.
    /// - Throws: ``DomainError`` (`invalid`) naming `field` for anything else, including lower-case
    ///   letters.
    public init(_ text: String, field: String = "item_code") throws(DomainError) {
        let u = text.utf8
        guard (1...Self.maxLength).contains(u.count), u.allSatisfy({ isASCIIDigit($0) || isASCIIUpper($0) }) else {
            throw DomainError(field: field, "\(quoted(text)) is not a catalogue code (1-\(Self.maxLength) upper-case ASCII letters and digits)")
        }
        value = text
    }

    /// The catalogue code.
    public var description: String { value }
}

/// An ICD-10 diagnosis code: a letter, two digits, and optionally a dot and 1-7 letters or
/// digits (`I10`, `E11.9`, `J06.900`), which holds the national medical-insurance version's
/// extended codes (医保疾病诊断分类与代码: `I10.x00`, `E11.900x001`); stored in upper case.
public struct DiagnosisCode: Hashable, Sendable, CustomStringConvertible {
    /// At most this many diagnoses on one claim.
    public static let maxPerClaim = 20
    /// The diagnosis code in upper case (`I10`, `E11.9`).
    public let value: String

    /// Parses an ICD-10 code (3-11 characters: a letter, two digits, optionally `.` and 1-7
    /// letters or digits), upper-casing ASCII letters first.
    /// - Throws: ``DomainError`` (`invalid`) naming `field` when the text is not in that form.
    public init(_ text: String, field: String = "diagnoses") throws(DomainError) {
        let u = Array(text.utf8).map { isASCIILower($0) ? $0 - 32 : $0 }
        let valid: Bool = {
            guard u.count >= 3, u.count <= 11, isASCIIUpper(u[0]), isASCIIDigit(u[1]), isASCIIDigit(u[2]) else { return false }
            if u.count == 3 { return true }
            guard u[3] == UInt8(ascii: "."), u.count >= 5 else { return false }
            return u[4...].allSatisfy { isASCIIDigit($0) || isASCIIUpper($0) }
        }()
        guard valid else { throw DomainError(field: field, "\(quoted(text)) is not an ICD-10 code (like I10 or E11.9)") }
        value = String(decoding: u, as: UTF8.self)
    }

    /// The diagnosis code, upper case.
    public var description: String { value }
}

/// An idempotency key (metadata `idempotency-key`): 1-128 printable ASCII characters without
/// spaces. Scoped to its caller: two institutions may use the same key for different requests.
public struct IdempotencyKey: Hashable, Sendable, CustomStringConvertible {
    /// The longest idempotency key accepted, in characters.
    public static let maxLength = 128
    /// The key, exactly as sent.
    public let value: String

    /// Parses 1-128 printable ASCII characters (0x21-0x7E, so no spaces), keeping the text as sent.
    /// - Throws: ``DomainError`` (`invalid`) naming `field` for anything else.
    public init(_ text: String, field: String = "idempotency-key") throws(DomainError) {
        let u = text.utf8
        guard (1...Self.maxLength).contains(u.count), u.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw DomainError(field: field, "must be 1-\(Self.maxLength) printable ASCII characters without spaces")
        }
        value = text
    }

    /// The key, as sent.
    public var description: String { value }
}

/// A unique id that sorts by creation time: `prefix`, 12 hex digits of Unix milliseconds,
/// then 11 random hex digits (44 bits). New rows land beside each other in the primary-key
/// index, so that a group commit writes a few pages instead of one per row. Used for
/// `setl_id` ("S..."), reversal ids ("R...") and application ids ("A...").
public func timeOrderedID(prefix: String) -> String {
    func padded(_ text: String, _ width: Int) -> String { String(repeating: "0", count: max(0, width - text.count)) + text }
    let millis = UInt64(Date().timeIntervalSince1970 * 1000)
    return prefix + padded(String(millis, radix: 16), 12) + padded(String(UInt64.random(in: 0..<(1 << 44)), radix: 16), 11)
}

/// A published version's name (a rule set's, a benefit policy's, a catalogue version's):
/// 1-64 ASCII letters, digits, '.', '-' or '_'.
public struct VersionName: Hashable, Sendable {
    /// The name as sent.
    public let value: String

    /// - Throws: ``DomainError`` (`invalid`) naming `field` for anything else.
    public init(_ text: String, field: String) throws(DomainError) {
        guard (1...64).contains(text.utf8.count),
              text.utf8.allSatisfy({ isASCIIDigit($0) || isASCIIUpper($0) || (97...122).contains($0) || $0 == 46 || $0 == 45 || $0 == 95 })
        else { throw DomainError(field: field, "must be 1-64 letters, digits, '.', '-' or '_'") }
        value = text
    }
}
