import Foundation
import MedicareStore
import MedicareTestSupport
import Testing

@Suite("Durability")
struct DurabilityTests {
    /// SIGKILL a process in the middle of a stream of acknowledged commits: after reopening,
    /// every acknowledged row is there.
    @Test func everyAcknowledgedCommitSurvivesKillNine() async throws {
        let path = NSTemporaryDirectory() + "durability-\(UUID().uuidString).sqlite"
        let writer = try ChildProcess(Executables.path("store-bench"), ["--ack-stream", path])
        var acked: [Int64] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while acked.count < 2_000 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            acked = writer.standardOutput.split(separator: "\n").compactMap { line in
                line.hasPrefix("ack ") ? Int64(line.dropFirst(4)) : nil
            }
        }
        writer.signal(SIGKILL)
        _ = try await writer.wait()
        // Lines printed before the kill are all acknowledged commits; read them once more
        // after the process is gone.
        acked = writer.standardOutput.split(separator: "\n").compactMap { line in
            line.hasPrefix("ack ") && line.count > 4 ? Int64(line.dropFirst(4)) : nil
        }
        try #require(acked.count >= 2_000, "the writer acknowledged only \(acked.count) commits; stderr: \(writer.standardError)")

        let db = try SQLiteDatabase(configuration: .init(path: path), logger: quietLogger)
        let stored = try await running(db) {
            try await db.read { tx in try await tx.query("SELECT id FROM bench", []).map { try $0.int("id") } }
        }
        let missing = Set(acked).subtracting(stored)
        #expect(missing.isEmpty, "acknowledged but lost: \(missing.sorted().prefix(10))")
    }
}
