import Foundation
import Logging
import MedicareContracts
import MedicareDomain
import MedicareStore
import MedicareWire
import SettlementService

/// The province-scale benchmark's history step (scripts/bench-province.sh): past settlements
/// written into a stopped settlement's SQLite store as a migration from a legacy system would
/// (``SettlementStore/loadHistory(_:)``: settlement rows, billed items, balanced ledger entries,
/// accumulators; ``SettlementStore/prepareHistory(_:)`` builds a batch while the writer stores
/// the one before), spread over the persons the store holds, `--per-person` each, dated over
/// 2023-01-01 to 2023-11-28 at the county's clinics. Prints the rows written and the rate.
///
///   province-bench --store PATH [--per-person 2] [--batch 20000] [--cache-mb 2048]
@main
enum ProvinceBench {
    static func main() async throws {
        func option(_ name: String) -> String? { CommandLine.arguments.firstIndex(of: name).flatMap { CommandLine.arguments.indices.contains($0 + 1) ? CommandLine.arguments[$0 + 1] : nil } }
        guard let path = option("--store") else {
            FileHandle.standardError.write(Data("usage: province-bench --store PATH [--per-person N] [--batch PERSONS]\n".utf8))
            exit(2)
        }
        let perPerson = Int(option("--per-person") ?? "2") ?? 2, batch = Int(option("--batch") ?? "20000") ?? 20_000
        var logger = Logger(label: "province-bench")
        logger.logLevel = .error
        // A bulk load wants the indexes it extends in memory (2 GiB of page cache).
        let db = try SQLiteDatabase(configuration: .init(path: path, cacheMiB: Int(option("--cache-mb") ?? "2048") ?? 2_048), logger: logger)
        let runner = Task { try await db.run() }
        try await Migrator.migrate(db, service: "settlement", migrations: SettlementDefinition.migrations, logger: logger)
        let store = SettlementStore(database: db)
        // 2023-01-01 to 2023-11-28, 28 days a month: 308 days, before any day the visit-flow load
        // settles (2024-03-01 on), so that none of its visits is refused as a duplicate (R003).
        let days = (1...11).flatMap { month in (1...28).map { String(format: "2023-%02d-%02d", month, $0) } }
        let clinics = (101...400).map { String(format: "H330802%05d", $0) }
        let items = ["001102000050000", "XJ01CAA040A001010100001", "XC10AAA056B001020100004", "XA10BAE032B001010100003"]
        let start = ContinuousClock.now
        var after = "", written = 0, persons = 0
        // One batch stored while the next is read and built: the writer thread stores, the
        // caller's builds (rows, encoded results, ledger entries) on the other core.
        var storing: Task<Void, any Error>?
        // A failure while the next batch is built still waits for the one being stored.
        do {
            while true {
                let from = after
                let page = try await db.lookup { tx in
                    try await tx.query("SELECT psn_no FROM persons WHERE psn_no > $1 ORDER BY psn_no LIMIT \(batch)", [.text(from)]).map { try $0.string("psn_no") }
                }
                guard let last = page.last else { break }
                after = last
                var past: [PastSettlement] = []
                past.reserveCapacity(page.count * perPerson)
                for psnNo in page {
                    for n in 0..<perPerson {
                        let k = persons * perPerson + n
                        let day = days[(k * 7919) % days.count]
                        // 20.00-300.00 yuan: a service and a drug, pooling 60% of it, the rest cash.
                        let fee = Int64(2_000 + (k * 104_729) % 28_000)
                        let pooling = fee * 60 / 100
                        let setlID = String(format: "HS%011d", k)
                        let result = SettlementResult(
                            setlID: setlID, mdtrtID: String(format: "HM%011d", k), psnNo: psnNo, fixmedinsCode: clinics[k % clinics.count],
                            settleVia: "H33080200001", medfeeSumamt: fee, inscpScpAmt: fee, hifpPay: pooling, poolPropSelfpay: 6_000,
                            fundPaySumamt: pooling, psnCashPay: fee - pooling, policyVersion: "quzhou-2024.1", status: .settled, setlDate: day,
                            settledAs: .generalOutpatient, setldetail: [SetlDetail(fundPayType: .residentPooling, fundPayamt: pooling)])
                        past.append(PastSettlement(result: result, visitDate: day, items: [items[0], items[1 + k % 3]], scopedKey: "legacy " + setlID,
                                                   createdAt: day + "T09:00:00Z"))
                    }
                    persons += 1
                }
                let prepared = try SettlementStore.prepareHistory(past)
                try await storing?.value
                storing = Task { try await store.loadHistory(prepared) }
                written += past.count
                if persons % 500_000 < batch {
                    let s = Double((ContinuousClock.now - start).components.attoseconds) / 1e18 + Double((ContinuousClock.now - start).components.seconds)
                    FileHandle.standardError.write(Data(String(format: "\r%d persons, %d settlements, %.0f s", persons, written, s).utf8))
                }
            }
        } catch {
            _ = try? await storing?.value
            throw error
        }
        try await storing?.value
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        FileHandle.standardError.write(Data("\n".utf8))
        print(String(format: "history: %d past settlements for %d persons in %.1f s (%.0f settlements/s)", written, persons, seconds, Double(written) / max(seconds, 0.001)))
        runner.cancel()
    }
}
