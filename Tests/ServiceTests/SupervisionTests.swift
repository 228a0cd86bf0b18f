import MedicareContracts
import MedicareCrypto
import MedicareDomain
import MedicareRPC
import MedicareStore
import MedicareWire
import SupervisionService
import MedicareTestSupport
import Testing

func withSupervision<T: Sendable>(
    engine: Engine = .sqlite, _ body: @escaping @Sendable (SupervisionClient, any SQLDatabase) async throws -> T
) async throws -> T {
    try await withService("supervision", engine: engine, migrations: SupervisionDefinition.migrations, router: { db in
        var router = RPCRouter()
        SupervisionProvider(store: SupervisionStore(database: db), catalogue: try PolicyBook.bundled().catalogue).register(with: &router)
        return router
    }) { channel, db in try await body(SupervisionClient(channel), db) }
}

private func review(_ lines: [(String, Int64, Int64, UInt32)], status: DesignationStatus = .designated, certno: String = quzhou.certno, visit: MedType = .generalOutpatient,
                    diagnoses: [String] = []) -> ReviewRequest {
    ReviewRequest(claim: Claim(
        mdtrtID: "M1", psnNo: "P001", certno: certno, fixmedinsCode: "H33080200101", medType: visit, visitDate: "2024-06-01",
        diagnoses: diagnoses, lines: lines.map { FeeLine(itemCode: $0.0, quantity: $0.1, unitPrice: $0.2, days: $0.3) }
    ), designationStatus: status)
}

@Suite("Supervision")
struct SupervisionTests {
    @Test func aCleanClaimPasses() async throws {
        try await withSupervision { s, _ in
            let r = try await s.review(review([("XA01AAA001", 20, 50, 5), ("F001", 1, 1000, 0)]))
            #expect(r.verdict == .pass && r.findings.isEmpty && r.rulesEvaluated == 7)
        }
    }

    @Test(arguments: [
        (review([("F001", 1, 1000, 0)], status: .suspended), "R001", Verdict.block, Int64(1000)),
        (review([("XA01AAA001", 10, 60, 5)]), "R002", .warn, Int64(100)),
        (review([("F001", 1, 1000, 0), ("F001", 1, 1000, 0)]), "R003", .block, Int64(1000)),
        (review([("XA01AAA001", 70, 50, 5)]), "R004", .block, Int64(500)),
        (review([("XA01AAA001", 10, 50, 10)]), "R004", .block, Int64(500)),
        (review([("XC07ABA001", 30, 120, 30)], diagnoses: ["J06"]), "R005", .block, Int64(3600)),
        (review([("ZZ999", 1, 1000, 0)]), "R007", .block, Int64(1000)),
        (review([("F001", 1, 1000, 0)], visit: .chronicOutpatient, diagnoses: ["J06.9"]), "R008", .block, Int64(1000)),
    ])
    func eachRuleExplainsItself(request: ReviewRequest, rule: String, verdict: Verdict, amount: Int64) async throws {
        try await withSupervision { s, _ in
            let r = try await s.review(request)
            let finding = try #require(r.findings.first { $0.ruleID == rule }, "\(r.findings)")
            #expect(finding.verdict == verdict && finding.amountAtIssue == amount && finding.ruleVersion == "2024.1" && !finding.evidence.isEmpty)
            #expect(r.verdict == verdict)
        }
    }

    /// Every rule is a type that names itself, its version and its source.
    @Test func everyRuleSaysWhatItIsAndWhereItComesFrom() {
        let ids = ReviewRules.rules.map(\.id)
        #expect(Set(ids).count == ids.count && ids.allSatisfy { $0.hasPrefix("R") })
        #expect(ReviewRules.rules.allSatisfy { !$0.name.isEmpty && !$0.source.isEmpty })
    }

    @Test func twoBingDrugWithItsDiagnosisPasses() async throws {
        try await withSupervision { s, _ in
            let r = try await s.review(review([("XC07ABA001", 30, 120, 30)], diagnoses: ["I10.x01"]))
            #expect(r.verdict == .pass)
        }
    }

    @Test(arguments: Engine.all)
    func reviewJudgesTheClaimAloneAndRecordingBillsNothing(engine: Engine) async throws {
        try await withSupervision(engine: engine) { s, _ in
            let claim = review([("F001", 1, 1000, 0)]).claim!
            let settled = SettlementResult(setlID: "S1", mdtrtID: "M1", psnNo: "P001", medfeeSumamt: 1000, status: .settled)
            _ = try await s.record(RecordRequest(settlement: settled, claim: claim))
            // Another visit that day passes review: settlement refuses it (R003) atomically.
            var other = review([("F001", 1, 1000, 0)])
            other.claim?.mdtrtID = "M2"
            #expect(try await s.review(other).verdict == .pass)
            // Within one claim the same item twice is still R003 here.
            let twice = try await s.review(review([("F001", 1, 1000, 0), ("F001", 1, 1000, 0)]))
            #expect(twice.verdict == .block && twice.findings.first?.ruleID == "R003")
        }
    }

    @Test(arguments: Engine.all)
    func auditChainVerifiesAndNamesTheFirstBrokenLink(engine: Engine) async throws {
        try await withSupervision(engine: engine) { s, db in
            var previous = String(repeating: "0", count: 64)
            for i in 1...5 {
                let record = try await s.record(RecordRequest(settlement: SettlementResult(setlID: "S\(i)", medfeeSumamt: Int64(i * 100), status: .settled)))
                #expect(record.seq == UInt64(i) && record.prevHash == previous && record.hash.count == 64)
                previous = record.hash
            }
            #expect(try await s.verifyAudit(VerifyAuditRequest()) == VerifyAuditResponse(intact: true, records: 5, postings: 5))
            // Tamper with record 3's content directly in the database.
            let forged = try SettlementResult(setlID: "S3", medfeeSumamt: 1, status: .settled).encodedBytes()
            try await db.write { try await $0.execute("UPDATE audit SET content = $1 WHERE seq = 3", [.blob(forged)]) }
            let broken = try await s.verifyAudit(VerifyAuditRequest())
            #expect(!broken.intact && broken.firstBrokenSeq == 3 && broken.reason == "record 3's content does not match its hash")
        }
    }

    @Test func sm3MatchesTheStandardTestVector() {
        // GB/T 32905-2016 example 1: SM3("abc").
        #expect(SupervisionTestVectors.abc == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")
    }
}

enum SupervisionTestVectors {
    static var abc: String { SM3.hex(SM3.digest(Array("abc".utf8))) }
}
