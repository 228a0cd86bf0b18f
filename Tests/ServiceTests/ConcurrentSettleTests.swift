import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareTestSupport
import MedicareWire
import SettlementService
import Testing

/// Many settle requests at once, as a busy county's clinics send them. On PostgreSQL they are
/// posted together, several per transaction (a Coalescer); on SQLite the writer commits
/// them together. Whatever shares a transaction, each request must be answered as if it had
/// been posted alone, one after another.
@Suite("Concurrent settlements: each answered as if alone")
struct ConcurrentSettleTests {
    /// What one request came back with: its settlement, or its status code.
    enum Answer: Sendable {
        case settled(SettlementResult)
        case refused(RPCError.Code, String)

        var result: SettlementResult? { if case .settled(let r) = self { r } else { nil } }
        var code: RPCError.Code? { if case .refused(let c, _) = self { c } else { nil } }
    }

    @Test(arguments: Engine.all)
    func requestsPostedTogetherAreEachAnsweredAsIfAlone(engine: Engine) async throws {
        try await withCallers(engine: engine) { callers in
            let clinic = callers.client("H33080200101")
            var requests: [(tag: String, key: String, request: SettleRequest)] = []
            // One person's visits on 20 days: the accumulators must add up across a batch.
            for day in 1...20 {
                requests.append(("days", "d\(day)", claim("D\(day)", date: String(format: "2024-06-%02d", day), [("XJ01CAA040A001010100001", 20, 50), ("001102000050000", 1, 1_000)])))
            }
            // Another person paying from their account on 8 days: the balance carries over.
            for day in 1...8 {
                requests.append(("account", "a\(day)", claim("A\(day)", person: hangzhou, date: String(format: "2024-05-%02d", day), [("XC10AAA056B001020100004", 10, 250)], account: true)))
            }
            // One visit sent four times under four keys: posted once.
            for copy in 1...4 { requests.append(("visit", "v\(copy)", claim("SAME-VISIT", date: "2024-07-02", [("XJ01CAA040A001010100001", 5, 50)]))) }
            // One key for two different claims: one is posted, the other refused.
            requests.append(("key", "same-key", claim("K1", date: "2024-07-03", [("XJ01CAA040A001010100001", 5, 50)])))
            requests.append(("key", "same-key", claim("K2", date: "2024-07-04", [("XJ01CAA040A001010100001", 5, 50)])))
            // The same item for the same person on one day in two visits: R003 refuses one.
            requests.append(("r003", "r1", claim("R1", date: "2024-07-05", [("XC10AAA056B001020100004", 1, 250)])))
            requests.append(("r003", "r2", claim("R2", date: "2024-07-05", [("XC10AAA056B001020100004", 2, 250)])))
            // Refused persons do not disturb the others.
            requests.append(("suspended", "s1", claim("S1", person: suspended, date: "2024-07-06", [("XJ01CAA040A001010100001", 1, 50)])))
            var unknown = claim("U1", date: "2024-07-07", [("XJ01CAA040A001010100001", 1, 50)])
            unknown.claim?.psnNo = "P999"
            unknown.claim?.certno = ""
            requests.append(("unknown", "u1", unknown))

            let answers = await withTaskGroup(of: (String, Answer).self) { group in
                for (tag, key, request) in requests {
                    group.addTask {
                        do {
                            return (tag, .settled(try await clinic.settle(request, options: keyed(key))))
                        } catch let error as RPCError {
                            return (tag, .refused(error.code, error.message))
                        } catch {
                            return (tag, .refused(.unknown, "\(error)"))
                        }
                    }
                }
                var answers: [String: [Answer]] = [:]
                for await (tag, answer) in group { answers[tag, default: []].append(answer) }
                return answers
            }

            let days = answers["days"] ?? []
            #expect(days.count == 20 && days.allSatisfy { $0.result?.replay == false }, "\(days)")
            let account = answers["account"]?.compactMap(\.result) ?? []
            #expect(account.count == 8)
            let paid = account.reduce(0) { $0 + $1.acctPay }
            #expect(paid > 0 && paid <= hangzhou.accountBalance)
            let person = try await clinic.verifyIdentity(VerifyIdentityRequest(certno: hangzhou.certno)).person
            #expect(person?.accountBalance == hangzhou.accountBalance - paid, "balance \(String(describing: person?.accountBalance)) after paying \(paid)")

            let visit = answers["visit"]?.compactMap(\.result) ?? []
            #expect(visit.count == 4 && Set(visit.map(\.setlID)).count == 1 && visit.filter { !$0.replay }.count == 1, "\(visit)")
            let key = answers["key"] ?? []
            #expect(key.compactMap(\.result).count == 1 && key.compactMap(\.code) == [.failedPrecondition], "\(key)")
            let r003 = answers["r003"] ?? []
            #expect(r003.compactMap(\.result).count == 1 && r003.compactMap(\.code) == [.failedPrecondition], "\(r003)")
            #expect(r003.contains { if case .refused(_, let message) = $0 { message.contains("R003") } else { false } })
            #expect(answers["suspended"]?.first?.code == .failedPrecondition)
            #expect(answers["unknown"]?.first?.code == .notFound)

            // The ledger balances and the accumulators equal what the live settlements paid.
            let ledger = try await clinic.checkLedger(LedgerCheckRequest())
            #expect(ledger.balanced && ledger.problems.isEmpty, "\(ledger.problems)")
            #expect(ledger.settlements == 20 + 8 + 1 + 1 + 1)
        }
    }

    /// The demo clinic's clients of two settlement replicas over one database.
    static func twoReplicas(_ callers: Callers) throws -> [SettlementClient] {
        var other = RPCRouter()
        SettlementProvider(store: SettlementStore(database: callers.db), policies: try PolicyBook.bundled()).register(with: &other)
        return [callers.client("H33080200101"), Callers(router: other, db: callers.db).client("H33080200101")]
    }

    /// Two replicas over one database, each posting its own batches, racing for the same
    /// visits of one person under different keys (a HIS retrying through the other replica):
    /// the later waits on the person's lock and replays what the earlier posted, so every
    /// visit is posted once.
    @Test(arguments: Engine.all)
    func replicasRacingForTheSameVisitsPostEachOnce(engine: Engine) async throws {
        try await withCallers(engine: engine) { callers in
            let replicas = try Self.twoReplicas(callers)
            let results = try await withThrowingTaskGroup(of: SettlementResult.self) { group in
                for visit in 0..<30 {
                    for (r, replica) in replicas.enumerated() {
                        let request = claim("RACE\(visit)", date: String(format: "2024-%02d-%02d", 3 + visit / 28, 1 + visit % 28), [("XJ01CAA040A001010100001", 2, 50)])
                        group.addTask { try await replica.settle(request, options: keyed("race-\(visit)-\(r)")) }
                    }
                }
                var results: [SettlementResult] = []
                for try await result in group { results.append(result) }
                return results
            }
            let byVisit = Dictionary(grouping: results, by: \.mdtrtID)
            #expect(byVisit.count == 30)
            for (visit, answers) in byVisit {
                #expect(answers.count == 2 && Set(answers.map(\.setlID)).count == 1 && answers.filter { !$0.replay }.count == 1, "\(visit): \(answers)")
            }
            let ledger = try await replicas[0].checkLedger(LedgerCheckRequest())
            #expect(ledger.balanced && ledger.problems.isEmpty && ledger.settlements == 30, "\(ledger)")
        }
    }

    /// Two replicas racing the same visit numbers at one clinic for two different persons
    /// (the persons' locks do not order them, so on PostgreSQL the visit's unique index
    /// decides): each visit is settled once, the other claim refused as ALREADY_EXISTS, the
    /// rest of a batch that lost such a race still posted, and the ledger balances.
    @Test(arguments: Engine.all)
    func replicasRacingOneVisitForTwoPersonsSettleItOnce(engine: Engine) async throws {
        try await withCallers(engine: engine) { callers in
            let replicas = try Self.twoReplicas(callers)
            let answers = await withTaskGroup(of: (String, Answer).self) { group in
                for visit in 0..<30 {
                    for (r, replica) in replicas.enumerated() {
                        let date = String(format: "2024-%02d-%02d", 3 + visit / 28, 1 + visit % 28)
                        let request = r == 0 ? claim("TWO\(visit)", date: date, [("XJ01CAA040A001010100001", 2, 50)]) : claim("TWO\(visit)", person: hangzhou, date: date, [("XJ01CAA040A001010100001", 3, 50)])
                        group.addTask {
                            do {
                                return ("TWO\(visit)", .settled(try await replica.settle(request, options: keyed("two-\(visit)-\(r)"))))
                            } catch let error as RPCError {
                                return ("TWO\(visit)", .refused(error.code, error.message))
                            } catch {
                                return ("TWO\(visit)", .refused(.unknown, "\(error)"))
                            }
                        }
                    }
                }
                var answers: [String: [Answer]] = [:]
                for await (visit, answer) in group { answers[visit, default: []].append(answer) }
                return answers
            }
            #expect(answers.count == 30)
            for (visit, pair) in answers {
                #expect(pair.compactMap(\.result).count == 1 && pair.compactMap(\.code) == [.alreadyExists], "\(visit): \(pair)")
            }
            let ledger = try await replicas[0].checkLedger(LedgerCheckRequest())
            #expect(ledger.balanced && ledger.problems.isEmpty && ledger.settlements == 30, "\(ledger)")
        }
    }
}
