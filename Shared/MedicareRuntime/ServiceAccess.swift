import MedicareRPC
import NIOCore

/// Who may call a backend service directly: other services (the gateway among them) and
/// operators, by the role in their certificate. Outside callers go through the gateway,
/// which applies the full access table. Health is open to every authenticated peer.
public struct ServiceAccess: RPCInterceptor {
    public let roles: Set<String>

    public init(roles: Set<String>) { self.roles = roles }

    public func intercept(
        _ request: ByteBuffer, context: CallContext, next: @Sendable (ByteBuffer, CallContext) async throws -> ByteBuffer
    ) async throws -> ByteBuffer {
        guard roles.contains(context.peer.role) || context.method.service == "medicare.v1.Health" else {
            throw RPCError(code: .permissionDenied, message: "\(context.peer.role) '\(context.peer.commonName)' may not call \(context.method.fullName) directly; use the gateway")
        }
        return try await next(request, context)
    }
}
