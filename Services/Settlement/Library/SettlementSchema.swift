import MedicareDomain
import MedicareRuntime
import MedicareStore

/// The settlement store's schema, owned by the store: a method that needs a table adds its
/// migration here, beside the SQL that reads and writes it.
extension SettlementStore {
    /// Every schema step, in order; the service applies them at start-up (``Migrator``).
    public static let migrations: [Migration] = [
        Migration(1, "service metadata", sql: "CREATE TABLE settlement_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"),
        Migration(2, "persons, settlements, ledger", sql: """
            CREATE TABLE persons (psn_no TEXT PRIMARY KEY, certno TEXT NOT NULL UNIQUE, name TEXT NOT NULL, insutype TEXT NOT NULL,
                insu_admdvs TEXT NOT NULL, status TEXT NOT NULL, account_balance BIGINT NOT NULL);
            CREATE TABLE accumulators (psn_no TEXT NOT NULL, year BIGINT NOT NULL, visit_type TEXT NOT NULL,
                deductible_used BIGINT NOT NULL, fund_paid BIGINT NOT NULL, PRIMARY KEY (psn_no, year, visit_type));
            CREATE TABLE settlements (setl_id TEXT PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE, mdtrt_id TEXT NOT NULL,
                psn_no TEXT NOT NULL, fixmedins_code TEXT NOT NULL, settle_via TEXT NOT NULL, visit_type TEXT NOT NULL,
                year BIGINT NOT NULL, setl_date TEXT NOT NULL, medfee_sumamt BIGINT NOT NULL, act_pay_dedc BIGINT NOT NULL,
                hifp_pay BIGINT NOT NULL, acct_pay BIGINT NOT NULL, psn_cash_pay BIGINT NOT NULL, status TEXT NOT NULL,
                result BYTEA NOT NULL, created_at TEXT NOT NULL);
            CREATE INDEX settlements_institution_day ON settlements (settle_via, setl_date);
            CREATE INDEX settlements_person_year ON settlements (psn_no, year, visit_type);
            CREATE TABLE reversals (reversal_id TEXT PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE, setl_id TEXT NOT NULL UNIQUE,
                reason TEXT NOT NULL, created_at TEXT NOT NULL);
            CREATE TABLE ledger (txn_id TEXT NOT NULL, line BIGINT NOT NULL, setl_id TEXT NOT NULL, account TEXT NOT NULL,
                debit BIGINT NOT NULL, credit BIGINT NOT NULL, PRIMARY KEY (txn_id, line))
            """),
        Migration(3, "day indexes for totals by clinic, settling centre and region", sql: """
            DROP INDEX settlements_institution_day;
            CREATE INDEX settlements_day_clinic ON settlements (setl_date, fixmedins_code);
            CREATE INDEX settlements_day_via ON settlements (setl_date, settle_via)
            """),
        // Written in the settlement's own transaction, delivered to supervision by the audit
        // relay, deleted once supervision has it: no settlement without its audit record.
        Migration(4, "audit outbox",
                  sql: "CREATE TABLE audit_outbox (seq INTEGER PRIMARY KEY, setl_id TEXT NOT NULL, kind TEXT NOT NULL, record BYTEA NOT NULL, rejected TEXT)",
                  postgres: """
                      CREATE TABLE audit_outbox (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, setl_id TEXT NOT NULL, kind TEXT NOT NULL,
                          record BYTEA NOT NULL, rejected TEXT)
                      """),
        // Fund protection: idempotency keys scoped to their caller (stored as "scope key"),
        // at most one live settlement per visit, the claim's digest to tell a retry from a
        // different request, R003 checked in the posting's transaction (billed_items: one
        // clustered B-tree on SQLite, its key the rule itself), and money counted on the day it
        // moved (setl_date, rev_date) with the visit day kept apart. Rows from before keep their
        // keys; their day becomes the day they were created (UTC). Keys lead with what new rows
        // share, a visit number (HIS numbers are mostly dated or sequential) and a visit day
        // (mostly today), so that a group commit dirties few pages.
        Migration(5, "visit uniqueness, scoped keys, billed items, money by the day it moved",
                  sql: fundProtection + billedItems + " WITHOUT ROWID", postgres: fundProtection + billedItems),
        // Supervision's signed checkpoints, kept here, outside its store (see audit.proto).
        Migration(6, "audit checkpoints", sql: """
            CREATE TABLE audit_checkpoints (seq BIGINT PRIMARY KEY, hash TEXT NOT NULL, at TEXT NOT NULL, signature BYTEA NOT NULL)
            """),
        Migration.closedSets(7, "closed sets hold only their codes", closedSets),
        // Replicas' relays split the outbox (see AuditOutbox.pending).
        AuditOutbox.claimMigration(8, table: "audit_outbox"),
        AuditOutbox.datedMigration(9, table: "audit_outbox"),
        // Supervision's case actions (issue 14): recoveries owed by institutions and payments
        // withheld from them, once per action (its ref), beside their ledger transactions.
        Migration(10, "recoveries and withholdings", sql: """
            CREATE TABLE receivables (action_ref TEXT PRIMARY KEY, fixmedins_code TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('recovery', 'withholding')),
                amount BIGINT NOT NULL, content BYTEA NOT NULL, posted_at TEXT NOT NULL);
            CREATE INDEX receivables_institution ON receivables (fixmedins_code, posted_at)
            """),
        // 9001: one sign-in per institution, operator and business day.
        Migration(11, "operators' sign-ins", sql: """
            CREATE TABLE sign_ins (sign_no TEXT PRIMARY KEY, fixmedins_code TEXT NOT NULL, opter_no TEXT NOT NULL, opter_name TEXT NOT NULL,
                sign_date TEXT NOT NULL, signed_at TEXT NOT NULL, mac TEXT NOT NULL, ip TEXT NOT NULL, UNIQUE (fixmedins_code, opter_no, sign_date))
            """),
        // 2201-2205: visits registered, their diagnoses and fee details, and their history. A
        // visit's settlements are found by their partial indexes: the live one by
        // settlements_live_visit, reversed ones by settlements_reversed_visit (a settle adds
        // no entry to it: only a reversal, rare, does).
        Migration(12, "outpatient visits", sql: """
            CREATE TABLE outpatient_visits (fixmedins_code TEXT NOT NULL, mdtrt_id TEXT NOT NULL, ipt_otp_no TEXT NOT NULL, psn_no TEXT NOT NULL,
                insutype TEXT NOT NULL, med_type TEXT NOT NULL, begntime TEXT NOT NULL, atddr_no TEXT NOT NULL, diagnoses TEXT NOT NULL,
                PRIMARY KEY (fixmedins_code, mdtrt_id), UNIQUE (fixmedins_code, ipt_otp_no));
            CREATE TABLE outpatient_visit_details (fixmedins_code TEXT NOT NULL, mdtrt_id TEXT NOT NULL, feedetl_sn TEXT NOT NULL, seq BIGINT NOT NULL,
                med_list_codg TEXT NOT NULL, medins_list_codg TEXT NOT NULL, cnt BIGINT NOT NULL, pric BIGINT NOT NULL, bilg_dr_codg TEXT NOT NULL,
                days BIGINT NOT NULL, PRIMARY KEY (fixmedins_code, mdtrt_id, feedetl_sn));
            CREATE TABLE outpatient_visit_events (fixmedins_code TEXT NOT NULL, mdtrt_id TEXT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL, at TEXT NOT NULL,
                opter_no TEXT NOT NULL, detail TEXT NOT NULL, PRIMARY KEY (fixmedins_code, mdtrt_id, seq));
            CREATE INDEX settlements_reversed_visit ON settlements (mdtrt_id, fixmedins_code) WHERE status = 'reversed'
            """),
        Migration.closedSets(13, "visits' closed sets hold only their codes", visitSets),
        // The doctors a visit may name (2201 atddr_no, 2204 bilg_dr_codg).
        Migration(14, "practitioners", sql: """
            CREATE TABLE practitioners (fixmedins_code TEXT NOT NULL, dr_code TEXT NOT NULL, dr_name TEXT NOT NULL, prac_type TEXT NOT NULL,
                active BIGINT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (fixmedins_code, dr_code))
            """),
        Migration.closedSets(15, "practitioners' types hold only their codes", practitionerSets),
        // What the person presented at the visit (2201's mdtrt_cert_type and mdtrt_cert_no).
        Migration(16, "visits' certificates", sql: """
            ALTER TABLE outpatient_visits ADD COLUMN mdtrt_cert_type TEXT NOT NULL DEFAULT 'id_card';
            ALTER TABLE outpatient_visits ADD COLUMN mdtrt_cert_no TEXT NOT NULL DEFAULT ''
            """),
        Migration.closedSets(17, "visits' certificate types hold only their codes", certificateSets),
        // PostgreSQL: a posting batch's persons and registered visits locked and what it
        // reads, in one round trip (SettlementStore.post); nothing on SQLite, whose single
        // writer needs no lock.
        Migration(18, "one round trip to lock and read a posting batch", steps: [], postgres: [batchRead]),
        AuditOutbox.pendingIndexMigration(19, table: "audit_outbox"),
        // 2503 chronic registrations and family-doctor contracts (ChronicCare.swift); enddate
        // '' is open. Both are read by psn_no (the leading column of their keys).
        Migration(20, "chronic registrations and family-doctor contracts", sql: """
            CREATE TABLE chronic_registrations (trt_dcla_detl_sn TEXT PRIMARY KEY, psn_no TEXT NOT NULL, opsp_dise_code TEXT NOT NULL,
                opsp_dise_name TEXT NOT NULL, ide_fixmedins_no TEXT NOT NULL, diag_dr_codg TEXT NOT NULL, begndate TEXT NOT NULL, enddate TEXT NOT NULL,
                opter_no TEXT NOT NULL, registered_at TEXT NOT NULL, UNIQUE (psn_no, opsp_dise_code, begndate));
            CREATE TABLE family_doctor_contracts (psn_no TEXT NOT NULL, begndate TEXT NOT NULL, fixmedins_code TEXT NOT NULL, dr_code TEXT NOT NULL,
                enddate TEXT NOT NULL, opter_no TEXT NOT NULL, signed_at TEXT NOT NULL, PRIMARY KEY (psn_no, begndate))
            """),
        // The funds beyond basic pooling: who is eligible (persons), what each settlement paid
        // from them and bore (settlements), and this year's totals per person and visit type
        // (accumulators; a fund's year is the sum over the person's visit types). PostgreSQL's
        // batch read answers the new columns (n2-n7): the function is made again. An older
        // settlement's `borne` is NULL until SettlementStore.countBorneOfOlderSettlements
        // reads it from its result (at start, before serving).
        Migration(21, "serious illness, civil-servant subsidy and medical assistance", steps: Migration.split(fundColumns), postgres: Migration.split(fundColumns) + [
            "DROP FUNCTION settlement_batch_read(text[], text[], text[], text[], text[], text[], text[], text[])", batchRead,
        ]),
        Migration(22, "policy and catalogue publications, institutions' catalogue mappings (3301)", sql: publicationsSQL),
        // A person's insurance over time (1101's insuinfo); what each person held so far
        // becomes one running record. The posting read returns them (part 5).
        Migration(23, "insured persons' insurance records over time", steps: Migration.split(insuranceRecordsSQL), postgres: Migration.split(insuranceRecordsSQL) + [
            "DROP FUNCTION settlement_batch_read(text[], text[], text[], text[], text[], text[], text[], text[])", batchRead,
        ]),
        // The settlements whose serious-illness share is not yet counted (posted before
        // migration 21, or by an older replica during an upgrade), which every start-up looks
        // for (``countBorneOfOlderSettlements(thisYear:)``): without this index that look was a
        // scan of the whole table (the table scan `perf` showed in a province's 27 s restart).
        Migration(24, "the settlements whose serious-illness share is not counted", sql: "CREATE INDEX settlements_borne_unset ON settlements (setl_id) WHERE borne IS NULL"),
        visitsByVisitNumber,
    ]

    /// Migration 25: the visit tables keyed by `mdtrt_id` first. Keyed by institution first,
    /// each visit step's rows went to a page of their own in every key (the institutions of the
    /// visits in flight are scattered), and a third of the WAL frames a visit wrote were the
    /// events' key alone (the frames of a running visit flow, mapped to their tables with
    /// `dbstat`). `mdtrt_id` begins with its registration time (``timeOrderedID(prefix:)``),
    /// so the visits in flight share the last pages of each key. On SQLite the tables become
    /// WITHOUT ROWID (the key is the table: one B-tree instead of two), rebuilt and copied,
    /// their closed-set triggers made again; on PostgreSQL the primary keys are replaced. The
    /// lookups (always by institution and visit number together) are unchanged;
    /// `UNIQUE (fixmedins_code, ipt_otp_no)`, the institution's own numbers, stays. The copy
    /// is made once, at the upgrade's start: about 30 s a million visits with their details
    /// and events on SQLite (docs/scaling.md).
    static let visitsByVisitNumber: Migration = {
        let visitColumns = "fixmedins_code, mdtrt_id, ipt_otp_no, psn_no, insutype, med_type, begntime, atddr_no, diagnoses, mdtrt_cert_type, mdtrt_cert_no"
        let detailColumns = "fixmedins_code, mdtrt_id, feedetl_sn, seq, med_list_codg, medins_list_codg, cnt, pric, bilg_dr_codg, days"
        let eventColumns = "fixmedins_code, mdtrt_id, seq, kind, at, opter_no, detail"
        let rebuilt = { (table: String, definition: String, columns: String) in
            [
                "CREATE TABLE \(table)_rebuilt (\(definition)) WITHOUT ROWID",
                "INSERT INTO \(table)_rebuilt (\(columns)) SELECT \(columns) FROM \(table)",
                "DROP TABLE \(table)",
                "ALTER TABLE \(table)_rebuilt RENAME TO \(table)",
            ]
        }
        let sqlite = rebuilt("outpatient_visits", """
            fixmedins_code TEXT NOT NULL, mdtrt_id TEXT NOT NULL, ipt_otp_no TEXT NOT NULL, psn_no TEXT NOT NULL, insutype TEXT NOT NULL,
                med_type TEXT NOT NULL, begntime TEXT NOT NULL, atddr_no TEXT NOT NULL, diagnoses TEXT NOT NULL,
                mdtrt_cert_type TEXT NOT NULL DEFAULT 'id_card', mdtrt_cert_no TEXT NOT NULL DEFAULT '',
                PRIMARY KEY (mdtrt_id, fixmedins_code), UNIQUE (fixmedins_code, ipt_otp_no)
            """, visitColumns)
            + rebuilt("outpatient_visit_details", """
            fixmedins_code TEXT NOT NULL, mdtrt_id TEXT NOT NULL, feedetl_sn TEXT NOT NULL, seq BIGINT NOT NULL,
                med_list_codg TEXT NOT NULL, medins_list_codg TEXT NOT NULL, cnt BIGINT NOT NULL, pric BIGINT NOT NULL, bilg_dr_codg TEXT NOT NULL,
                days BIGINT NOT NULL, PRIMARY KEY (mdtrt_id, fixmedins_code, feedetl_sn)
            """, detailColumns)
            + rebuilt("outpatient_visit_events", """
            fixmedins_code TEXT NOT NULL, mdtrt_id TEXT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL, at TEXT NOT NULL,
                opter_no TEXT NOT NULL, detail TEXT NOT NULL, PRIMARY KEY (mdtrt_id, fixmedins_code, seq)
            """, eventColumns)
            // The dropped tables took their closed-set triggers with them.
            + Migration.closedSets(25, "", visitSets + certificateSets).steps
        let postgres = [("outpatient_visits", "mdtrt_id, fixmedins_code"), ("outpatient_visit_details", "mdtrt_id, fixmedins_code, feedetl_sn"),
                        ("outpatient_visit_events", "mdtrt_id, fixmedins_code, seq")].map { table, key in
            "ALTER TABLE \(table) DROP CONSTRAINT \(table)_pkey, ADD PRIMARY KEY (\(key))"
        }
        return Migration(25, "visits keyed by visit number first", steps: sqlite, postgres: postgres)
    }()

    static let insuranceRecordsSQL = """
        CREATE TABLE insurance_records (psn_no TEXT NOT NULL REFERENCES persons (psn_no), insutype TEXT NOT NULL CHECK (insutype IN (\(insutypes.map { "'\($0)'" }.joined(separator: ", ")))),
            insuplc_admdvs TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('enrolled', 'suspended', 'terminated')),
            psn_insu_date TEXT NOT NULL, paus_insu_date TEXT NOT NULL, PRIMARY KEY (psn_no, insutype, psn_insu_date));
        INSERT INTO insurance_records (psn_no, insutype, insuplc_admdvs, status, psn_insu_date, paus_insu_date)
            SELECT psn_no, insutype, insu_admdvs, status, '', '' FROM persons
        """

    static let fundColumns = """
        ALTER TABLE persons ADD COLUMN cvlserv_flag BIGINT NOT NULL DEFAULT 0 CHECK (cvlserv_flag IN (0, 1));
        ALTER TABLE persons ADD COLUMN psn_idet_type BIGINT NOT NULL DEFAULT 0 CHECK (psn_idet_type BETWEEN 0 AND 4);
        ALTER TABLE settlements ADD COLUMN borne BIGINT;
        ALTER TABLE settlements ADD COLUMN hifmi_pay BIGINT NOT NULL DEFAULT 0;
        ALTER TABLE settlements ADD COLUMN cvlserv_pay BIGINT NOT NULL DEFAULT 0;
        ALTER TABLE settlements ADD COLUMN maf_pay BIGINT NOT NULL DEFAULT 0;
        ALTER TABLE accumulators ADD COLUMN borne BIGINT NOT NULL DEFAULT 0;
        ALTER TABLE accumulators ADD COLUMN hifmi_paid BIGINT NOT NULL DEFAULT 0;
        ALTER TABLE accumulators ADD COLUMN cvlserv_paid BIGINT NOT NULL DEFAULT 0;
        ALTER TABLE accumulators ADD COLUMN maf_paid BIGINT NOT NULL DEFAULT 0
        """

    /// The function behind ``SettlementStore/post(_:_:)``'s first round trip on PostgreSQL:
    /// the persons locked in `psn_no` order (part 0), the registered visits the requests
    /// settle locked (part 4: their details are then read to check each settle against them),
    /// then, each part read with a snapshot
    /// taken after the locks are held (a VOLATILE function takes a new one for every query, as
    /// the separate statements it replaces did under READ COMMITTED), the postings the
    /// requests could replay by key or live visit (part 1), the persons' insurance records
    /// (part 5, migration 23), the persons' accumulators (part
    /// 2) and the (day, person, item) keys already billed (part 3, R003). Every key is probed
    /// by index (a lateral probe each), whatever the planner knows of the tables. Numbers:
    /// a person's account balance, civil-servant flag and assistance category (n1-n3); an
    /// accumulator's year, deductible used, pooling paid, amount borne and serious illness,
    /// civil-servant subsidy and medical assistance paid (n1-n7). Migration 18 made it with
    /// n1-n3 only (this text is what it runs on a new database, where 21 and 23 follow at
    /// once); 21 makes it again, and 23 with part 5.
    static let batchRead = """
        CREATE FUNCTION settlement_batch_read(keys text[], visits text[], who text[], days text[], psns text[], items text[], vclinics text[], vids text[])
        RETURNS TABLE (part int, t1 text, t2 text, t3 text, t4 text, t5 text, t6 text, result bytea, n1 bigint, n2 bigint, n3 bigint,
                       n4 bigint, n5 bigint, n6 bigint, n7 bigint)
        LANGUAGE plpgsql VOLATILE AS $$
        #variable_conflict use_column
        BEGIN
            RETURN QUERY SELECT 0, p.psn_no, p.certno, p.name, p.insutype, p.insu_admdvs, p.status, NULL::bytea, p.account_balance, p.cvlserv_flag,
                    p.psn_idet_type, 0::bigint, 0::bigint, 0::bigint, 0::bigint
                FROM persons p WHERE p.psn_no = ANY(who) ORDER BY p.psn_no FOR UPDATE;
            -- The persons' insurance records (after their locks: an import holds the same lock).
            RETURN QUERY SELECT 5, r.psn_no, r.insutype, r.insuplc_admdvs, r.status, r.psn_insu_date, r.paus_insu_date, NULL::bytea, 0::bigint, 0::bigint,
                    0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint
                FROM unnest(who) AS k(k0) CROSS JOIN LATERAL (SELECT * FROM insurance_records x WHERE x.psn_no = k.k0 OFFSET 0) r;
            -- Locked in the order given (the caller sorts the pairs), each by its key.
            RETURN QUERY SELECT 4, v.fixmedins_code, v.mdtrt_id, '', '', '', '', NULL::bytea, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint
                FROM unnest(vclinics, vids) AS k(k0, k1)
                CROSS JOIN LATERAL (SELECT * FROM outpatient_visits x WHERE x.fixmedins_code = k.k0 AND x.mdtrt_id = k.k1 OFFSET 0) v FOR UPDATE OF v;
            RETURN QUERY
                SELECT 1, s.idempotency_key, s.setl_id, s.claim_digest, s.status, s.fixmedins_code, s.mdtrt_id, s.result, 0::bigint, 0::bigint, 0::bigint,
                        0::bigint, 0::bigint, 0::bigint, 0::bigint
                    FROM unnest(keys) AS k(k0) CROSS JOIN LATERAL (SELECT * FROM settlements x WHERE x.idempotency_key = k.k0 OFFSET 0) s
                UNION ALL
                SELECT 1, s.idempotency_key, s.setl_id, s.claim_digest, s.status, s.fixmedins_code, s.mdtrt_id, s.result, 0::bigint, 0::bigint, 0::bigint,
                        0::bigint, 0::bigint, 0::bigint, 0::bigint
                    FROM unnest(visits) AS k(k0) CROSS JOIN LATERAL (SELECT * FROM settlements x WHERE x.mdtrt_id = k.k0 AND x.status = 'settled' OFFSET 0) s
                UNION ALL
                SELECT 2, a.psn_no, a.visit_type, '', '', '', '', NULL::bytea, a.year, a.deductible_used, a.fund_paid,
                        a.borne, a.hifmi_paid, a.cvlserv_paid, a.maf_paid
                    FROM unnest(who) AS k(k0) CROSS JOIN LATERAL (SELECT * FROM accumulators x WHERE x.psn_no = k.k0 OFFSET 0) a
                UNION ALL
                SELECT 3, b.psn_no, b.visit_date, b.item_code, '', '', '', NULL::bytea, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint
                    FROM unnest(days, psns, items) AS k(k0, k1, k2)
                    CROSS JOIN LATERAL (SELECT * FROM billed_items x WHERE x.visit_date = k.k0 AND x.psn_no = k.k1 AND x.item_code = k.k2 OFFSET 0) b;
        END
        $$
        """

    /// Closed sets of migrations 15 and 17 (a test compares them with the enums).
    static let practitionerSets = [ClosedSet("practitioners", "prac_type", ["physician", "assistant_physician", "village_doctor"])]
    static let certificateSets = [ClosedSet("outpatient_visits", "mdtrt_cert_type", ["ecard", "id_card", "social_security_card"])]

    /// The closed-set columns and their codes as migration 7 fixed them (a test compares them
    /// with the enums: a value added to one needs a migration that widens its check). Medical
    /// types are the benefit policy's keys; insutype is stored as its national number.
    static let closedSets = [
        ClosedSet("persons", "insutype", insutypes),
        ClosedSet("persons", "status", ["enrolled", "suspended", "terminated"]),
        ClosedSet("accumulators", "visit_type", medTypes),
        ClosedSet("settlements", "visit_type", medTypes),
        ClosedSet("settlements", "status", ["settled", "reversed"]),
        ClosedSet("audit_outbox", "kind", ["settlement", "reversal"]),
    ]
    /// Insurance types as stored: their national numbers (险种类型).
    static let insutypes = BenefitPolicy.insutypeNumbers.sorted().map(String.init)
    static let medTypes = ["general_outpatient", "outpatient_registration", "emergency", "chronic_outpatient"]

    /// Migration 5's statements common to both engines (see its comment).
    static let fundProtection = """
            ALTER TABLE settlements ADD COLUMN caller TEXT NOT NULL DEFAULT '';
            ALTER TABLE settlements ADD COLUMN claim_digest TEXT NOT NULL DEFAULT '';
            ALTER TABLE settlements ADD COLUMN visit_date TEXT NOT NULL DEFAULT '';
            UPDATE settlements SET visit_date = setl_date, setl_date = substr(created_at, 1, 10);
            CREATE UNIQUE INDEX settlements_live_visit ON settlements (mdtrt_id, fixmedins_code) WHERE status = 'settled';
            ALTER TABLE reversals ADD COLUMN caller TEXT NOT NULL DEFAULT '';
            ALTER TABLE reversals ADD COLUMN rev_date TEXT NOT NULL DEFAULT '';
            UPDATE reversals SET rev_date = substr(created_at, 1, 10);
            CREATE INDEX reversals_day ON reversals (rev_date);
            UPDATE persons SET certno = upper(certno) WHERE certno <> upper(certno);

        """

    /// R003's table: its key is the rule (clustered on SQLite with WITHOUT ROWID).
    static let billedItems = """
        CREATE TABLE billed_items (psn_no TEXT NOT NULL, visit_date TEXT NOT NULL, item_code TEXT NOT NULL, setl_id TEXT NOT NULL,
            PRIMARY KEY (visit_date, psn_no, item_code))
        """
}
