import Foundation
import MedicareContracts
import MedicareCrypto
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareStore
import MedicareTestSupport
import MedicareTransport
import MedicareWire
import NIOCore
import RegistryService
import SettlementService
import SupervisionService
import Testing

/// Settlement seen by several callers at once: each through the gateway's service
/// certificate, acting for an institution (metadata `acting-caller`), as in production.
struct Callers: Sendable {
    let router: RPCRouter
    let db: any SQLDatabase

    static let gateway = PeerIdentity(commonName: "gateway", department: "nhsa", role: "service", region: "33")

    /// A client acting for `institution` (a clinic certificate's identity) through the gateway.
    func client(_ institution: String) -> SettlementClient {
        SettlementClient(ActingChannel(
            base: InProcessChannel(router: router, peer: Self.gateway, logger: quietLogger),
            actor: PeerIdentity(commonName: institution, department: "nhc", role: "clinic", region: "330802")
        ))
    }
}

/// Adds the acting caller to every call, as `CallOptions.propagating` does in the gateway.
struct ActingChannel: RPCChannel {
    let base: InProcessChannel
    let actor: PeerIdentity

    func call(_ method: MethodDescriptor, payload: ByteBuffer, options: CallOptions) async throws(RPCError) -> ByteBuffer {
        var options = options
        options.metadata[Metadata.actingCaller] = actor.actingCallerValue
        return try await base.call(method, payload: payload, options: options)
    }
}

func withCallers<T: Sendable>(engine: Engine = .sqlite, _ body: @escaping @Sendable (Callers) async throws -> T) async throws -> T {
    try await withDatabase(engine) { db in
        try await Migrator.migrate(db, service: "settlement", migrations: SettlementDefinition.migrations, logger: quietLogger)
        var router = RPCRouter()
        SettlementProvider(store: SettlementStore(database: db), policies: try PolicyBook.bundled()).register(with: &router)
        let callers = Callers(router: router, db: db)
        _ = try await SettlementClient(InProcessChannel(router: router, peer: Callers.gateway, logger: quietLogger))
            .importPersons(ImportPersonsRequest(persons: [quzhou, hangzhou, suspended]))
        return try await body(callers)
    }
}

func atClinic(_ request: SettleRequest, _ clinic: String) -> SettleRequest {
    var request = request
    request.claim?.fixmedinsCode = clinic
    request.claim?.settleVia = clinic
    return request
}

@Suite("Fund protection: exactly once, by the right identity")
struct ExactlyOnceTests {
    @Test(arguments: Engine.all)
    func aVisitIsSettledOnceWhateverTheKey(engine: Engine) async throws {
        try await withCallers(engine: engine) { callers in
            let clinic = callers.client("H33080200101")
            let first = try await clinic.settle(claim("V1", [("XJ01CAA040A001010100001", 20, 50)]), options: keyed("his-msg-1"))
            #expect(!first.replay)
            // The HIS retries after a timeout with a fresh message number: the first answer.
            let retried = try await clinic.settle(claim("V1", [("XJ01CAA040A001010100001", 20, 50)]), options: keyed("his-msg-2"))
            #expect(retried.replay && retried.setlID == first.setlID)
            // The same visit with a different claim: refused, naming the live settlement.
            let changed = await #expect(throws: RPCError.self) {
                _ = try await clinic.settle(claim("V1", [("XJ01CAA040A001010100001", 30, 50)]), options: keyed("his-msg-3"))
            }
            #expect(changed?.code == .alreadyExists && changed?.message.contains(first.setlID) == true, "\(String(describing: changed))")
            // Once reversed, a corrected claim for the visit may be settled.
            _ = try await clinic.reverse(ReverseRequest(setlID: first.setlID, reason: "corrected"), options: keyed("rev-1"))
            let corrected = try await clinic.settle(claim("V1", [("XJ01CAA040A001010100001", 30, 50)]), options: keyed("his-msg-4"))
            #expect(!corrected.replay && corrected.setlID != first.setlID)
            let ledger = try await callers.client("H33080200101").checkLedger(LedgerCheckRequest())
            #expect(ledger.balanced && ledger.settlements == 2 && ledger.reversals == 1, "\(ledger.problems)")
        }
    }

    @Test(arguments: Engine.all)
    func keysAreScopedToTheirCaller(engine: Engine) async throws {
        try await withCallers(engine: engine) { callers in
            let a = callers.client("H33080200101"), b = callers.client("H33080200102")
            let mine = try await a.settle(atClinic(claim("MD7", [("XJ01CAA040A001010100001", 20, 50)]), "H33080200101"), options: keyed("MD7"))
            // Clinic B's own visit that happens to carry the same number, under the same key:
            // B's settlement, not A's.
            let theirs = try await b.settle(atClinic(claim("MD7", person: hangzhou, [("001102000050000", 1, 1000)]), "H33080200102"), options: keyed("MD7"))
            #expect(!theirs.replay && theirs.setlID != mine.setlID && theirs.fixmedinsCode == "H33080200102" && theirs.psnNo == "P002")
            // B reusing its key for another visit: refused without naming what the key was used for.
            let reused = await #expect(throws: RPCError.self) {
                _ = try await b.settle(atClinic(claim("OTHER9", person: hangzhou, date: "2024-06-02", [("001102000050000", 1, 1000)]), "H33080200102"), options: keyed("MD7"))
            }
            #expect(reused?.code == .failedPrecondition && reused?.message.contains("MD7") == false && reused?.message.contains(mine.setlID) == false)
            // Reversal keys too: B's key does not answer with A's reversal.
            _ = try await a.reverse(ReverseRequest(setlID: mine.setlID), options: keyed("R1"))
            let otherReversal = try await b.reverse(ReverseRequest(setlID: theirs.setlID), options: keyed("R1"))
            #expect(!otherReversal.replay && otherReversal.setlID == theirs.setlID)
            #expect(try await a.checkLedger(LedgerCheckRequest()).settlements == 2)
        }
    }

    @Test func aRetryIsAnsweredBeforeAnythingIsRechecked() async throws {
        try await withCallers { callers in
            let clinic = callers.client("H33080200101")
            let first = try await clinic.settle(claim("VP", [("XJ01CAA040A001010100001", 20, 50)]), options: keyed("kp"))
            // Replay-only (what the gateway asks when a check now refuses): the stored answer.
            let stored = try await clinic.replay(SettleRequest(claim: claim("VP", [("XJ01CAA040A001010100001", 20, 50)]).claim), options: keyed("kp-other"))
            #expect(stored.replay && stored.setlID == first.setlID)
            // The person is suspended in between: the retry still gets its answer.
            var now = quzhou
            now.psnInsuStas = .suspended
            _ = try await clinic.importPersons(ImportPersonsRequest(persons: [now]))
            #expect(try await clinic.settle(claim("VP", [("XJ01CAA040A001010100001", 20, 50)]), options: keyed("kp")).setlID == first.setlID)
            let nothing = await #expect(throws: RPCError.self) {
                _ = try await clinic.replay(SettleRequest(claim: claim("VNEW", [("001102000050000", 1, 1000)]).claim), options: keyed("kn"))
            }
            #expect(nothing?.code == .notFound)
            #expect(try await clinic.checkLedger(LedgerCheckRequest()).settlements == 1)
        }
    }

    @Test(arguments: Engine.all)
    func theSameItemForAPersonAndDaySentTogetherPassesOnce(engine: Engine) async throws {
        try await withCallers(engine: engine) { callers in
            let clinic = callers.client("H33080200101")
            let outcomes = try await withThrowingTaskGroup(of: RPCError.Code?.self) { group in
                for i in 0..<12 {
                    group.addTask {
                        do {
                            _ = try await clinic.settle(claim("D\(i)", [("XJ01CAA040A001010100001", 10, 50)]), options: keyed("d\(i)"))
                            return nil
                        } catch let error as RPCError {
                            return error.code
                        }
                    }
                }
                return try await group.reduce(into: [RPCError.Code?]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == nil }.count == 1)
            #expect(outcomes.filter { $0 == .failedPrecondition }.count == 11)
            #expect(try await clinic.checkLedger(LedgerCheckRequest()).settlements == 1)
        }
    }
}

@Suite("Fund protection: canonical input, plausible values")
struct CanonicalInputTests {
    @Test func aResidentIDHasOneCanonicalForm() throws {
        let upper = residentID("11010519491231002")
        #expect(upper.hasSuffix("X"))
        let lower = String(upper.dropLast()) + "x"
        #expect(try ResidentID(lower).value == upper)
        for bad in [" " + upper.dropFirst(), "+" + upper.dropFirst(), "１" + upper.dropFirst(), upper + " "] {
            #expect(throws: DomainError.self) { try ResidentID(String(bad)) }
        }
    }

    @Test func datesAreStrict() throws {
        #expect(try CivilDate("2024-06-01", field: "d").description == "2024-06-01")
        for bad in ["2024-+6-01", "2024-06-1 ", "２０２４-06-01", "2024/06/01", "+024-06-01", "2024-06-31"] {
            let error = #expect(throws: DomainError.self) { try CivilDate(bad, field: "claim.visit_date") }
            #expect(error?.field == "claim.visit_date")
        }
    }

    @Test func personsAreStoredCanonicallySoOneIDIsOnePerson() async throws {
        try await withCallers { callers in
            let s = callers.client("H33080200101")
            let upper = residentID("11010519491231002")
            let lower = String(upper.dropLast()) + "x"
            _ = try await s.importPersons(ImportPersonsRequest(persons: [
                InsuredPerson(psnNo: "p100", certno: lower, name: "赵六", insutype: .residentBasic, insuAdmdvs: "330802", psnInsuStas: .enrolled),
            ]))
            for spelling in [upper, lower] {
                let found = try await s.verifyIdentity(VerifyIdentityRequest(certno: spelling))
                #expect(found.valid && found.person?.psnNo == "P100" && found.person?.certno == upper)
            }
            let twice = await #expect(throws: RPCError.self) {
                _ = try await s.importPersons(ImportPersonsRequest(persons: [
                    InsuredPerson(psnNo: "P101", certno: upper, name: "赵六", insutype: .residentBasic, insuAdmdvs: "330802", psnInsuStas: .enrolled),
                ]))
            }
            #expect(twice?.code == .failedPrecondition)
            // A claim carrying either spelling is the person's.
            var request = claim("VX", [("001102000050000", 1, 1000)])
            request.claim?.psnNo = "p100"
            request.claim?.certno = lower
            let result = try await s.preSettle(request)
            #expect(result.psnNo == "P100")
            let spaced = await #expect(throws: RPCError.self) {
                _ = try await s.importPersons(ImportPersonsRequest(persons: [
                    InsuredPerson(psnNo: "P 102", certno: residentID("11010519491231010"), name: "x", insutype: .residentBasic, insuAdmdvs: "330802", psnInsuStas: .enrolled),
                ]))
            }
            #expect(spaced?.code == .invalidArgument && spaced?.message.hasPrefix("persons[0].psn_no") == true)
        }
    }

    @Test(arguments: [
        (claim("F1", date: "2099-01-01", [("001102000050000", 1, 1000)]), "claim.visit_date"),
        (claim("F2", person: quzhou, date: "2024-06-01", [("001102000050000", 1, 1000)], diagnoses: Array(repeating: "I10", count: 21)), "claim.diagnoses"),
        (claim("F3", [("001102000050000", 1, 1000)], diagnoses: [String(repeating: "J", count: 4000)]), "claim.diagnoses[0]"),
        (claim("F4 ", [("001102000050000", 1, 1000)]), "claim.mdtrt_id"),
        (claim("F5", [("001102000050000", 1, 1000_000_000)]), "claim.lines[0].unit_price"),
        (claim("F6", [("f001", 1, 1000)]), "claim.lines[0].item_code"),
    ])
    func implausibleClaimsAreRefusedNamingTheField(request: SettleRequest, field: String) async throws {
        try await withCallers { callers in
            let error = await #expect(throws: RPCError.self) { _ = try await callers.client("H33080200101").settle(request, options: keyed("bad")) }
            #expect(error?.code == .invalidArgument && error?.message.hasPrefix(field + ":") == true, "\(String(describing: error))")
            #expect((error?.message.utf8.count ?? 0) < 300)
        }
    }

    @Test func aVisitBeforeThePersonsBirthIsRefused() async throws {
        try await withCallers { callers in
            let s = callers.client("H33080200101")
            _ = try await s.importPersons(ImportPersonsRequest(persons: [
                InsuredPerson(psnNo: "PBABY", certno: residentID("33080220250101001"), name: "婴儿", insutype: .residentBasic, insuAdmdvs: "330802", psnInsuStas: .enrolled),
            ]))
            var request = claim("VB1", date: "2024-06-01", [("001102000050000", 1, 1000)])
            request.claim?.psnNo = "PBABY"
            request.claim?.certno = ""
            let error = await #expect(throws: RPCError.self) { _ = try await s.settle(request, options: keyed("baby")) }
            #expect(error?.code == .invalidArgument && error?.message.hasPrefix("claim.visit_date") == true)
        }
    }
}

@Suite("Fund protection: reports by the day money moved")
struct DayTotalsTests {
    @Test(arguments: Engine.all)
    func settlementsAndReversalsCountOnTheirOwnDay(engine: Engine) async throws {
        try await withCallers(engine: engine) { callers in
            let reports = SettlementReportsClient(InProcessChannel(router: {
                var router = RPCRouter()
                SettlementReportsProvider(store: SettlementStore(database: callers.db)).register(with: &router)
                return router
            }(), peer: Callers.gateway, logger: quietLogger))
            let s = callers.client("H33080200101")
            let today = CivilDate.today().description
            let settled = try await s.settle(claim("VD", date: "2024-06-14", [("001102000050000", 1, 1000)]), options: keyed("kd"))
            #expect(settled.setlDate == today)
            let day = try await reports.getDayTotals(DayTotalsRequest(institution: "H33080200101", date: today))
            #expect(day.settlements == 1 && day.medfeeSumamt == 1000 && day.reversed == 0)
            #expect(try await reports.getDayTotals(DayTotalsRequest(institution: "H33080200101", date: "2024-06-14")).settlements == 0)
            _ = try await s.reverse(ReverseRequest(setlID: settled.setlID), options: keyed("rd"))
            let after = try await reports.getDayTotals(DayTotalsRequest(region: "330802", date: today))
            #expect(after.settlements == 1 && after.reversed == 1 && after.medfeeSumamt == 0 && after.fundPaySumamt == 0)
        }
    }
}

@Suite("Fund protection: registry structure")
struct RegistryStructureTests {
    @Test(arguments: Engine.all)
    func aClinicsParentIsATownshipCentreOfItsCounty(engine: Engine) async throws {
        try await withRegistry(engine: engine) { r in
            _ = try await r.importInstitutions(ImportInstitutionsRequest(records: [centre, clinic("H33080200101", village: "330802101201")]))
            var underClinic = clinic("H33080200150", village: "330802101201")
            underClinic.parentCode = "H33080200101"
            var selfParent = clinic("H33080200151", village: "330802101201")
            selfParent.parentCode = "H33080200151"
            var otherCounty = clinic("H33080200152", village: "330802101201")
            otherCounty.parentCode = "H33010600001"
            let wrongCode = clinic("H33010600153", village: "330802101201")
            var unknownParent = clinic("H33080200154", village: "330802101201")
            unknownParent.parentCode = "H33080200009"
            var overflow = clinic("H33080200155", village: "330802101201")
            overflow.recordVersion = UInt64.max
            let result = try await r.importInstitutions(ImportInstitutionsRequest(records: [underClinic, selfParent, otherCounty, wrongCode, unknownParent, overflow]))
            #expect(result.rejected == 6 && result.created == 0, "\(result.results)")
            let reasons = result.results.map(\.reason)
            #expect(reasons[0].contains("not a township centre") && reasons[1].contains("own parent") && reasons[2].hasPrefix("parent_code"))
            #expect(reasons[3].hasPrefix("fixmedins_code") && reasons[4].contains("not registered") && reasons[5].hasPrefix("record_version"))
        }
    }

    @Test func aRouteHoldsOnlyForVisitsOnDaysTheClinicWasDesignated() async throws {
        try await withRegistry { r in
            _ = try await r.importInstitutions(ImportInstitutionsRequest(records: [centre, clinic("H33080200101", village: "330802101201")]))
            _ = try await r.changeDesignation(ChangeDesignationRequest(fixmedinsCode: "H33080200001", action: .designate, reason: "signed", effectiveDate: "2024-01-01"))
            _ = try await r.changeDesignation(ChangeDesignationRequest(fixmedinsCode: "H33080200101", action: .designate, reason: "signed", effectiveDate: "2024-06-01"))
            let before = try await r.resolveSettlementRoute(ResolveSettlementRouteRequest(fixmedinsCode: "H33080200101", onDate: "2024-05-31"))
            #expect(!before.canSettle && before.refusal == "H33080200101 was not designated on 2024-05-31")
            let after = try await r.resolveSettlementRoute(ResolveSettlementRouteRequest(fixmedinsCode: "H33080200101", onDate: "2024-06-01"))
            #expect(after.canSettle && after.settleVia == "H33080200001")
            // A change cannot take effect before the one it follows.
            let backwards = await #expect(throws: RPCError.self) {
                _ = try await r.changeDesignation(ChangeDesignationRequest(fixmedinsCode: "H33080200101", action: .suspend, reason: "x", effectiveDate: "2024-05-01"))
            }
            #expect(backwards?.code == .invalidArgument && backwards?.message.hasPrefix("effective_date") == true)
            let institution = try await r.getInstitution(GetInstitutionRequest(fixmedinsCode: "H33080200101"))
            #expect(institution.history.last?.effectiveDate == "2024-06-01")
        }
    }

    @Test func aDivisionNeedsItsParent() async throws {
        try await withRegistry { r in
            let orphan = await #expect(throws: RPCError.self) {
                _ = try await r.upsertDivisions(UpsertDivisionsRequest(divisions: [Division(code: "330802101201", name: "甲村")]))
            }
            #expect(orphan?.code == .invalidArgument && orphan?.message.hasPrefix("divisions[0].code") == true)
            let parents = try await r.upsertDivisions(UpsertDivisionsRequest(divisions: parentDivisions))
            #expect(parents.upserted == 4)
        }
    }
}

@Suite("Fund protection: who may call")
struct CallerAccessTests {
    let access = ServiceAccess(callers: ["gateway"])
    let supervision = ServiceAccess(callers: ["gateway", "settlement"])

    @Test func backendsAdmitOnlyTheServicesThatNeedThem() {
        let gateway = PeerIdentity(commonName: "gateway", department: "nhsa", role: "service")
        let nhcOperator = PeerIdentity(commonName: "nhc-ops", department: "nhc", role: "operator")
        let nhsaOperator = PeerIdentity(commonName: "ops", department: "nhsa", role: "operator")
        let nhcService = PeerIdentity(commonName: "gateway", department: "nhc", role: "service")
        let settlement = PeerIdentity(commonName: "settlement", department: "nhsa", role: "service")
        #expect(access.admits(gateway, SettlementMethods.checkLedger))
        #expect(!access.admits(nhcOperator, SettlementMethods.checkLedger))
        #expect(!access.admits(nhcOperator, HealthMethods.check))
        #expect(!access.admits(nhsaOperator, SettlementMethods.settle))
        #expect(access.admits(nhsaOperator, HealthMethods.check))
        #expect(!access.admits(nhcService, SettlementMethods.checkLedger))
        #expect(!access.admits(settlement, RegistryMethods.changeDesignation))
        #expect(supervision.admits(settlement, SupervisionMethods.recordBatch))
        #expect(!supervision.admits(gateway, SupervisionMethods.recordBatch))
    }

    @Test func theActingCallerIsBelievedOnlyFromAService() {
        let clinic = PeerIdentity(commonName: "H33080200101", department: "nhc", role: "clinic", region: "330802")
        let metadata: Metadata = [Metadata.actingCaller: PeerIdentity(commonName: "ops", department: "nhsa", role: "operator").actingCallerValue]
        let fromClinic = CallContext(method: SettlementMethods.settle, callID: 1, peer: clinic, metadata: metadata, deadline: nil, logger: quietLogger)
        #expect(fromClinic.actor == clinic)
        let fromGateway = CallContext(method: SettlementMethods.settle, callID: 1, peer: Callers.gateway,
                                      metadata: [Metadata.actingCaller: clinic.actingCallerValue], deadline: nil, logger: quietLogger)
        #expect(fromGateway.actor == clinic)
        #expect(PeerIdentity(actingCallerValue: "a\tb\tc") == nil)
    }
}

@Suite("Fund protection: the audit trail")
struct AuditTrailTests {
    @Test func reviewWritesNothingAndARecordedBlockIsCountedAndChained() async throws {
        try await withSupervision { supervision, db in
            let blocked = ReviewRequest(claim: Claim(
                mdtrtID: "B1", psnNo: "P001", fixmedinsCode: "H33080200101", medType: .generalOutpatient, visitDate: "2024-06-01",
                lines: [FeeLine(itemCode: "XJ01CAA040A001010100001", quantity: 70, unitPrice: 50)]
            ))
            let verdict = try await supervision.review(blocked)
            #expect(verdict.verdict == .block)
            let reports = SupervisionReportsClient(InProcessChannel(router: {
                var router = RPCRouter()
                SupervisionReportsProvider(store: SupervisionStore(database: db)).register(with: &router)
                return router
            }(), peer: Callers.gateway, logger: quietLogger))
            #expect(try await reports.getReviewStats(ReviewStatsRequest(region: "330802", date: "2024-06-01")).blocked == 0)
            let link = try await supervision.recordBlock(RecordBlockRequest(claim: blocked.claim, review: verdict))
            #expect(link.kind == .reviewBlock && link.subject == "H33080200101/B1")
            #expect(try await reports.getReviewStats(ReviewStatsRequest(region: "330802", date: "2024-06-01")).blocked == 1)
            // A retry blocked again for the same rules is the same decision: counted and chained once.
            let again = try await supervision.recordBlock(RecordBlockRequest(claim: blocked.claim, review: verdict))
            #expect(again.seq == link.seq)
            #expect(try await reports.getReviewStats(ReviewStatsRequest(region: "330802", date: "2024-06-01")).blocked == 1)
            #expect(try await supervision.verifyAudit(VerifyAuditRequest()).intact)
        }
    }

    @Test func editingAnyColumnOfARecordBreaksTheChain() async throws {
        for column in ["kind = 'reversal'", "subject = 'S-forged'", "at = '2020-01-01T00:00:00Z'"] {
            try await withSupervision { supervision, db in
                _ = try await supervision.recordBatch(RecordBatchRequest(records: [
                    RecordRequest(settlement: SettlementResult(setlID: "S1", status: .settled)),
                    RecordRequest(settlement: SettlementResult(setlID: "S2", status: .settled)),
                ]))
                #expect(try await supervision.verifyAudit(VerifyAuditRequest()).intact)
                try await db.write { tx in try await tx.execute("UPDATE audit SET \(column) WHERE seq = 1", []) }
                let verdict = try await supervision.verifyAudit(VerifyAuditRequest())
                #expect(!verdict.intact && verdict.firstBrokenSeq == 1, "\(column)")
            }
        }
    }

    @Test func checkpointsPinTheChainAgainstARewriteFromTheStart() async throws {
        let key = try SM2.generateKey()
        let checkpointer = try AuditCheckpointer(privateKey: key, interval: .zero)
        try await withDatabase(.sqlite) { db in
            try await Migrator.migrate(db, service: "supervision", migrations: SupervisionDefinition.migrations, logger: quietLogger)
            var router = RPCRouter()
            try await SupervisionProvider.bundled(store: SupervisionStore(database: db), catalogue: try PolicyBook.bundled().catalogue, checkpointer: checkpointer).register(with: &router)
            let supervision = SupervisionClient(InProcessChannel(router: router, peer: Callers.gateway, logger: quietLogger))
            func record(_ ids: [String]) async throws -> RecordBatchResponse {
                try await supervision.recordBatch(RecordBatchRequest(records: ids.map { RecordRequest(settlement: SettlementResult(setlID: $0, status: .settled)) }))
            }
            let first = try await record(["S1", "S2", "S3"])
            let checkpoint = try #require(first.checkpoint)
            #expect(checkpoint.seq == 3 && checkpoint.hash == first.records.last?.hash)
            var postings = PostingDigest()
            for id in ["S1", "S2", "S3"] { postings.add(kind: "settlement", setlID: id) }
            let summary = PostingSummary(settlements: 3, digest: postings.hex)
            let good = try await supervision.verifyAudit(VerifyAuditRequest(checkpoints: [checkpoint], postings: summary))
            #expect(good.intact && good.checkpointsVerified == 1 && good.postingsCompared, "\(good)")

            // Someone with the database but not the key rewrites the chain from its start,
            // leaving S2 out, and re-hashes it: it verifies on its own, not against the checkpoint.
            try await db.write { tx in
                try await tx.execute("DELETE FROM audit", [])
                try await tx.execute("UPDATE audit_head SET seq = 0, hash = '\(String(repeating: "0", count: 64))' WHERE id = 1", [])
            }
            _ = try await record(["S1", "S3", "S4"])
            #expect(try await supervision.verifyAudit(VerifyAuditRequest()).intact)
            let caught = try await supervision.verifyAudit(VerifyAuditRequest(checkpoints: [checkpoint]))
            #expect(!caught.intact && caught.reason.contains("rewritten"), "\(caught)")
            let missing = try await supervision.verifyAudit(VerifyAuditRequest(postings: summary))
            #expect(!missing.intact && missing.reason.contains("not one record per posting"), "\(missing)")
            // A checkpoint signed with another key proves nothing.
            var forged = checkpoint
            forged.signature = try SM2.sign(AuditCheckpointer.message(seq: 3, hash: checkpoint.hash, at: checkpoint.at), privateKey: try SM2.generateKey())
            #expect(try await supervision.verifyAudit(VerifyAuditRequest(checkpoints: [forged])).intact == false)
        }
    }

    @Test func eachServiceChainsOnlyItsOwnDecisions() throws {
        let registry = PeerIdentity(commonName: "registry", department: "nhsa", role: "service")
        let settlement = PeerIdentity(commonName: "settlement", department: "nhsa", role: "service")
        let posting = SupervisionStore.Recordable.posting(SettlementResult(setlID: "S1", status: .settled), nil)
        let designation = SupervisionStore.Recordable.designation(DesignationRecord(fixmedinsCode: "H33080200101", n: 1, event: DesignationEvent(toStatus: .designated)))
        #expect(throws: DomainError.self) { try SupervisionProvider.mayRecord(posting, caller: registry) }
        #expect(throws: DomainError.self) { try SupervisionProvider.mayRecord(designation, caller: settlement) }
        try SupervisionProvider.mayRecord(posting, caller: settlement)
        try SupervisionProvider.mayRecord(designation, caller: registry)
    }

    @Test func sm2SignaturesVerifyOnlyWithTheirKey() throws {
        let key = try SM2.generateKey(), other = try SM2.generateKey()
        let message = Array("medicare".utf8)
        let signature = try SM2.sign(message, privateKey: key)
        #expect(SM2.verify(signature, of: message, key: try SM2.publicKey(of: key)))
        #expect(!SM2.verify(signature, of: Array("medicarf".utf8), key: key))
        #expect(!SM2.verify(signature, of: message, key: other))
    }
}
