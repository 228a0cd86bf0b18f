public import MedicareContracts
public import MedicareRPC
public import MedicareWire
import Synchronization

/// The standard `medicare.v1.Health/Check` every server answers. Anyone with a valid
/// certificate may call it. It reports `notServing` once the server starts draining.
public final class HealthProvider: HealthService {
    public let server: String
    public let version: String
    private let status = Mutex<ServingStatus>(.serving)

    public init(server: String, version: String) {
        self.server = server
        self.version = version
    }

    public var servingStatus: ServingStatus {
        get { status.withLock { $0 } }
        set { status.withLock { $0 = newValue } }
    }

    public func check(_ request: HealthCheckRequest, context: CallContext) async throws -> HealthCheckResponse {
        HealthCheckResponse(status: servingStatus, server: server, version: version)
    }
}
