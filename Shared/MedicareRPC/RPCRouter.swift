import Logging
public import MedicareWire
public import NIOCore

/// Methods by full name, each a typed handler behind a bytes-in, bytes-out closure.
///
/// Built once at start-up, then shared read-only by every connection.
public struct RPCRouter: Sendable {
    /// A method's bytes-in, bytes-out implementation.
    public typealias Handler = @Sendable (ByteBuffer, CallContext) async throws -> ByteBuffer

    /// One registered method.
    public struct Route: Sendable {
        /// The method the route serves.
        public let method: MethodDescriptor
        let handler: Handler
    }

    private var routes: [String: Route] = [:]
    private var interceptors: [any RPCInterceptor] = []

    /// An empty router: no methods, no interceptors.
    public init() {}

    /// Registers a typed unary handler. The request is decoded (bad bytes become
    /// `invalidArgument` naming the field) and the response encoded around it.
    public mutating func register<Request: WireMessage, Response: WireMessage>(
        _ method: MethodDescriptor,
        request: Request.Type,
        response: Response.Type,
        handler: @escaping @Sendable (Request, CallContext) async throws -> Response
    ) {
        routes[method.fullName] = Route(method: method) { bytes, context in
            let request: Request
            do {
                request = try Request(decoding: bytes)
            } catch {
                throw RPCError(code: .invalidArgument, message: "request: \(error)", cause: error)
            }
            let response = try await handler(request, context)
            do {
                return try response.encoded()
            } catch {
                // A response we cannot encode is our defect, not the caller's.
                throw RPCError(code: .internal, message: "internal error", cause: error)
            }
        }
    }

    /// Registers a handler of raw bytes (a proxy that forwards without decoding).
    public mutating func register(_ method: MethodDescriptor, raw handler: @escaping Handler) {
        routes[method.fullName] = Route(method: method, handler: handler)
    }

    /// Adds an interceptor around every method; the first added runs outermost.
    public mutating func intercept(with interceptor: some RPCInterceptor) {
        interceptors.append(interceptor)
    }

    /// The route for a full name (`service/method`), or nil when none is registered.
    public func route(for fullName: String) -> Route? { routes[fullName] }

    /// Every registered method, sorted by full name.
    public var methods: [MethodDescriptor] { routes.values.map(\.method).sorted { $0.fullName < $1.fullName } }

    /// Runs a route through the interceptors and maps whatever it throws to a peer-safe
    /// status; internal causes are logged here and go no further.
    public func dispatch(_ route: Route, payload: ByteBuffer, context: CallContext) async -> Result<ByteBuffer, RPCError> {
        do {
            return .success(try await Self.run(route.handler, interceptors[...], payload, context))
        } catch {
            let mapped = RPCError(mapping: error)
            if mapped.code == .internal || mapped.code == .unknown {
                context.logger.error("handler failed", metadata: ["rpc.error": "\(String(describing: error))"])
            } else {
                context.logger.debug("handler refused", metadata: ["rpc.code": "\(mapped.code)"])
            }
            return .failure(mapped)
        }
    }

    private static func run(
        _ handler: @escaping Handler, _ interceptors: ArraySlice<any RPCInterceptor>, _ payload: ByteBuffer,
        _ context: CallContext
    ) async throws -> ByteBuffer {
        guard let first = interceptors.first else { return try await handler(payload, context) }
        let rest = interceptors.dropFirst()
        return try await first.intercept(payload, context: context) { payload, context in
            try await run(handler, rest, payload, context)
        }
    }
}

/// Middleware around every call: authorization, metrics, logging.
public protocol RPCInterceptor: Sendable {
    /// Handles one call: may refuse it (throw) or pass it on through `next`, possibly with a
    /// changed payload or context.
    func intercept(
        _ request: ByteBuffer,
        context: CallContext,
        next: @Sendable (ByteBuffer, CallContext) async throws -> ByteBuffer
    ) async throws -> ByteBuffer
}
