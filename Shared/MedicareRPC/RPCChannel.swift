public import MedicareWire
public import NIOCore

/// Something that carries unary calls to a server: a TLS connection, a pool of them, or an
/// in-process router. Generated clients are written against this.
public protocol RPCChannel: Sendable {
    /// Sends one unary call with encoded request bytes and returns the response bytes.
    /// - Throws: ``RPCError`` with the server's status, or a local one (deadline, transport).
    func call(_ method: MethodDescriptor, payload: ByteBuffer, options: CallOptions) async throws(RPCError) -> ByteBuffer
}

extension RPCChannel {
    /// Encodes the request, makes the call and decodes the response.
    @inlinable
    public func unary<Request: WireMessage, Response: WireMessage>(
        _ method: MethodDescriptor,
        request: Request,
        response: Response.Type,
        options: CallOptions = CallOptions()
    ) async throws(RPCError) -> Response {
        let payload: ByteBuffer
        do {
            payload = try request.encoded()
        } catch {
            throw RPCError(code: .invalidArgument, message: "request: \(error)", cause: error)
        }
        let bytes = try await call(method, payload: payload, options: options)
        do {
            return try Response(decoding: bytes)
        } catch {
            throw RPCError(code: .internal, message: "the server's response could not be decoded: \(error)", cause: error)
        }
    }
}
