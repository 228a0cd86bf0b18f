import MedicareRuntime
import SettlementService

@main
enum SettlementMain {
    static func main() async {
        await ServiceRunner.main(SettlementDefinition.definition)
    }
}
