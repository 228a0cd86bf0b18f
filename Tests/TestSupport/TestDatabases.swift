import Foundation
public import Logging
public import MedicareStore
public import ServiceLifecycle

/// The engines every store test runs on. PostgreSQL comes from scripts/test.sh, which
/// starts a real server and sets MEDICARE_TEST_POSTGRES_URL; without it the PostgreSQL
/// cases fail (set MEDICARE_SKIP_POSTGRES=1 to leave them out knowingly).
public enum Engine: String, CaseIterable, CustomStringConvertible, Sendable {
    case sqlite
    case postgres

    public static var all: [Engine] {
        ProcessInfo.processInfo.environment["MEDICARE_SKIP_POSTGRES"] == "1" ? [.sqlite] : allCases
    }

    public var description: String { rawValue }
}

public var quietLogger: Logger {
    var logger = Logger(label: "test.store")
    logger.logLevel = .critical
    return logger
}

/// A fresh, empty database on `engine`, running for the duration of `body`.
public func withDatabase<T: Sendable>(
    _ engine: Engine, _ body: @escaping @Sendable (any SQLDatabase & Service) async throws -> T
) async throws -> T {
    let database: any SQLDatabase & Service
    switch engine {
    case .sqlite:
        let path = NSTemporaryDirectory() + "store-test-\(UUID().uuidString).sqlite"
        database = try SQLiteDatabase(configuration: .init(path: path), logger: quietLogger)
    case .postgres:
        guard let url = ProcessInfo.processInfo.environment["MEDICARE_TEST_POSTGRES_URL"] else {
            throw ChildError(description: "MEDICARE_TEST_POSTGRES_URL is not set: run scripts/test.sh, which starts PostgreSQL")
        }
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        // CREATE and DROP DATABASE wait for each other (template1), many tests at once: no
        // 5-second statement bound on them, or a loaded run fails them (it did, in CI).
        let admin = try StoreLocation(url: url).open(maxConnections: 1, statementTimeout: .seconds(600), connectTimeout: .seconds(60), logger: quietLogger)
        try await running(admin) { try await admin.read { try await $0.execute("CREATE DATABASE \(name)", []) } }
        guard case .postgres(var location) = try StoreLocation(url: url) else { preconditionFailure() }
        location.database = name
        database = try StoreLocation.postgres(location).open(maxConnections: 80, logger: quietLogger)
    }
    return try await running(database) { try await body(database) }
}

/// Runs a store service around `body`, then stops it.
public func running<T: Sendable>(_ service: any Service, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await service.run()
            return nil
        }
        do {
            let result = try await body()
            group.cancelAll()
            while try await group.next() != nil {}
            return result
        } catch {
            group.cancelAll()
            throw error
        }
    }
}
