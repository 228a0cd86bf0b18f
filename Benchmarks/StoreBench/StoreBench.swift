import Foundation
import Logging
import MedicareStore
import ServiceLifecycle

/// Commits per second with 1, 16 and 64 concurrent writers on SQLite (WAL, full sync,
/// group commit) and, given a URL, PostgreSQL. The baseline, measured first in the same run
/// and folder, is the disk's single-writer fsync rate: one write and fsync at a time.
///
///   store-bench [--seconds S] [--dir DIR] [--postgres URL]
///   store-bench --ack-stream FILE   writes numbered rows from 16 writers forever, printing
///                                   "ack N" once row N is durable (for the kill -9 test)
@main
enum StoreBench {
    static let migrations = [Migration(1, "bench", sql: "CREATE TABLE bench (id BIGINT PRIMARY KEY, writer BIGINT NOT NULL, payload TEXT NOT NULL)")]

    static func main() async throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        func option(_ name: String) -> String? {
            guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
            defer { arguments.removeSubrange(i...(i + 1)) }
            return arguments[i + 1]
        }
        var logger = Logger(label: "store-bench")
        logger.logLevel = .error
        if let path = option("--ack-stream") {
            try await ackStream(path: path, logger: logger)
            return
        }
        let seconds = Double(option("--seconds") ?? "5") ?? 5
        let dir = option("--dir") ?? NSTemporaryDirectory() + "store-bench-\(getpid())"
        let postgres = option("--postgres")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)

        let fsyncRate = DiskProbe.fsyncRate(in: dir, seconds: min(seconds, 3))
        print(String(format: "baseline: %.0f fsyncs/s (one write+fsync at a time, %@)", fsyncRate, dir))
        print("engine     writers  commits/s  vs fsync  txns/fsync   p50 ms   p99 ms")
        for writers in [1, 16, 64] {
            let path = "\(dir)/bench-\(writers).sqlite"
            try? FileManager.default.removeItem(atPath: path)
            let db = try SQLiteDatabase(configuration: .init(path: path), logger: logger)
            let result = try await run(db, writers: writers, seconds: seconds, logger: logger) {
                Double(db.statistics.transactionCount) / Double(max(db.statistics.commitCount, 1))
            }
            print(String(format: "sqlite   %9d %10.0f %8.1fx %11.1f %8.2f %8.2f", writers, result.rate, result.rate / fsyncRate, result.perFsync, result.p50, result.p99))
        }
        if let postgres {
            for writers in [1, 16, 64] {
                let location = try StoreLocation(url: postgres)
                let db = try location.open(maxConnections: 64, logger: logger)
                let result = try await run(db, writers: writers, seconds: seconds, logger: logger, reset: true) { Double.nan }
                print(String(format: "postgres %9d %10.0f %8.1fx %11@ %8.2f %8.2f", writers, result.rate, result.rate / fsyncRate, "-", result.p50, result.p99))
            }
        }
    }

    struct Result {
        var rate: Double
        var perFsync: Double
        var p50: Double
        var p99: Double
    }

    static func run(
        _ db: any SQLDatabase & Service, writers: Int, seconds: Double, logger: Logger, reset: Bool = false,
        perFsync: @escaping @Sendable () -> Double
    ) async throws -> Result {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await db.run() }
            if reset {
                try await db.write { tx in try await tx.execute("DROP TABLE IF EXISTS bench", []) }
                _ = try? await db.write { tx in try await tx.execute("DELETE FROM schema_migrations WHERE service = 'bench'", []) }
            }
            try await Migrator.migrate(db, service: "bench", migrations: migrations, logger: logger)
            let end = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
            let start = ContinuousClock.now
            let latencies = try await withThrowingTaskGroup(of: [Double].self) { inner in
                for writer in 0..<writers {
                    inner.addTask {
                        var mine: [Double] = []
                        var n: Int64 = 0
                        while ContinuousClock.now < end {
                            n += 1
                            let id = Int64(writer) << 32 | n
                            let t0 = ContinuousClock.now
                            try await db.write { tx in
                                try await tx.execute("INSERT INTO bench (id, writer, payload) VALUES ($1, $2, $3)", [.integer(id), .integer(Int64(writer)), .text("settlement \(id)")])
                            }
                            let d = ContinuousClock.now - t0
                            mine.append(Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000)
                        }
                        return mine
                    }
                }
                var all: [Double] = []
                for try await part in inner { all += part }
                return all.sorted()
            }
            let elapsed = ContinuousClock.now - start
            let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let result = Result(
                rate: Double(latencies.count) / secs, perFsync: perFsync(),
                p50: latencies[latencies.count / 2], p99: latencies[min(latencies.count - 1, latencies.count * 99 / 100)]
            )
            group.cancelAll()
            return result
        }
    }

    /// Writes rows 1, 2, 3, ... from 16 concurrent writers, printing "ack N" as each commit
    /// returns, until killed.
    static func ackStream(path: String, logger: Logger) async throws {
        let db = try SQLiteDatabase(configuration: .init(path: path), logger: logger)
        let next = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await db.run() }
            try await Migrator.migrate(db, service: "bench", migrations: migrations, logger: logger)
            for writer in 0..<16 {
                group.addTask {
                    while true {
                        let id = next.next()
                        try await db.write { tx in
                            try await tx.execute("INSERT INTO bench (id, writer, payload) VALUES ($1, $2, $3)", [.integer(id), .integer(Int64(writer)), .text("row \(id)")])
                        }
                        FileHandle.standardOutput.write(Data("ack \(id)\n".utf8))
                    }
                }
            }
            try await group.next()
        }
    }
}

import Synchronization

final class Counter: Sendable {
    private let value = Atomic<Int64>(0)
    func next() -> Int64 { value.add(1, ordering: .relaxed).newValue }
}
