import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareStore
import MedicareWire

/// Benefit policy versions and catalogue versions published through the service, and the
/// institutions' code mappings (3301). Every publication takes the next revision (one
/// sequence for both kinds); a replica holds the revision it has loaded and reads only what
/// was published after it (``SettlementStore/published(after:)``).
extension SettlementStore {
    static let publicationsSQL = """
        CREATE TABLE publications (seq BIGINT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('policy', 'catalogue')),
            version TEXT NOT NULL, revision BIGINT UNIQUE, body TEXT NOT NULL DEFAULT '', records BIGINT NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL, published_at TEXT NOT NULL DEFAULT '', published_by TEXT NOT NULL DEFAULT '', UNIQUE (kind, version));
        CREATE TABLE catalogue_records (seq BIGINT NOT NULL, code TEXT NOT NULL, begndate TEXT NOT NULL, body BYTEA NOT NULL,
            PRIMARY KEY (seq, code, begndate));
        CREATE INDEX catalogue_records_code ON catalogue_records (code, seq);
        CREATE TABLE catalogue_mappings (fixmedins_code TEXT NOT NULL, medins_list_codg TEXT NOT NULL, med_list_codg TEXT NOT NULL,
            medins_list_name TEXT NOT NULL, mapped_at TEXT NOT NULL, mapped_by TEXT NOT NULL, PRIMARY KEY (fixmedins_code, medins_list_codg))
        """

    /// Serializes publications (the next seq and revision are read then written).
    private static func lockPublications(_ tx: any SQLTransaction) async throws {
        if tx.dialect == .postgres { try await tx.execute("LOCK TABLE publications IN SHARE ROW EXCLUSIVE MODE") }
    }

    private static func next(_ column: String, _ tx: any SQLTransaction) async throws -> Int64 {
        try await tx.queryOne("SELECT coalesce(max(\(column)), 0) + 1 AS n FROM publications")!.int("n")
    }

    /// Stages `records` under catalogue version `ver` and, when `last`, publishes the version.
    /// A published version answers replay when every record sent is stored as sent.
    /// - Throws: ``DomainError`` `conflict` (published with other records), `precondition`
    ///   (nothing to publish; the catalogue would exceed ``CatalogueItem/maxRecords``).
    func importCatalogue(ver: String, records: [CatalogueItem], last: Bool, by caller: String) async throws -> ImportCatalogueResponse {
        let at = Date().formatted(.iso8601)
        let rows: [[SQLValue]] = try records.map { [.text($0.code), .text($0.begndate ?? ""), .blob(try CatalogueRecord($0).encodedBytes())] }
        return try await database.write { tx in
            try await Self.lockPublications(tx)
            let found = try await tx.queryOne("SELECT seq, revision FROM publications WHERE kind = 'catalogue' AND version = $1", [.text(ver)])
            if let found, let revision = try found.optionalInt("revision") {
                let seq = try found.int("seq")
                for (i, row) in rows.enumerated() {
                    let stored = try await tx.queryOne("SELECT body FROM catalogue_records WHERE seq = $1 AND code = $2 AND begndate = $3", [.integer(seq), row[0], row[1]])
                    guard let stored, SQLValue.blob(try stored.blob("body")) == row[2] else {
                        throw DomainError(.conflict, field: "records[\(i)]", "catalogue version \(ver) is published with other records: import a change under a new version")
                    }
                }
                let staged = try await tx.queryOne("SELECT count(*) AS n FROM catalogue_records WHERE seq = $1", [.integer(seq)])!.int("n")
                return ImportCatalogueResponse(ver: ver, staged: UInt32(clamping: staged), revision: revision, replay: true)
            }
            let seq: Int64
            if let found {
                seq = try found.int("seq")
            } else {
                seq = try await Self.next("seq", tx)
                try await tx.execute("INSERT INTO publications (seq, kind, version, created_at) VALUES ($1, 'catalogue', $2, $3)", [.integer(seq), .text(ver), .text(at)])
            }
            if !rows.isEmpty {
                try await tx.insert(into: "catalogue_records", columns: ["seq", "code", "begndate", "body"], rows: rows.map { [.integer(seq)] + $0 },
                                    tail: "ON CONFLICT (seq, code, begndate) DO UPDATE SET body = excluded.body")
            }
            let staged = try await tx.queryOne("SELECT count(*) AS n FROM catalogue_records WHERE seq = $1", [.integer(seq)])!.int("n")
            guard last else { return ImportCatalogueResponse(ver: ver, staged: UInt32(clamping: staged), revision: 0, replay: false) }
            guard staged > 0 else { throw DomainError(.precondition, field: "last", "catalogue version \(ver) holds no records to publish") }
            let total = try await tx.queryOne(
                "SELECT count(*) AS n FROM catalogue_records r JOIN publications p ON p.seq = r.seq WHERE p.revision IS NOT NULL OR p.seq = $1", [.integer(seq)]
            )!.int("n")
            guard total <= CatalogueItem.maxRecords else {
                throw DomainError(.precondition, field: "records", "the catalogue would hold \(total) records, more than \(CatalogueItem.maxRecords)")
            }
            let revision = try await Self.next("revision", tx)
            try await tx.execute(
                "UPDATE publications SET revision = $1, records = $2, published_at = $3, published_by = $4 WHERE seq = $5",
                [.integer(revision), .integer(staged), .text(at), .text(caller), .integer(seq)]
            )
            return ImportCatalogueResponse(ver: ver, staged: UInt32(clamping: staged), revision: revision, replay: false)
        }
    }

    /// Publishes a policy version (``BenefitPolicy``, validated by the caller) as `body`, its
    /// JSON with sorted keys. The same version with the same body answers the stored one,
    /// marked replay.
    /// - Throws: ``DomainError`` `conflict` when the version is published with another body.
    func publishPolicy(_ policy: BenefitPolicy, body: String, by caller: String) async throws -> PublishedPolicy {
        let at = Date().formatted(.iso8601)
        return try await database.write { tx in
            try await Self.lockPublications(tx)
            if let found = try await tx.queryOne(
                "SELECT body, revision, published_at, published_by FROM publications WHERE kind = 'policy' AND version = $1", [.text(policy.version)]
            ) {
                guard try found.string("body") == body else {
                    throw DomainError(.conflict, field: "policy_json.version", "\(policy.version) is published with other content: publish a change under a new version")
                }
                return PublishedPolicy(version: policy.version, policyJson: body, revision: try found.int("revision"),
                                       publishedAt: try found.string("published_at"), publishedBy: try found.string("published_by"), replay: true)
            }
            let seq = try await Self.next("seq", tx), revision = try await Self.next("revision", tx)
            try await tx.execute(
                """
                INSERT INTO publications (seq, kind, version, revision, body, records, created_at, published_at, published_by)
                VALUES ($1, 'policy', $2, $3, $4, 1, $5, $5, $6)
                """,
                [.integer(seq), .text(policy.version), .integer(revision), .text(body), .text(at), .text(caller)]
            )
            return PublishedPolicy(version: policy.version, policyJson: body, revision: revision, publishedAt: at, publishedBy: caller, replay: false)
        }
    }

    /// The latest publication revision (0: none).
    func latestRevision() async throws -> Int64 {
        try await database.lookup { tx in try await tx.queryOne("SELECT coalesce(max(revision), 0) AS n FROM publications")!.int("n") }
    }

    /// Every published policy, by revision.
    func publishedPolicies() async throws -> [PublishedPolicy] {
        try await database.read { tx in
            try await tx.query(
                "SELECT version, body, revision, published_at, published_by FROM publications WHERE kind = 'policy' AND revision IS NOT NULL ORDER BY revision", []
            ).map {
                PublishedPolicy(version: try $0.string("version"), policyJson: try $0.string("body"), revision: try $0.int("revision"),
                                publishedAt: try $0.string("published_at"), publishedBy: try $0.string("published_by"), replay: false)
            }
        }
    }

    /// What was published after revision `after`, up to the latest: every policy published (all
    /// of them, whatever `after`: a book is replaced whole) and the catalogue records of the
    /// versions published after it, in revision order.
    func published(after: Int64) async throws -> (revision: Int64, policies: [PublishedPolicy], records: [CatalogueItem]) {
        let (revision, bodies) = try await database.read { tx in
            let revision = try await tx.queryOne("SELECT coalesce(max(revision), 0) AS n FROM publications")!.int("n")
            let bodies = try await tx.query(
                """
                SELECT r.body FROM catalogue_records r JOIN publications p ON p.seq = r.seq
                WHERE p.revision > $1 AND p.revision <= $2 ORDER BY p.revision
                """,
                [.integer(after), .integer(revision)]
            ).map { try $0.blob("body") }
            return (revision, bodies)
        }
        let policies = try await publishedPolicies().filter { $0.revision <= revision }
        let records = try bodies.enumerated().map { i, body in try CatalogueRecord(decoding: body).item("catalogue_records[\(i)]") }
        return (revision, policies, records)
    }

    /// One page of ``SettlementProvider/downloadCatalogue(_:context:)``: the records of versions
    /// published in (after, upto], codes after `afterCode`, at most `limit` (a code's records
    /// are never split across pages), by code then revision.
    func downloadCatalogue(after: Int64, upto: Int64, afterCode: String, limit: Int) async throws -> (records: [CatalogueRecord], next: String, more: Bool) {
        let select = """
            SELECT r.code, r.body FROM catalogue_records r JOIN publications p ON p.seq = r.seq
            WHERE p.revision > $1 AND p.revision <= $2 AND r.code
            """
        let rows = try await database.read { tx in
            var rows = try await tx.query(
                select + " > $3 ORDER BY r.code, p.revision LIMIT $4", [.integer(after), .integer(upto), .text(afterCode), .integer(Int64(limit + 1))]
            ).map { (code: try $0.string("code"), body: try $0.blob("body")) }
            // Keep a code's records together: drop the last code's when the page cuts it, or,
            // when the page is that one code, read all of it (a code holds a few records).
            if rows.count > limit, rows[limit].code == rows[limit - 1].code {
                let cut = rows[limit - 1].code
                rows.removeAll { $0.code == cut }
                if rows.isEmpty {
                    rows = try await tx.query(select + " = $3 ORDER BY p.revision", [.integer(after), .integer(upto), .text(cut)])
                        .map { (code: try $0.string("code"), body: try $0.blob("body")) }
                }
                return (rows, true)
            }
            return (Array(rows.prefix(limit)), rows.count > limit)
        }
        return (try rows.0.map { try CatalogueRecord(decoding: $0.body) }, rows.0.last?.code ?? afterCode, rows.1)
    }

    /// Adds or replaces an institution's 3301 mappings, all in one transaction.
    func mapCatalogueCodes(_ fixmedinsCode: String, _ mappings: [CatalogueMapping], by caller: String) async throws {
        let at = Date().formatted(.iso8601)
        try await database.write { tx in
            try await tx.insert(
                into: "catalogue_mappings", columns: ["fixmedins_code", "medins_list_codg", "med_list_codg", "medins_list_name", "mapped_at", "mapped_by"],
                rows: mappings.map { [.text(fixmedinsCode), .text($0.medinsListCodg), .text($0.medListCodg), .text($0.medinsListName), .text(at), .text(caller)] },
                tail: """
                    ON CONFLICT (fixmedins_code, medins_list_codg) DO UPDATE SET med_list_codg = excluded.med_list_codg,
                    medins_list_name = excluded.medins_list_name, mapped_at = excluded.mapped_at, mapped_by = excluded.mapped_by
                    """
            )
        }
    }

    /// Removes an institution's mappings of `codes`; answers how many there were.
    func unmapCatalogueCodes(_ fixmedinsCode: String, _ codes: [String]) async throws -> Int {
        try await database.write { tx in
            var binds: [SQLValue] = [.text(fixmedinsCode)]
            let predicate = SQLPlaceholders.isIn("medins_list_codg", codes.map { .text($0) }, dialect: tx.dialect, binds: &binds)
            let n = try await tx.queryOne("SELECT count(*) AS n FROM catalogue_mappings WHERE fixmedins_code = $1 AND \(predicate)", binds)!.int("n")
            try await tx.execute("DELETE FROM catalogue_mappings WHERE fixmedins_code = $1 AND \(predicate)", binds)
            return Int(n)
        }
    }

    /// The national codes an institution's own codes are mapped to (those mapped).
    func mappedCodes(_ fixmedinsCode: String, _ codes: [String]) async throws -> [String: String] {
        guard !codes.isEmpty else { return [:] }
        return try await database.lookup { tx in
            var binds: [SQLValue] = [.text(fixmedinsCode)]
            let predicate = SQLPlaceholders.isIn("medins_list_codg", codes.map { .text($0) }, dialect: tx.dialect, binds: &binds)
            return Dictionary(try await tx.query(
                "SELECT medins_list_codg, med_list_codg FROM catalogue_mappings WHERE fixmedins_code = $1 AND \(predicate)", binds
            ).map { (try $0.string("medins_list_codg"), try $0.string("med_list_codg")) }, uniquingKeysWith: { a, _ in a })
        }
    }
}

extension PolicyInForce {
    /// The book and catalogue after what the store published since this one's revision
    /// (``SettlementStore/published(after:)``); `self` when nothing was. Policies published
    /// through the service replace the book's; a stored policy that does not decode is skipped
    /// and reported through `skipped`.
    func refreshed(from store: SettlementStore, skipped: (String, Error) -> Void = { _, _ in }) async throws -> PolicyInForce {
        let latest = try await store.latestRevision()
        guard latest > revision else { return self }
        let published = try await store.published(after: revision)
        var catalogue = self.catalogue
        catalogue.apply(published.records, revision: published.revision)
        var policies: [BenefitPolicy] = []
        for stored in published.policies {
            do {
                policies.append(try JSONDecoder().decode(BenefitPolicy.self, from: Data(stored.policyJson.utf8)))
            } catch {
                skipped(stored.version, error)
            }
        }
        return PolicyInForce(book: PolicyBook(policies: policies.isEmpty ? book.policies : policies, catalogue: []), catalogue: catalogue, revision: published.revision)
    }
}

/// Seeding the store from the policy file (`policy.file`, or the bundled book).
extension SettlementStore {
    /// Publishes what `book` holds that the store does not: each policy whose version is not
    /// published (by `source`, the configuration key), and the catalogue records that differ
    /// from the published ones, as one catalogue version named after `source` and the
    /// revision. Answers what it published (policy versions, catalogue records).
    /// `differing` names the file's versions already published with other content: the
    /// published ones stay (a change is published under a new version).
    func seed(from book: PolicyBook, source: String) async throws -> (policies: [String], records: Int, differing: [String]) {
        let storedBodies = Dictionary(try await publishedPolicies().map { ($0.version, $0.policyJson) }, uniquingKeysWith: { a, _ in a })
        let stored = Set(storedBodies.keys)
        var differing: [String] = []
        for policy in book.policies {
            if let body = storedBodies[policy.version], body != (try SettlementProvider.canonicalJSON(policy)) { differing.append(policy.version) }
        }
        var policies: [String] = []
        for policy in book.policies where !stored.contains(policy.version) {
            let published = try await publishPolicy(policy, body: try SettlementProvider.canonicalJSON(policy), by: source)
            if !published.replay { policies.append(policy.version) }
        }
        let current = Catalogue(try await published(after: 0).records)
        // Compared in wire form: a stored record names its list type where the file may leave it to the code.
        let changed = book.catalogue.filter { item in current.record(item.code, begndate: item.begndate).map(CatalogueRecord.init) != CatalogueRecord(item) }
        guard !changed.isEmpty else { return (policies, 0, differing) }
        let ver = "\(source)-r\(try await latestRevision() + 1)"
        _ = try await importCatalogue(ver: ver, records: changed, last: true, by: source)
        return (policies, changed.count, differing)
    }
}

extension SettlementProvider {
    /// `Settlement/ImportCatalogue`.
    public func importCatalogue(_ request: ImportCatalogueRequest, context: CallContext) async throws -> ImportCatalogueResponse {
        let ver = try VersionName(request.ver, field: "ver").value
        guard request.records.count <= 5_000 else { throw DomainError(field: "records", "at most 5,000 per call, got \(request.records.count)") }
        var seen = Set<String>()
        var items: [CatalogueItem] = []
        items.reserveCapacity(request.records.count)
        for (i, record) in request.records.enumerated() {
            let item = try record.item("records[\(i)]")
            guard seen.insert("\(item.code) \(item.begndate ?? "")").inserted else {
                throw DomainError(field: "records[\(i)].med_list_codg", "\(item.code) with begndate '\(item.begndate ?? "")' appears twice")
            }
            items.append(item)
        }
        guard !items.isEmpty || request.last else { throw DomainError(field: "records", "must hold 1-5,000 records unless last is set") }
        return try await store.importCatalogue(ver: ver, records: items, last: request.last, by: context.peer.commonName)
    }

    /// `Settlement/DownloadCatalogue`.
    public func downloadCatalogue(_ request: DownloadCatalogueRequest, context: CallContext) async throws -> DownloadCatalogueResponse {
        guard request.afterRevision >= 0 else { throw DomainError(field: "after_revision", "must not be negative") }
        guard request.uptoRevision >= 0 else { throw DomainError(field: "upto_revision", "must not be negative") }
        guard request.limit <= 5_000 else { throw DomainError(field: "limit", "must be 1-5,000 (0: 1,000), got \(request.limit)") }
        // An item's code or a diagnosis (the disease list pages with the rest).
        if !request.afterCode.isEmpty, (try? DiagnosisCode(request.afterCode))?.value != request.afterCode {
            _ = try ItemCode(request.afterCode, field: "after_code")
        }
        let latest = try await store.latestRevision()
        guard request.uptoRevision <= latest else {
            throw DomainError(.precondition, field: "upto_revision", "\(request.uptoRevision) is not published yet (latest \(latest))")
        }
        let upto = request.uptoRevision == 0 ? latest : request.uptoRevision
        guard request.afterRevision < upto else { return DownloadCatalogueResponse(revision: max(upto, request.afterRevision), records: [], nextCode: "", more: false) }
        let page = try await store.downloadCatalogue(after: request.afterRevision, upto: upto, afterCode: request.afterCode,
                                                     limit: Int(request.limit == 0 ? 1_000 : request.limit))
        return DownloadCatalogueResponse(revision: upto, records: page.records, nextCode: page.next, more: page.more)
    }

    /// `Settlement/MapCatalogueCodes` (3301).
    public func mapCatalogueCodes(_ request: MapCatalogueCodesRequest, context: CallContext) async throws -> MapCatalogueCodesResponse {
        let code = try InstitutionCode(request.fixmedinsCode).value
        guard (1...5_000).contains(request.mappings.count) else { throw DomainError(field: "mappings", "must hold 1-5,000, got \(request.mappings.count)") }
        let catalogue = policy.current.catalogue
        var seen = Set<String>()
        var checked: [CatalogueMapping] = []
        for (i, sent) in request.mappings.enumerated() {
            let field = "mappings[\(i)]"
            var mapping = sent
            mapping.medinsListCodg = try FreeText.checked(sent.medinsListCodg, field: "\(field).medins_list_codg", max: 30)
            guard seen.insert(mapping.medinsListCodg).inserted else { throw DomainError(field: "\(field).medins_list_codg", "\(quoted(mapping.medinsListCodg)) appears twice") }
            mapping.medListCodg = try ItemCode(sent.medListCodg, field: "\(field).med_list_codg").value
            guard catalogue.billable(mapping.medListCodg, on: nil) != nil else {
                let why = catalogue.whyNotBillable(mapping.medListCodg, on: nil)
                throw DomainError(.precondition, field: "\(field).med_list_codg", "\(mapping.medListCodg) \(why)")
            }
            mapping.medinsListName = try FreeText.checked(sent.medinsListName, field: "\(field).medins_list_name", max: 200, required: false)
            checked.append(mapping)
        }
        try await store.mapCatalogueCodes(code, checked, by: context.peer.commonName)
        return MapCatalogueCodesResponse(mapped: UInt32(checked.count))
    }

    /// `Settlement/UnmapCatalogueCodes` (3302).
    public func unmapCatalogueCodes(_ request: UnmapCatalogueCodesRequest, context: CallContext) async throws -> UnmapCatalogueCodesResponse {
        let code = try InstitutionCode(request.fixmedinsCode).value
        guard (1...5_000).contains(request.medinsListCodgs.count) else {
            throw DomainError(field: "medins_list_codgs", "must hold 1-5,000, got \(request.medinsListCodgs.count)")
        }
        let codes = try request.medinsListCodgs.enumerated().map { i, c throws(DomainError) in try FreeText.checked(c, field: "medins_list_codgs[\(i)]", max: 30) }
        return UnmapCatalogueCodesResponse(unmapped: UInt32(try await store.unmapCatalogueCodes(code, Array(Set(codes)))))
    }

    /// `Settlement/PublishPolicy`.
    public func publishPolicy(_ request: PublishPolicyRequest, context: CallContext) async throws -> PublishedPolicy {
        guard request.policyJson.utf8.count <= 65_536 else { throw DomainError(field: "policy_json", "at most 64 KiB") }
        let policy: BenefitPolicy
        do {
            policy = try JSONDecoder().decode(BenefitPolicy.self, from: Data(request.policyJson.utf8))
        } catch let DecodingError.keyNotFound(key, _) {
            throw DomainError(field: "policy_json.\(key.stringValue)", "is required")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw DomainError(field: "policy_json." + context.codingPath.map(\.stringValue).joined(separator: "."), "has the wrong type")
        } catch {
            throw DomainError(field: "policy_json", "is not a benefit policy document (JSON)")
        }
        _ = try VersionName(policy.version, field: "policy_json.version")
        try policy.validate()
        let from = try CivilDate(policy.effectiveFrom, field: "\(policy.version).effectiveFrom")
        let body = try Self.canonicalJSON(policy)
        // A replay of a version already published is answered before the date check: it may
        // have taken effect since.
        if let stored = try await store.publishedPolicies().first(where: { $0.version == policy.version }), stored.policyJson == body {
            var replay = stored
            replay.replay = true
            return replay
        }
        guard from >= today() else {
            throw DomainError(field: "\(policy.version).effectiveFrom", "\(from) is before today (\(today())): a policy is published ahead of the visits it prices, never retroactively")
        }
        return try await store.publishPolicy(policy, body: body, by: context.peer.commonName)
    }

    /// `Settlement/ListPolicies`.
    public func listPolicies(_ request: ListPoliciesRequest, context: CallContext) async throws -> ListPoliciesResponse {
        ListPoliciesResponse(policies: try await store.publishedPolicies(), revision: try await store.latestRevision())
    }

    /// A policy as stored and compared: JSON with sorted keys.
    static func canonicalJSON(_ policy: BenefitPolicy) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(policy), as: UTF8.self)
    }
}
