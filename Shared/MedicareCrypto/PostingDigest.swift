/// The digest of a set of postings: SM3 over their `<kind>\t<setl_id>` lines sorted and
/// joined with newlines, so that two parties holding the same set in any order agree, and
/// no other set (fewer, more, or other postings) gives the same digest (an XOR of hashes
/// would: it can be forged by solving a linear system). Holds the lines until ``hex``.
public struct PostingDigest: Sendable {
    private var lines: [String] = []
    /// An empty set (its ``hex`` is SM3 of the empty string).
    public init() {}

    /// Adds a posting (`kind`: `settlement` or `reversal`; and its setl_id); adding the same
    /// posting twice counts it twice.
    public mutating func add(kind: String, setlID: String) { lines.append(Self.line(kind: kind, setlID: setlID)) }

    /// A posting's line, also the form ``PostingSummary/pending`` lists them in.
    public static func line(kind: String, setlID: String) -> String { kind + "\t" + setlID }

    /// The number of postings added.
    public var count: Int { lines.count }

    /// Hex SM3 of the sorted lines joined with "\n".
    public var hex: String { SM3.hex(SM3.digest(Array(lines.sorted().joined(separator: "\n").utf8))) }
}
