import MedicareContracts
import MedicareRPC
import MedicareRuntime
import MedicareStore

/// The gateway service: its schema, default ports and methods.
public enum GatewayDefinition {
    public static let migrations: [Migration] = [
        Migration(1, "service metadata", sql: "CREATE TABLE gateway_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"),
    ]

    public static let definition = ServiceDefinition(
        name: "gateway", rpcPort: 7100, adminPort: 9100, migrations: migrations
    ) { context in
        RPCRouter()
    }
}
