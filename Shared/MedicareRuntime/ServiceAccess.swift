import MedicareRPC
import NIOCore

/// Who may call a backend service directly. Fails closed: only certificates with role
/// `service` of the medical-insurance department (`O=nhsa`) whose name (`CN`) is listed in the
/// service's `access.callers` (the gateway; supervision also admits settlement and the
/// registry, whose audit relays deliver there), and for the methods ``restricted`` names, only
/// the services listed there. Outside callers (institutions, province systems, supervisors, operators) go through
/// the gateway, which applies the full access table. `Health/Check` and the diagnostic
/// `Echo/Echo` are also open to medical-insurance operators (connectivity checks).
public struct ServiceAccess: RPCInterceptor {
    /// Service names (certificate CN) that may call this service.
    public let callers: Set<String>

    /// Methods only particular services may call, whatever `access.callers` says: the audit
    /// chain is appended to by the relays of settlement and the registry alone.
    public static let restricted: [String: Set<String>] = [
        "medicare.v1.Supervision/Record": ["settlement", "registry"],
        "medicare.v1.Supervision/RecordBatch": ["settlement", "registry"],
    ]

    static let diagnostics: Set<String> = ["medicare.v1.Health/Check", "medicare.v1.Echo/Echo"]

    public init(callers: Set<String>) { self.callers = callers }

    /// Whether `peer` may call `method` directly.
    public func admits(_ peer: PeerIdentity, _ method: String) -> Bool {
        guard peer.department == PeerIdentity.Department.medicalInsurance else { return false }
        if peer.role == PeerIdentity.Role.operator { return Self.diagnostics.contains(method) }
        guard peer.role == PeerIdentity.Role.service else { return false }
        if let only = Self.restricted[method] { return only.contains(peer.commonName) }
        return callers.contains(peer.commonName)
    }

    public func intercept(
        _ request: ByteBuffer, context: CallContext, next: @Sendable (ByteBuffer, CallContext) async throws -> ByteBuffer
    ) async throws -> ByteBuffer {
        guard admits(context.peer, context.method.fullName) else {
            throw RPCError(
                code: .permissionDenied,
                message: "\(context.peer.role) '\(context.peer.commonName.prefix(64))' of '\(context.peer.department.prefix(16))' may not call \(context.method.fullName) directly; use the gateway"
            )
        }
        return try await next(request, context)
    }
}
