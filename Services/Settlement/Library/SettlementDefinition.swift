import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareStore

/// The settlement service: identity checks, benefit calculation, settlement and reversal
/// exactly once, a double-entry ledger.
public enum SettlementDefinition {
    /// The settlement store's schema steps (``SettlementStore/migrations``).
    public static let migrations = SettlementStore.migrations

    public static let keys = [
        ServiceContext.policyFileKey, ServiceContext.timeZoneKey,
        ConfigKey("upstream.supervision", default: "127.0.0.1:7103",
                  "Supervision replicas, HOST:PORT[,HOST:PORT...]: the audit relay delivers every posting's record there."),
        ConfigKey("store.settle-writers", default: "1",
                  "PostgreSQL: settle transactions in flight per replica; concurrent settles wait and are posted together (1-16)."),
    ]

    public static let definition = ServiceDefinition(
        name: "settlement", rpcPort: 7102, adminPort: 9102, migrations: migrations, extraKeys: keys
    ) { context in
        let book = try context.policyBook()
        let store = SettlementStore(database: context.store, writers: try context.configuration.int("store.settle-writers", in: 1...16))
        // Settlements posted before the funds beyond pooling (migration 21) count toward this
        // year's serious-illness threshold too.
        let counted = try await store.countBorneOfOlderSettlements(thisYear: CivilDate.today(in: try context.businessTimeZone()).year)
        if counted > 0 { context.logger.notice("older settlements counted toward serious illness", metadata: ["settlements": "\(counted)"]) }
        let relay = try context.auditRelay(store.outbox, service: "settlement")
        // SIGHUP reads policy.file again; a file that does not load leaves the policy in force.
        let policy = PolicyHolder(PolicyHolder.current(book))
        context.reloadOnHangup(policy, what: "benefit policy") { PolicyHolder.current(try context.policyBook()) }
        var router = RPCRouter()
        SettlementProvider(store: store, policy: policy, relay: relay, timeZone: try context.businessTimeZone()).register(with: &router)
        SettlementReportsProvider(store: store).register(with: &router)
        return router
    }
}
