import Foundation
import NIOCore
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareStore
import MedicareTestSupport
import MedicareWire
import SettlementService
import SupervisionService
import Testing

/// Settlement writes each posting's audit record in the posting's transaction; its relay
/// delivers the outbox to supervision's chain, in order, once.
@Suite("Audit relay")
struct AuditRelayTests {
    @Test(arguments: Engine.all)
    func postingsReachTheChainOnceAndARejectedRecordIsSetAside(engine: Engine) async throws {
        try await withSupervision { supervision, _ in
            try await withService("settlement", engine: engine, migrations: SettlementDefinition.migrations, router: { db in
                var router = RPCRouter()
                SettlementProvider(store: SettlementStore(database: db), policies: try PolicyBook.bundled()).register(with: &router)
                return router
            }) { channel, db in
                let settlement = SettlementClient(channel)
                let store = SettlementStore(database: db)
                _ = try await settlement.importPersons(ImportPersonsRequest(persons: [quzhou, hangzhou]))
                let first = try await settlement.settle(claim("A1", [("001102000050000", 1, 1000)]), options: keyed("a1"))
                _ = try await settlement.settle(claim("A2", person: hangzhou, [("001102000050000", 1, 1000)]), options: keyed("a2"))
                _ = try await settlement.reverse(ReverseRequest(setlID: first.setlID, reason: "test"), options: keyed("r1"))
                // A retried settle posts nothing, so it queues no second record.
                _ = try await settlement.settle(claim("A1", [("001102000050000", 1, 1000)]), options: keyed("a1"))
                #expect(try await store.auditBacklog() == (pending: 3, rejected: 0))
                #expect(try await store.auditSpan() == 3)
                // Each row is dated, so that the relay can report how long records wait (its lag).
                let written = try await store.outbox.pending(limit: 10)
                #expect(written.count == 3 && written.allSatisfy { abs(($0.createdMs ?? 0) - AuditOutbox.nowMillis()) < 600_000 })
                try await store.outbox.release(written.map(\.seq))
                // A record supervision cannot accept (no setl_id) must not block the others.
                try await db.write { tx in
                    try await tx.execute("INSERT INTO audit_outbox (setl_id, kind, record) VALUES ('', 'settlement', $1)",
                                         [.blob(try RecordRequest(settlement: SettlementResult(status: .settled)).encodedBytes())])
                }

                // One record per call when a batch may hold fewer bytes than a record.
                let narrow = AuditRelay(outbox: store.outbox, supervision: supervision.channel, logger: quietLogger, batchBytes: 1)
                #expect(try await narrow.deliverOnce())
                #expect(try await store.auditBacklog() == (pending: 3, rejected: 0))  // two postings and the bad record left
                let relay = AuditRelay(outbox: store.outbox, supervision: supervision.channel, logger: quietLogger)
                #expect(try await relay.deliverOnce())
                #expect(try await store.auditBacklog() == (pending: 0, rejected: 1))
                #expect(try await store.auditSpan() == 1)
                #expect(try await relay.deliverOnce() == false)
                let chain = try await supervision.verifyAudit(VerifyAuditRequest())
                #expect(chain.intact && chain.records == 3)
                // The chain holds the settlement, the second one, then the reversal; review
                // judges a same-day claim by itself (R003 across claims is settlement's).
                var again = ReviewRequest(claim: claim("A3", [("001102000050000", 1, 1000)]).claim)
                again.claim?.fixmedinsCode = "H33080200101"
                #expect(try await supervision.review(again).verdict == .pass)
            }
        }
    }

    @Test(arguments: Engine.all)
    func aRedeliveredBatchIsAnsweredWithTheLinksAlreadyMade(engine: Engine) async throws {
        try await withSupervision(engine: engine) { supervision, _ in
            let records = (1...3).map { RecordRequest(settlement: SettlementResult(setlID: "S\($0)", medfeeSumamt: 100, status: .settled)) }
            let first = try await supervision.recordBatch(RecordBatchRequest(records: records))
            let again = try await supervision.recordBatch(RecordBatchRequest(records: records))
            #expect(first.records.map(\.seq) == [1, 2, 3] && again.records == first.records)
            let mixed = try await supervision.recordBatch(RecordBatchRequest(records: [
                RecordRequest(settlement: SettlementResult(setlID: "S4", status: .presettled)), records[0],
            ]))
            #expect(mixed.rejected == [RejectedRecord(index: 0, reason: "records[0].settlement.status: must be settled or reversed")])
            #expect(mixed.records.map(\.seq) == [1])
            #expect(try await supervision.verifyAudit(VerifyAuditRequest()).records == 3)
        }
    }

    @Test(arguments: Engine.all)
    func aReversalDeliveredBeforeItsSettlementChainsBoth(engine: Engine) async throws {
        try await withSupervision(engine: engine) { supervision, _ in
            let claim = Claim(mdtrtID: "M9", psnNo: "P001", fixmedinsCode: "H33080200101", medType: .generalOutpatient, visitDate: "2024-06-01",
                              lines: [FeeLine(itemCode: "001102000050000", quantity: 1, unitPrice: 1000)])
            let settled = SettlementResult(setlID: "S9", mdtrtID: "M9", psnNo: "P001", medfeeSumamt: 1000, status: .settled)
            var reversed = settled
            reversed.status = .reversed
            _ = try await supervision.recordBatch(RecordBatchRequest(records: [RecordRequest(settlement: reversed)]))
            _ = try await supervision.recordBatch(RecordBatchRequest(records: [RecordRequest(settlement: settled, claim: claim)]))
            #expect(try await supervision.verifyAudit(VerifyAuditRequest()).records == 2)
            var other = claim
            other.mdtrtID = "M10"
            #expect(try await supervision.review(ReviewRequest(claim: other)).verdict == .pass)
        }
    }
}

/// Counts the records each RecordBatch call carries, then passes it on.
final class CountingChannel: RPCChannel, @unchecked Sendable {
    let inner: any RPCChannel
    private let lock = NSLock()
    private var records = 0

    init(_ inner: any RPCChannel) { self.inner = inner }

    var recordsSent: Int { lock.withLock { records } }

    func call(_ method: MethodDescriptor, payload: ByteBuffer, options: CallOptions) async throws(RPCError) -> ByteBuffer {
        if method == SupervisionMethods.recordBatch, let request = try? RecordBatchRequest(decoding: payload) {
            lock.withLock { records += request.records.count }
        }
        return try await inner.call(method, payload: payload, options: options)
    }
}

/// Several settlement replicas on one PostgreSQL: their relays share one outbox.
@Suite("Audit relay: replicas")
struct AuditRelayReplicaTests {
    /// Each relay claims the rows it delivers, so two relays running at once deliver every
    /// record exactly once between them, and the chain holds each once.
    @Test(arguments: Engine.all.filter { $0 == .postgres })
    func twoRelaysSplitTheOutboxInsteadOfRepeatingIt(engine: Engine) async throws {
        try await withSupervision { supervision, _ in
            try await withService("settlement", engine: engine, migrations: SettlementDefinition.migrations, router: { _ in RPCRouter() }) { _, db in
                let count = 400
                try await db.write { tx in
                    for i in 0..<count {
                        let record = RecordRequest(settlement: SettlementResult(setlID: "S\(i)", medfeeSumamt: 100, status: .settled))
                        try await tx.execute("INSERT INTO audit_outbox (setl_id, kind, record) VALUES ($1, 'settlement', $2)", [.text("S\(i)"), .blob(try record.encodedBytes())])
                    }
                }
                let counting = CountingChannel(supervision.channel)
                let relays = (0..<2).map { _ in
                    AuditRelay(outbox: AuditOutbox(database: db), supervision: counting, logger: quietLogger, batchLimit: 16)
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for relay in relays { group.addTask { while try await relay.deliverOnce() {} } }
                    try await group.waitForAll()
                }
                #expect(counting.recordsSent == count, "records sent: \(counting.recordsSent)")
                let chain = try await supervision.verifyAudit(VerifyAuditRequest())
                #expect(chain.intact && chain.records == UInt64(count))
                #expect(try await SettlementStore(database: db).auditBacklog() == (pending: 0, rejected: 0))
            }
        }
    }
}
