import MedicareRPC
import NIOCore

/// Who may call a backend service directly. Fails closed: only certificates with role
/// `service` of the medical-insurance department (`O=nhsa`) whose name (`CN`) is listed in the
/// service's `access.callers` (the gateway; supervision also admits settlement and the
/// registry, whose audit relays deliver there), and for a method whose policy names
/// `only_callers`, only those services. Outside callers (institutions, province systems,
/// supervisors, operators) go through the gateway, which applies the full access table.
/// Methods whose policy says `diagnostic` (`Health/Check`, `Echo/Echo`) are also open to
/// medical-insurance operators (connectivity checks).
public struct ServiceAccess: RPCInterceptor {
    /// Service names (certificate CN) that may call this service.
    public let callers: Set<String>

    /// Admits the services named in `callers` (certificate CN).
    public init(callers: Set<String>) { self.callers = callers }

    /// Whether `peer` may call `method` directly.
    public func admits(_ peer: PeerIdentity, _ method: MethodDescriptor) -> Bool {
        guard peer.department == PeerIdentity.Department.medicalInsurance else { return false }
        if peer.role == PeerIdentity.Role.operator { return method.policy.diagnostic }
        guard peer.role == PeerIdentity.Role.service else { return false }
        if !method.policy.onlyCallers.isEmpty { return method.policy.onlyCallers.contains(peer.commonName) }
        return callers.contains(peer.commonName)
    }

    /// Passes the call on if ``admits(_:_:)`` the verified peer for the method.
    /// - Throws: ``RPCError`` `permissionDenied` (pointing to the gateway) otherwise.
    public func intercept(
        _ request: ByteBuffer, context: CallContext, next: @Sendable (ByteBuffer, CallContext) async throws -> ByteBuffer
    ) async throws -> ByteBuffer {
        guard admits(context.peer, context.method) else {
            throw RPCError(
                code: .permissionDenied,
                message: "\(context.peer.role) '\(context.peer.commonName.prefix(64))' of '\(context.peer.department.prefix(16))' may not call \(context.method.fullName) directly; use the gateway"
            )
        }
        return try await next(request, context)
    }
}
