import Foundation
import MedicareDomain
import MedicareWire

/// A review rule set (`medicare.v1.RuleSet`) as a JSON document, the form in which rule sets
/// are written, reviewed and kept beside the code (`Services/Supervision/Library/Resources`)
/// and published with `medicare rules publish FILE`: the generated JSON form of every message
/// (``JSONMessage``).
///
/// The keys are the proto's field names (`rule_id`, `effective_from`, `max_quantity`); closed
/// sets are their codes (`"block"`, `"quantity_limit"`, `"chronic_outpatient"`, `"female"`).
/// Decoding is strict: an unknown key, a value of the wrong type or an unknown code is an
/// error naming its path (`rules[3].params.max_qty: is not a field of medicare.v1.RuleParams`),
/// so a typo never silently disables a rule. Only the form is checked here; what the values
/// mean is checked when the set is published (supervision's `RuleBook.validated`).
extension RuleSet {
    /// Decodes a document. Errors: ``DomainError`` naming the path of the first bad value.
    public init(json data: Data) throws(DomainError) { try self.init(jsonData: data) }

    /// The document for this set: zero values left out, sorted keys and indented, so that two
    /// exports of the same set are byte-identical.
    public func json() -> Data { jsonData() }
}
