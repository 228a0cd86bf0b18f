/// A domain rule refused something. `field` names what was wrong; the message is safe to
/// show to the caller. The service layer maps `kind` to a wire status.
public struct DomainError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Which kind of refusal this is; the service layer maps it to a status: `invalid` to
    /// INVALID_ARGUMENT, `notFound` to NOT_FOUND, `precondition` to FAILED_PRECONDITION,
    /// `conflict` to ALREADY_EXISTS, `permissionDenied` to PERMISSION_DENIED, `exhausted` to
    /// RESOURCE_EXHAUSTED.
    public enum Kind: Sendable, Hashable {
        /// The input itself is wrong: a format, a range, an unknown code.
        case invalid
        /// Something named does not exist.
        case notFound
        /// The input is fine but the state does not allow it (suspended, already reversed).
        case precondition
        /// What the request would create exists already (a visit with a live settlement).
        case conflict
        /// The caller may not do this to what it names (a clinic applying for another's
        /// designation): decided by the domain, where only it knows who owns what.
        case permissionDenied
        /// The request asks for more than a bound allows (a batch over too many claims).
        case exhausted
    }

    /// Which kind of refusal this is (decides the wire status).
    public let kind: Kind
    /// The field that was wrong, in the wire's naming (`psn_no`, `lines[2].quantity`); may be empty.
    public let field: String
    /// What was wrong, safe to show to the caller.
    public let message: String

    /// Makes an error of `kind` (``Kind/invalid`` unless given) about `field`.
    public init(_ kind: Kind = .invalid, field: String, _ message: String) {
        self.kind = kind
        self.field = field
        self.message = message
    }

    /// `field: message`, or only the message when `field` is empty.
    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}
