import MedicareContracts
import MedicareRPC
import MedicareRuntime
import MedicareStore

/// The registry service: its schema, default ports and methods.
public enum RegistryDefinition {
    public static let migrations: [Migration] = [
        Migration(1, "service metadata", sql: "CREATE TABLE registry_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"),
    ]

    public static let definition = ServiceDefinition(
        name: "registry", rpcPort: 7101, adminPort: 9101, migrations: migrations
    ) { context in
        RPCRouter()
    }
}
