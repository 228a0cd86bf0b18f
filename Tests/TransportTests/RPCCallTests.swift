import MedicareContracts
import MedicareRPC
import MedicareTransport
import MedicareWire
import NIOCore
import NIOPosix
import Testing

@Suite("RPC calls over mutual TLS")
struct RPCCallTests {
    @Test func unaryCallCarriesPayloadMetadataAndIdentity() async throws {
        try await withTestServer { server in
            let client = try server.client("township-H33080200001")
            let echo = EchoClient(client)
            let request = EchoMessage(text: "门诊统筹", number: 42, tags: ["甲"])
            let response = try await echo.echo(request, options: CallOptions(metadata: ["trace-id": "t-1", "idempotency-key": "k-1"]))
            #expect(response == request)
            #expect(server.probe.peers.first == PeerIdentity(commonName: "H33080200001", department: "nhc", role: "township-centre", region: "330802"))
            #expect(server.probe.metadata.first?["trace-id"] == "t-1")
            #expect(server.probe.metadata.first?["idempotency-key"] == "k-1")
            await client.close()
        }
    }

    @Test func healthIsAnsweredByEveryServer() async throws {
        try await withTestServer { server in
            let client = try server.client()
            let health = try await HealthClient(client).check(HealthCheckRequest())
            #expect(health.status == .serving)
            #expect(health.server == "test-echo")
            await client.close()
        }
    }

    @Test func manyCallsOnOneConnectionAreAnsweredOutOfOrder() async throws {
        try await withTestServer(maxConcurrentCalls: 256) { server in
            let client = try server.client()
            let echo = EchoClient(client)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<200 {
                    group.addTask {
                        let request = EchoMessage(text: "call \(i)", number: Int64(i), delayMillis: UInt32((200 - i) % 7 * 5))
                        let response = try await echo.echo(request)
                        #expect(response.number == Int64(i) && response.text == "call \(i)")
                    }
                }
                try await group.waitForAll()
            }
            #expect(server.server.connectionCount == 1)
            await client.close()
        }
    }

    @Test func unknownMethodIsUnimplemented() async throws {
        try await withTestServer { server in
            let client = try server.client()
            let error = await #expect(throws: RPCError.self) {
                _ = try await client.unary(
                    MethodDescriptor(service: "medicare.v1.Echo", method: "Shout"), request: EchoMessage(), response: EchoMessage.self
                )
            }
            #expect(error?.code == .unimplemented)
            #expect(error?.message == "method 'medicare.v1.Echo/Shout' is not implemented")
            await client.close()
        }
    }

    @Test func internalErrorsNeverReachThePeer() async throws {
        try await withTestServer { server in
            let client = try server.client()
            let error = await #expect(throws: RPCError.self) { _ = try await EchoClient(client).echo(EchoMessage(text: "fail")) }
            #expect(error?.code == .internal)
            #expect(error?.message == "internal error")
            await client.close()
        }
    }

    @Test func domainErrorsKeepTheirCodeAndMessage() async throws {
        try await withTestServer { server in
            let client = try server.client()
            let error = await #expect(throws: RPCError.self) { _ = try await EchoClient(client).echo(EchoMessage(text: "refuse")) }
            #expect(error?.code == .failedPrecondition)
            #expect(error?.message == "clinic H33080200101 is suspended")
            await client.close()
        }
    }

    @Test func invalidMetadataIsRefusedNamingTheKey() async throws {
        try await withTestServer { server in
            let client = try server.client()
            let error = await #expect(throws: RPCError.self) {
                _ = try await EchoClient(client).echo(EchoMessage(), options: CallOptions(metadata: ["Trace ID": "x"]))
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("'Trace ID'") == true)
            await client.close()
        }
    }

    @Test func deadlineExpiresAndTheServerStopsTheHandler() async throws {
        try await withTestServer { server in
            let client = try server.client()
            // Connected first: a timeout counts from the call, so a slow handshake on a busy
            // machine would otherwise spend it before the request is sent.
            _ = try await EchoClient(client).echo(EchoMessage(text: "connect first"))
            let start = ContinuousClock.now
            let error = await #expect(throws: RPCError.self) {
                _ = try await EchoClient(client).echo(EchoMessage(delayMillis: 10_000), options: CallOptions(timeout: .milliseconds(150)))
            }
            #expect(error?.code == .deadlineExceeded)
            #expect(ContinuousClock.now - start < .seconds(2))
            #expect(await server.probe.eventually { $0.cancelled == 1 })
            #expect(server.probe.finished == 1)  // the connecting call only
            await client.close()
        }
    }

    @Test func eachCallOnOneConnectionExpiresAtItsOwnDeadline() async throws {
        // One deadline timer per connection: a later call with an earlier deadline must re-arm
        // it, and expiring one call must re-arm it for the next.
        try await withTestServer { server in
            let client = try server.client()
            let echo = EchoClient(client)
            _ = try await echo.echo(EchoMessage(text: "connect first"))
            // Each call's time counts from its own start (a task may start late on a busy
            // machine): the error and how long after the call it came.
            @Sendable func timed(_ timeout: Duration) async -> (RPCError?, Duration) {
                let began = ContinuousClock.now
                do {
                    _ = try await echo.echo(EchoMessage(delayMillis: 10_000), options: CallOptions(timeout: timeout))
                    return (nil, ContinuousClock.now - began)
                } catch {
                    return (error as? RPCError, ContinuousClock.now - began)
                }
            }
            // The slow deadline is far from the fast one, so that a machine busy with other
            // suites (a stall of a second or two) cannot blur which deadline ended which call.
            let slow = Task { await timed(.seconds(3)) }
            try await Task.sleep(for: .milliseconds(50))
            let fast = Task { await timed(.milliseconds(200)) }
            async let answered = echo.echo(EchoMessage(text: "ok", delayMillis: 100), options: CallOptions(timeout: .seconds(5)))
            #expect(try await answered.text == "ok")
            let (fastError, fastAfter) = await fast.value
            let (slowError, slowAfter) = await slow.value
            #expect(fastError?.code == .deadlineExceeded && slowError?.code == .deadlineExceeded)
            // The fast call expires at its own deadline, not at the slow call's (3 s).
            #expect(fastAfter >= .milliseconds(200) && fastAfter < .milliseconds(2_500), "\(fastAfter)")
            #expect(slowAfter >= .seconds(3) && slowAfter < .seconds(6), "\(slowAfter)")
            #expect(await server.probe.eventually { $0.cancelled == 2 })
            await client.close()
        }
    }

    @Test func cancellingTheCallerCancelsTheHandler() async throws {
        try await withTestServer { server in
            let client = try server.client()
            let echo = EchoClient(client)
            let task = Task { try await echo.echo(EchoMessage(delayMillis: 10_000)) }
            #expect(await server.probe.eventually { $0.started == 1 })
            task.cancel()
            let result = await task.result
            #expect(throws: RPCError.self) { try result.get() }
            #expect((try? result.get()) == nil)
            if case .failure(let error as RPCError) = result { #expect(error.code == .cancelled) }
            #expect(await server.probe.eventually { $0.cancelled == 1 })
            // The connection stays usable.
            #expect(try await echo.echo(EchoMessage(text: "after")).text == "after")
            await client.close()
        }
    }

    @Test func callsBeyondTheInFlightLimitAreRefused() async throws {
        try await withTestServer(maxConcurrentCalls: 2) { server in
            let client = try server.client()
            let echo = EchoClient(client)
            // The two calls hold their slots far longer than a busy machine could stall (they
            // are cancelled once the third is refused), so the third always finds both taken.
            let slow = (0..<2).map { i in Task { try await echo.echo(EchoMessage(number: Int64(i), delayMillis: 10_000)) } }
            #expect(await server.probe.eventually { $0.started == 2 })
            let error = await #expect(throws: RPCError.self) { _ = try await echo.echo(EchoMessage(number: 3)) }
            #expect(error?.code == .resourceExhausted)
            #expect(error?.message == "too many calls in flight on this connection (limit 2)")
            for task in slow { task.cancel() }
            for task in slow { _ = await task.result }
            // Their slots are free again once the server has seen them cancelled (the slot is
            // released just after the handler notices: a refusal in between is retried).
            #expect(await server.probe.eventually { $0.cancelled == 2 })
            var fourth: EchoMessage?
            for _ in 0..<100 where fourth == nil {
                do {
                    fourth = try await echo.echo(EchoMessage(number: 4))
                } catch let error as RPCError where error.code == .resourceExhausted {
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            #expect(fourth?.number == 4)
            await client.close()
        }
    }

    @Test func oversizedFrameClosesTheConnectionButNotTheServer() async throws {
        try await withTestServer(maxFrameSize: 1024) { server in
            let client = try server.client(maxFrameSize: 1 << 20)
            let echo = EchoClient(client)
            let error = await #expect(throws: RPCError.self) { _ = try await echo.echo(EchoMessage(blob: Array(repeating: 1, count: 4096))) }
            #expect(error?.code == .resourceExhausted)
            #expect(error?.message.contains("exceeds the limit of 1024 bytes") == true, "\(String(describing: error))")
            // A new connection is made and served.
            #expect(try await echo.echo(EchoMessage(text: "small")).text == "small")
            await client.close()
        }
    }

    @Test func requestLargerThanTheClientLimitIsRefusedLocally() async throws {
        try await withTestServer { server in
            let client = try server.client(maxFrameSize: 1024)
            let error = await #expect(throws: RPCError.self) {
                _ = try await EchoClient(client).echo(EchoMessage(blob: Array(repeating: 1, count: 4096)))
            }
            #expect(error?.code == .resourceExhausted)
            #expect(server.probe.started == 0)
            await client.close()
        }
    }

    @Test func gracefulShutdownFinishesCallsInFlight() async throws {
        let server = try await TestServer.start()
        let client = try server.client()
        let echo = EchoClient(client)
        let inFlight = (0..<5).map { i in Task { try await echo.echo(EchoMessage(number: Int64(i), delayMillis: 300)) } }
        #expect(await server.probe.eventually { $0.started == 5 })
        let running = Task { try await server.server.run() }
        await server.stop()
        for (i, task) in inFlight.enumerated() { #expect(try await task.value.number == Int64(i)) }
        try await running.value
        let error = await #expect(throws: RPCError.self) { _ = try await echo.echo(EchoMessage()) }
        #expect(error?.code == .unavailable)
        await client.close()
    }

    @Test func clientReconnectsAfterTheServerComesBack() async throws {
        let first = try await TestServer.start()
        let port = first.port
        let client = try first.client()
        let echo = EchoClient(client)
        #expect(try await echo.echo(EchoMessage(number: 1)).number == 1)
        await first.stop()
        let error = await #expect(throws: RPCError.self) { _ = try await echo.echo(EchoMessage()) }
        #expect(error?.code == .unavailable)

        var router = RPCRouter()
        EchoProvider().register(with: &router)
        // The port may be taken back only moments later: under the whole suite (PostgreSQL's
        // stack tests beside it) the first bind once failed with EADDRINUSE.
        var restarted: RPCServer?
        for attempt in 0..<50 where restarted == nil {
            if attempt > 0 { try await Task.sleep(for: .milliseconds(100)) }
            restarted = try? await RPCServer.start(
                configuration: RPCServerConfiguration(port: port, tls: TestPKI.tls("echo")), router: router, logger: .init(label: "test")
            )
        }
        let second = try #require(restarted)
        var answered = false
        for _ in 0..<50 where !answered {
            answered = (try? await echo.echo(EchoMessage(number: 2)))?.number == 2
            if !answered { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(answered)
        await client.close()
        await second.shutdownGracefully()
    }

    @Test(arguments: ["expired", "rogue"])
    func refusedClientCertificatesCannotCall(name: String) async throws {
        try await withTestServer { server in
            let client = try server.client(name)
            let error = await #expect(throws: RPCError.self) { _ = try await EchoClient(client).echo(EchoMessage()) }
            #expect(error?.code == .unavailable)
            #expect(error?.message.contains("alert") == true, "\(String(describing: error))")
            #expect(server.probe.started == 0)
            await client.close()
        }
    }

    @Test func smallRequestsRunOnTheLoopAndLargeOnesElsewhere() async throws {
        try await withTestServer { server in
            let client = try server.client()
            _ = try await EchoClient(client).echo(EchoMessage(text: "small"))
            _ = try await EchoClient(client).echo(EchoMessage(text: String(repeating: "x", count: 100_000)))
            #expect(server.probe.onLoop == [true, false])
            await client.close()
        }
    }

    @Test func aSilentPeerFailsTheHandshakeAndCallsStopAtTheirDeadline() async throws {
        // Accepts TCP connections and never answers: no TLS handshake can finish.
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        var tls = TestPKI.tls("operator")
        // Far apart, so that a loaded machine cannot blur them: the call's 100 ms deadline
        // against a 5 s handshake bound (a 500 ms bound against 600 ms failed a clean CI run).
        tls.handshakeTimeout = .seconds(5)
        let client = try RPCClient(configuration: RPCClientConfiguration(host: "127.0.0.1", port: silent.localAddress!.port!, tls: tls))
        // A call with a deadline stops waiting for the connection at it.
        let start = ContinuousClock.now
        let bounded = await #expect(throws: RPCError.self) {
            _ = try await EchoClient(client).echo(EchoMessage(), options: CallOptions(timeout: .milliseconds(100)))
        }
        #expect(bounded?.code == .deadlineExceeded, "\(String(describing: bounded))")
        #expect(ContinuousClock.now - start < .seconds(3))
        // One without a deadline waits for the handshake bound (`tls.handshakeTimeout`).
        let unbounded = await #expect(throws: RPCError.self) { _ = try await EchoClient(client).echo(EchoMessage()) }
        #expect(unbounded?.code == .unavailable && unbounded?.message.contains("handshake timed out") == true, "\(String(describing: unbounded))")
        #expect(ContinuousClock.now - start < .seconds(20))
        await client.close()
        try await silent.close()
    }

    @Test func serverWithTheWrongNameIsRefused() async throws {
        try await withTestServer { server in
            let client = try server.client(serverHostname: "registry.example")
            let error = await #expect(throws: RPCError.self) { _ = try await EchoClient(client).echo(EchoMessage()) }
            #expect(error?.code == .unavailable)
            #expect(error?.message.contains("hostname mismatch") == true, "\(String(describing: error))")
            await client.close()
        }
    }
}

@Suite("In-process channel")
struct InProcessChannelTests {
    @Test func callsGoThroughTheCodecAndKeepTheirDeadline() async throws {
        let probe = HandlerProbe()
        var router = RPCRouter()
        ProbedEcho(probe: probe).register(with: &router)
        let channel = InProcessChannel(router: router, peer: PeerIdentity(commonName: "ops", role: "operator"))
        let echo = EchoClient(channel)
        #expect(try await echo.echo(EchoMessage(text: "x")).text == "x")
        #expect(probe.peers.first?.commonName == "ops")
        let error = await #expect(throws: RPCError.self) {
            _ = try await echo.echo(EchoMessage(delayMillis: 5_000), options: CallOptions(timeout: .milliseconds(50)))
        }
        #expect(error?.code == .deadlineExceeded)
        #expect(await probe.eventually { $0.cancelled == 1 })
        let unknown = await #expect(throws: RPCError.self) {
            _ = try await channel.unary(MethodDescriptor(service: "x.Y", method: "Z"), request: EchoMessage(), response: EchoMessage.self)
        }
        #expect(unknown?.code == .unimplemented)
    }
}
