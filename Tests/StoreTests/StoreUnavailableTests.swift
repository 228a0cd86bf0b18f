import Foundation
import Logging
@testable import MedicareStore
import MedicareRPC
import MedicareRuntime
import ServiceLifecycle
import MedicareTestSupport
import Testing

/// A full disk or failing storage is not our defect: such store errors map to
/// `unavailable` (retryable) with a message that says what, never where, and are counted
/// (`medicare_store_unavailable`, `medicare_store_unavailable_total{kind}`).
@Suite("Store unavailable")
struct StoreUnavailableTests {
    @Test func aFullDatabaseIsUnavailableNotInternal() async throws {
        let folder = NSTemporaryDirectory() + "store-full-\(UUID().uuidString.prefix(8))"
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let db = try SQLiteDatabase(configuration: .init(path: "\(folder)/full.sqlite"), logger: logger)
        let before = StoreHealth.count(.storageFull)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await db.run() }
            try await db.write { try await $0.execute("CREATE TABLE blobs (b BLOB)", []) }
            // The file may not grow past its current size: as good as a full disk.
            let pages = try await db.write { try await $0.query("PRAGMA page_count", []) }
            let count = try #require(pages.first?.values.first)
            guard case .integer(let n) = count else { throw StoreError.decoding("page_count") }
            try await db.write { try await $0.execute("PRAGMA max_page_count = \(n + 2)", []) }

            let error = await #expect(throws: StoreError.self) {
                try await db.write { try await $0.execute("INSERT INTO blobs VALUES (zeroblob(1048576))", []) }
            }
            guard case .resources(.storageFull, let detail)? = error else {
                Issue.record("expected .resources(.storageFull), got \(String(describing: error))")
                group.cancelAll()
                return
            }
            #expect(detail.contains("INSERT INTO blobs"), "the detail, for the log, names the statement")
            let rpc = RPCError(mapping: error!)
            #expect(rpc.code == .unavailable)
            #expect(rpc.message == "the store is out of space; retry later")
            #expect(!rpc.message.contains("INSERT") && !rpc.message.contains(folder))
            #expect(StoreHealth.count(.storageFull) > before)

            // Room again: writes go through.
            try await db.write { try await $0.execute("PRAGMA max_page_count = 1073741823", []) }
            try await db.write { try await $0.execute("INSERT INTO blobs VALUES (zeroblob(1048576))", []) }
            group.cancelAll()
        }
        try? FileManager.default.removeItem(atPath: folder)
    }

    @Test(arguments: [
        (StoreUnavailability.storageFull, "the store is out of space; retry later"),
        (.storageIO, "the store cannot read or write its storage; retry later"),
        (.connection, "the store's database cannot be reached; retry later"),
    ])
    func resourceFailuresMapToUnavailableWithoutDetail(kind: StoreUnavailability, message: String) {
        let error = StoreError.resources(kind, detail: "SQL error 778: disk I/O error in: INSERT INTO settlements ... /var/lib/medicare/x.sqlite")
        let rpc = RPCError(mapping: error)
        #expect(rpc.code == .unavailable)
        #expect(rpc.message == message)
        #expect(rpc.redactedForPeer() == nil)
        #expect("\(rpc.cause!)".contains("/var/lib/medicare"), "the detail stays in the cause for the log")
    }

    @Test func statementErrorsStayInternal() {
        let rpc = RPCError(mapping: StoreError.statement(sql: "SELEC x", code: 1, message: "syntax error"))
        #expect(rpc.code == .internal && rpc.message == "internal error")
    }

    @Test(arguments: [
        (Int32(13), StoreUnavailability?.some(.storageFull)),  // SQLITE_FULL
        (10, .storageIO),  // SQLITE_IOERR
        (10 | (3 << 8), .storageIO),  // SQLITE_IOERR_WRITE
        (10 | (4 << 8), .storageIO),  // SQLITE_IOERR_FSYNC
        (14, .storageIO),  // SQLITE_CANTOPEN
        (8, .storageIO),  // SQLITE_READONLY
        (1, nil),  // SQLITE_ERROR: our statement
        (19 | (8 << 8), nil),  // SQLITE_CONSTRAINT_UNIQUE
        (11, nil),  // SQLITE_CORRUPT: not something a retry mends
    ])
    func sqliteCodes(code: Int32, kind: StoreUnavailability?) {
        #expect(StoreUnavailability.sqlite(code) == kind)
    }

    @Test(arguments: [
        ("53100", StoreUnavailability?.some(.storageFull)),  // disk_full
        ("53200", .storageFull),  // out_of_memory
        ("53300", .storageFull),  // too_many_connections
        ("58030", .storageIO),  // io_error
        ("08006", .connection),  // connection_failure
        ("08001", .connection),  // sqlclient_unable_to_establish_sqlconnection
        ("57P01", .connection),  // admin_shutdown
        ("57P03", .connection),  // cannot_connect_now
        ("23505", nil),  // unique_violation
        ("42601", nil),  // syntax_error
        ("40001", nil),  // serialization_failure: run again, then aborted (StoreError.conflict)
        ("57014", .busy),  // query_canceled: statement_timeout
        ("55P03", .busy),  // lock_not_available
    ])
    func postgresStates(state: String, kind: StoreUnavailability?) {
        #expect(StoreUnavailability.postgres(sqlState: state) == kind)
    }
}

/// While PostgreSQL cannot be reached, calls fail fast instead of each waiting for a
/// connection of its own; the circuit probes again after a moment.
@Suite struct PostgresCircuitTests {
    @Test func callsFailFastWhileTheDatabaseIsUnreachableAndAProbeFollows() async throws {
        // A port nothing listens on: every connection attempt is refused.
        var configuration = PostgresDatabase.Configuration(
            host: "127.0.0.1", port: 9, username: "medicare", password: nil, database: "medicare",
            statementTimeout: .seconds(1), connectTimeout: .milliseconds(500)
        )
        // Wide, so that a loaded machine's pause between two calls cannot end it.
        configuration.circuitProbeInterval = .seconds(5)
        let database = try PostgresDatabase(configuration: configuration, logger: quietLogger)
        try await running(database) {
            let first = await #expect(throws: StoreError.self) { try await database.read { try await $0.execute("SELECT 1", []) } }
            #expect(first.map { "\($0)" }?.contains("failing fast") == false, "\(String(describing: first))")
            let second = await #expect(throws: StoreError.self) { try await database.read { try await $0.execute("SELECT 1", []) } }
            guard case .resources(.connection, let detail)? = second else { Issue.record("not a connection failure: \(String(describing: second))"); return }
            #expect(detail.contains("failing fast"), "\(detail)")
            // After the probe interval one call tries the database again (and fails the slow way).
            try await Task.sleep(for: .milliseconds(5200))
            let probe = await #expect(throws: StoreError.self) { try await database.read { try await $0.execute("SELECT 1", []) } }
            #expect(probe.map { "\($0)" }?.contains("failing fast") == false, "\(String(describing: probe))")
        }
    }
}
