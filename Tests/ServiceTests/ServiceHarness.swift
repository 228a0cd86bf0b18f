import Foundation
import Logging
import MedicareContracts
import MedicareWire
import MedicareDomain
import MedicareRPC
import MedicareStore
import ServiceLifecycle
import MedicareTestSupport

/// A service's router over a real store (a temporary SQLite file, or a fresh database on
/// the test PostgreSQL), reached through the in-process channel.
func withService<T: Sendable>(
    _ name: String, engine: Engine = .sqlite, migrations: [Migration],
    peer: PeerIdentity = PeerIdentity(commonName: "ops", department: "nhsa", role: "operator", region: "33"),
    router: @escaping @Sendable (any SQLDatabase) async throws -> RPCRouter,
    _ body: @escaping @Sendable (InProcessChannel, any SQLDatabase) async throws -> T
) async throws -> T {
    try await withDatabase(engine) { db in
        try await Migrator.migrate(db, service: name, migrations: migrations, logger: quietLogger)
        let channel = InProcessChannel(router: try await router(db), peer: peer, logger: quietLogger)
        return try await body(channel, db)
    }
}

/// A valid 18-digit ID from its first 17 digits.
func residentID(_ first17: String) -> String { first17 + String(ResidentID.checkCharacter(first17)) }

func keyed(_ key: String) -> CallOptions { CallOptions(metadata: [Metadata.idempotencyKey: key]) }
