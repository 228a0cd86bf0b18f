import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareStore

/// The registry: geography, institutions, designation and its history, settlement routes,
/// coverage (村村通).
public enum RegistryDefinition {
    public static let migrations: [Migration] = [
        Migration(1, "service metadata", sql: "CREATE TABLE registry_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"),
        Migration(2, "divisions, institutions, designation history", sql: """
            CREATE TABLE divisions (code TEXT PRIMARY KEY, name TEXT NOT NULL, level BIGINT NOT NULL);
            CREATE TABLE institutions (code TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, division_code TEXT NOT NULL,
                parent_code TEXT NOT NULL, integration_mode TEXT NOT NULL, relationship_end TEXT NOT NULL, licensed_doctors BIGINT NOT NULL,
                has_computer BIGINT NOT NULL, has_network BIGINT NOT NULL, record_version BIGINT NOT NULL, designation_status TEXT NOT NULL,
                updated_at TEXT NOT NULL);
            CREATE INDEX institutions_division ON institutions (division_code);
            CREATE TABLE designation_history (code TEXT NOT NULL, seq BIGINT NOT NULL, from_status TEXT NOT NULL, to_status TEXT NOT NULL,
                reason TEXT NOT NULL, at TEXT NOT NULL, by_whom TEXT NOT NULL, PRIMARY KEY (code, seq))
            """),
        // Designation changes go into supervision's audit chain through this outbox, written
        // in the change's own transaction; supervision's signed checkpoints are kept here too.
        AuditOutbox.migration(3, tablePrefix: "registry_"),
        // A change takes effect on a day (the agreement's), so that a route holds for a visit
        // only if the clinic was designated on the visit's day; earlier changes took effect
        // the day they were made (UTC).
        Migration(4, "designation changes take effect on a day", sql: """
            ALTER TABLE designation_history ADD COLUMN effective_date TEXT NOT NULL DEFAULT '';
            UPDATE designation_history SET effective_date = substr(at, 1, 10)
            """),
        // Closed sets hold only their codes (a township centre's integration mode, never read,
        // is emptied first: it was not checked before).
        Migration.closedSets(5, "closed sets hold only their codes", closedSets, before: [
            "UPDATE institutions SET integration_mode = '' WHERE kind = 'township_centre'",
        ]),
        // Replicas' relays split the outbox (see AuditOutbox.pending).
        AuditOutbox.claimMigration(6, table: "registry_audit_outbox"),
        AuditOutbox.datedMigration(7, table: "registry_audit_outbox"),
    ] + RegistryStore.workflowMigrations + RegistryStore.ledgerMigrations + RegistryStore.reportingMigrations
        + RegistryStore.arrangementMigrations + RegistryStore.priceMigrations
        + RegistryStore.statusMigrations + RegistryStore.filerMigrations + RegistryStore.changeCursorMigrations + RegistryStore.villageCountMigrations
        + [Migration.closedSets(20, "dated arrangements and agreements' scopes hold only their codes", laterSets),
           AuditOutbox.pendingIndexMigration(21, table: "registry_audit_outbox")]

    /// The closed-set columns and their codes as migration 5 fixed them (a test compares them
    /// with the enums: a value added to one needs a migration that widens its check).
    static let closedSets = [
        ClosedSet("institutions", "kind", ["township_centre", "village_clinic"]),
        ClosedSet("institutions", "integration_mode", integrationModes),
        ClosedSet("institutions", "designation_status", statuses),
        ClosedSet("designation_history", "from_status", statuses),
        ClosedSet("designation_history", "to_status", statuses),
        ClosedSet("registry_audit_outbox", "kind", ["designation"]),
    ]
    static let statuses = ["not_designated", "designated", "suspended", "terminated"]
    /// Integration modes as stored ('' for a township centre, whose mode is not read).
    static let integrationModes = ["", "integrated", "integrating", "not_ready"]
    /// Closed sets checked from migration 20: the dated arrangements' modes (migration 13) and
    /// an agreement's service scopes, a comma-separated list (migration 8).
    static let laterSets = [
        ClosedSet("integration_history", "integration_mode", integrationModes),
        ClosedSet("agreements", "scopes", ["general_outpatient", "chronic_drugs", "family_doctor", "tcm", "cross_region", "mobile_payment"], separated: true),
    ]

    public static let keys = [
        ServiceContext.policyFileKey,
        ConfigKey("upstream.supervision", default: "127.0.0.1:7103",
                  "Supervision replicas, HOST:PORT[,HOST:PORT...]: the audit relay delivers every designation change there."),
        ConfigKey("campaign.file", default: "",
                  "The campaign's dates (designation target, integration deadline, notice days) as versioned JSON; empty = the notice's, bundled."),
    ]

    public static let definition = ServiceDefinition(
        name: "registry", rpcPort: 7101, adminPort: 9101, migrations: migrations, extraKeys: keys
    ) { context in
        let store = RegistryStore(database: context.store)
        let relay = try context.auditRelay(AuditOutbox(database: context.store, tablePrefix: "registry_"), service: "registry")
        var router = RPCRouter()
        let campaign: CampaignPolicy
        do {
            campaign = try CampaignPolicy.load(path: context.configuration.string("campaign.file"))
        } catch {
            throw StartupError("configuration key 'campaign.file' (\(context.configuration.source("campaign.file"))): \(error)")
        }
        RegistryProvider(store: store, relay: relay, campaign: campaign, policies: try context.policyBook()).register(with: &router)
        return router
    }
}
