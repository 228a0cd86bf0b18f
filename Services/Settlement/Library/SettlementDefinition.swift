import MedicareContracts
import MedicareRPC
import MedicareRuntime
import MedicareStore

/// The settlement service: its schema, default ports and methods.
public enum SettlementDefinition {
    public static let migrations: [Migration] = [
        Migration(1, "service metadata", sql: "CREATE TABLE settlement_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"),
    ]

    public static let definition = ServiceDefinition(
        name: "settlement", rpcPort: 7102, adminPort: 9102, migrations: migrations
    ) { context in
        RPCRouter()
    }
}
