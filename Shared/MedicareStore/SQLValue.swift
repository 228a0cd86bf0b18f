/// A value bound to or read from SQL, the same on SQLite and PostgreSQL.
public enum SQLValue: Sendable, Hashable, CustomStringConvertible {
    /// SQL NULL.
    case null
    /// A 64-bit integer (also how booleans are read on PostgreSQL).
    case integer(Int64)
    /// A double.
    case real(Double)
    /// Text.
    case text(String)
    /// Bytes.
    case blob([UInt8])
    /// A PostgreSQL array of values of one kind (text, integer, real or blob), bound as one
    /// parameter (`= ANY($n)`, `unnest($n)`): one statement text whatever the count, cheap to
    /// plan. SQLite has no arrays and refuses it; build engine-neutral SQL with
    /// ``SQLPlaceholders/isIn(_:_:dialect:binds:)``.
    case list([SQLValue])

    /// The value as a SQL-like literal, for logs (a blob shows only its length).
    public var description: String {
        switch self {
        case .null: "NULL"
        case .integer(let v): "\(v)"
        case .real(let v): "\(v)"
        case .text(let v): "'\(v)'"
        case .blob(let v): "blob(\(v.count))"
        case .list(let v): "list(\(v.count))"
        }
    }
}

extension SQLValue: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral, ExpressibleByNilLiteral {
    /// An integer literal is ``integer(_:)``.
    public init(integerLiteral value: Int64) { self = .integer(value) }
    /// A string literal is ``text(_:)``.
    public init(stringLiteral value: String) { self = .text(value) }
    /// `nil` is ``null``.
    public init(nilLiteral: ()) { self = .null }
}

/// One result row: values by column position, with typed accessors by column name.
public struct SQLRow: Sendable, Hashable {
    /// The column names, in order.
    public let columns: [String]
    /// The values, in the same order as `columns`.
    public let values: [SQLValue]

    /// Makes a row; `values` is in the order of `columns`.
    public init(columns: [String], values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    /// The value of the first column named `column`; ``SQLValue/null`` when there is no such column.
    public subscript(_ column: String) -> SQLValue {
        guard let index = columns.firstIndex(of: column) else { return .null }
        return values[index]
    }

    /// Throws ``StoreError/decoding(_:)`` unless the row has `column`.
    func present(_ column: String) throws(StoreError) {
        guard columns.contains(column) else { throw StoreError.decoding("the row has no column '\(column.prefix(60))'") }
    }

    /// The column as an integer: an integer, a whole real, or text that parses as one.
    /// - Throws: ``StoreError/decoding(_:)`` otherwise (also for NULL or a missing column).
    public func int(_ column: String) throws(StoreError) -> Int64 {
        switch self[column] {
        case .integer(let v): return v
        case .real(let v) where v.rounded() == v: return Int64(v)
        case .text(let s): if let v = Int64(s) { return v }
        default: break
        }
        throw StoreError.decoding("column '\(column)' is not an integer (\(self[column]))")
    }

    /// The column as an integer, nil for NULL.
    /// - Throws: ``StoreError/decoding(_:)`` for a value that is not an integer, or a column
    ///   the row does not have (a misspelt name is a defect, not a NULL).
    public func optionalInt(_ column: String) throws(StoreError) -> Int64? {
        try present(column)
        if case .null = self[column] { return nil }
        return try int(column)
    }

    /// The column as text: text as is, an integer in decimal.
    /// - Throws: ``StoreError/decoding(_:)`` otherwise (also for NULL or a missing column).
    public func string(_ column: String) throws(StoreError) -> String {
        switch self[column] {
        case .text(let s): return s
        case .integer(let v): return String(v)
        default: throw StoreError.decoding("column '\(column)' is not text (\(self[column]))")
        }
    }

    /// The column as text, nil for NULL.
    /// - Throws: ``StoreError/decoding(_:)`` for a value that is not text or an integer, or a
    ///   column the row does not have.
    public func optionalString(_ column: String) throws(StoreError) -> String? {
        try present(column)
        if case .null = self[column] { return nil }
        return try string(column)
    }

    /// The column's bytes; NULL reads as empty.
    /// - Throws: ``StoreError/decoding(_:)`` for any other value, or a column the row does not have.
    public func blob(_ column: String) throws(StoreError) -> [UInt8] {
        try present(column)
        switch self[column] {
        case .blob(let b): return b
        case .null: return []
        default: throw StoreError.decoding("column '\(column)' is not a blob")
        }
    }
}
