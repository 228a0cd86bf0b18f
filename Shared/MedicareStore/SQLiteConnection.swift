import CSQLite

/// One SQLite connection over the system library, used from one thread at a time (its
/// owner's executor). Prepared statements are cached by SQL text.
final class SQLiteConnection: @unchecked Sendable {
    // @unchecked: confined to the thread of the executor that owns it; SQLite is built
    // thread-safe (serialized) and the handle is never used concurrently.
    private var db: OpaquePointer?
    private var statements: [String: Prepared] = [:]

    /// A prepared statement with what is learnt once about it: where each `$n` binds (it is
    /// prepared as `?` or `?n`: ``numbered(_:)``, so value n binds at index n, wherever it
    /// stands in the SQL) and the names of its result columns.
    final class Prepared {
        let handle: OpaquePointer
        let bindIndexes: [Int32]
        var columns: [String]?

        init(handle: OpaquePointer) {
            self.handle = handle
            bindIndexes = (0..<max(sqlite3_bind_parameter_count(handle), 0)).map { $0 + 1 }
        }
    }
    let path: String

    /// The raw handle, for hooks installed by the owner's thread.
    var handle: OpaquePointer? { db }

    /// Whether a transaction is open. SQLite rolls a whole transaction back by itself on
    /// some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM, ...), savepoints and all.
    var inTransaction: Bool { db.map { sqlite3_get_autocommit($0) == 0 } ?? false }

    /// Configures the library once, before its first connection opens.
    private static let configured: Void = { _ = mc_sqlite_configure() }()

    init(path: String, readOnly: Bool) throws(StoreError) {
        Self.configured
        self.path = path
        let flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        var handle: OpaquePointer?
        let status = sqlite3_open_v2(path, &handle, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard status == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(handle)
            throw .unavailable("cannot open SQLite database '\(path)': \(message)")
        }
        db = handle
        sqlite3_busy_timeout(handle, 10_000)
        sqlite3_extended_result_codes(handle, 1)
    }

    func close() {
        for statement in statements.values { sqlite3_finalize(statement.handle) }
        statements.removeAll()
        sqlite3_close(db)
        db = nil
    }

    deinit { if db != nil { close() } }

    /// Runs SQL without binds or results (pragmas, BEGIN, COMMIT, DDL with several statements).
    func exec(_ sql: String) throws(StoreError) {
        guard let db else { throw .closed }
        var error: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(db, sql, nil, nil, &error)
        if status != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(db))
            sqlite3_free(error)
            throw classify(sql: sql, status: status, message: message)
        }
    }

    /// A statement without binds or rows, prepared once and cached (BEGIN, SAVEPOINT, COMMIT).
    func run(_ sql: String) throws(StoreError) {
        _ = try query(sql, [])
    }

    func query(_ sql: String, _ binds: [SQLValue]) throws(StoreError) -> [SQLRow] {
        try withPrepared(sql) { prepared, db throws(StoreError) in
            let statement = prepared.handle
            try bind(binds, to: prepared, sql: sql, db: db)
            var rows: [SQLRow] = []
            var columns: [String]?
            while true {
                let status = sqlite3_step(statement)
                if status == SQLITE_DONE { break }
                guard status == SQLITE_ROW else { throw classify(sql: sql, status: status, message: String(cString: sqlite3_errmsg(db))) }
                let count = sqlite3_column_count(statement)
                if columns == nil {
                    // SQLite prepares a cached statement again when the schema changed (a column
                    // added under `SELECT *`): the names are read again when the count moved.
                    if prepared.columns?.count != Int(count) { prepared.columns = (0..<count).map { String(cString: sqlite3_column_name(statement, $0)) } }
                    columns = prepared.columns
                }
                var values: [SQLValue] = []
                values.reserveCapacity(Int(count))
                for c in 0..<count {
                    switch sqlite3_column_type(statement, c) {
                    case SQLITE_INTEGER: values.append(.integer(sqlite3_column_int64(statement, c)))
                    case SQLITE_FLOAT: values.append(.real(sqlite3_column_double(statement, c)))
                    case SQLITE_TEXT:
                        let length = Int(sqlite3_column_bytes(statement, c))
                        let text = sqlite3_column_text(statement, c)
                        values.append(.text(String(decoding: UnsafeBufferPointer(start: text, count: length), as: UTF8.self)))
                    case SQLITE_BLOB:
                        let length = Int(sqlite3_column_bytes(statement, c))
                        let bytes = sqlite3_column_blob(statement, c)?.assumingMemoryBound(to: UInt8.self)
                        values.append(.blob(Array(UnsafeBufferPointer(start: bytes, count: length))))
                    default: values.append(.null)
                    }
                }
                rows.append(SQLRow(columns: columns!, values: values))
            }
            return rows
        }
    }

    /// Runs one statement once per row of `rows` (each its binds), prepared once: how SQLite
    /// inserts many rows fastest. A multi-row `VALUES` of thousands of rows built, hashed and
    /// looked up a text of a few hundred kilobytes on every call (`perf` of the history load's
    /// writer: string building, hashing and freeing beside SQLite's own work;
    /// ``SQLiteTransaction/insert(into:columns:rows:tail:)``). Rows the
    /// statement answers are ignored. A row that fails stops the run and throws; the rows
    /// before it stay written in the enclosing transaction, which its job's failure rolls back.
    func executeEach(_ sql: String, _ rows: [[SQLValue]]) throws(StoreError) {
        try withPrepared(sql) { prepared, db throws(StoreError) in
            for row in rows {
                // Every placeholder bound for every row: a reset statement keeps the last row's values.
                guard row.count == prepared.bindIndexes.count else {
                    throw StoreError.statement(sql: sql, code: SQLITE_RANGE, message: "\(row.count) values for \(prepared.bindIndexes.count) placeholders")
                }
                try bind(row, to: prepared, sql: sql, db: db)
                var status = sqlite3_step(prepared.handle)
                while status == SQLITE_ROW { status = sqlite3_step(prepared.handle) }
                guard status == SQLITE_DONE else { throw classify(sql: sql, status: status, message: String(cString: sqlite3_errmsg(db))) }
                sqlite3_reset(prepared.handle)
            }
        }
    }

    /// `body` with the statement prepared for `sql` (cached), reset and its bindings cleared after.
    private func withPrepared<T>(_ sql: String, _ body: (Prepared, OpaquePointer) throws(StoreError) -> T) throws(StoreError) -> T {
        guard let db else { throw .closed }
        let prepared = try prepare(sql, db: db)
        defer {
            sqlite3_reset(prepared.handle)
            sqlite3_clear_bindings(prepared.handle)
        }
        return try body(prepared, db)
    }

    /// Binds `binds` to the statement's `$1, $2, ...` in order.
    private func bind(_ binds: [SQLValue], to prepared: Prepared, sql: String, db: OpaquePointer) throws(StoreError) {
        let statement = prepared.handle
        guard binds.count <= prepared.bindIndexes.count else {
            throw StoreError.statement(sql: sql, code: SQLITE_RANGE, message: "\(binds.count) values for \(prepared.bindIndexes.count) placeholders")
        }
        for (i, value) in binds.enumerated() {
            // `$n` placeholders are bound by name so that their order in the SQL is free.
            let index = prepared.bindIndexes[i]
            let status: Int32
            switch value {
            case .null: status = sqlite3_bind_null(statement, index)
            case .integer(let v): status = sqlite3_bind_int64(statement, index, v)
            case .real(let v): status = sqlite3_bind_double(statement, index, v)
            case .text(let v):
                var v = v
                status = v.withUTF8 { utf8 in
                    guard let base = utf8.baseAddress, !utf8.isEmpty else { return mc_sqlite_bind_text(statement, index, "", 0) }
                    return base.withMemoryRebound(to: CChar.self, capacity: utf8.count) { mc_sqlite_bind_text(statement, index, $0, Int32(utf8.count)) }
                }
            case .blob(let v):
                status = v.withUnsafeBytes { bytes in
                    guard let base = bytes.baseAddress, !bytes.isEmpty else { return sqlite3_bind_zeroblob(statement, index, 0) }
                    return mc_sqlite_bind_blob(statement, index, base, Int32(bytes.count))
                }
            case .list:
                throw StoreError.statement(sql: sql, code: SQLITE_MISMATCH, message: "SQLite cannot bind an array (placeholder \(i + 1))")
            }
            guard status == SQLITE_OK else { throw classify(sql: sql, status: status, message: String(cString: sqlite3_errmsg(db))) }
        }
    }

    private func prepare(_ sql: String, db: OpaquePointer) throws(StoreError) -> Prepared {
        if let cached = statements[sql] { return cached }
        var statement: OpaquePointer?
        let status = sqlite3_prepare_v3(db, Self.numbered(sql), -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else {
            throw classify(sql: sql, status: status, message: String(cString: sqlite3_errmsg(db)))
        }
        let prepared = Prepared(handle: statement)
        statements[sql] = prepared
        return prepared
    }

    /// The statement as SQLite parses it fastest. SQLite takes `$N` as a *named* parameter
    /// and `?N` as a numbered one that it still records by name; both are looked up in a list
    /// while parsing, so a multi-row insert or an `IN` list with thousands of parameters
    /// parsed in time quadratic in their number (a registry import of 5,000 institutions spent
    /// 70% of its time there). When the statement's parameters are `$1, $2, ...` each once and
    /// in order (every generated batch), they become plain `?`, which SQLite numbers as it
    /// meets them without a lookup; otherwise `?N` (the same value by number). Quoted text,
    /// quoted names and comments are left as they are (an apostrophe in a comment once hid
    /// every parameter after it, and the statement bound the wrong values).
    static func numbered(_ sql: String) -> String {
        var bytes = Array(sql.utf8)
        var places: [(start: Int, end: Int, number: Int)] = []
        var i = 0
        /// The index just past the end of what starts at `i` and is not SQL to look into:
        /// quoted text or a quoted name ('' or "" inside them close and reopen), a `--` comment
        /// to the line's end, a `/* */` comment; or nil.
        func skipped(_ i: Int) -> Int? {
            let byte = bytes[i], next = i + 1 < bytes.count ? bytes[i + 1] : 0
            if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                return (bytes[(i + 1)...].firstIndex(of: byte) ?? bytes.count - 1) + 1
            }
            if byte == UInt8(ascii: "-"), next == UInt8(ascii: "-") {
                return bytes[(i + 2)...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            }
            if byte == UInt8(ascii: "/"), next == UInt8(ascii: "*") {
                var end = i + 2
                while end + 1 < bytes.count, !(bytes[end] == UInt8(ascii: "*") && bytes[end + 1] == UInt8(ascii: "/")) { end += 1 }
                return min(end + 2, bytes.count)
            }
            return nil
        }
        while i < bytes.count {
            if let end = skipped(i) {
                i = end
                continue
            }
            if bytes[i] == UInt8(ascii: "$"), i + 1 < bytes.count, (48...57).contains(bytes[i + 1]) {
                var end = i + 1, number = 0
                while end < bytes.count, (48...57).contains(bytes[end]) { number = number * 10 + Int(bytes[end] - 48); end += 1 }
                places.append((i, end, number))
                i = end
                continue
            }
            i += 1
        }
        guard !places.isEmpty else { return sql }
        guard places.enumerated().allSatisfy({ $0.offset + 1 == $0.element.number }) else {
            for place in places { bytes[place.start] = UInt8(ascii: "?") }
            return String(decoding: bytes, as: UTF8.self)
        }
        // One pass: the text between parameters copied, each parameter a plain `?`.
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var from = 0
        for place in places {
            out.append(contentsOf: bytes[from..<place.start])
            out.append(UInt8(ascii: "?"))
            from = place.end
        }
        out.append(contentsOf: bytes[from...])
        return String(decoding: out, as: UTF8.self)
    }

    private func classify(sql: String, status: Int32, message: String) -> StoreError {
        if status & 0xff == SQLITE_CONSTRAINT { return .constraint(sql: sql, message: message) }
        if let kind = StoreUnavailability.sqlite(status) {
            return StoreHealth.failure(kind, detail: "SQL error \(status): \(message) in: \(sql.prefix(200))")
        }
        return .statement(sql: sql, code: status, message: message)
    }
}
