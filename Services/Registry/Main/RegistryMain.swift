import MedicareRuntime
import RegistryService

@main
enum RegistryMain {
    static func main() async {
        await ServiceRunner.main(RegistryDefinition.definition)
    }
}
