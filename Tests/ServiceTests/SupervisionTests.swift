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
        let catalogue = try PolicyBook.bundled().catalogue
        try await SupervisionProvider.bundled(store: SupervisionStore(database: db, catalogue: catalogue), catalogue: catalogue).register(with: &router)
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
            let r = try await s.review(review([("XJ01CAA040A001010100001", 20, 50, 5), ("001102000050000", 1, 1000, 0)]))
            #expect(r.verdict == .pass && r.findings.isEmpty && r.rulesEvaluated == 15 && r.ruleSetVersion == "zj-2024.2", "\(r)")
        }
    }

    @Test(arguments: [
        (review([("001102000050000", 1, 1000, 0)], status: .suspended), "R001", Verdict.block, Int64(1000)),
        (review([("XJ01CAA040A001010100001", 10, 60, 5)]), "R002", .warn, Int64(100)),
        (review([("001102000050000", 1, 1000, 0), ("001102000050000", 1, 1000, 0)]), "R003", .block, Int64(1000)),
        (review([("XJ01CAA040A001010100001", 70, 50, 5)]), "R004", .block, Int64(500)),
        (review([("XJ01CAA040A001010100001", 10, 50, 10)]), "R009", .block, Int64(500)),
        (review([("XC08CAX052B002010100002", 30, 120, 30)], diagnoses: ["J06"]), "R005", .block, Int64(3600)),
        (review([("XA10BAE032B001010100003", 60, 30, 30)], diagnoses: ["J06"]), "R006", .block, Int64(1800)),
        (review([("ZZ999", 1, 1000, 0)]), "R007", .block, Int64(1000)),
        (review([("001102000050000", 1, 1000, 0)], visit: .chronicOutpatient, diagnoses: ["J06.9"]), "R008", .block, Int64(1000)),
        // A four-year-old paid sixty statin tablets (issue 14).
        (review([("XC10AAA056B001020100004", 60, 250, 30)], certno: residentID("33080220200101001")), "R011", .block, Int64(15000)),
        (review([("XG04CAT022A002010100007", 30, 150, 30)], certno: residentID("33080219800101002")), "R012", .block, Int64(4500)),
        // Every item at its limits and reference prices: 510 yuan, over the 500 of R013.
        (review([("001204000060000", 3, 800, 0), ("C02030100151001000100000001", 3, 300, 0), ("XG04CAT022A002010100007", 30, 150, 30), ("XJ01CAA040A001010100001", 60, 50, 7), ("XC10AAA056B001020100004", 60, 250, 30), ("001102000050000", 1, 1000, 0),
                 ("XC08CAX052B002010100002", 90, 120, 30), ("XA10BAE032B001010100003", 180, 30, 30), ("XM01AEB011A002010100005", 40, 200, 10)], diagnoses: ["I10", "E11.9"]),
         "R013", .flag, Int64(1000)),
    ])
    func eachRuleExplainsItself(request: ReviewRequest, rule: String, verdict: Verdict, amount: Int64) async throws {
        try await withSupervision { s, _ in
            let r = try await s.review(request)
            let finding = try #require(r.findings.first { $0.ruleID == rule }, "\(r.findings)")
            #expect(finding.verdict == verdict && finding.amountAtIssue == amount && finding.ruleVersion == "1" && !finding.evidence.contains("{"))
            #expect(!finding.source.isEmpty && !finding.ruleName.isEmpty && finding.severity != .unspecified && r.ruleSetVersion == "zj-2024.2")
            #expect(r.verdict == verdict, "\(r.findings)")
        }
    }

    /// The shipped set: every rule cites its source, and its document reads back to the same set.
    @Test func theBundledRuleSetCitesEveryRulesSourceAndRoundTrips() throws {
        let set = try RuleBook.bundled()
        #expect(set.rules.count == 19 && set.rules.allSatisfy { !$0.source.isEmpty && !$0.name.isEmpty && $0.version >= 1 })
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
            set.version = "zj-2024.3"
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
            let claim = review([("XJ01CAA040A001010100001", 20, 50, 5)])
            #expect(try await s.review(claim).verdict == .pass)
            var set = try RuleBook.bundled()
            set.version = "zj-2024.3"
            set.effectiveFrom = "2024-05-01"
            let quantity = try #require(set.rules.firstIndex { $0.ruleID == "R004" })
            set.rules[quantity].version = 2
            set.rules[quantity].params = RuleParams(items: ["XJ01CA"], maxQuantity: 12)
            let published = try await s.publishRuleSet(PublishRuleSetRequest(ruleSet: set))
            #expect(!published.replay && published.ruleSet?.publishedBy.contains("ops") == true && !(published.ruleSet?.publishedAt.isEmpty ?? true))
            #expect(try await s.publishRuleSet(PublishRuleSetRequest(ruleSet: set)).replay)
            let r = try await s.review(claim)
            #expect(r.ruleSetVersion == "zj-2024.3" && r.verdict == .block)
            #expect(r.findings.first?.ruleID == "R004" && r.findings.first?.ruleVersion == "2" && r.findings.first?.amountAtIssue == 400)
            // A visit before the new set's day still runs the old one.
            var earlier = claim
            earlier.claim?.visitDate = "2024-04-30"
            #expect(try await s.review(earlier).ruleSetVersion == "zj-2024.2")
            set.rules[quantity].params = RuleParams(items: ["XJ01CA"], maxQuantity: 13)
            do {
                _ = try await s.publishRuleSet(PublishRuleSetRequest(ruleSet: set))
                Issue.record("a version republished with other rules")
            } catch let error as RPCError {
                #expect(error.code == .alreadyExists, "\(error)")
            }
            #expect(try await s.listRuleSets(ListRuleSetsRequest()).ruleSets.map(\.version) == ["zj-2024.2", "zj-2024.3"])
            #expect(try await s.getRuleSet(GetRuleSetRequest(date: "2024-04-30")).version == "zj-2024.2")
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
                let claim = review([("001102000050000", 1, 1000, 0)], mdtrtID: id, clinic: clinic).claim!
                _ = try await s.record(RecordRequest(settlement: SettlementResult(setlID: "S-\(id)", mdtrtID: id, psnNo: "P001", fixmedinsCode: clinic, status: .settled), claim: claim))
            }
            func settling(_ id: String, clinic: String = "H33080200101") -> ReviewRequest {
                var request = review([("001102000050000", 1, 1000, 0)], mdtrtID: id, clinic: clinic)
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
            #expect(try await s.review(review([("001102000050000", 1, 1000, 0)], mdtrtID: "M5")).verdict == .pass)
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
                        var request = review([("001102000050000", 1, 1000, 0)], mdtrtID: "C\(n)")
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
        // From 10:00 on a working day, inside the opening hours R016 watches; windows slide on
        // the postings' own times.
        let morning = CivilDate.gregorian(in: .current).date(from: DateComponents(year: 2024, month: 6, day: 3, hour: 10))!
        func posting(_ n: Int, at seconds: Int, clinic: String = "H33080200101", status: SettlementStatus = .settled) -> InstitutionMonitor.Posting {
            InstitutionMonitor.Posting(SettlementResult(setlID: "S\(clinic)-\(n)", mdtrtID: "M\(n)", psnNo: "P\(n)", fixmedinsCode: clinic, medfeeSumamt: 2000,
                                                        status: status), postedAt: morning.addingTimeInterval(TimeInterval(seconds)))
        }
        // Spread over 9 minutes: all in one window. Repeats and reversals add nothing.
        var alerts: [Alert] = []
        for n in 0..<20 {
            alerts += monitor.observe([posting(n, at: n * 27), posting(n, at: n * 27), posting(n + 100, at: n * 27, status: .reversed)], set: set)
        }
        #expect(alerts.isEmpty)
        alerts = monitor.observe([posting(20, at: 540)], set: set)
        let alert = try #require(alerts.first)
        #expect(alerts.count == 1 && alert.ruleID == "R015" && alert.ruleSetVersion == "zj-2024.2" && alert.persons == 21 && alert.settlements == 21)
        #expect(alert.amount == 42_000 && alert.severity == .high && alert.evidence.contains("21 persons") && !alert.evidence.contains("{"), "\(alert.evidence)")
        // Quiet for the window at that clinic; another clinic is counted apart.
        #expect(monitor.observe((21..<60).map { posting($0, at: 600) }, set: set).isEmpty)
        #expect(monitor.observe((0..<21).map { posting($0, at: 600, clinic: "H33080200102") }, set: set).count == 1)
        // Persons spread over more than the window never fire, however late they are delivered
        // (a backlog after an outage arrives at once).
        let slow = InstitutionMonitor()
        #expect(slow.observe((0..<40).map { posting($0, at: $0 * 31) }, set: set).isEmpty)
    }

    @Test func twoBingDrugWithItsDiagnosisPasses() async throws {
        try await withSupervision { s, _ in
            let r = try await s.review(review([("XC08CAX052B002010100002", 30, 120, 30)], diagnoses: ["I10.x01"]))
            #expect(r.verdict == .pass)
        }
    }

    @Test(arguments: Engine.all)
    func reviewJudgesTheClaimAloneAndRecordingBillsNothing(engine: Engine) async throws {
        try await withSupervision(engine: engine) { s, _ in
            let claim = review([("001102000050000", 1, 1000, 0)]).claim!
            let settled = SettlementResult(setlID: "S1", mdtrtID: "M1", psnNo: "P001", medfeeSumamt: 1000, status: .settled)
            _ = try await s.record(RecordRequest(settlement: settled, claim: claim))
            // Another visit that day passes review: settlement refuses it (R003) atomically.
            var other = review([("001102000050000", 1, 1000, 0)])
            other.claim?.mdtrtID = "M2"
            #expect(try await s.review(other).verdict == .pass)
            // Within one claim the same item twice is still R003 here.
            let twice = try await s.review(review([("001102000050000", 1, 1000, 0), ("001102000050000", 1, 1000, 0)]))
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

extension SupervisionTests {

    /// The window kinds on their own: six persons at night (R016, the clinic's 07:00-21:00),
    /// one person at three clinics within the hour (R017); by day and at two clinics, nothing.
    @Test func nightSettlementsAndOnePersonAtManyClinicsRaiseAlerts() throws {
        let set = try CompiledRuleSet(try RuleBook.bundled(), seq: 1)
        let calendar = CivilDate.gregorian(in: .current)
        let night = calendar.date(from: DateComponents(year: 2024, month: 6, day: 3, hour: 2, minute: 30))!
        let day = calendar.date(from: DateComponents(year: 2024, month: 6, day: 3, hour: 9))!
        func posting(_ n: Int, person: Int, clinic: String = "H33080200101", at: Date) -> InstitutionMonitor.Posting {
            InstitutionMonitor.Posting(SettlementResult(setlID: "S\(n)", mdtrtID: "M\(n)", psnNo: "P\(person)", fixmedinsCode: clinic, medfeeSumamt: 1000,
                                                        status: .settled), postedAt: at)
        }
        let monitor = InstitutionMonitor()
        #expect(monitor.observe((0..<6).map { posting($0, person: $0, at: day) }, set: set).isEmpty)
        #expect(monitor.observe((10..<15).map { posting($0, person: $0, at: night) }, set: set).isEmpty)
        let atNight = monitor.observe([posting(15, person: 15, at: night)], set: set)
        #expect(atNight.map(\.ruleID) == ["R016"] && atNight.first?.persons == 6 && atNight.first?.evidence.contains("07:00-21:00") == true, "\(atNight)")
        let twoClinics = monitor.observe([posting(20, person: 99, at: day), posting(21, person: 99, clinic: "H33080200102", at: day)], set: set)
        #expect(twoClinics.isEmpty)
        let third = monitor.observe([posting(22, person: 99, clinic: "H33080200103", at: day)], set: set)
        #expect(third.map(\.ruleID) == ["R017"] && third.first?.psnNo == "P99" && third.first?.institutions == 3, "\(third)")
    }

    /// A rule of a monitoring kind must say what it watches: refused naming the parameter.
    @Test func monitoringRulesNeedTheirParameters() throws {
        var set = try RuleBook.bundled()
        let r016 = try #require(set.rules.firstIndex { $0.ruleID == "R016" })
        set.rules[r016].params?.closeMinute = 400
        #expect(throws: DomainError(field: "rule_set.rules[\(r016)].params.close_minute", "is required, after open_minute (minutes after midnight, 1-1440)")) {
            try RuleBook.validated(set)
        }
        set = try RuleBook.bundled()
        let r018 = try #require(set.rules.firstIndex { $0.ruleID == "R018" })
        set.rules[r018].params?.spikeRatioBp = 9_000
        #expect(throws: DomainError(field: "rule_set.rules[\(r018)].params.spike_ratio_bp", "is required, above 10000 (a day above the average)")) {
            try RuleBook.validated(set)
        }
        set.rules[r018].params?.spikeRatioBp = 30_000
        set.rules[r018].params?.maxPersons = 3
        #expect(throws: DomainError(field: "rule_set.rules[\(r018)].params.max_persons", "is not read by kind volume_spike")) { try RuleBook.validated(set) }
    }

    /// Post-settlement review, findings, inspections, cases and the oversight view on each
    /// engine (in process, no registry or settlement behind: applied actions stay pending).
    @Test(arguments: Engine.all)
    func postReviewInspectionsAndCasesOnEachEngine(engine: Engine) async throws {
        try await withSupervision(engine: engine) { s, _ in
            let claims = (0..<12).map { n in
                Claim(mdtrtID: "V\(n)", psnNo: "P\(n)", certno: quzhou.certno, fixmedinsCode: n < 10 ? "H33080200101" : "H33080200201", medType: .generalOutpatient,
                      visitDate: "2024-06-01", diagnoses: ["J06"], lines: n == 0
                        ? [FeeLine(itemCode: "XJ01CAA040A001010100001", quantity: 20, unitPrice: 60, days: 5), FeeLine(itemCode: "001204000060000", quantity: 1, unitPrice: 900)]
                        : [FeeLine(itemCode: "001102000050000", quantity: 1, unitPrice: 1000)])
            }
            let records = claims.enumerated().map { n, claim in
                RecordRequest(settlement: SettlementResult(setlID: "S\(n)", mdtrtID: claim.mdtrtID, psnNo: claim.psnNo, fixmedinsCode: claim.fixmedinsCode,
                                                           settleVia: "H33080200001", medfeeSumamt: n == 0 ? 2_100 : 1_000, fundPaySumamt: 600, status: .settled,
                                                           setlDate: "2024-06-02"), claim: claim, postedMs: 1)
            }
            let chained = try await s.recordBatch(RecordBatchRequest(records: records))
            #expect(chained.records.count == 12 && chained.rejected.isEmpty)
            // By amount: the one claim over 20 yuan; two lines above the reference (R002, a line each), both queued.
            let batch = try await s.runPostReview(RunPostReviewRequest(region: "330802", from: "2024-06-01", to: "2024-06-01", sampling: Sampling(aboveAmount: 2_000)))
            #expect(batch.examined == 12 && batch.sampled == 1 && batch.findings == 2, "\(batch)")
            let far = try await s.runPostReview(RunPostReviewRequest(region: "330802", from: "2024-06-01", to: "2024-06-01", sampling: Sampling(deviationBp: 5_000)))
            #expect(far.examined == 12 && far.sampled == 1 && far.findings == 0, "\(far)")
            let queued = try await s.listFindings(ListFindingsRequest(region: "33", statuses: [.open]))
            #expect(queued.findings.map(\.finding?.ruleID) == ["R002", "R002"] && Set(queued.findings.map(\.finding?.itemCode)) == ["XJ01CAA040A001010100001", "001204000060000"], "\(queued)")
            let confirmed = try await s.decideFinding(DecideFindingRequest(findingID: queued.findings[0].findingID, fixmedinsCode: "H33080200101", decision: .confirm,
                                                                           amountToRecover: queued.findings[0].finding?.amountAtIssue ?? 0, note: "above the reference price"))
            let elsewhere = await #expect(throws: RPCError.self) {
                _ = try await s.decideFinding(DecideFindingRequest(findingID: queued.findings[1].findingID, fixmedinsCode: "H33080200201", decision: .dismiss, note: "x"))
            }
            #expect(elsewhere?.code == .notFound)

            let inspection = try await s.planInspection(PlanInspectionRequest(kind: .keyInspection, title: "重点巡查", region: "330802",
                                                                              fixmedinsCodes: ["H33080200101"], plannedFrom: "2024-07-01", plannedTo: "2024-07-02"))
            _ = try await s.advanceInspection(AdvanceInspectionRequest(inspectionID: inspection.inspectionID, region: "33", toStatus: .inProgress))
            let outside = await #expect(throws: RPCError.self) {
                _ = try await s.recordInspectionFinding(RecordInspectionFindingRequest(inspectionID: inspection.inspectionID, fixmedinsCode: "H33080200201",
                                                                                     evidence: "x", amountAtIssue: 1, severity: .low, basis: "协议"))
            }
            #expect(outside?.code == .notFound)
            let found = try await s.recordInspectionFinding(RecordInspectionFindingRequest(inspectionID: inspection.inspectionID, fixmedinsCode: "H33080200101",
                                                                                          evidence: "账实不符", amountAtIssue: 3_000, severity: .high, basis: "协议第十二条"))
            let early = await #expect(throws: RPCError.self) {
                _ = try await s.advanceInspection(AdvanceInspectionRequest(inspectionID: inspection.inspectionID, region: "33", toStatus: .closed))
            }
            #expect(early?.message.hasPrefix("conclusion") == true)
            let opened = try await s.openCase(OpenCaseRequest(fixmedinsCode: "H33080200101", findingIds: [found.findingID, confirmed.findingID], summary: "违规收费"))
            #expect(opened.amountToRecover == 3_000 + confirmed.amountToRecover)
            let warned = try await s.takeCaseAction(TakeCaseActionRequest(caseID: opened.caseID, fixmedinsCode: "H33080200101", kind: .warning, reason: "警告"),
                                                    options: keyed("w"))
            #expect(warned.actions.map(\.state) == [.recorded])
            // Nothing behind to apply it: kept pending, and the case cannot close.
            let recovery = try await s.takeCaseAction(TakeCaseActionRequest(caseID: opened.caseID, fixmedinsCode: "H33080200101", kind: .recovery, amount: 3_000,
                                                                            reason: "追回"), options: keyed("r"))
            #expect(recovery.actions.map(\.state) == [.recorded, .pending])
            let pending = await #expect(throws: RPCError.self) {
                _ = try await s.closeCase(CloseCaseRequest(caseID: opened.caseID, fixmedinsCode: "H33080200101", conclusion: "done"))
            }
            #expect(pending?.code == .failedPrecondition)
            #expect(try await s.listCases(ListCasesRequest(region: "330802")).cases.map(\.caseID) == [opened.caseID])

            let view = try await s.getOversightView(OversightRequest(centre: "H33080200001", from: "2024-06-02", to: "2024-06-02", limit: 1))
            let first = try #require(view.clinics.first)
            #expect(view.more && first.fixmedinsCode == "H33080200101" && first.settlements == 10 && first.drugVisits == 1 && first.antibioticShareBp == 10_000)
            #expect(first.injectionShareBp == 1_000 && first.confirmedFindings == 2 && first.openFindings == 1 && view.total?.settlements == 12, "\(view)")
            // A reversal leaves the day's counts.
            var reversed = records[0].settlement!
            reversed.status = .reversed
            _ = try await s.recordBatch(RecordBatchRequest(records: [RecordRequest(settlement: reversed)]))
            let after = try await s.getOversightView(OversightRequest(region: "330802", from: "2024-06-02", to: "2024-06-02"))
            #expect(after.clinics.first?.settlements == 9 && after.clinics.first?.drugVisits == 0 && after.total?.settlements == 11, "\(after)")
            #expect(try await s.verifyAudit(VerifyAuditRequest()).intact)
        }
    }

    /// R019 judges by the clinic's kind, which the registry's designation records tell: unknown,
    /// nothing; a village clinic, blocked; a township centre, passes.
    @Test func aRestrictedAntibioticIsBlockedAtAVillageClinicOnceItsKindIsKnown() async throws {
        try await withSupervision { s, _ in
            let line = [("XJ01DDT044E001010100006", Int64(2), Int64(450), UInt32(2))]
            #expect(try await s.review(review(line)).verdict == .pass)
            let records = [("H33080200101", InstitutionKind.villageClinic), ("H33080200001", .townshipCentre)].map { code, kind in
                RecordRequest(designation: DesignationRecord(fixmedinsCode: code, n: 1, event: DesignationEvent(fromStatus: .notDesignated, toStatus: .designated,
                                                                                                              reason: "agreement", at: "2024-01-01T00:00:00Z", by: "ops", effectiveDate: "2024-01-01"),
                                                             kind: kind))
            }
            _ = try await s.recordBatch(RecordBatchRequest(records: records))
            let blocked = try await s.review(review(line))
            #expect(blocked.verdict == .block && blocked.findings.map(\.ruleID) == ["R019"] && blocked.findings[0].evidence.contains("village_clinic"), "\(blocked)")
            #expect(try await s.review(review(line, clinic: "H33080200001")).verdict == .pass)
        }
    }

    /// R018 against the clinic's own counts: 28 days of one settlement a day, then 30 in a day
    /// raise one alert (3 times its average and at least 30); a clinic without weeks of counts
    /// has no baseline and raises none; the store keeps a spike once, whoever raises it again.
    @Test func aDayAboveTheClinicsBaselineRaisesOneAlert() async throws {
        try await withSupervision { s, db in
            func record(_ n: Int, clinic: String, day: String) -> RecordRequest {
                let claim = Claim(mdtrtID: "V\(n)", psnNo: "P\(n)", fixmedinsCode: clinic, medType: .generalOutpatient, visitDate: day,
                                  lines: [FeeLine(itemCode: "001102000050000", quantity: 1, unitPrice: 1000)])
                return RecordRequest(settlement: SettlementResult(setlID: "S\(clinic)-\(n)", mdtrtID: claim.mdtrtID, psnNo: claim.psnNo, fixmedinsCode: clinic,
                                                                  medfeeSumamt: 1000, status: .settled, setlDate: day), claim: claim)
            }
            let history = (1...28).map { record($0, clinic: "H33080200101", day: CivilDate(year: 2024, month: 6, day: 1).adding(days: -$0).description) }
            _ = try await s.recordBatch(RecordBatchRequest(records: history))
            let today = (100..<130).map { record($0, clinic: "H33080200101", day: "2024-06-01") }
            let newcomer = (200..<240).map { record($0, clinic: "H33080200102", day: "2024-06-01") }
            for chunk in stride(from: 0, to: 30, by: 10) {
                _ = try await s.recordBatch(RecordBatchRequest(records: Array(today[chunk..<chunk + 10]) + Array(newcomer[chunk..<chunk + 10])))
            }
            let spikes = try await s.listAlerts(ListAlertsRequest(region: "33")).alerts.filter { $0.ruleID == "R018" }
            #expect(spikes.count == 1 && spikes.first?.fixmedinsCode == "H33080200101" && spikes.first?.settlements == 30 && spikes.first?.baseline == 1,
                    "\(spikes)")
            let store = SupervisionStore(database: db)
            let again = try await store.raise([(spikes[0], "R018\tH33080200101\t2024-06-01")])
            #expect(again.isEmpty)
        }
    }
}
