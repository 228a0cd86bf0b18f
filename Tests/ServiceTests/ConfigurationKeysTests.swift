import GatewayService
import MedicareRuntime
import RegistryService
import SettlementService
import SupervisionService
import Testing

/// The variables a service accepts without declaring them are exactly the other services'
/// keys (so one environment file can serve the stack) plus the tools' own; a key added to a
/// service must be added there too, or the other services would refuse it.
@Suite struct ConfigurationKeysTests {
    static let definitions = [RegistryDefinition.definition, SettlementDefinition.definition, SupervisionDefinition.definition, GatewayDefinition.definition]
    static let tools: Set<String> = [
        "MEDICARE_CONFIG", "MEDICARE_STORE_PASSWORD", "MEDICARE_CERTS", "MEDICARE_GATEWAY", "MEDICARE_DATA", "MEDICARE_TEST_POSTGRES_URL",
        "MEDICARE_PG_DIR", "MEDICARE_PG_SETTINGS", "MEDICARE_SKIP_POSTGRES", "MEDICARE_REPLICA_STACK", "MEDICARE_BIN", "MEDICARE_PROTO",
    ]

    @Test func sharedVariablesAreTheOtherServicesKeysAndTheTools() {
        let all = Set(Self.definitions.flatMap { $0.keys.map(\.environmentName) })
        let common = Set(Self.definitions.map { Set($0.keys.map(\.environmentName)) }.reduce(all) { $0.intersection($1) })
        // Every key some service has and another lacks is shared; nothing else is, but the tools'.
        #expect(Configuration.sharedEnvironment.subtracting(Self.tools) == all.subtracting(common).subtracting(Self.tools))
        #expect(Self.tools.isSubset(of: Configuration.sharedEnvironment))
        for definition in Self.definitions {
            let own = Set(definition.keys.map(\.environmentName))
            let missing = all.subtracting(own).subtracting(Configuration.sharedEnvironment)
            #expect(missing.isEmpty, "\(definition.name) would refuse \(missing.sorted())")
        }
    }
}
