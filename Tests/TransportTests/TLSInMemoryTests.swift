import MedicareRPC
@testable import MedicareTransport
import NIOCore
import NIOEmbedded
import Testing

/// Records what the TLS handler passes up.
private final class Recorder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var peer: PeerIdentity?
    var errors: [any Error] = []
    var received: [UInt8] = []

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSHandshakeCompleted { peer = event.peer }
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { errors.append(error) }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += Array(unwrapInboundIn(data).readableBytesView)
    }
    var failure: String { errors.map { "\($0)" }.joined(separator: " | ") }
}

/// A client and a server TLS handler on embedded channels, bytes shuttled between them.
private struct Pair {
    let client = EmbeddedChannel()
    let server = EmbeddedChannel()
    let clientRecorder = Recorder()
    let serverRecorder = Recorder()

    init(client clientName: String, server serverName: String = "echo", expecting host: String = "localhost", clientTrust: String? = nil) throws {
        var clientTLS = TestPKI.tls(clientName)
        if let clientTrust { clientTLS.trustRootsPath = clientTrust }
        let clientContext = try TLSContext(configuration: clientTLS, isServer: false)
        let serverContext = try TLSContext(configuration: TestPKI.tls(serverName), isServer: true)
        try client.pipeline.syncOperations.addHandlers(OpenSSLHandler(context: clientContext, serverHostname: host), clientRecorder)
        try server.pipeline.syncOperations.addHandlers(OpenSSLHandler(context: serverContext, serverHostname: nil), serverRecorder)
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        try server.connect(to: address).wait()
        try client.connect(to: address).wait()
    }

    /// Moves bytes both ways until neither side has anything to send.
    func shuttle() throws {
        var moved = true
        while moved {
            moved = false
            while let bytes = try client.readOutbound(as: ByteBuffer.self) {
                moved = true
                if server.isActive { _ = try? server.writeInbound(bytes) }
            }
            while let bytes = try server.readOutbound(as: ByteBuffer.self) {
                moved = true
                if client.isActive { _ = try? client.writeInbound(bytes) }
            }
        }
    }
}

@Suite("TLS in memory")
struct TLSInMemoryTests {
    @Test func mutualHandshakeRevealsBothIdentitiesAndCarriesData() throws {
        let pair = try Pair(client: "clinic-H33080200101")
        try pair.shuttle()
        #expect(pair.serverRecorder.peer == PeerIdentity(commonName: "H33080200101", department: "nhc", role: "clinic", region: "330802"))
        #expect(pair.clientRecorder.peer?.commonName == "echo")
        #expect(pair.clientRecorder.errors.isEmpty && pair.serverRecorder.errors.isEmpty)

        try pair.client.writeAndFlush(ByteBuffer(string: "村卫生室")).wait()
        try pair.shuttle()
        #expect(pair.serverRecorder.received == Array("村卫生室".utf8))
        try pair.server.writeAndFlush(ByteBuffer(bytes: [0, 1, 2])).wait()
        try pair.shuttle()
        #expect(pair.clientRecorder.received == [0, 1, 2])
    }

    @Test func writesBeforeTheHandshakeAreSentAfterIt() throws {
        let pair = try Pair(client: "operator")
        pair.client.writeAndFlush(ByteBuffer(string: "early"), promise: nil)
        try pair.shuttle()
        #expect(pair.serverRecorder.received == Array("early".utf8))
    }

    /// Frames written in one tick are encrypted together at the flush: one socket write, not
    /// one record and write each; nothing leaves before the flush, and every write's promise
    /// completes once the ciphertext is written.
    @Test func writesBeforeOneFlushLeaveAsOneWriteInOrder() throws {
        let pair = try Pair(client: "operator")
        try pair.shuttle()
        let promises = ["甲", "bb", "ccc"].map { text in
            let promise = pair.client.eventLoop.makePromise(of: Void.self)
            pair.client.write(ByteBuffer(string: text), promise: promise)
            return promise
        }
        #expect(try pair.client.readOutbound(as: ByteBuffer.self) == nil)
        pair.client.flush()
        let written = try #require(try pair.client.readOutbound(as: ByteBuffer.self))
        #expect(try pair.client.readOutbound(as: ByteBuffer.self) == nil)
        for promise in promises { try promise.futureResult.wait() }
        try pair.server.writeInbound(written)
        #expect(pair.serverRecorder.received == Array("甲bbccc".utf8))
    }

    /// A close after writes not yet flushed sends them before its close_notify.
    @Test func writesNotYetFlushedGoOutBeforeTheClose() throws {
        let pair = try Pair(client: "operator")
        try pair.shuttle()
        pair.server.write(ByteBuffer(string: "last answer"), promise: nil)
        pair.server.close(promise: nil)
        try pair.shuttle()
        #expect(pair.clientRecorder.received == Array("last answer".utf8))
    }

    /// A write still waiting for its flush when the connection goes away fails as a write on
    /// a closed channel.
    @Test func aWriteNotYetFlushedFailsWhenTheConnectionGoesAway() throws {
        let pair = try Pair(client: "operator")
        try pair.shuttle()
        let promise = pair.client.eventLoop.makePromise(of: Void.self)
        pair.client.write(ByteBuffer(string: "never sent"), promise: promise)
        pair.client.pipeline.fireChannelInactive()
        #expect(throws: ChannelError.ioOnClosedChannel) { try promise.futureResult.wait() }
    }

    @Test func expiredClientCertificateIsRefused() throws {
        let pair = try Pair(client: "expired")
        try pair.shuttle()
        #expect(pair.serverRecorder.peer == nil)
        #expect(pair.serverRecorder.failure.contains("certificate has expired"), "\(pair.serverRecorder.failure)")
        #expect(!pair.server.isActive)
    }

    @Test func clientFromAnotherCAIsRefused() throws {
        let pair = try Pair(client: "rogue")
        try pair.shuttle()
        #expect(pair.serverRecorder.peer == nil)
        #expect(pair.serverRecorder.failure.contains("certificate verify failed"), "\(pair.serverRecorder.failure)")
    }

    @Test func serverWithTheWrongHostNameIsRefused() throws {
        let pair = try Pair(client: "operator", expecting: "settlement.example")
        try pair.shuttle()
        #expect(pair.clientRecorder.peer == nil)
        #expect(pair.clientRecorder.failure.contains("hostname mismatch"), "\(pair.clientRecorder.failure)")
        #expect(pair.serverRecorder.peer == nil)
    }

    @Test func serverFromAnUntrustedCAIsRefused() throws {
        let pair = try Pair(client: "operator", clientTrust: "\(TestPKI.folder)/rogue-ca.pem")
        try pair.shuttle()
        #expect(pair.clientRecorder.peer == nil)
        #expect(pair.clientRecorder.failure.contains("certificate verify failed"), "\(pair.clientRecorder.failure)")
    }

    @Test func handshakeThatNeverFinishesTimesOut() throws {
        let context = try TLSContext(configuration: TestPKI.tls("echo"), isServer: true)
        let server = EmbeddedChannel()
        let recorder = Recorder()
        try server.pipeline.syncOperations.addHandlers(OpenSSLHandler(context: context, serverHostname: nil), recorder)
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        server.embeddedEventLoop.advanceTime(by: .seconds(11))
        #expect(recorder.errors.contains { ($0 as? TLSError) == .handshakeTimeout })
        #expect(!server.isActive)
    }

    @Test func missingFilesAreAConfigurationError() {
        var tls = TestPKI.tls("operator")
        tls.privateKeyPath = "/nonexistent/operator.key"
        #expect(throws: TLSError.configuration("cannot read the private key file '/nonexistent/operator.key'")) {
            try TLSContext(configuration: tls, isServer: false)
        }
    }

    @Test func mismatchedKeyIsAConfigurationError() throws {
        var tls = TestPKI.tls("operator")
        tls.privateKeyPath = "\(TestPKI.folder)/registry.key"
        #expect {
            try TLSContext(configuration: tls, isServer: false)
        } throws: { error in
            "\(error)".contains("mismatch")
        }
    }
}
