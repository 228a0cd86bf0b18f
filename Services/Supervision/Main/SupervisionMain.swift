import MedicareRuntime
import SupervisionService

@main
enum SupervisionMain {
    static func main() async {
        await ServiceRunner.main(SupervisionDefinition.definition)
    }
}
