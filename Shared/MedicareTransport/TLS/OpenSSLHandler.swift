internal import COpenSSL
import MedicareRPC
import NIOCore

/// TLS 1.3 over system OpenSSL, as a channel handler: ciphertext below, plaintext above.
///
/// OpenSSL works on two memory BIOs: bytes read from the socket are fed into one, records
/// OpenSSL produces are taken from the other and written to the socket. The pattern is
/// swift-nio-ssl's `NIOSSLHandler`, on the system's libssl instead of BoringSSL.
///
/// Closing follows RFC 8446 §6.1: close_notify closes only its sender's direction. On a
/// server (`allowHalfClosure`), the peer's close_notify (or its end of the TCP stream) means
/// "no more requests", not "stop answering": reading stops, `ChannelEvent.inputClosed` goes
/// up the pipeline, and writes go on until the handler above closes the channel, which is
/// when our own close_notify is sent. A client answers the peer's close_notify with its own
/// and closes.
///
/// Loop-confined: every method runs on the channel's event loop.
final class OpenSSLHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case idle
        case handshaking
        case active
        /// The peer will send nothing more (its close_notify, or the end of its TCP
        /// stream); we still write until the channel is closed.
        case inputClosed
        case closing
        case closed
    }

    private let tlsContext: TLSContext
    private let serverHostname: String?
    private let allowHalfClosure: Bool
    private var tls: OpaquePointer?
    private var state: State = .idle
    private var bufferedWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    /// Plaintext written since the last flush, encrypted at the flush as one `SSL_write`
    /// (one record per 16 KiB rather than one per frame), and the promises of its writes.
    /// Frames finishing in one event-loop tick are flushed together (`FlushCoalescer`):
    /// a record each cost an `SSL_write`, a buffer and a pipeline write per frame.
    private var unflushed: ByteBuffer?
    private var unflushedPromises: [EventLoopPromise<Void>] = []
    private var handshakeTimer: Scheduled<Void>?
    private static let readChunk = 16 * 1024

    /// - Parameters:
    ///   - serverHostname: for a client, the name (or IP address) the server's certificate
    ///     must carry; nil on a server.
    ///   - allowHalfClosure: whether the peer's close_notify closes only its direction
    ///     (the handler above is told by `ChannelEvent.inputClosed` and closes the channel
    ///     when it has answered), or the whole connection at once. Servers allow it.
    init(context: TLSContext, serverHostname: String?, allowHalfClosure: Bool = false) {
        self.tlsContext = context
        self.serverHostname = serverHostname
        self.allowHalfClosure = allowHalfClosure
    }

    func handlerAdded(context: ChannelHandlerContext) {
        tls = mc_tls_new(tlsContext.raw, tlsContext.isServer ? 1 : 0, serverHostname)
        if tls == nil {
            context.fireErrorCaught(TLSError.configuration("cannot create a TLS session (host name '\(serverHostname ?? "")')"))
            context.close(promise: nil)
            return
        }
        if context.channel.isActive { beginHandshake(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        handshakeTimer?.cancel()
        if let tls { mc_tls_free(tls) }
        tls = nil
        failBufferedWrites(TLSError.closedDuringHandshake, unflushedError: ChannelError.ioOnClosedChannel)
    }

    func channelActive(context: ChannelHandlerContext) {
        beginHandshake(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let wasHandshaking = state == .handshaking || state == .idle
        state = .closed
        handshakeTimer?.cancel()
        failBufferedWrites(TLSError.closedDuringHandshake, unflushedError: ChannelError.ioOnClosedChannel)
        if wasHandshaking { context.fireErrorCaught(TLSError.closedDuringHandshake) }
        context.fireChannelInactive()
    }

    // MARK: inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // After the peer's close_notify nothing it sends is valid; it is dropped.
        guard let tls, state == .handshaking || state == .active || state == .closing else { return }
        let buffer = unwrapInboundIn(data)
        let fed = buffer.withUnsafeReadableBytes { bytes in
            bytes.isEmpty ? 0 : mc_tls_feed(tls, bytes.baseAddress, Int32(bytes.count))
        }
        guard fed >= 0 else {
            fail(context: context, TLSError.protocolError("cannot buffer incoming data"))
            return
        }
        if state == .handshaking { driveHandshake(context: context) }
        if state == .active || state == .closing { readPlaintext(context: context) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        writeCiphertext(context: context, flush: true)
        context.fireChannelReadComplete()
    }

    private func beginHandshake(context: ChannelHandlerContext) {
        guard state == .idle, tls != nil else { return }
        state = .handshaking
        let timeout = tlsContext.handshakeTimeout
        let nanos = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        handshakeTimer = context.eventLoop.scheduleTask(in: .nanoseconds(nanos)) {
            let (handler, context) = loopBound.value
            if handler.state == .handshaking { handler.fail(context: context, TLSError.handshakeTimeout) }
        }
        // A client speaks first; a server waits for the ClientHello.
        if !tlsContext.isServer { driveHandshake(context: context) }
    }

    private func driveHandshake(context: ChannelHandlerContext) {
        guard let tls else { return }
        let result = mc_tls_handshake(tls)
        switch result {
        case Int32(MC_TLS_OK):
            state = .active
            handshakeTimer?.cancel()
            handshakeTimer = nil
            writeCiphertext(context: context, flush: false)
            context.fireUserInboundEventTriggered(TLSHandshakeCompleted(peer: peerIdentity(tls)))
            let writes = bufferedWrites
            bufferedWrites = []
            for (buffer, promise) in writes { encrypt(context: context, buffer, promise: promise) }
            writeCiphertext(context: context, flush: true)
        case Int32(MC_TLS_WANT_READ):
            writeCiphertext(context: context, flush: true)
        default:
            var reason = Self.openSSLErrors()
            let verify = mc_tls_verify_result(tls)
            if verify != 0, let text = mc_tls_verify_string(verify) {
                reason += " (\(String(cString: text)))"
            }
            // Send the alert OpenSSL queued, then close.
            writeCiphertext(context: context, flush: true)
            fail(context: context, TLSError.handshakeFailed(reason))
        }
    }

    private func readPlaintext(context: ChannelHandlerContext) {
        guard let tls else { return }
        while true {
            var status: Int32 = 0
            var buffer = context.channel.allocator.buffer(capacity: Self.readChunk)
            let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.readChunk) { out in
                Int(mc_tls_read(tls, out.baseAddress, Int32(min(out.count, Int(Int32.max))), &status))
            }
            if count > 0 {
                context.fireChannelRead(wrapInboundOut(buffer))
                continue
            }
            switch status {
            case Int32(MC_TLS_WANT_READ):
                return
            case Int32(MC_TLS_CLOSED):
                if state == .active && allowHalfClosure {
                    // The peer sent close_notify: it has finished sending, not listening.
                    peerFinishedSending(context: context)
                    return
                }
                // A client (or a connection already closing): answer it and close, after
                // what was written before (a cancel, a pong).
                encryptUnflushed(context: context)
                guard let tls = self.tls, state != .closed else { return }
                state = .closing
                mc_tls_shutdown(tls)
                writeCiphertext(context: context, flush: true)
                context.close(promise: nil)
                return
            default:
                fail(context: context, TLSError.protocolError(Self.openSSLErrors()))
                return
            }
        }
    }

    /// Stops reading and tells the handlers above; they close the channel once they have
    /// answered what they received.
    private func peerFinishedSending(context: ChannelHandlerContext) {
        state = .inputClosed
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? ChannelEvent, event == .inputClosed else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // The end of the peer's TCP stream (the channel allows remote half-closure).
        switch state {
        case .active where allowHalfClosure:
            // Without close_notify: nothing more can arrive either way. The framing above
            // notices a request cut short.
            peerFinishedSending(context: context)
        case .idle, .handshaking:
            fail(context: context, TLSError.closedDuringHandshake)
        case .active:
            context.close(promise: nil)
        case .inputClosed, .closing, .closed:
            break  // already told, or going away
        }
    }

    // MARK: outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = unwrapOutboundIn(data)
        switch state {
        case .idle, .handshaking:
            bufferedWrites.append((buffer, promise))
        case .active, .inputClosed:
            if unflushed == nil {
                unflushed = buffer
            } else {
                unflushed!.writeImmutableBuffer(buffer)
            }
            if let promise { unflushedPromises.append(promise) }
        case .closing, .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    func flush(context: ChannelHandlerContext) {
        switch state {
        case .active, .inputClosed:
            encryptUnflushed(context: context)
            writeCiphertext(context: context, flush: true)
        case .idle, .handshaking, .closing, .closed:
            break  // writes buffered during the handshake are flushed when it completes
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard state == .active || state == .inputClosed, tls != nil else {
            context.close(mode: mode, promise: promise)
            return
        }
        // Send close_notify after everything already written (what was written before the
        // close and not yet flushed included), and close the socket once it has gone out
        // (socket writes complete in order), or after a grace period when the peer does not read.
        encryptUnflushed(context: context)
        guard state == .active || state == .inputClosed, let tls else {
            context.close(mode: mode, promise: promise)
            return
        }
        state = .closing
        mc_tls_shutdown(tls)
        let written = context.eventLoop.makePromise(of: Void.self)
        writeCiphertext(context: context, flush: true, promise: written)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let grace = context.eventLoop.scheduleTask(in: .seconds(5)) { written.fail(TLSError.protocolError("close_notify not delivered")) }
        written.futureResult.whenComplete { _ in
            grace.cancel()
            loopBound.value.close(mode: mode, promise: promise)
        }
    }

    /// Encrypts the plaintext written since the last flush, if any, completing its writes'
    /// promises once its ciphertext is written.
    private func encryptUnflushed(context: ChannelHandlerContext) {
        guard let buffer = unflushed else { return }
        unflushed = nil
        let promises = unflushedPromises
        unflushedPromises = []
        var promise: EventLoopPromise<Void>?
        if promises.count == 1 {
            promise = promises[0]
        } else if !promises.isEmpty {
            let all = context.eventLoop.makePromise(of: Void.self)
            for each in promises { all.futureResult.cascade(to: each) }
            promise = all
        }
        encrypt(context: context, buffer, promise: promise)
    }

    private func encrypt(context: ChannelHandlerContext, _ buffer: ByteBuffer, promise: EventLoopPromise<Void>?) {
        guard let tls else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let result = buffer.withUnsafeReadableBytes { bytes -> Int32 in
            bytes.isEmpty ? Int32(MC_TLS_OK) : mc_tls_write(tls, bytes.baseAddress, Int32(bytes.count))
        }
        guard result == Int32(MC_TLS_OK) else {
            promise?.fail(TLSError.protocolError(Self.openSSLErrors()))
            fail(context: context, TLSError.protocolError("cannot encrypt outgoing data"))
            return
        }
        writeCiphertext(context: context, flush: false, promise: promise)
    }

    /// Moves whatever OpenSSL has produced to the socket.
    private func writeCiphertext(context: ChannelHandlerContext, flush: Bool, promise: EventLoopPromise<Void>? = nil) {
        guard let tls else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let pending = mc_tls_pending_output(tls)
        if pending > 0 {
            var out = context.channel.allocator.buffer(capacity: pending)
            out.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { raw in
                Int(mc_tls_take_output(tls, raw.baseAddress, Int32(min(raw.count, Int(Int32.max)))))
            }
            context.write(wrapOutboundOut(out), promise: promise)
        } else if let promise {
            promise.succeed()
        }
        if flush { context.flush() }
    }

    // MARK: failure

    private func fail(context: ChannelHandlerContext, _ error: TLSError) {
        guard state != .closed else { return }
        state = .closed
        handshakeTimer?.cancel()
        failBufferedWrites(error)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    /// Fails the writes held back: those waiting for the handshake with `error`, those
    /// waiting for a flush with `unflushedError` (the channel closed under them), or `error`.
    private func failBufferedWrites(_ error: any Error, unflushedError: (any Error)? = nil) {
        let writes = bufferedWrites
        bufferedWrites = []
        for (_, promise) in writes { promise?.fail(error) }
        unflushed = nil
        let promises = unflushedPromises
        unflushedPromises = []
        for promise in promises { promise.fail(unflushedError ?? error) }
    }

    private func peerIdentity(_ tls: OpaquePointer) -> PeerIdentity {
        func field(_ which: Int32) -> String {
            withUnsafeTemporaryAllocation(of: CChar.self, capacity: 256) { out in
                let count = mc_tls_peer_field(tls, which, out.baseAddress, 256)
                guard count >= 0 else { return "" }
                return String(decoding: UnsafeRawBufferPointer(start: out.baseAddress, count: Int(count)), as: UTF8.self)
            }
        }
        return PeerIdentity(
            commonName: field(Int32(MC_FIELD_CN)), department: field(Int32(MC_FIELD_O)),
            role: field(Int32(MC_FIELD_OU)), region: field(Int32(MC_FIELD_ST))
        )
    }

    static func openSSLErrors() -> String {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 1024) { out in
            let count = mc_tls_errors(out.baseAddress, 1024)
            let text = String(decoding: UnsafeRawBufferPointer(start: out.baseAddress, count: count), as: UTF8.self)
            return text.isEmpty ? "unknown OpenSSL error" : text
        }
    }
}
