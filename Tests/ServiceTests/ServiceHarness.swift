import Foundation
import Logging
import MedicareContracts
import MedicareWire
import MedicareDomain
import MedicareRPC
import MedicareStore
import ServiceLifecycle

var quietLogger: Logger {
    var logger = Logger(label: "test.services")
    logger.logLevel = .critical
    return logger
}

/// A service's router over a real embedded store in a temporary file, reached through the
/// in-process channel.
func withService<T: Sendable>(
    _ name: String, migrations: [Migration], peer: PeerIdentity = PeerIdentity(commonName: "ops", department: "nhsa", role: "operator", region: "33"),
    router: @escaping @Sendable (any SQLDatabase) throws -> RPCRouter,
    _ body: @escaping @Sendable (InProcessChannel, any SQLDatabase) async throws -> T
) async throws -> T {
    let db = try SQLiteDatabase(configuration: .init(path: NSTemporaryDirectory() + "\(name)-\(UUID().uuidString).sqlite"), logger: quietLogger)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await db.run()
            return nil
        }
        defer { group.cancelAll() }
        try await Migrator.migrate(db, service: name, migrations: migrations, logger: quietLogger)
        let channel = InProcessChannel(router: try router(db), peer: peer, logger: quietLogger)
        return try await body(channel, db)
    }
}

/// A valid 18-digit ID from its first 17 digits.
func residentID(_ first17: String) -> String { first17 + String(ResidentID.checkCharacter(first17)) }

func keyed(_ key: String) -> CallOptions { CallOptions(metadata: [Metadata.idempotencyKey: key]) }
