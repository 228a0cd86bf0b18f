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
        ConfigKey("policy.refresh-ms", default: "2000",
                  "How often a replica looks for policy and catalogue versions published through Settlement/PublishPolicy and ImportCatalogue (any replica)."),
        ConfigKey("store.settle-writers", default: "1",
                  "Settle postings in flight per replica (a transaction each on PostgreSQL, a job of the group commit on SQLite); concurrent settles wait and are posted together (1-16)."),
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
        // The policy file (or the bundled book) seeds what the store has not published; the
        // store's publications are the policy in force, on every replica alike.
        let source = context.configuration.string("policy.file").isEmpty ? "bundled" : "policy.file"
        let logger = context.logger
        @Sendable func seed(_ book: PolicyBook) async throws {
            let seeded = try await store.seed(from: book, source: source)
            if !seeded.differing.isEmpty {
                logger.warning("the policy file holds other content than the published version: the published one stays; publish a change under a new version",
                               metadata: ["versions": "\(seeded.differing)"])
            }
            if !seeded.policies.isEmpty || seeded.records > 0 {
                logger.notice("policy file published", metadata: ["policies": "\(seeded.policies)", "catalogue_records": "\(seeded.records)"])
            }
        }
        try await seed(book)
        let skipped: @Sendable (String, Error) -> Void = { version, error in
            logger.error("a published policy does not decode and is skipped", metadata: ["version": "\(version)", "error": "\(error)"])
        }
        let policy = PolicyHolder(try await PolicyHolder.current(book).refreshed(from: store, skipped: skipped))
        let refresh = Duration.milliseconds(try context.configuration.int("policy.refresh-ms", in: 100...600_000))
        context.runInBackground {
            while !Task.isCancelled {
                try? await Task.sleep(for: refresh)
                do {
                    let now = policy.current
                    let next = try await now.refreshed(from: store, skipped: skipped)
                    if next.revision != now.revision {
                        policy.replace(next)
                        logger.notice("publications applied", metadata: ["revision": "\(next.revision)", "catalogue_codes": "\(next.catalogue.count)"])
                    }
                } catch {
                    logger.warning("publications not refreshed", metadata: ["error": "\(error)"])
                }
            }
        }
        // SIGHUP reads policy.file again and publishes what it holds that is new; a file that
        // does not load leaves the policy in force.
        context.onHangup {
            do {
                try await seed(try context.policyBook())
                policy.replace(try await policy.current.refreshed(from: store, skipped: skipped))
                logger.notice("benefit policy reloaded")
            } catch {
                logger.error("benefit policy not reloaded; the one in force stays", metadata: ["error": "\(error)"])
            }
        }
        var router = RPCRouter()
        SettlementProvider(store: store, policy: policy, relay: relay, timeZone: try context.businessTimeZone()).register(with: &router)
        SettlementReportsProvider(store: store).register(with: &router)
        return router
    }
}
