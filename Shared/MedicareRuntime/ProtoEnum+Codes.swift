import MedicareDomain
import MedicareStore
public import MedicareWire

extension ProtoEnum {
    /// The value when it is a declared one other than zero; else `INVALID_ARGUMENT` naming
    /// `field` and the values allowed. Every closed-set field of a request passes through here
    /// (or an exhaustive switch that refuses `.unspecified` and `.unrecognized`).
    public func required(_ field: String) throws(DomainError) -> Self {
        guard isKnown else {
            let allowed = Self.known.map { "\($0.code) (\($0.rawValue))" }.joined(separator: ", ")
            throw DomainError(field: field, rawValue == 0 ? "is required: one of \(allowed)" : "\(rawValue) is not one of \(allowed)")
        }
        return self
    }

    /// The text a store keeps for this value: its stable ``ProtoEnum/code``, and the empty
    /// string for the zero value ("not given", as in a township centre's integration mode).
    public var stored: SQLValue { .text(rawValue == 0 ? "" : code) }
}

extension SQLRow {
    /// A closed-set column, stored as the value's ``ProtoEnum/code``; a code this build does
    /// not know is a decoding error (the schema's check constraint should have refused it).
    public func code<E: ProtoEnum>(_ column: String, as type: E.Type = E.self) throws(StoreError) -> E {
        let text = try string(column)
        if text.isEmpty { return E() }
        guard let value = E(code: text) else { throw StoreError.decoding("column '\(column)' holds '\(text.prefix(40))', not a \(E.protoName)") }
        return value
    }

    /// ``code(_:as:)`` for a nullable column.
    public func optionalCode<E: ProtoEnum>(_ column: String, as type: E.Type = E.self) throws(StoreError) -> E? {
        guard let text = try optionalString(column) else { return nil }
        if text.isEmpty { return E() }
        guard let value = E(code: text) else { throw StoreError.decoding("column '\(column)' holds '\(text.prefix(40))', not a \(E.protoName)") }
        return value
    }
}
