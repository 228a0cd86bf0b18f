import COpenSSL
import Foundation
import Logging
import MedicareContracts
import MedicareRPC
@testable import MedicareTransport
import MedicareWire
import NIOCore
import Testing

/// A TLS 1.3 client on a blocking socket, driven step by step the way
/// `cases/tls-half-close-drops-answer/halfclose.c` does: it writes its requests, sends its
/// close_notify with SSL_shutdown (it will send nothing more) and keeps reading.
private final class HalfClosingClient {
    enum Failure: Error, CustomStringConvertible {
        case setup(String)
        case io(String)
        var description: String {
            switch self {
            case .setup(let s): "setup: \(s)"
            case .io(let s): "io: \(s)"
            }
        }
    }

    private let fd: Int32
    private let tls: OpaquePointer
    private let context: TLSContext
    private var plaintext: [UInt8] = []
    /// Set when the server's close_notify has arrived.
    private(set) var peerClosed = false

    init(port: Int, certificate: String = "operator") throws {
        context = try TLSContext(configuration: TestPKI.tls(certificate), isServer: false)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure.setup("socket") }
        self.fd = fd
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0, let tls = mc_tls_new(context.raw, 0, "127.0.0.1") else {
            close(fd)
            throw Failure.setup("connect")
        }
        self.tls = tls
        while true {
            let result = mc_tls_handshake(tls)
            try flushOutput()
            if result == Int32(MC_TLS_OK) { break }
            guard result == Int32(MC_TLS_WANT_READ) else { throw Failure.setup("handshake: \(OpenSSLHandler.openSSLErrors())") }
            guard try receive() else { throw Failure.setup("closed during the handshake") }
        }
    }

    deinit {
        mc_tls_free(tls)
        close(fd)
    }

    func send(_ frame: Frame) throws {
        let bytes = try FrameCodec.encode(frame, allocator: ByteBufferAllocator())
        let result = bytes.withUnsafeReadableBytes { mc_tls_write(tls, $0.baseAddress, Int32($0.count)) }
        guard result == Int32(MC_TLS_OK) else { throw Failure.io("write") }
        try flushOutput()
    }

    /// SSL_shutdown: our close_notify. The socket stays open for reading.
    func sendCloseNotify() throws {
        mc_tls_shutdown(tls)
        try flushOutput()
    }

    /// The next frame, or nil once the server has sent close_notify (or closed) instead.
    func readFrame() throws -> Frame? {
        guard let header = try read(4) else { return nil }
        let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        guard let body = try read(length) else { throw Failure.io("closed in the middle of a frame") }
        return try Frame(decoding: body)
    }

    private func read(_ count: Int) throws -> [UInt8]? {
        while plaintext.count < count {
            if peerClosed { return nil }
            var status: Int32 = 0
            var chunk = [UInt8](repeating: 0, count: 16 * 1024)
            let n = chunk.withUnsafeMutableBytes { mc_tls_read(tls, $0.baseAddress, Int32($0.count), &status) }
            if n > 0 {
                plaintext += chunk[..<Int(n)]
            } else if status == Int32(MC_TLS_CLOSED) {
                peerClosed = true
            } else if status == Int32(MC_TLS_WANT_READ) {
                if try !receive() { peerClosed = true }
            } else {
                throw Failure.io("TLS read: \(OpenSSLHandler.openSSLErrors())")
            }
        }
        defer { plaintext.removeFirst(count) }
        return Array(plaintext[..<count])
    }

    /// Feeds what the socket has to OpenSSL; false at the end of the stream.
    private func receive() throws -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { return false }
        guard n > 0 else { throw Failure.io("recv errno \(errno) (no answer in time)") }
        _ = buffer.withUnsafeBytes { mc_tls_feed(tls, $0.baseAddress, Int32(n)) }
        return true
    }

    private func flushOutput() throws {
        while mc_tls_pending_output(tls) > 0 {
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            let n = buffer.withUnsafeMutableBytes { Int(mc_tls_take_output(tls, $0.baseAddress, Int32($0.count))) }
            var sent = 0
            while sent < n {
                let m = buffer[sent..<n].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard m > 0 else { throw Failure.io("send errno \(errno)") }
                sent += m
            }
        }
    }
}

/// Runs blocking socket work on its own thread, off the cooperative pool.
private func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}

private func request(_ id: UInt64, _ method: MethodDescriptor, _ message: some WireMessage, timeout: Duration = .seconds(20)) throws -> Frame {
    var frame = Frame(callID: id, kind: .request, method: method.fullName)
    frame.timeoutMicros = UInt64(timeout.components.seconds) * 1_000_000
    frame.payload = try message.encodedBytes()
    return frame
}

/// Case tls-half-close-drops-answer: RFC 8446 §6.1, close_notify closes only its sender's
/// direction. A client that sends its request and then close_notify must still get the
/// answer, followed by the server's own close_notify.
@Suite("TLS half-close")
struct TLSHalfCloseTests {
    @Test func requestThenCloseNotifyIsAnsweredThenClosed() async throws {
        try await withTestServer { server in
            let port = server.port
            let (health, echo, closedAfter) = try await onThread { () throws -> (Frame?, Frame?, Bool) in
                let client = try HalfClosingClient(port: port)
                try client.send(request(1, HealthMethods.check, HealthCheckRequest()))
                try client.send(request(2, EchoMethods.echo, EchoMessage(text: "after close_notify", delayMillis: 300)))
                try client.sendCloseNotify()
                var answers: [UInt64: Frame] = [:]
                while answers.count < 2, let frame = try client.readFrame() { answers[frame.callID] = frame }
                let closed = try client.readFrame() == nil && client.peerClosed
                return (answers[1], answers[2], closed)
            }
            #expect(health?.kind == .response && health?.statusCode == .ok, "\(String(describing: health))")
            #expect(try health.map { try HealthCheckResponse(decoding: $0.payload).status } == .serving)
            #expect(echo?.kind == .response && echo?.statusCode == .ok, "\(String(describing: echo))")
            #expect(try echo.map { try EchoMessage(decoding: $0.payload).text } == "after close_notify")
            #expect(closedAfter, "the server sends its close_notify once it has answered")
            #expect(server.probe.finished == 1 && server.probe.cancelled == 0)
            #expect(await server.probe.eventually { _ in server.server.connectionCount == 0 })
        }
    }

    @Test func everyAttemptOfTheCaseIsAnswered() async throws {
        // halfclose.c's exact sequence, three times: Health/Check, then close_notify at once.
        try await withTestServer { server in
            let port = server.port
            for _ in 0..<3 {
                let answer = try await onThread { () throws -> Frame? in
                    let client = try HalfClosingClient(port: port)
                    try client.send(request(1, HealthMethods.check, HealthCheckRequest(), timeout: .seconds(10)))
                    try client.sendCloseNotify()
                    return try client.readFrame()
                }
                #expect(answer?.callID == 1 && answer?.kind == .response && answer?.statusCode == .ok)
            }
        }
    }

    @Test func callsAfterCloseNotifyAreBoundedByTheDrainTime() async throws {
        let probe = HandlerProbe()
        var router = RPCRouter()
        ProbedEcho(probe: probe).register(with: &router)
        var logger = Logger(label: "test.server")
        logger.logLevel = .critical
        let server = try await RPCServer.start(
            configuration: RPCServerConfiguration(port: 0, tls: TestPKI.tls("echo"), drainTimeout: .seconds(1), serverName: "drain"),
            router: router, logger: logger
        )
        let port = server.localAddress.port!
        let start = ContinuousClock.now
        let (answer, closed) = try await onThread { () throws -> (Frame?, Bool) in
            let client = try HalfClosingClient(port: port)
            try client.send(request(1, EchoMethods.echo, EchoMessage(text: "slow", delayMillis: 30_000), timeout: .seconds(60)))
            Thread.sleep(forTimeInterval: 0.2)
            try client.sendCloseNotify()
            let answer = try client.readFrame()
            return (answer, try client.readFrame() == nil)
        }
        let elapsed = ContinuousClock.now - start
        #expect(answer?.callID == 1 && answer?.statusCode == .unavailable, "\(String(describing: answer))")
        #expect(closed)
        #expect(elapsed < .seconds(15), "answered after \(elapsed), not at the drain bound")
        #expect(await probe.eventually { $0.cancelled == 1 })
        await server.shutdownGracefully(timeout: .seconds(5))
    }
}
