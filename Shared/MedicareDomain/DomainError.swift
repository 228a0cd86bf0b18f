/// A domain rule refused something. `field` names what was wrong; the message is safe to
/// show to the caller. The service layer maps `kind` to a wire status.
public struct DomainError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The input itself is wrong: a format, a range, an unknown code.
        case invalid
        /// Something named does not exist.
        case notFound
        /// The input is fine but the state does not allow it (suspended, already reversed).
        case precondition
        /// What the request would create exists already (a visit with a live settlement).
        case conflict
    }

    public let kind: Kind
    public let field: String
    public let message: String

    public init(_ kind: Kind = .invalid, field: String, _ message: String) {
        self.kind = kind
        self.field = field
        self.message = message
    }

    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}
