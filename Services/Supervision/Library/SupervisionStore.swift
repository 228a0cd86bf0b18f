import Foundation
import MedicareContracts
import MedicareCrypto
import MedicareDomain
import MedicareRuntime
import MedicareStore
import MedicareWire

/// Review blocks and the audit chain, on either engine.
public struct SupervisionStore: Sendable {
    public let database: any SQLDatabase
    /// The catalogue the day counts classify claim lines by (drugs, antibiotics, injections, 集采).
    let catalogueHolder: CatalogueHolder
    var catalogue: Catalogue { catalogueHolder.current }

    /// Concurrent reviews' history reads, one statement for many persons (PostgreSQL only).
    let histories: Coalescer<HistoryWindow, [PastVisit]>?

    public init(database: any SQLDatabase, catalogue: [CatalogueItem] = []) {
        self.init(database: database, catalogue: CatalogueHolder(Catalogue(catalogue)))
    }

    /// A store whose day counts read the catalogue in force in `catalogue` (replaced as
    /// settlement publishes versions: ``CatalogueHolder``).
    public init(database: any SQLDatabase, catalogue: CatalogueHolder) {
        self.database = database
        self.catalogueHolder = catalogue
        // On PostgreSQL each read is a round trip, parsed, planned and answered by the server,
        // and every settlement's review makes one: the reviews waiting at once share one.
        histories = database.dialect == .postgres
            ? Coalescer(metric: "medicare_supervision_history_batch_size", runners: 2, maxCount: 256) { windows in
                do { return try await Self.visits(database, windows).map { .success($0) } } catch { return windows.map { _ in .failure(error) } }
            }
            : nil
    }

    /// Counts a block in the day's statistics and chains it (kind REVIEW_BLOCK, subject
    /// "<fixmedins_code>/<mdtrt_id>", content the encoded RecordBlockRequest), in one transaction.
    /// A retry blocked again for the same rules is the same decision: answered with the
    /// first link, counted and chained once (a clinic looping on a blocked claim must not
    /// grow the chain).
    func recordBlock(claim: Claim, rules: String, content: [UInt8]) async throws -> AuditRecord {
        let postgres = database.dialect == .postgres
        let subject = "\(claim.fixmedinsCode)/\(claim.mdtrtID)"
        return try await database.write { tx in
            if postgres { try await Self.lockHead(tx) }
            if try await tx.queryOne(
                "SELECT rules FROM blocked_reviews WHERE visit_date = $1 AND fixmedins_code = $2 AND mdtrt_id = $3 AND rules = $4",
                [.text(claim.visitDate), .text(claim.fixmedinsCode), .text(claim.mdtrtID), .text(rules)]
            ) != nil, let existing = try await Self.chained(tx, kind: .reviewBlock, subject: subject) {
                return existing
            }
            try await tx.execute(
                "INSERT INTO blocked_reviews (mdtrt_id, fixmedins_code, visit_date, rules, at) VALUES ($1, $2, $3, $4, $5)",
                [.text(claim.mdtrtID), .text(claim.fixmedinsCode), .text(claim.visitDate), .text(rules), .text(Date().formatted(.iso8601))]
            )
            return try await Self.link(tx, kind: .reviewBlock, subject: subject, content: content)
        }
    }

    /// The hash of a record: SM3 over the previous hash and every column of the record (kind,
    /// subject, time and content), each length-prefixed so that no two records hash alike.
    /// Records chained before migration 5 (hash version 1) covered the content only.
    static func hash(previous: String, kind: String, subject: String, at: String, content: [UInt8], version: Int64 = 2) -> String {
        guard version >= 2 else { return SM3.hex(SM3.digest(Array(previous.utf8) + content)) }
        var bytes = Array(previous.utf8)
        for part in [Array(kind.utf8), Array(subject.utf8), Array(at.utf8), content] {
            let n = UInt32(part.count)
            bytes += [UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)]
            bytes += part
        }
        return SM3.hex(SM3.digest(bytes))
    }

    /// Appends one record to the chain after its head.
    static func link(_ tx: any SQLTransaction, kind: AuditKind, subject: String, content: [UInt8]) async throws -> AuditRecord {
        // The head row serialises appends (a row lock on PostgreSQL, the single writer on SQLite).
        guard let head = try await tx.queryOne("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash", []) else {
            throw StoreError.decoding("audit head is missing")
        }
        let seq = try head.int("seq"), previous = try head.string("hash")
        let at = Date().formatted(.iso8601)
        let hash = Self.hash(previous: previous, kind: kind.code, subject: subject, at: at, content: content)
        try await tx.execute("UPDATE audit_head SET hash = $1 WHERE id = 1", [.text(hash)])
        try await tx.execute(
            "INSERT INTO audit (seq, kind, subject, content, prev_hash, hash, at, hash_version) VALUES ($1, $2, $3, $4, $5, $6, $7, 2)",
            [.integer(seq), kind.stored, .text(subject), .blob(content), .text(previous), .text(hash), .text(at)]
        )
        return AuditRecord(seq: UInt64(seq), kind: kind, subject: subject, prevHash: previous, hash: hash, at: at)
    }

    /// A region as supervision's reads take it: `atLeast` (0: empty = all) to 6 digits, a
    /// prefix of the county digits of institution codes. INVALID_ARGUMENT naming `field`
    /// otherwise.
    static func countyPrefix(_ text: String, field: String, atLeast: Int = 0) throws(DomainError) -> String {
        guard (atLeast...6).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw DomainError(field: field, atLeast == 0 ? "must be up to 6 digits of the county code" : "must be \(atLeast)-6 digits of the county code")
        }
        return text
    }

    /// The bounds of the institution codes ("H" + county + serial) in a county prefix, as the
    /// two binds of `fixmedins_code >= $n AND fixmedins_code < $n+1`.
    static func institutions(in region: String) -> [SQLValue] {
        let range = DivisionCode.textRange(prefix: region)
        return [.text("H" + range.lower), .text("H" + range.upper)]
    }

    func blockedCount(region: String, date: String) async throws -> Int64 {
        try await database.read { tx in
            try await tx.queryOne("SELECT COUNT(*) AS n FROM blocked_reviews WHERE visit_date = $1 AND fixmedins_code >= $2 AND fixmedins_code < $3",
                                  [.text(date)] + Self.institutions(in: region))?.int("n") ?? 0
        }
    }

    // MARK: review history and rule sets

    /// A person's days to read the history of: visit days in `from...to` (YYYY-MM-DD).
    struct HistoryWindow: Sendable {
        let psnNo: String
        let from: String
        let to: String
    }

    /// The person's settled visits (not reversed) with a visit day in `from...to` (YYYY-MM-DD),
    /// at most 1,000, newest first (index `visits_person_day`). On PostgreSQL the reads of
    /// reviews running at once go together, one statement for all (``histories``).
    func visits(psnNo: String, from: String, to: String) async throws -> [PastVisit] {
        let window = HistoryWindow(psnNo: psnNo, from: from, to: to)
        if let histories { return try await histories.submit(window) }
        return try await Self.visits(database, [window])[0]
    }

    /// Each window's visits, in the order of `windows`, in one statement: on PostgreSQL a
    /// lateral join over the windows as arrays (each window an index range scan, whatever the
    /// planner knows of the table), on SQLite a plain read on the caller's thread
    /// (``SQLDatabase/lookup(_:)``).
    static func visits(_ database: any SQLDatabase, _ windows: [HistoryWindow]) async throws -> [[PastVisit]] {
        @Sendable func visit(_ row: SQLRow) throws(StoreError) -> PastVisit {
            PastVisit(fixmedinsCode: try row.string("fixmedins_code"), mdtrtID: try row.string("mdtrt_id"), visitDate: try row.string("visit_date"))
        }
        guard database.dialect == .postgres else {
            return try await database.lookup { tx in
                var found: [[PastVisit]] = []
                for window in windows {
                    found.append(try await tx.query(
                        "SELECT fixmedins_code, mdtrt_id, visit_date FROM visits WHERE psn_no = $1 AND visit_date >= $2 AND visit_date <= $3 ORDER BY visit_date DESC LIMIT 1000",
                        [.text(window.psnNo), .text(window.from), .text(window.to)]
                    ).map(visit))
                }
                return found
            }
        }
        return try await database.read { tx in
            var found = [[PastVisit]](repeating: [], count: windows.count)
            let rows = try await tx.query(
                """
                SELECT w.i, v.fixmedins_code, v.mdtrt_id, v.visit_date
                FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS w(psn_no, first, last, i)
                CROSS JOIN LATERAL (SELECT fixmedins_code, mdtrt_id, visit_date FROM visits
                  WHERE psn_no = w.psn_no AND visit_date >= w.first AND visit_date <= w.last ORDER BY visit_date DESC LIMIT 1000) v
                ORDER BY w.i, v.visit_date DESC
                """,
                [.list(windows.map { .text($0.psnNo) }), .list(windows.map { .text($0.from) }), .list(windows.map { .text($0.to) })]
            )
            for row in rows {
                let index = Int(try row.int("i")) - 1
                guard found.indices.contains(index) else { throw StoreError.decoding("history row for window \(index + 1) of \(windows.count)") }
                found[index].append(try visit(row))
            }
            return found
        }
    }

    /// Numbers and stores alerts (in the order given), answering those stored with their ids;
    /// an alert whose once-key is stored already (a spike another replica, or this one before
    /// a restart, raised) is left out.
    package func raise(_ alerts: [(alert: Alert, onceKey: String?)]) async throws -> [Alert] {
        guard !alerts.isEmpty else { return [] }
        let postgres = database.dialect == .postgres
        return try await database.write { tx in
            if postgres { try await tx.execute("LOCK TABLE alerts IN EXCLUSIVE MODE", []) }
            var known = Set<String>()
            let keys = alerts.compactMap(\.onceKey)
            if !keys.isEmpty {
                var binds: [SQLValue] = []
                let predicate = SQLPlaceholders.isIn("once_key", keys.map { .text($0) }, dialect: tx.dialect, binds: &binds)
                for row in try await tx.query("SELECT once_key FROM alerts WHERE \(predicate)", binds) { known.insert(try row.string("once_key")) }
            }
            var next = (try await tx.queryOne("SELECT COALESCE(MAX(alert_id), 0) AS n FROM alerts", [])?.int("n") ?? 0)
            var raised: [Alert] = []
            var rows: [[SQLValue]] = []
            for (sent, onceKey) in alerts {
                if let onceKey { guard known.insert(onceKey).inserted else { continue } }
                var alert = sent
                next += 1
                alert.alertID = UInt64(next)
                rows.append([.integer(next), .text(alert.fixmedinsCode), .text(alert.ruleID), .text(alert.raisedAt), .blob(try alert.encodedBytes()),
                             onceKey.map { .text($0) } ?? .null])
                raised.append(alert)
            }
            if !rows.isEmpty {
                try await tx.insert(into: "alerts", columns: ["alert_id", "fixmedins_code", "rule_id", "raised_at", "content", "once_key"], rows: rows, tail: "")
            }
            return raised
        }
    }

    /// Alerts at institutions of a region (a prefix of the county digits; empty = all) after
    /// `after`, oldest first, at most `limit`.
    func alerts(region: String, after: UInt64, limit: Int) async throws -> [Alert] {
        try await database.read { tx in
            try await tx.query(
                "SELECT content FROM alerts WHERE alert_id > $1 AND fixmedins_code >= $2 AND fixmedins_code < $3 ORDER BY alert_id LIMIT $4",
                [Self.number(after)] + Self.institutions(in: region) + [.integer(Int64(limit))]
            ).map { row in try Alert(decoding: try row.blob("content")) }
        }
    }

    /// The highest publication number of a rule set (0: none published).
    func latestRuleSetSeq() async throws -> Int64 {
        try await database.read { tx in try await tx.queryOne("SELECT COALESCE(MAX(seq), 0) AS seq FROM rule_sets", [])?.int("seq") ?? 0 }
    }

    /// Every published rule set with its publication number, in publication order.
    func ruleSets() async throws -> [(seq: Int64, set: RuleSet)] {
        try await database.read { tx in
            try await tx.query("SELECT seq, content FROM rule_sets ORDER BY seq", []).map { row in
                (try row.int("seq"), try RuleSet(decoding: try row.blob("content")))
            }
        }
    }

    /// Stores a validated rule set under its version with the next publication number. The
    /// same version with the same rules is a replay (the stored set answered); the version
    /// with other rules is ALREADY_EXISTS.
    func publish(_ set: RuleSet, by caller: String) async throws -> (set: RuleSet, replay: Bool) {
        let postgres = database.dialect == .postgres
        return try await database.write { tx in
            if postgres { try await tx.execute("LOCK TABLE rule_sets IN EXCLUSIVE MODE", []) }
            if let row = try await tx.queryOne("SELECT content FROM rule_sets WHERE version = $1", [.text(set.version)]) {
                let stored = try RuleSet(decoding: try row.blob("content"))
                var comparable = stored
                comparable.publishedAt = ""
                comparable.publishedBy = ""
                guard try comparable.encodedBytes() == set.encodedBytes() else {
                    throw DomainError(.conflict, field: "rule_set.version", "\(set.version) is published with other rules: publish the change under a new version")
                }
                return (stored, true)
            }
            var published = set
            published.publishedAt = Date().formatted(.iso8601)
            published.publishedBy = caller
            let seq = (try await tx.queryOne("SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM rule_sets", [])?.int("seq")) ?? 1
            try await tx.execute(
                "INSERT INTO rule_sets (seq, version, effective_from, published_at, published_by, content) VALUES ($1, $2, $3, $4, $5, $6)",
                [.integer(seq), .text(published.version), .text(published.effectiveFrom), .text(published.publishedAt), .text(caller),
                 .blob(try published.encodedBytes())]
            )
            return (published, false)
        }
    }

    /// One decision to chain, with its kind and subject.
    package enum Recordable: Sendable {
        /// A settlement or reversal (subject: its `setl_id`), with the settled claim when the
        /// relay sends it (its visit goes into the history the review rules read).
        case posting(SettlementResult, Claim?, postedMs: Int64 = 0)
        /// A designation change from the registry (subject: "<code>#<n>").
        case designation(DesignationRecord)

        var kind: AuditKind {
            switch self {
            case .posting(let settlement, _, _): settlement.status == .reversed ? .reversal : .settlement
            case .designation: .designation
            }
        }

        var subject: String {
            switch self {
            case .posting(let settlement, _, _): settlement.setlID
            case .designation(let record): "\(record.fixmedinsCode)#\(record.n)"
            }
        }

        func content() throws -> [UInt8] {
            switch self {
            case .posting(let settlement, _, _): try settlement.encodedBytes()
            case .designation(let record): try record.encodedBytes()
            }
        }
    }

    /// Appends decisions to the chain, in order, in one transaction. Idempotent: a decision
    /// already chained (a redelivery) is answered with the link already made.
    func record(batch: [Recordable]) async throws -> [AuditRecord] { try await recordCounting(batch: batch).records }

    /// ``record(batch:)``, also answering the day counts the new postings moved (each
    /// institution's settlements on their business day, every replica's included).
    func recordCounting(batch: [Recordable]) async throws -> (records: [AuditRecord], days: [InstitutionDay]) {
        let contents = try batch.map { try $0.content() }
        let postgres = database.dialect == .postgres
        return try await database.write { tx in
            // The head row first: appends serialise on it, and so do the "already chained?"
            // checks below (two relays delivering the same rows must not both append).
            if postgres { try await Self.lockHead(tx) }
            // A handful of statements per batch, not several per record: the links already
            // made for these subjects in one query, the new links computed here in order and
            // inserted many rows at a time, the head moved once.
            var linked = try await Self.links(tx, subjects: Array(Set(batch.map(\.subject))))
            guard let head = try await tx.queryOne("SELECT seq, hash FROM audit_head WHERE id = 1", []) else {
                throw StoreError.decoding("audit head is missing")
            }
            var seq = try head.int("seq"), previous = try head.string("hash")
            let at = Date().formatted(.iso8601)
            var records: [AuditRecord] = []
            var fresh: [(AuditRecord, [UInt8])] = []
            var visits: [[SQLValue]] = []
            var reversed: [String] = []
            var days: [InstitutionDay.Key: DayStats] = [:]
            var kinds: [String: (InstitutionKind, Int64)] = [:]
            records.reserveCapacity(batch.count)
            for (item, content) in zip(batch, contents) {
                let key = "\(item.kind.code)\t\(item.subject)"
                if let existing = linked[key] {
                    records.append(existing)
                    continue
                }
                seq += 1
                let hash = Self.hash(previous: previous, kind: item.kind.code, subject: item.subject, at: at, content: content)
                let record = AuditRecord(seq: UInt64(seq), kind: item.kind, subject: item.subject, prevHash: previous, hash: hash, at: at)
                previous = hash
                linked[key] = record
                records.append(record)
                fresh.append((record, content))
                if case .designation(let designation) = item, designation.kind.isKnown {
                    kinds[designation.fixmedinsCode] = (designation.kind, seq)
                }
                if case .posting(let settlement, let claim, _) = item {
                    if settlement.status == .reversed {
                        reversed.append(settlement.setlID)
                    } else {
                        if let claim { days[InstitutionDay.Key(settlement), default: DayStats()].add(DayStats(settlement, claim, catalogue: catalogue)) }
                        // The whole record (settlement and claim) for post-settlement review.
                        let kept = try claim.map { try RecordRequest(settlement: settlement, claim: $0).encodedBytes() }
                        visits.append([.text(settlement.setlID), .text(settlement.psnNo), .text(settlement.fixmedinsCode), .text(settlement.mdtrtID),
                                       .text(claim.map(\.visitDate) ?? settlement.setlDate), .integer(settlement.medfeeSumamt),
                                       .text(claim?.diagnoses.first.map { String($0.prefix(16)) } ?? ""), kept.map { .blob($0) } ?? .null])
                    }
                }
            }
            // The history the review rules read: a settled visit in, a reversed one out.
            if !visits.isEmpty {
                try await tx.insert(into: "visits", columns: ["setl_id", "psn_no", "fixmedins_code", "mdtrt_id", "visit_date", "medfee_sumamt", "diagnosis", "record"], rows: visits,
                                    tail: "ON CONFLICT (setl_id) DO NOTHING")
            }
            for start in stride(from: 0, to: reversed.count, by: 500) {
                var binds: [SQLValue] = []
                let chunk = reversed[start..<min(start + 500, reversed.count)].map { SQLValue.text($0) }
                let predicate = SQLPlaceholders.isIn("setl_id", chunk, dialect: database.dialect, binds: &binds)
                // A reversed visit leaves its day's counts (as its settlement entered them).
                for row in try await tx.query("SELECT record FROM visits WHERE \(predicate) AND record IS NOT NULL", binds) {
                    let kept = try RecordRequest(decoding: try row.blob("record"))
                    guard let settlement = kept.settlement, let claim = kept.claim else { continue }
                    days[InstitutionDay.Key(settlement), default: DayStats()].add(DayStats(settlement, claim, catalogue: catalogue).negated)
                }
                try await tx.execute("DELETE FROM visits WHERE \(predicate)", binds)
            }
            let counted = try await Self.count(tx, days)
            if !kinds.isEmpty {
                let rows = kinds.sorted { $0.key < $1.key }.map { code, value -> [SQLValue] in [.text(code), value.0.stored, .integer(value.1)] }
                try await tx.insert(into: "institution_kinds", columns: ["fixmedins_code", "kind", "seq"], rows: rows,
                                    tail: "ON CONFLICT (fixmedins_code) DO UPDATE SET kind = excluded.kind, seq = excluded.seq")
            }
            for start in stride(from: 0, to: fresh.count, by: 100) {
                let rows = fresh[start..<min(start + 100, fresh.count)]
                let binds: [SQLValue] = rows.flatMap { record, content -> [SQLValue] in
                    [.integer(Int64(record.seq)), record.kind.stored, .text(record.subject), .blob(content), .text(record.prevHash), .text(record.hash),
                     .text(record.at), .integer(2)]
                }
                try await tx.execute(
                    "INSERT INTO audit (seq, kind, subject, content, prev_hash, hash, at, hash_version) VALUES \(SQLPlaceholders.rows(rows.count, width: 8))", binds
                )
            }
            if !fresh.isEmpty {
                try await tx.execute("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", [.integer(seq), .text(previous)])
            }
            return (records, counted)
        }
    }

    /// The latest link of each kind for each subject, keyed "kind\tsubject" (index `audit_subject`).
    /// Unordered in SQL (the latest is picked here): with `ORDER BY seq`, a planner without
    /// statistics for a young table walks the whole chain in `seq` order instead of the index.
    static func links(_ tx: any SQLTransaction, subjects: [String]) async throws -> [String: AuditRecord] {
        var found: [String: AuditRecord] = [:]
        for start in stride(from: 0, to: subjects.count, by: 500) {
            let chunk = Array(subjects[start..<min(start + 500, subjects.count)])
            var binds: [SQLValue] = []
            // By index whatever the planner knows of the chain, and on PostgreSQL the same
            // statement text whatever the batch's size.
            let links = SQLPlaceholders.probe("audit", as: "a", by: [("subject", "text")], keys: chunk.map { [.text($0)] }, dialect: tx.dialect, binds: &binds)
            for row in try await tx.query("SELECT a.seq, a.kind, a.subject, a.prev_hash, a.hash, a.at \(links)", binds) {
                let kind = try row.code("kind", as: AuditKind.self), subject = try row.string("subject"), seq = UInt64(try row.int("seq"))
                let key = "\(kind.code)\t\(subject)"
                guard (found[key]?.seq ?? 0) < seq else { continue }
                found[key] = AuditRecord(
                    seq: seq, kind: kind, subject: subject, prevHash: try row.string("prev_hash"), hash: try row.string("hash"), at: try row.string("at")
                )
            }
        }
        return found
    }

    /// The latest link of `kind` for `subject`, if there is one (index `audit_subject`).
    static func chained(_ tx: any SQLTransaction, kind: AuditKind, subject: String) async throws -> AuditRecord? {
        guard let row = try await tx.queryOne(
            "SELECT seq, prev_hash, hash, at FROM audit WHERE subject = $1 AND kind = $2 ORDER BY seq DESC LIMIT 1", [.text(subject), kind.stored]
        ) else { return nil }
        return AuditRecord(seq: UInt64(try row.int("seq")), kind: kind, subject: subject,
                           prevHash: try row.string("prev_hash"), hash: try row.string("hash"), at: try row.string("at"))
    }

    /// PostgreSQL: takes the chain's head row lock before anything reads what is chained.
    static func lockHead(_ tx: any SQLTransaction) async throws {
        _ = try await tx.queryOne("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE", [])
    }

    /// Re-walks the chain from the start and names the first record whose link or hash is
    /// wrong; then checks the checkpoints (signed by `checkpointer`'s key, each still in the
    /// chain) and compares the chain's settlement and reversal records with `postings`.
    func verify(checkpoints: [AuditCheckpoint] = [], postings: PostingSummary? = nil, checkpointer: AuditCheckpointer? = nil) async throws -> VerifyAuditResponse {
        // Signatures first: an unsigned checkpoint proves nothing and must not steer the walk.
        for checkpoint in checkpoints where !(checkpointer?.isSigned(checkpoint) ?? false) {
            return VerifyAuditResponse(intact: false, firstBrokenSeq: 0, reason: "the checkpoint at record \(checkpoint.seq) is not signed by this chain's key")
        }
        let wanted = Dictionary(grouping: checkpoints, by: \.seq)
        let pending = Set(postings?.pending ?? [])
        return try await database.read { tx in
            var previous = String(repeating: "0", count: 64)
            var count: UInt64 = 0
            var newest: Int64 = 1
            var settlements: UInt64 = 0, reversals: UInt64 = 0
            var digest = PostingDigest()
            var seen = Set<String>()
            for row in try await tx.query("SELECT seq, kind, subject, at, content, prev_hash, hash, hash_version FROM audit ORDER BY seq", []) {
                let seq = UInt64(try row.int("seq"))
                count += 1
                guard seq == count else {
                    return VerifyAuditResponse(intact: false, records: count, firstBrokenSeq: count, reason: "record \(count) is missing")
                }
                guard try row.string("prev_hash") == previous else {
                    return VerifyAuditResponse(intact: false, records: count, firstBrokenSeq: seq, reason: "record \(seq) does not link to record \(seq - 1)")
                }
                // Version 1 (content only) may only precede version 2: a record cannot step back.
                let version = try row.int("hash_version")
                guard version >= newest, (1...2).contains(version) else {
                    return VerifyAuditResponse(intact: false, records: count, firstBrokenSeq: seq, reason: "record \(seq) has a hash version out of order")
                }
                newest = version
                let kind = try row.string("kind"), subject = try row.string("subject")
                let expected = Self.hash(previous: previous, kind: kind, subject: subject, at: try row.string("at"), content: try row.blob("content"), version: version)
                guard try row.string("hash") == expected else {
                    return VerifyAuditResponse(intact: false, records: count, firstBrokenSeq: seq, reason: "record \(seq)'s content does not match its hash")
                }
                if let pinned = wanted[seq], pinned.contains(where: { $0.hash != expected }) {
                    return VerifyAuditResponse(intact: false, records: count, firstBrokenSeq: seq, reason: "record \(seq) is not the record a signed checkpoint pinned: the chain was rewritten")
                }
                // Hashed as stored (a tampered kind breaks the hash, not the walk).
                if kind == AuditKind.settlement.code || kind == AuditKind.reversal.code {
                    let line = PostingDigest.line(kind: kind, setlID: subject)
                    guard seen.insert(line).inserted else {
                        return VerifyAuditResponse(intact: false, records: count, firstBrokenSeq: seq, reason: "record \(seq) chains \(kind) \(subject) a second time")
                    }
                    if !pending.contains(line) {
                        if kind == AuditKind.settlement.code { settlements += 1 } else { reversals += 1 }
                        digest.add(kind: kind, setlID: subject)
                    }
                }
                previous = expected
            }
            // A PostgreSQL read is no snapshot: records appended after the walk move the head
            // on, which is no fault; a head behind the walk, or at it with another hash, is.
            let head = try await tx.queryOne("SELECT seq, hash FROM audit_head WHERE id = 1", [])
            let headSeq = try head?.int("seq") ?? -1
            let headHash = try head?.string("hash")
            if headSeq < Int64(count) || (headSeq == Int64(count) && headHash != previous) {
                return VerifyAuditResponse(intact: false, records: count, firstBrokenSeq: count + 1, reason: "the chain's head does not match its last record")
            }
            // Every posting chained, pending ones included (those are left out only of the comparison).
            var response = VerifyAuditResponse(intact: true, records: count, postings: UInt64(seen.count))
            for checkpoint in checkpoints {
                guard checkpoint.seq <= count else {
                    return VerifyAuditResponse(intact: false, records: count, firstBrokenSeq: count + 1,
                                               reason: "the chain holds \(count) records but a signed checkpoint pinned record \(checkpoint.seq): it was truncated")
                }
                response.checkpointsVerified += 1
            }
            if let postings {
                response.postingsCompared = true
                guard postings.settlements == settlements, postings.reversals == reversals, postings.digest == digest.hex else {
                    return VerifyAuditResponse(
                        intact: false, records: count, firstBrokenSeq: 0,
                        reason: "the chain holds \(settlements) settlements and \(reversals) reversals, the ledger \(postings.settlements) and \(postings.reversals)\(postings.settlements == settlements && postings.reversals == reversals ? ", but not the same ones" : ""): not one record per posting",
                        checkpointsVerified: response.checkpointsVerified, postingsCompared: true
                    )
                }
            }
            return response
        }
    }
}
