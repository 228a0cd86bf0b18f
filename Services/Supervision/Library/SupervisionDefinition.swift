import MedicareContracts
import MedicareRPC
import MedicareRuntime
import MedicareStore

/// The supervision service: its schema, default ports and methods.
public enum SupervisionDefinition {
    public static let migrations: [Migration] = [
        Migration(1, "service metadata", sql: "CREATE TABLE supervision_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"),
    ]

    public static let definition = ServiceDefinition(
        name: "supervision", rpcPort: 7103, adminPort: 9103, migrations: migrations
    ) { context in
        RPCRouter()
    }
}
