import Foundation
import Logging
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareStore
import MedicareWire
import SettlementService
import SupervisionService

/// Settlements per second of the settlement service alone (its router through the codec,
/// on the embedded SQLite store with full sync) at 1, 16 and 64 in flight, against the disk's
/// single-writer fsync rate measured in the same run; and the review latency per claim with
/// the shipped rule set over a realistic person history, against the same set without its
/// history rules, claim by claim.
///
///   service-bench [--seconds S] [--review-only]
@main
enum ServiceBench {
    static func main() async throws {
        let seconds = CommandLine.arguments.firstIndex(of: "--seconds").flatMap { Double(CommandLine.arguments[$0 + 1]) } ?? 5
        var logger = Logger(label: "service-bench")
        logger.logLevel = .error
        let dir = NSTemporaryDirectory() + "service-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let fsyncs = DiskProbe.fsyncRate(in: dir)
        print(String(format: "baseline: %.0f fsyncs/s on %@", fsyncs, dir))
        let book = try PolicyBook.bundled()
        let persons = (0..<10_000).map { i -> InsuredPerson in
            let first17 = "330802" + String(format: "%04d%02d%02d%03d", 1950 + i % 50, 1 + (i / 50) % 12, 1 + (i / 600) % 28, 1 + i / 16_800)
            return InsuredPerson(psnNo: "P\(i)", certno: first17 + String(ResidentID.checkCharacter(first17)), name: "测试\(i)", insutype: .residentBasic,
                                 insuAdmdvs: "330802", psnInsuStas: .enrolled, accountBalance: 0)
        }

        let reviewOnly = CommandLine.arguments.contains("--review-only")
        if !reviewOnly { print("settle in-flight  settles/s  vs fsync   p50 ms   p99 ms") }
        for level in reviewOnly ? [] : [1, 16, 64] {
            let db = try SQLiteDatabase(configuration: .init(path: "\(dir)/settlement-\(level).sqlite"), logger: logger)
            let runner = Task { try await db.run() }
            try await Migrator.migrate(db, service: "settlement", migrations: SettlementDefinition.migrations, logger: logger)
            var router = RPCRouter()
            SettlementProvider(store: SettlementStore(database: db), policies: book).register(with: &router)
            let client = SettlementClient(InProcessChannel(router: router, peer: PeerIdentity(commonName: "bench", role: "service"), logger: logger))
            for chunk in stride(from: 0, to: persons.count, by: 2_000) {
                _ = try await client.importPersons(ImportPersonsRequest(persons: Array(persons[chunk..<min(chunk + 2_000, persons.count)])))
            }
            let (count, latencies, elapsed) = try await load(level: level, seconds: seconds) { worker, n in
                // A person and visit day no other claim of the run uses (the same item for a
                // person twice on one day is refused as R003): worker w's n-th claim is claim
                // k = n x level + w, for person k mod 10,000 on day k / 10,000 of 2024-2025.
                let k = n * level + worker
                let day = k / persons.count
                let date = String(format: "%04d-%02d-%02d", 2024 + (day / 336) % 2, 1 + (day / 28) % 12, 1 + day % 28)
                let request = SettleRequest(claim: Claim(
                    mdtrtID: "M\(worker)-\(n)", psnNo: "P\(k % persons.count)", fixmedinsCode: "H33080200101",
                    settleVia: "H33080200001", medType: .generalOutpatient, visitDate: date,
                    lines: [FeeLine(itemCode: "001102000050000", quantity: 1, unitPrice: 1000), FeeLine(itemCode: "XJ01CAA040A001010100001", quantity: 20, unitPrice: 50),
                            FeeLine(itemCode: "XC10AAA056B001020100004", quantity: 10, unitPrice: 250)]
                ))
                _ = try await client.settle(request, options: CallOptions(metadata: [Metadata.idempotencyKey: "k\(worker)-\(n)"]))
            }
            let rate = Double(count) / elapsed
            print(String(format: "%15d %10.0f %8.1fx %8.2f %8.2f", level, rate, rate / fsyncs, latencies.p(50) / 1000, latencies.p(99) / 1000))
            let ledger = try await client.checkLedger(LedgerCheckRequest())
            guard ledger.balanced else { fatalError("ledger does not balance after the run: \(ledger.problems)") }
            runner.cancel()
            _ = try? await runner.value
        }

        // Review: the shipped rule set against a realistic history (each of 10,000 persons
        // with a visit every 3 days over a year, 1.2 million settled visits, at 3 clinics),
        // paired claim by claim with the baseline beside it: the same set without its history
        // rules, which reads nothing.
        let db = try SQLiteDatabase(configuration: .init(path: "\(dir)/supervision.sqlite"), logger: logger)
        let runner = Task { try await db.run() }
        try await Migrator.migrate(db, service: "supervision", migrations: SupervisionDefinition.migrations, logger: logger)
        let store = SupervisionStore(database: db)
        let clinics = ["H33080200101", "H33080200102", "H33080200103"]
        let year = CivilDate(year: 2024, month: 6, day: 1)
        for chunk in stride(from: 0, to: persons.count, by: 500) {
            let rows = (chunk..<min(chunk + 500, persons.count)).flatMap { p in
                (1...120).map { v -> [SQLValue] in
                    [.text("S\(p)-\(v)"), .text("P\(p)"), .text(clinics[(p + v) % 3]), .text("H\(p)-\(v)"), .text(year.adding(days: -3 * v).description)]
                }
            }
            try await db.write { tx in
                try await tx.insert(into: "visits", columns: ["setl_id", "psn_no", "fixmedins_code", "mdtrt_id", "visit_date"], rows: rows, tail: "")
            }
        }
        let full = try RuleBook.bundled()
        var claimOnly = full
        claimOnly.version = "claim-only"
        claimOnly.rules.removeAll { $0.kind == .visitFrequency || $0.kind == .manyInstitutions }
        func client(_ set: RuleSet) throws -> SupervisionClient {
            var router = RPCRouter()
            SupervisionProvider(store: store, catalogue: book.catalogue, rules: try RuleBook(sets: [set]), recent: RecentVisits(window: .seconds(60)))
                .register(with: &router)
            return SupervisionClient(InProcessChannel(router: router, peer: PeerIdentity(commonName: "bench", role: "service"), logger: logger))
        }
        let baseline = try client(claimOnly), measured = try client(full)
        var base: [Double] = [], reviews: [Double] = []
        for n in 0..<10_000 {
            let request = ReviewRequest(claim: Claim(
                mdtrtID: "R\(n)", psnNo: "P\(n)", certno: persons[n].certno, fixmedinsCode: "H33080200101", medType: .generalOutpatient,
                visitDate: "2024-06-02", lines: [FeeLine(itemCode: "001102000050000", quantity: 1, unitPrice: 1000), FeeLine(itemCode: "XJ01CAA040A001010100001", quantity: 20, unitPrice: 50, days: 5)]
            ), designationStatus: .designated)
            for (client, into) in n % 2 == 0 ? [(baseline, 0), (measured, 1)] : [(measured, 1), (baseline, 0)] {
                let start = ContinuousClock.now
                let answer = try await client.review(request)
                guard answer.verdict == .pass else { fatalError("the bench claim is not clean: \(answer.findings)") }
                if into == 0 { base.append(micros(ContinuousClock.now - start)) } else { reviews.append(micros(ContinuousClock.now - start)) }
            }
        }
        base.sort()
        reviews.sort()
        print(String(format: "review, claim-only rules (baseline, %d rules): p50 %.0f µs, p99 %.0f µs", claimOnly.rules.count, base.p(50), base.p(99)))
        print(String(format: "review, shipped set (%d rules, 120 past visits a person): p50 %.0f µs (%.2fx), p99 %.0f µs (%.2fx)",
                     full.rules.count, reviews.p(50), reviews.p(50) / base.p(50), reviews.p(99), reviews.p(99) / base.p(99)))
        runner.cancel()
        try? FileManager.default.removeItem(atPath: dir)
    }

    static func load(level: Int, seconds: Double, _ call: @escaping @Sendable (Int, Int) async throws -> Void) async throws -> (Int, [Double], Double) {
        let start = ContinuousClock.now
        let end = start + .milliseconds(Int64(seconds * 1000))
        var all = try await withThrowingTaskGroup(of: [Double].self) { group in
            for worker in 0..<level {
                group.addTask {
                    var mine: [Double] = []
                    var n = 0
                    while ContinuousClock.now < end {
                        n += 1
                        let t0 = ContinuousClock.now
                        try await call(worker, n)
                        mine.append(micros(ContinuousClock.now - t0))
                    }
                    return mine
                }
            }
            var all: [Double] = []
            for try await part in group { all += part }
            return all
        }
        all.sort()
        let elapsed = ContinuousClock.now - start
        return (all.count, all, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    static func micros(_ d: Duration) -> Double { Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12 }
}

extension Array where Element == Double {
    func p(_ percentile: Double) -> Double { isEmpty ? 0 : self[Swift.min(count - 1, Int(Double(count) * percentile / 100))] }
}
