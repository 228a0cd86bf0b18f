/// A value bound to or read from SQL, the same on SQLite and PostgreSQL.
public enum SQLValue: Sendable, Hashable, CustomStringConvertible {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    public var description: String {
        switch self {
        case .null: "NULL"
        case .integer(let v): "\(v)"
        case .real(let v): "\(v)"
        case .text(let v): "'\(v)'"
        case .blob(let v): "blob(\(v.count))"
        }
    }
}

extension SQLValue: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral, ExpressibleByNilLiteral {
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(stringLiteral value: String) { self = .text(value) }
    public init(nilLiteral: ()) { self = .null }
}

/// One result row: values by column position, with typed accessors by column name.
public struct SQLRow: Sendable, Hashable {
    public let columns: [String]
    public let values: [SQLValue]

    public init(columns: [String], values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    public subscript(_ column: String) -> SQLValue {
        guard let index = columns.firstIndex(of: column) else { return .null }
        return values[index]
    }

    public func int(_ column: String) throws(StoreError) -> Int64 {
        switch self[column] {
        case .integer(let v): return v
        case .real(let v) where v.rounded() == v: return Int64(v)
        case .text(let s): if let v = Int64(s) { return v }
        default: break
        }
        throw StoreError.decoding("column '\(column)' is not an integer (\(self[column]))")
    }

    public func optionalInt(_ column: String) throws(StoreError) -> Int64? {
        if case .null = self[column] { return nil }
        return try int(column)
    }

    public func string(_ column: String) throws(StoreError) -> String {
        switch self[column] {
        case .text(let s): return s
        case .integer(let v): return String(v)
        default: throw StoreError.decoding("column '\(column)' is not text (\(self[column]))")
        }
    }

    public func optionalString(_ column: String) throws(StoreError) -> String? {
        if case .null = self[column] { return nil }
        return try string(column)
    }

    public func blob(_ column: String) throws(StoreError) -> [UInt8] {
        switch self[column] {
        case .blob(let b): return b
        case .null: return []
        default: throw StoreError.decoding("column '\(column)' is not a blob")
        }
    }
}
