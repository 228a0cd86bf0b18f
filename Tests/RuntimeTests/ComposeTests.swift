import Foundation
import MedicareTestSupport
import Testing

@Suite("Deployment files")
struct ComposeTests {
    @Test func composeFileMatchesTheComposeSpecification() async throws {
        let root = Executables.repositoryRoot.path
        let result = try await runCommand("/usr/bin/env", ["python3", "\(root)/Tests/Compose/validate.py"])
        #expect(result.status == 0, "\(String(decoding: result.output, as: UTF8.self)) \(result.error)")
    }
}
