import Foundation
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
    engine: Engine = .sqlite, peer: PeerIdentity = PeerIdentity(commonName: "ops", department: "nhsa", role: "operator", region: "33"),
    _ body: @escaping @Sendable (SupervisionClient, any SQLDatabase) async throws -> T
) async throws -> T {
    try await withService("supervision", engine: engine, migrations: SupervisionDefinition.migrations, peer: peer, router: { db in
        var router = RPCRouter()
        try await SupervisionProvider.bundled(store: SupervisionStore(database: db), catalogue: try PolicyBook.bundled().catalogue).register(with: &router)
        return router
    }) { channel, db in try await body(SupervisionClient(channel), db) }
}

private func review(_ lines: [(String, Int64, Int64, UInt32)], status: DesignationStatus = .designated, certno: String = quzhou.certno, visit: MedType = .generalOutpatient,
                    diagnoses: [String] = [], mdtrtID: String = "M1", clinic: String = "H33080200101") -> ReviewRequest {
    ReviewRequest(claim: Claim(
        mdtrtID: mdtrtID, psnNo: "P001", certno: certno, fixmedinsCode: clinic, medType: visit, visitDate: "2024-06-01",
        diagnoses: diagnoses, lines: lines.map { FeeLine(itemCode: $0.0, quantity: $0.1, unitPrice: $0.2, days: $0.3) }
    ), designationStatus: status)
}

@Suite("Supervision")
struct SupervisionTests {
    @Test func aCleanClaimPasses() async throws {
        try await withSupervision { s, _ in
            let r = try await s.review(review([("XA01AAA001", 20, 50, 5), ("F001", 1, 1000, 0)]))
            #expect(r.verdict == .pass && r.findings.isEmpty && r.rulesEvaluated == 14 && r.ruleSetVersion == "zj-2024.1", "\(r)")
        }
    }

    @Test(arguments: [
        (review([("F001", 1, 1000, 0)], status: .suspended), "R001", Verdict.block, Int64(1000)),
        (review([("XA01AAA001", 10, 60, 5)]), "R002", .warn, Int64(100)),
        (review([("F001", 1, 1000, 0), ("F001", 1, 1000, 0)]), "R003", .block, Int64(1000)),
        (review([("XA01AAA001", 70, 50, 5)]), "R004", .block, Int64(500)),
        (review([("XA01AAA001", 10, 50, 10)]), "R009", .block, Int64(500)),
        (review([("XC07ABA001", 30, 120, 30)], diagnoses: ["J06"]), "R005", .block, Int64(3600)),
        (review([("XA10BAA001", 60, 30, 30)], diagnoses: ["J06"]), "R006", .block, Int64(1800)),
        (review([("ZZ999", 1, 1000, 0)]), "R007", .block, Int64(1000)),
        (review([("F001", 1, 1000, 0)], visit: .chronicOutpatient, diagnoses: ["J06.9"]), "R008", .block, Int64(1000)),
        // A four-year-old paid sixty statin tablets (issue 14).
        (review([("XB01ACB001", 60, 250, 30)], certno: residentID("33080220200101001")), "R011", .block, Int64(15000)),
        (review([("XG04CAM001", 30, 150, 30)], certno: residentID("33080219800101002")), "R012", .block, Int64(4500)),
        // Every item at its limits and reference prices: 510 yuan, over the 500 of R013.
        (review([("F002", 3, 800, 0), ("C001", 3, 300, 0), ("XG04CAM001", 30, 150, 30), ("XA01AAA001", 60, 50, 7), ("XB01ACB001", 60, 250, 30), ("F001", 1, 1000, 0),
                 ("XC07ABA001", 90, 120, 30), ("XA10BAA001", 180, 30, 30), ("XN02BEC001", 40, 200, 10)], diagnoses: ["I10", "E11.9"]),
         "R013", .flag, Int64(1000)),
    ])
    func eachRuleExplainsItself(request: ReviewRequest, rule: String, verdict: Verdict, amount: Int64) async throws {
        try await withSupervision { s, _ in
            let r = try await s.review(request)
            let finding = try #require(r.findings.first { $0.ruleID == rule }, "\(r.findings)")
            #expect(finding.verdict == verdict && finding.amountAtIssue == amount && finding.ruleVersion == "1" && !finding.evidence.contains("{"))
            #expect(!finding.source.isEmpty && !finding.ruleName.isEmpty && finding.severity != .unspecified && r.ruleSetVersion == "zj-2024.1")
            #expect(r.verdict == verdict, "\(r.findings)")
        }
    }

    /// The shipped set: every rule cites its source, and its document reads back to the same set.
    @Test func theBundledRuleSetCitesEveryRulesSourceAndRoundTrips() throws {
        let set = try RuleBook.bundled()
        #expect(set.rules.count == 15 && set.rules.allSatisfy { !$0.source.isEmpty && !$0.name.isEmpty && $0.version >= 1 })
        #expect(try RuleSet(json: set.json()) == set)
    }

    /// A typo or a parameter the kind does not read is an error naming its path, not a rule
    /// that silently never fires.
    @Test(arguments: [
        (#"{"version":"v1","name":"n","effective_from":"2024-01-01","rules":[{"rule_id":"R1","max_qty":3}]}"#, "rules[0].max_qty"),
        (#"{"version":"v1","name":"n","effective_from":"2024-01-01","rules":[{"rule_id":"R1","kind":"quantity_limt"}]}"#, "rules[0].kind"),
        (#"{"version":"v1","name":"n","effective_from":"2024-01-01","rules":[{"rule_id":"R1","params":{"max_days":"7"}}]}"#, "rules[0].params.max_days"),
    ])
    func aMalformedRuleDocumentNamesThePath(json: String, field: String) {
        #expect(throws: DomainError.self) { try RuleSet(json: Data(json.utf8)) }
        do { _ = try RuleSet(json: Data(json.utf8)) } catch { #expect(error.field == field, "\(error)") }
    }

    @Test func aRuleSetIsCheckedWholeBeforeItIsPublished() async throws {
        try await withSupervision { s, _ in
            var set = try RuleBook.bundled()
            set.version = "zj-2024.2"
            set.rules[3].params = RuleParams(maxQuantity: 10, maxDays: 3)
            await #expect(throws: RPCError.self) { try await s.publishRuleSet(PublishRuleSetRequest(ruleSet: set)) }
            do { _ = try await s.publishRuleSet(PublishRuleSetRequest(ruleSet: set)); Issue.record("accepted: \(set.rules[3])") } catch let error as RPCError {
                #expect(error.code == .invalidArgument && error.message.contains("rule_set.rules[3].params.max_days"), "\(error)")
            }
            // Accepted, a rule that could never fire: a limit below zero, a code no claim has,
            // a visit type claims do not have.
            for (params, field) in [
                (RuleParams(maxQuantity: -1), "rule_set.rules[3].params.max_quantity"), (RuleParams(items: ["xa01"]), "rule_set.rules[3].params.items[0]"),
            ] {
                set.rules[3].params = params
                do { _ = try await s.publishRuleSet(PublishRuleSetRequest(ruleSet: set)); Issue.record("accepted: \(set.rules[3])") } catch let error as RPCError {
                    #expect(error.code == .invalidArgument && error.message.contains(field), "\(error)")
                }
            }
            set.rules[3].params = RuleParams(maxQuantity: 10)
            set.rules[3].scope = RuleScope(medTypes: [.emergency])
            do { _ = try await s.publishRuleSet(PublishRuleSetRequest(ruleSet: set)); Issue.record("accepted: \(set.rules[3])") } catch let error as RPCError {
                #expect(error.code == .invalidArgument && error.message.contains("rule_set.rules[3].scope.med_types[0]"), "\(error)")
            }
            set.rules[3].scope = nil
            set.rules[3].message = "{item} over {limt}"
            do { _ = try await s.publishRuleSet(PublishRuleSetRequest(ruleSet: set)); Issue.record("accepted: \(set.rules[3])") } catch let error as RPCError {
                #expect(error.code == .invalidArgument && error.message.contains("rule_set.rules[3].message"), "\(error)")
            }
        }
    }

    /// A changed rule is a new set version; the next review runs it, names it, and the old
    /// version stays as it was published (ALREADY_EXISTS for other content under its name).
    @Test(arguments: Engine.all)
    func aPublishedRuleSetTakesEffectOnTheNextReview(engine: Engine) async throws {
        try await withSupervision(engine: engine) { s, _ in
            let claim = review([("XA01AAA001", 20, 50, 5)])
            #expect(try await s.review(claim).verdict == .pass)
            var set = try RuleBook.bundled()
            set.version = "zj-2024.2"
            set.effectiveFrom = "2024-05-01"
            let quantity = try #require(set.rules.firstIndex { $0.ruleID == "R004" })
            set.rules[quantity].version = 2
            set.rules[quantity].params = RuleParams(items: ["XA01"], maxQuantity: 12)
            let published = try await s.publishRuleSet(PublishRuleSetRequest(ruleSet: set))
            #expect(!published.replay && published.ruleSet?.publishedBy.contains("ops") == true && !(published.ruleSet?.publishedAt.isEmpty ?? true))
            #expect(try await s.publishRuleSet(PublishRuleSetRequest(ruleSet: set)).replay)
            let r = try await s.review(claim)
            #expect(r.ruleSetVersion == "zj-2024.2" && r.verdict == .block)
            #expect(r.findings.first?.ruleID == "R004" && r.findings.first?.ruleVersion == "2" && r.findings.first?.amountAtIssue == 400)
            // A visit before the new set's day still runs the old one.
            var earlier = claim
            earlier.claim?.visitDate = "2024-04-30"
            #expect(try await s.review(earlier).ruleSetVersion == "zj-2024.1")
            set.rules[quantity].params = RuleParams(items: ["XA01"], maxQuantity: 13)
            do {
                _ = try await s.publishRuleSet(PublishRuleSetRequest(ruleSet: set))
                Issue.record("a version republished with other rules")
            } catch let error as RPCError {
                #expect(error.code == .alreadyExists, "\(error)")
            }
            #expect(try await s.listRuleSets(ListRuleSetsRequest()).ruleSets.map(\.version) == ["zj-2024.1", "zj-2024.2"])
            #expect(try await s.getRuleSet(GetRuleSetRequest(date: "2024-04-30")).version == "zj-2024.1")
        }
    }

    /// One person's visits at one clinic in a day: the third is refused (R010), counting the
    /// settled visits the relay delivered and, before that, the visits of settling reviews
    /// (the gateway's 2207); a reversed visit no longer counts, nor does a pre-settlement or
    /// what-if review. Another clinic's visits do not count for R010, but a fourth
    /// institution in a day is flagged (R014).
    @Test(arguments: Engine.all)
    func visitHistoryRulesCountSettledAndSettlingVisits(engine: Engine) async throws {
        try await withSupervision(engine: engine, peer: PeerIdentity(commonName: "gateway", department: "nhsa", role: "service")) { s, _ in
            func settle(_ id: String, clinic: String = "H33080200101") async throws {
                let claim = review([("F001", 1, 1000, 0)], mdtrtID: id, clinic: clinic).claim!
                _ = try await s.record(RecordRequest(settlement: SettlementResult(setlID: "S-\(id)", mdtrtID: id, psnNo: "P001", fixmedinsCode: clinic, status: .settled), claim: claim))
            }
            func settling(_ id: String, clinic: String = "H33080200101") -> ReviewRequest {
                var request = review([("F001", 1, 1000, 0)], mdtrtID: id, clinic: clinic)
                request.settling = true
                return request
            }
            try await settle("M1")
            try await settle("M2")
            let third = try await s.review(settling("M3"))
            #expect(third.verdict == .block && third.findings.map(\.ruleID) == ["R010"], "\(third.findings)")
            // A settled visit asked again is not a new visit.
            #expect(try await s.review(settling("M2")).verdict == .pass)
            _ = try await s.record(RecordRequest(settlement: SettlementResult(setlID: "S-M2", mdtrtID: "M2", psnNo: "P001", fixmedinsCode: "H33080200101", status: .reversed)))
            // Pre-settlement: reads only.
            #expect(try await s.review(review([("F001", 1, 1000, 0)], mdtrtID: "M5")).verdict == .pass)
            #expect(try await s.review(settling("M3")).verdict == .pass)
            // M3 is settling (not blocked): it counts before its posting arrives.
            #expect(try await s.review(settling("M4")).verdict == .block)
            // Other clinics: R010 does not count them; the fourth institution is flagged.
            try await settle("N1", clinic: "H33080200102")
            #expect(try await s.review(settling("N2", clinic: "H33080200103")).verdict == .pass)
            let fourth = try await s.review(settling("N3", clinic: "H33080200104"))
            #expect(fourth.verdict == .flag && fourth.findings.map(\.ruleID) == ["R014"], "\(fourth.findings)")
        }
    }

    /// Two settling reviews of one person at once cannot both pass a limit the other fills.
    @Test func concurrentSettlingReviewsOfOnePersonCountEachOther() async throws {
        try await withSupervision(peer: PeerIdentity(commonName: "gateway", department: "nhsa", role: "service")) { s, _ in
            let verdicts = try await withThrowingTaskGroup(of: Verdict.self) { group in
                for n in 0..<8 {
                    group.addTask {
                        var request = review([("F001", 1, 1000, 0)], mdtrtID: "C\(n)")
                        request.settling = true
                        return try await s.review(request).verdict
                    }
                }
                return try await group.reduce(into: [Verdict]()) { $0.append($1) }
            }
            #expect(verdicts.filter { $0 == .pass }.count == 2 && verdicts.filter { $0 == .block }.count == 6, "\(verdicts)")
        }
    }

    /// R015 on the settlement stream: the 21st distinct person at one clinic within ten
    /// minutes raises one alert with its evidence; the clinic is quiet for the window, the
    /// window slides, repeats of a posting and reversals do not count, other clinics are apart.
    @Test func aBurstOfPersonsAtOneClinicRaisesOneAlertPerWindow() throws {
        let set = try CompiledRuleSet(try RuleBook.bundled(), seq: 1)
        let monitor = InstitutionMonitor()
        let start = ContinuousClock.now
        func posting(_ n: Int, clinic: String = "H33080200101", status: SettlementStatus = .settled) -> SettlementResult {
            SettlementResult(setlID: "S\(clinic)-\(n)", mdtrtID: "M\(n)", psnNo: "P\(n)", fixmedinsCode: clinic, medfeeSumamt: 2000, status: status)
        }
        // Spread over 9 minutes: all in one window. Repeats and reversals add nothing.
        var alerts: [Alert] = []
        for n in 0..<20 {
            alerts += monitor.observe([posting(n), posting(n), posting(n + 100, status: .reversed)], set: set, now: start + .seconds(n * 27))
        }
        #expect(alerts.isEmpty)
        alerts = monitor.observe([posting(20)], set: set, now: start + .seconds(540))
        let alert = try #require(alerts.first)
        #expect(alerts.count == 1 && alert.ruleID == "R015" && alert.ruleSetVersion == "zj-2024.1" && alert.persons == 21 && alert.settlements == 21)
        #expect(alert.amount == 42_000 && alert.severity == .high && alert.evidence.contains("21 persons") && !alert.evidence.contains("{"), "\(alert.evidence)")
        // Quiet for the window at that clinic; another clinic is counted apart.
        #expect(monitor.observe((21..<60).map { posting($0) }, set: set, now: start + .seconds(600)).isEmpty)
        #expect(monitor.observe((0..<21).map { posting($0, clinic: "H33080200102") }, set: set, now: start + .seconds(600)).count == 1)
        // Persons spread over more than the window never fire.
        let slow = InstitutionMonitor()
        for n in 0..<40 { #expect(slow.observe([posting(n)], set: set, now: start + .seconds(n * 31)).isEmpty) }
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
