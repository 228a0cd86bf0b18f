public import MedicareContracts
public import MedicareRPC
public import MedicareWire
import Synchronization

/// The standard `medicare.v1.Health/Check` every server answers. Who may call it is the
/// server's access check's to say (backends: their listed services and the medical-insurance
/// department's operators, the method being `diagnostic`; the gateway: its access table). It
/// reports `notServing` once the server starts draining.
public final class HealthProvider: HealthService {
    /// The server's name, reported by the check.
    public let server: String
    /// The server's version, reported by the check.
    public let version: String
    private let status = Mutex<ServingStatus>(.serving)

    /// A provider that reports `serving` until ``servingStatus`` is changed.
    public init(server: String, version: String) {
        self.server = server
        self.version = version
    }

    /// What the check reports; set to `notServing` when the server starts draining.
    public var servingStatus: ServingStatus {
        get { status.withLock { $0 } }
        set { status.withLock { $0 = newValue } }
    }

    /// Answers the current status with the server's name and version; never throws.
    public func check(_ request: HealthCheckRequest, context: CallContext) async throws -> HealthCheckResponse {
        HealthCheckResponse(status: servingStatus, server: server, version: version)
    }
}
