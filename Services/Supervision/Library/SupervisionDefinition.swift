import Foundation
import MedicareContracts
import MedicareCrypto
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareStore
import MedicareTransport

/// Supervision: smart review rules before settlement and the tamper-evident audit trail after it.
public enum SupervisionDefinition {
    public static let migrations: [Migration] = [
        Migration(1, "service metadata", sql: "CREATE TABLE supervision_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"),
        Migration(2, "billed lines and the audit chain", sql: """
            CREATE TABLE billed_lines (setl_id TEXT NOT NULL, line BIGINT NOT NULL, mdtrt_id TEXT NOT NULL, psn_no TEXT NOT NULL, item_code TEXT NOT NULL,
                visit_date TEXT NOT NULL, fixmedins_code TEXT NOT NULL, amount BIGINT NOT NULL, PRIMARY KEY (setl_id, line));
            CREATE INDEX billed_lines_person_day ON billed_lines (psn_no, item_code, visit_date);
            CREATE TABLE audit_head (id BIGINT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL);
            INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
            CREATE TABLE audit (seq BIGINT PRIMARY KEY, kind TEXT NOT NULL, subject TEXT NOT NULL, content BYTEA NOT NULL,
                prev_hash TEXT NOT NULL, hash TEXT NOT NULL, at TEXT NOT NULL)
            """),
        Migration(3, "blocked reviews", sql: """
            CREATE TABLE blocked_reviews (mdtrt_id TEXT NOT NULL, fixmedins_code TEXT NOT NULL, visit_date TEXT NOT NULL, rules TEXT NOT NULL,
                at TEXT NOT NULL);
            CREATE INDEX blocked_reviews_day ON blocked_reviews (visit_date, fixmedins_code);
            CREATE INDEX audit_subject ON audit (subject, kind)
            """),
        // The duplicate check asks for a person's day; (person, item, day) made it read the
        // person's whole history, so review slowed as billed lines grew. Covering, so the
        // check never touches the table.
        Migration(4, "duplicate-check index by person and day", sql: """
            DROP INDEX billed_lines_person_day;
            CREATE INDEX billed_lines_person_day ON billed_lines (psn_no, visit_date, item_code, mdtrt_id)
            """),
        // Every column of a record under its hash from here on (see SupervisionStore.hash);
        // records chained before keep version 1.
        Migration(5, "audit hash covers every column", sql: "ALTER TABLE audit ADD COLUMN hash_version BIGINT NOT NULL DEFAULT 1"),
        // R003 across claims is settlement's, in the posting's transaction (its billed_items):
        // the copy here was read by review after the relay delivered it, too late to stop two
        // claims sent together, and cost two writes a posting.
        Migration(6, "billed lines move to settlement", sql: """
            DROP INDEX billed_lines_person_day;
            DROP TABLE billed_lines
            """),
        // The chain's kinds: the text is part of each record's hash, so it never changes.
        Migration.closedSets(7, "closed sets hold only their codes", [ClosedSet("audit", "kind", ["settlement", "reversal", "review_block", "designation"])]),
        // Exactly one record per posting and per designation change, whatever the relays or
        // replicas do (review blocks may repeat for other rules: not included).
        Migration(8, "one record per posting and designation change", sql: """
            CREATE UNIQUE INDEX audit_once ON audit (subject, kind) WHERE kind IN ('settlement', 'reversal', 'designation')
            """),
        // Review rules are versioned data (issue 14): each published set is kept whole (the
        // encoded RuleSet) under its version, in publication order.
        Migration(9, "published review rule sets", sql: """
            CREATE TABLE rule_sets (seq BIGINT PRIMARY KEY, version TEXT NOT NULL UNIQUE, effective_from TEXT NOT NULL, published_at TEXT NOT NULL,
                published_by TEXT NOT NULL, content BYTEA NOT NULL)
            """),
        // The persons' settled visits, fed by the audit relay's postings, for the history
        // rules (visit frequency, many institutions): read by person and day.
        Migration(10, "settled visits for the history rules", sql: """
            CREATE TABLE visits (setl_id TEXT PRIMARY KEY, psn_no TEXT NOT NULL, fixmedins_code TEXT NOT NULL, mdtrt_id TEXT NOT NULL,
                visit_date TEXT NOT NULL);
            CREATE INDEX visits_person_day ON visits (psn_no, visit_date, fixmedins_code, mdtrt_id)
            """),
        // Real-time monitoring's alerts, numbered in the order raised, read by region.
        Migration(11, "monitoring alerts", sql: """
            CREATE TABLE alerts (alert_id BIGINT PRIMARY KEY, fixmedins_code TEXT NOT NULL, rule_id TEXT NOT NULL, raised_at TEXT NOT NULL,
                content BYTEA NOT NULL);
            CREATE INDEX alerts_institution ON alerts (fixmedins_code, alert_id)
            """),
        // Supervision's own steps (batches, findings, inspections, cases) are chained too.
        Migration.widenedClosedSets(12, "the chain holds supervision's steps", closedSets),
        // Post-settlement review reads the settled claims (the relay's record, kept with the
        // visit, by day and institution); findings, batches, inspections and cases are kept
        // whole (their encoded message) beside the columns they are found by; a case action
        // to apply in the registry or settlement waits in case_actions_pending until it is.
        Migration(13, "post-settlement review, inspections and cases", sql: """
            ALTER TABLE visits ADD COLUMN medfee_sumamt BIGINT NOT NULL DEFAULT 0;
            ALTER TABLE visits ADD COLUMN diagnosis TEXT NOT NULL DEFAULT '';
            ALTER TABLE visits ADD COLUMN record BYTEA;
            CREATE INDEX visits_day_institution ON visits (visit_date, fixmedins_code);
            CREATE TABLE review_batches (batch_id BIGINT PRIMARY KEY, region TEXT NOT NULL, content BYTEA NOT NULL);
            CREATE TABLE findings (finding_id BIGINT PRIMARY KEY, fixmedins_code TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('open', 'confirmed', 'dismissed')), batch_id BIGINT NOT NULL, inspection_id BIGINT NOT NULL,
                case_id BIGINT NOT NULL, once_key TEXT UNIQUE, content BYTEA NOT NULL);
            CREATE INDEX findings_institution ON findings (fixmedins_code, finding_id);
            CREATE TABLE inspections (inspection_id BIGINT PRIMARY KEY, region TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('planned', 'in_progress', 'closed')), content BYTEA NOT NULL);
            CREATE TABLE cases (case_id BIGINT PRIMARY KEY, fixmedins_code TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
                content BYTEA NOT NULL);
            CREATE INDEX cases_institution ON cases (fixmedins_code, case_id);
            CREATE TABLE case_actions_pending (case_id BIGINT NOT NULL, n BIGINT NOT NULL, acting TEXT NOT NULL, PRIMARY KEY (case_id, n))
            """),
        // Each institution's business days (setl_date), counted as postings are chained: the
        // volume-spike baseline and the oversight views' settlements and prescribing statistics.
        Migration(14, "institutions' days", sql: """
            CREATE TABLE institution_days (fixmedins_code TEXT NOT NULL, day TEXT NOT NULL, settle_via TEXT NOT NULL, settlements BIGINT NOT NULL,
                medfee_sumamt BIGINT NOT NULL, fund_pay_sumamt BIGINT NOT NULL, drug_visits BIGINT NOT NULL, drug_lines BIGINT NOT NULL,
                antibiotic_visits BIGINT NOT NULL, injection_visits BIGINT NOT NULL, vbp_lines BIGINT NOT NULL, PRIMARY KEY (fixmedins_code, day));
            CREATE INDEX institution_days_via ON institution_days (settle_via, day)
            """),
        // Each institution's kind (level) from the registry's designation records, by the
        // record's chain position (replicas read what is new after a cursor).
        Migration(15, "institutions' kinds", sql: """
            CREATE TABLE institution_kinds (fixmedins_code TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('township_centre', 'village_clinic')),
                seq BIGINT NOT NULL);
            CREATE INDEX institution_kinds_seq ON institution_kinds (seq)
            """),
        // An alert raised once per key (a volume spike: rule, institution, day) whatever the
        // replicas or restarts; a confirmed finding's amount summed in SQL by the oversight view.
        Migration(16, "alerts once, findings' amounts", sql: """
            ALTER TABLE alerts ADD COLUMN once_key TEXT;
            CREATE UNIQUE INDEX alerts_once ON alerts (once_key);
            ALTER TABLE findings ADD COLUMN amount_to_recover BIGINT NOT NULL DEFAULT 0
            """),
    ]

    /// The closed-set columns and their codes as the latest migration fixed them (12) (a test compares them
    /// with the enums: a value added to one needs a migration that widens its check).
    static let closedSets = [
        ClosedSet("audit", "kind", ["settlement", "reversal", "review_block", "designation", "supervision"]),
    ]

    public static let keys = [
        ServiceContext.policyFileKey, ServiceContext.timeZoneKey,
        ConfigKey("audit.signing-key", default: "",
                  "SM2 private key (PEM) that signs the audit chain's checkpoints, kept outside the database; empty = <tls.certs>/audit-signing.key (made when missing)."),
        ConfigKey("audit.checkpoint-seconds", default: "1", "Least time between two signed checkpoints of the chain's head."),
        ConfigKey("review.rules-file", default: "",
                  "A review rule set (JSON, docs/supervision.md) published at start-up when no set of its version is; empty = the bundled Zhejiang/Quzhou 2024 set. Later sets are published through Supervision/PublishRuleSet."),
        ConfigKey("review.recent-seconds", default: "60",
                  "How long a reviewed, unblocked visit counts in the person's history before its posting arrives through the audit relay (0 = settled visits only)."),
        ConfigKey("review.refresh-ms", default: "2000", "How often a replica looks for rule sets published through another replica."),
        ConfigKey("upstream.registry", default: "127.0.0.1:7101",
                  "Registry replicas, HOST:PORT[,HOST:PORT...]: where a case's suspension or termination is applied."),
        ConfigKey("upstream.settlement", default: "127.0.0.1:7102",
                  "Settlement replicas, HOST:PORT[,HOST:PORT...]: where a case's recovery or withholding is posted."),
    ]

    public static let definition = ServiceDefinition(
        name: "supervision", rpcPort: 7103, adminPort: 9103, migrations: migrations, extraKeys: keys
    ) { context in
        let book = try context.policyBook()
        var router = RPCRouter()
        let catalogue = CatalogueHolder(Catalogue(book.catalogue))
        let store = SupervisionStore(database: context.store, catalogue: catalogue)
        let configured = context.configuration.string("audit.signing-key")
        let keyPath = configured.isEmpty ? context.configuration.string("tls.certs") + "/audit-signing.key" : configured
        let checkpointer: AuditCheckpointer
        do {
            checkpointer = try AuditCheckpointer(
                privateKey: try SM2.loadOrCreateKey(at: keyPath),
                interval: .seconds(try context.configuration.int("audit.checkpoint-seconds", in: 0...86_400))
            )
        } catch let error as StartupError {
            throw error
        } catch {
            throw StartupError("configuration key 'audit.signing-key' (\(keyPath)): \(error)")
        }
        let rules = RuleBook()
        let kinds = InstitutionKinds()
        let rulesFile = context.configuration.string("review.rules-file")
        do {
            // The bundled set seeds an empty book only (a newer release's bundled set must not
            // supersede what the bureau published); a configured file is published when its
            // version is not yet, and a version published with other rules is only reported.
            let seed = rulesFile.isEmpty ? try RuleBook.bundled() : try RuleBook.load(contentsOf: URL(fileURLWithPath: rulesFile))
            let stored = try await store.ruleSets()
            if stored.isEmpty || (!rulesFile.isEmpty && !stored.contains { $0.set.version == seed.version }) {
                _ = try await store.publish(seed, by: "review.rules-file")
            } else if let same = stored.first(where: { $0.set.version == seed.version }) {
                var published = same.set
                published.publishedAt = ""
                published.publishedBy = ""
                if published != seed {
                    context.logger.warning("review.rules-file holds other rules than the published set of its version: the published set stays; publish a change under a new version",
                                           metadata: ["version": "\(seed.version)"])
                }
            }
            try await rules.refresh(from: store)
            try await kinds.refresh(from: store)
        } catch let error as DomainError {
            throw StartupError("configuration key 'review.rules-file' (\(context.configuration.source("review.rules-file"))): \(error.field): \(error.message)")
        }
        let refresh = Duration.milliseconds(try context.configuration.int("review.refresh-ms", in: 100...600_000))
        context.runInBackground {
            while !Task.isCancelled {
                try? await Task.sleep(for: refresh)
                do {
                    try await rules.refresh(from: store)
                    try await kinds.refresh(from: store)
                } catch {
                    context.logger.warning("rule sets or institutions' kinds not refreshed", metadata: ["error": "\(error)"])
                }
            }
        }
        let recent = RecentVisits(window: .seconds(try context.configuration.int("review.recent-seconds", in: 0...3_600)))
        let registry = try context.upstream("registry", probed: false), settlement = try context.upstream("settlement", probed: false)
        // The catalogue settlement publishes, at the same revision as settlement's replicas.
        let feed = CatalogueFeed(catalogue, settlement: settlement)
        context.runInBackground {
            var failures = 0
            while !Task.isCancelled {
                do {
                    let held = catalogue.current.revision
                    if try await feed.refresh() != held {
                        context.logger.notice("catalogue applied", metadata: ["revision": "\(catalogue.current.revision)", "codes": "\(catalogue.current.count)"])
                    }
                    failures = 0
                } catch {
                    failures += 1
                    // Settlement starting after supervision is normal: say so once it lasts.
                    if failures == 5 { context.logger.warning("catalogue not refreshed from settlement", metadata: ["error": "\(error)"]) }
                }
                try? await Task.sleep(for: refresh)
            }
        }
        let actions = CaseActionApplier(store: store, registry: registry, settlement: settlement, logger: context.logger)
        context.runInBackground { await actions.run() }
        SupervisionProvider(store: store, catalogue: catalogue, rules: rules, recent: recent, checkpointer: checkpointer, actions: actions,
                            timeZone: try context.businessTimeZone(), kinds: kinds)
            .register(with: &router)
        SupervisionReportsProvider(store: store).register(with: &router)
        return router
    }
}
