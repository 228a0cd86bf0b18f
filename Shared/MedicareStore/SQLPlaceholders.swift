/// Numbered bind placeholders (`$1`, `$2`, ...) for statements whose size depends on the data:
/// `IN` lists and multi-row inserts, so that many values go in one statement (one round trip
/// on PostgreSQL) rather than one statement each.
public enum SQLPlaceholders {
    /// `$first, $first+1, ...`, `count` of them (`count` ≥ 1: `IN ()` is no SQL; for a list
    /// that may be empty use ``isIn(_:_:dialect:binds:)``).
    public static func list(_ count: Int, from first: Int = 1) -> String {
        precondition(count >= 1, "an empty placeholder list")
        var text = ""
        text.reserveCapacity(count * 8)
        for n in first..<(first + count) {
            if n != first { text += ", " }
            text += "$"
            text += String(n)
        }
        return text
    }

    /// `count` parenthesised rows of `width` consecutive placeholders each, numbered from
    /// `first`: `($1, $2), ($3, $4)` for 2 rows of width 2.
    public static func rows(_ count: Int, width: Int, from first: Int = 1) -> String {
        // Built in one buffer: a 5,000-row insert has 40,000 placeholders, and building them
        // as strings joined twice was a tenth of a registry writer's time.
        var text = ""
        text.reserveCapacity(count * (width * 8 + 4))
        var n = first
        for row in 0..<count {
            text += row == 0 ? "(" : ", ("
            for column in 0..<width {
                if column > 0 { text += ", " }
                text += "$"
                text += String(n)
                n += 1
            }
            text += ")"
        }
        return text
    }

    /// A predicate that `column` is one of `values`, its binds appended to `binds`: on
    /// PostgreSQL `column = ANY($n)` with one array bind (the same text for any count), on
    /// SQLite `column IN ($n, ...)`. No values match nothing.
    public static func isIn(_ column: String, _ values: [SQLValue], dialect: SQLDialect, binds: inout [SQLValue]) -> String {
        guard !values.isEmpty else { return "FALSE" }
        switch dialect {
        case .postgres:
            binds.append(.list(values))
            return "\(column) = ANY($\(binds.count))"
        case .sqlite:
            let first = binds.count + 1
            binds += values
            return "\(column) IN (\(list(values.count, from: first)))"
        }
    }
    /// A `FROM` clause (with its `WHERE` on SQLite) reading the rows of `table`, named
    /// `alias`, whose `columns` equal one of `keys` (one value per column) and that meet
    /// `also` (SQL over the table's own columns, or empty), each key looked up by index
    /// whatever the planner knows of the table: on PostgreSQL a lateral probe per key over
    /// the keys as arrays (`unnest(...) AS v CROSS JOIN LATERAL (SELECT * FROM table WHERE
    /// ... OFFSET 0)`: the `OFFSET` keeps the planner from turning the probes into a join it
    /// might choose to run as a scan of a table it has no statistics for yet, as a young or
    /// fast-growing table's are); on SQLite `column IN (...)` for one column, a join with the
    /// keys' `VALUES` for several. The statement's text does not depend on the number of keys on
    /// PostgreSQL. No keys read nothing. Binds are appended to `binds`. `alias` must not be
    /// `v` (the keys' own name).
    public static func probe(
        _ table: String, as alias: String, by columns: [(name: String, type: String)], keys: [[SQLValue]], also: String = "",
        dialect: SQLDialect, binds: inout [SQLValue]
    ) -> String {
        let extra = also.isEmpty ? "" : " AND \(also)"
        guard !keys.isEmpty else { return "FROM \(table) AS \(alias) WHERE FALSE" }
        if dialect == .sqlite, columns.count == 1 {
            return "FROM \(table) AS \(alias) WHERE \(isIn("\(alias).\(columns[0].name)", keys.map { $0[0] }, dialect: dialect, binds: &binds))\(extra)"
        }
        // The keys as the relation `v` (``relation(_:rows:dialect:binds:)``), its columns named as the table's.
        let keyed = relation(columns, rows: keys, dialect: dialect, binds: &binds)
        switch dialect {
        case .postgres:
            let match = columns.map { "\($0.name) = v.\($0.name)" }.joined(separator: " AND ")
            return "FROM \(keyed) CROSS JOIN LATERAL (SELECT * FROM \(table) WHERE \(match)\(extra) OFFSET 0) AS \(alias)"
        case .sqlite:
            let match = columns.map { "\(alias).\($0.name) = v.\($0.name)" }.joined(separator: " AND ")
            return "FROM \(keyed) JOIN \(table) AS \(alias) ON \(match)\(extra)"
        }
    }

    /// A relation named `v` holding `rows`, one value per column of `columns` (a name and its
    /// PostgreSQL type, `text` or `bigint`), for set-wise statements such as
    /// `UPDATE t SET a = v.a FROM <relation> WHERE t.k = v.k`: on PostgreSQL one array bind per
    /// column (`unnest`, the same text for any count), on SQLite a multi-row `VALUES` with the
    /// columns named. Its binds are appended to `binds`; `rows` must not be empty.
    public static func relation(_ columns: [(name: String, type: String)], rows: [[SQLValue]], dialect: SQLDialect, binds: inout [SQLValue]) -> String {
        precondition(!rows.isEmpty, "an empty relation")
        switch dialect {
        case .postgres:
            let arrays = columns.indices.map { c -> String in
                binds.append(.list(rows.map { $0[c] }))
                return "$\(binds.count)::\(columns[c].type)[]"
            }
            return "unnest(\(arrays.joined(separator: ", "))) AS v(\(columns.map(\.name).joined(separator: ", ")))"
        case .sqlite:
            let first = binds.count + 1
            binds += rows.flatMap { $0 }
            let named = columns.enumerated().map { "column\($0.offset + 1) AS \($0.element.name)" }.joined(separator: ", ")
            return "(SELECT \(named) FROM (VALUES \(Self.rows(rows.count, width: columns.count, from: first)))) AS v"
        }
    }
}

extension SQLTransaction {
    /// Inserts `rows` (each `columns.count` values) into `table` with multi-row `VALUES`,
    /// in as few statements as the engines' bind limits allow (at most 30,000 binds each),
    /// `tail` (an `ON CONFLICT ...` clause) after each statement's rows. Nothing is run for
    /// no rows. (The default ``SQLTransaction/insert(into:columns:rows:tail:)``.)
    public func insertValues(into table: String, columns: [String], rows: [[SQLValue]], tail: String = "") async throws {
        let width = columns.count
        let perStatement = max(1, 30_000 / max(1, width))
        let head = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES "
        for start in stride(from: 0, to: rows.count, by: perStatement) {
            let chunk = rows[start..<min(start + perStatement, rows.count)]
            try await execute(head + SQLPlaceholders.rows(chunk.count, width: width) + (tail.isEmpty ? "" : " " + tail), chunk.flatMap { $0 })
        }
    }
}
