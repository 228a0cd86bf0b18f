import MedicareRuntime
import GatewayService

@main
enum GatewayMain {
    static func main() async {
        await ServiceRunner.main(GatewayDefinition.definition)
    }
}
