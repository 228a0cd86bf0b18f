import Foundation
import MedicareStore
import Synchronization
import Testing
import MedicareTestSupport

private let schema = [
    Migration(1, "accounts", sql: "CREATE TABLE accounts (id BIGINT PRIMARY KEY, owner TEXT NOT NULL, balance BIGINT NOT NULL)"),
    Migration(2, "entries", sql: "CREATE TABLE entries (id BIGINT PRIMARY KEY, account BIGINT NOT NULL, amount BIGINT NOT NULL, note TEXT, data BYTEA)",
              postgres: "CREATE TABLE entries (id BIGINT PRIMARY KEY, account BIGINT NOT NULL, amount BIGINT NOT NULL, note TEXT, data BYTEA)"),
]

private struct Refused: Error {}

@Suite("Store engines")
struct StoreEngineTests {
    /// A statement run often is prepared (PostgreSQL); when its table changes shape under it
    /// (a newer replica's migration: "cached plan must not change result type"), it is
    /// prepared again instead of failing on that connection for good: a statement on its own
    /// runs again at once, a transaction is run again. Each connection of the pool is
    /// exercised by running more reads than it holds at once.
    @Test(arguments: Engine.all)
    func aPreparedStatementSurvivesItsTableChangingShape(engine: Engine) async throws {
        try await withDatabase(engine) { db in
            _ = try await Migrator.migrate(db, service: "test", migrations: schema, logger: quietLogger)
            try await db.write { try await $0.execute("INSERT INTO accounts (id, owner, balance) VALUES (1, 'a', 10)", []) }
            let select = "SELECT * FROM accounts WHERE id = $1"
            func readAll() async throws {
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<8 { group.addTask { try await db.read { try await $0.query(select, [.integer(1)]).count } } }
                    for try await count in group { #expect(count == 1) }
                }
            }
            try await readAll()
            try await readAll()
            try await db.write { try await $0.execute("ALTER TABLE accounts ADD COLUMN note TEXT", []) }
            try await readAll()
            let written = try await db.write { tx -> Int in
                let rows = try await tx.query(select, [.integer(1)])
                try await tx.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1", [])
                return rows.count
            }
            #expect(written == 1)
            let row = try #require(try await db.read { try await $0.queryOne(select, [.integer(1)]) })
            #expect(try row.int("balance") == 11 && row.columns.contains("note"))
        }
    }

    /// A write that fails leaves nothing behind, whether it ran alone (no savepoint: its
    /// transaction is rolled back) or with others in one group commit (its savepoint is), and
    /// the others and the next write commit.
    @Test(arguments: Engine.all)
    func aFailedWriteLeavesNothingAloneOrInAGroup(engine: Engine) async throws {
        try await withDatabase(engine) { db in
            _ = try await Migrator.migrate(db, service: "test", migrations: schema, logger: quietLogger)
            await #expect(throws: Refused.self) {
                try await db.write { tx in
                    try await tx.execute("INSERT INTO accounts (id, owner, balance) VALUES (1, 'alone', 1)", [])
                    throw Refused()
                }
            }
            try await db.write { try await $0.execute("INSERT INTO accounts (id, owner, balance) VALUES (2, 'next', 2)", []) }
            let failed = try await withThrowingTaskGroup(of: Bool.self) { group in
                for id in 10..<40 {
                    group.addTask {
                        do {
                            try await db.write { tx in
                                try await tx.execute("INSERT INTO accounts (id, owner, balance) VALUES ($1, 'group', 1)", [.integer(Int64(id))])
                                if id % 3 == 0 { throw Refused() }
                            }
                            return false
                        } catch is Refused { return true }
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(failed == 10)
            let ids = try await db.read { try await $0.query("SELECT id FROM accounts ORDER BY id", []) }.map { try $0.int("id") }
            #expect(ids == [2] + (10..<40).filter { $0 % 3 != 0 }.map(Int64.init))
        }
    }

    /// A bulk insert whose row in the middle breaks the primary key throws `constraint` and
    /// leaves none of its rows (SQLite runs it row by row: the rows before it are rolled back
    /// with the write), alone or in a group commit beside writes that commit; its `tail`
    /// (`ON CONFLICT ... DO UPDATE`) applies to each row, NULLs and blobs bind as given.
    @Test(arguments: Engine.all)
    func aBulkInsertBrokenInTheMiddleLeavesNoneOfItsRows(engine: Engine) async throws {
        try await withDatabase(engine) { db in
            _ = try await Migrator.migrate(db, service: "test", migrations: schema, logger: quietLogger)
            try await db.write { try await $0.execute("INSERT INTO accounts (id, owner, balance) VALUES (500, 'held', 1)", []) }
            let broken = (495..<505).map { n -> [SQLValue] in [.integer(Int64(n)), .text("new"), .integer(1)] }
            await #expect(throws: StoreError.self) {
                try await db.write { try await $0.insert(into: "accounts", columns: ["id", "owner", "balance"], rows: broken) }
            }
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for k in 0..<8 {
                    group.addTask {
                        do {
                            try await db.write { tx in
                                let rows = k == 3 ? broken : [[SQLValue.integer(Int64(1_000 + k)), .text("ok"), .integer(1)]]
                                try await tx.insert(into: "accounts", columns: ["id", "owner", "balance"], rows: rows)
                            }
                            return true
                        } catch StoreError.constraint { return false }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { !$0 }.count == 1)
            let ids = try await db.read { try await $0.query("SELECT id FROM accounts ORDER BY id", []) }.map { try $0.int("id") }
            #expect(ids == [500] + (1_000..<1_008).filter { $0 != 1_003 }.map(Int64.init))
            // The tail applies row by row: the held row updated, the new ones inserted.
            try await db.write {
                try await $0.insert(into: "accounts", columns: ["id", "owner", "balance"], rows: broken,
                                    tail: "ON CONFLICT (id) DO UPDATE SET balance = accounts.balance + excluded.balance")
            }
            let held = try await db.read { try await $0.queryOne("SELECT balance, (SELECT COUNT(*) FROM accounts) AS n FROM accounts WHERE id = 500", []) }
            #expect(try held?.int("balance") == 2 && held?.int("n") == 17)
            try await db.write {
                try await $0.insert(into: "entries", columns: ["id", "account", "amount", "note", "data"], rows: [
                    [.integer(1), .integer(500), .integer(-7), .null, .blob([1, 2, 3])], [.integer(2), .integer(500), .integer(7), .text("x"), .blob([])],
                ])
            }
            let entries = try await db.read { try await $0.query("SELECT * FROM entries ORDER BY id", []) }
            #expect(try entries.map { try $0.int("amount") } == [-7, 7])
            #expect(try entries[0].optionalString("note") == nil && entries[1].string("note") == "x")
        }
    }

    @Test(arguments: Engine.all)
    func migrationsApplyOnceAndAreRecorded(engine: Engine) async throws {
        try await withDatabase(engine) { db in
            #expect(try await Migrator.migrate(db, service: "test", migrations: schema, logger: quietLogger) == [1, 2])
            #expect(try await Migrator.migrate(db, service: "test", migrations: schema, logger: quietLogger) == [])
            let rows = try await db.read { try await $0.query("SELECT version, name FROM schema_migrations WHERE service = $1 ORDER BY version", ["test"]) }
            #expect(try rows.map { try $0.int("version") } == [1, 2])
            #expect(try rows.map { try $0.string("name") } == ["accounts", "entries"])
        }
    }

    /// `$n` binds value n wherever it stands (out of order, twice), never inside quoted text,
    /// and a statement with thousands of them (a batch insert) parses in linear time on SQLite.
    @Test(arguments: Engine.all)
    func placeholdersBindByNumberAnywhereButInQuotes(engine: Engine) async throws {
        try await withDatabase(engine) { db in
            try await Migrator.migrate(db, service: "test", migrations: schema, logger: quietLogger)
            let row = try await db.read { try await $0.queryOne("SELECT $2 AS b, $1 AS a, $2 AS c, 'cost $1' AS text", [.text("one"), .text("two")]) }
            // Comments and quoted names are not SQL to look into either: an apostrophe in a
            // comment, or a `$1` in one, leaves the parameters after it as they are.
            let commented = try await db.read {
                try await $0.queryOne(
                    """
                    -- the region's code, then $9 (not a parameter)
                    SELECT $2 AS "b's", /* it's $1 */ $1 AS a, 'it''s' AS text
                    """, [.text("one"), .text("two")]
                )
            }
            #expect(try commented?.string("b's") == "two" && commented?.string("a") == "one" && commented?.string("text") == "it's")
            #expect(try row?.string("a") == "one" && row?.string("b") == "two" && row?.string("c") == "two" && row?.string("text") == "cost $1")
            let rows = (1...4_000).map { n -> [SQLValue] in [.integer(Int64(n)), .text("o\(n)"), .integer(Int64(n))] }
            try await db.write { try await $0.insert(into: "accounts", columns: ["id", "owner", "balance"], rows: rows) }
            let total = try await db.read { try await $0.queryOne("SELECT SUM(balance) AS s, COUNT(*) AS n FROM accounts", []) }
            #expect(try total?.int("n") == 4_000 && total?.int("s") == 8_002_000)
        }
    }

    @Test(arguments: Engine.all)
    func aDatabaseFromANewerBuildIsRefused(engine: Engine) async throws {
        try await withDatabase(engine) { db in
            try await Migrator.migrate(db, service: "test", migrations: schema, logger: quietLogger)
            await #expect(throws: StoreError.self) {
                try await Migrator.migrate(db, service: "test", migrations: Array(schema.prefix(1)), logger: quietLogger)
            }
            do {
                try await Migrator.migrate(db, service: "test", migrations: Array(schema.prefix(1)), logger: quietLogger)
            } catch {
                #expect("\(error)".contains("schema is at version 2, newer than this build knows (1)"))
            }
        }
    }

    @Test(arguments: Engine.all)
    func valuesRoundTrip(engine: Engine) async throws {
        try await withDatabase(engine) { db in
            try await Migrator.migrate(db, service: "test", migrations: schema, logger: quietLogger)
            try await db.write { tx in
                try await tx.execute("INSERT INTO entries (id, account, amount, note, data) VALUES ($1, $2, $3, $4, $5)",
                                     [.integer(1), .integer(Int64.max), .integer(-12_345), .text("村卫生室 ✓"), .blob([0, 1, 255])])
                try await tx.execute("INSERT INTO entries (id, account, amount, note, data) VALUES ($1, $2, $3, $4, $5)",
                                     [.integer(2), .integer(7), .integer(0), .null, .null])
            }
            let rows = try await db.read { try await $0.query("SELECT id, account, amount, note, data FROM entries ORDER BY id", []) }
            #expect(try rows[0].int("account") == Int64.max)
            #expect(try rows[0].int("amount") == -12_345)
            #expect(try rows[0].string("note") == "村卫生室 ✓")
            #expect(try rows[0].blob("data") == [0, 1, 255])
            #expect(try rows[1].optionalString("note") == nil)
        }
    }

    @Test(arguments: Engine.all)
    func aFailedWriteLeavesNothingBehindAndOthersCommit(engine: Engine) async throws {
        try await withDatabase(engine) { db in
            try await Migrator.migrate(db, service: "test", migrations: schema, logger: quietLogger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<32 {
                    group.addTask {
                        do {
                            try await db.write { tx in
                                try await tx.execute("INSERT INTO accounts (id, owner, balance) VALUES ($1, $2, $3)", [.integer(Int64(i)), .text("o\(i)"), .integer(100)])
                                try await tx.execute("INSERT INTO entries (id, account, amount) VALUES ($1, $2, $3)", [.integer(Int64(i)), .integer(Int64(i)), .integer(100)])
                                if i % 4 == 0 { throw Refused() }
                            }
                        } catch is Refused {}
                    }
                }
                try await group.waitForAll()
            }
            let accounts = try await db.read { try await $0.query("SELECT id FROM accounts ORDER BY id", []) }
            let entries = try await db.read { try await $0.query("SELECT id FROM entries ORDER BY id", []) }
            let expected = (0..<32).filter { $0 % 4 != 0 }.map(Int64.init)
            #expect(try accounts.map { try $0.int("id") } == expected)
            #expect(try entries.map { try $0.int("id") } == expected)
        }
    }

    @Test(arguments: Engine.all)
    func duplicateKeysAreConstraintErrors(engine: Engine) async throws {
        try await withDatabase(engine) { db in
            try await Migrator.migrate(db, service: "test", migrations: schema, logger: quietLogger)
            try await db.write { try await $0.execute("INSERT INTO accounts (id, owner, balance) VALUES (1, 'a', 0)", []) }
            do {
                try await db.write { try await $0.execute("INSERT INTO accounts (id, owner, balance) VALUES (1, 'b', 0)", []) }
                Issue.record("a duplicate primary key was accepted")
            } catch let error as StoreError {
                guard case .constraint = error else { Issue.record("expected a constraint error, got \(error)"); return }
            }
        }
    }

    @Test(arguments: Engine.all)
    func sixtyFourConcurrentWritersAllCommit(engine: Engine) async throws {
        try await withDatabase(engine) { db in
            try await Migrator.migrate(db, service: "test", migrations: schema, logger: quietLogger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<64 {
                    group.addTask {
                        for n in 0..<20 {
                            let id = Int64(writer * 100 + n)
                            try await db.write { tx in
                                try await tx.execute("INSERT INTO entries (id, account, amount) VALUES ($1, $2, $3)", [.integer(id), .integer(Int64(writer)), .integer(1)])
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let count = try await db.read { try await $0.queryOne("SELECT COUNT(*) AS n, SUM(amount) AS s FROM entries", []) }
            #expect(try count?.int("n") == 1280)
            #expect(try count?.int("s") == 1280)
            if let sqlite = db as? SQLiteDatabase {
                // Group commit: fewer durable commits than transactions.
                #expect(sqlite.statistics.transactionCount >= 1280)
                #expect(sqlite.statistics.commitCount < sqlite.statistics.transactionCount / 2, "commits \(sqlite.statistics.commitCount)")
            }
        }
    }

    @Test(arguments: [
        ("sqlite:", "needs a file path"),
        ("mysql://x/y", "must start with sqlite: or postgres://"),
        ("postgres://host/db", "has no user name"),
        ("postgres://u@host", "has no database name"),
        ("postgres://u@host/db?sslmode=maybe", "sslmode 'maybe'"),
        ("postgres://u@host/db?sslmode=verify-full", "needs sslrootcert"),
        ("postgres://u@host/db?password=x", "parameter 'password' is not one of"),
        ("postgres://u@host/db?password_file=/nonexistent/pw", "password_file '/nonexistent/pw' cannot be read"),
    ])
    func badStoreURLsSayWhatIsWrong(url: String, message: String) {
        #expect { try StoreLocation(url: url) } throws: { "\($0)".contains(message) }
    }

    @Test func storeURLsParse() throws {
        #expect(try StoreLocation(url: "sqlite:data/registry.sqlite") == .sqlite(path: "data/registry.sqlite"))
        guard case .postgres(let pg) = try StoreLocation(url: "postgres://med:s3cret@db.example:6543/medicare?sslmode=require") else {
            Issue.record("not postgres"); return
        }
        #expect(pg.host == "db.example" && pg.port == 6543 && pg.username == "med" && pg.password == "s3cret" && pg.database == "medicare" && pg.sslmode == "require")
    }

    /// The password need not be in the URL: a file (as a secret is mounted) gives it.
    @Test func aStorePasswordComesFromAFile() throws {
        let file = NSTemporaryDirectory() + "pw-\(UUID().uuidString)"
        try "from-file\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        guard case .postgres(let pg) = try StoreLocation(url: "postgres://med@db/medicare?sslmode=verify-full&sslrootcert=/etc/ca.pem&password_file=\(file)") else {
            Issue.record("not postgres"); return
        }
        #expect(pg.password == "from-file" && pg.sslmode == "verify-full" && pg.sslRootCert == "/etc/ca.pem")
    }
}

@Suite struct SQLPlaceholdersTests {
    @Test func listsAndRowsAreNumberedInOrder() {
        #expect(SQLPlaceholders.list(3) == "$1, $2, $3")
        #expect(SQLPlaceholders.list(2, from: 3) == "$3, $4")
        #expect(SQLPlaceholders.rows(2, width: 3) == "($1, $2, $3), ($4, $5, $6)")
    }
}
