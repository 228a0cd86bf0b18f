import Foundation
import MedicareContracts
import MedicareRPC
import MedicareTestSupport
import MedicareWire
import Testing

/// Case drain-seconds-not-enforced: with --rpc.drain-seconds 3, a service holding a 30 s
/// call waited the whole 30 s after SIGTERM. After the drain time the calls still running
/// are cancelled (their callers told `unavailable`) and the process exits.
@Suite("Drain time")
struct DrainTimeTests {
    @Test func aServiceStopsWithinItsDrainTimeWhateverItsCallsDo() async throws {
        let service = try await RunningService.start("registry", extra: ["--rpc.drain-seconds", "2"])
        let client = try service.client()
        let echo = EchoClient(client)
        // Connected (TLS and all) before the timed part: under a loaded test run a first call
        // could still be connecting when SIGTERM arrives, and then it is refused instead.
        _ = try await echo.echo(EchoMessage(text: "warm"), options: CallOptions(timeout: .seconds(30)))
        // held far longer than the drain time (and than this test's margin)
        let held = Task { try await echo.echo(EchoMessage(text: "held", delayMillis: 60_000), options: CallOptions(timeout: .seconds(90))) }
        // a short call that finishes within the drain time is answered normally
        let short = Task { try await echo.echo(EchoMessage(text: "short", delayMillis: 800), options: CallOptions(timeout: .seconds(90))) }
        // Both calls in flight on the server before SIGTERM (a fixed sleep lost the race on a
        // loaded run: the process stopped before they arrived and they were refused).
        for _ in 0..<200 {
            let (_, metrics) = try await service.get("/metrics")
            let line = metrics.split(separator: "\n").first { $0.hasPrefix("medicare_rpc_in_flight ") }
            if let value = line?.split(separator: " ").last.flatMap({ Double($0) }), value >= 2 { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        let signalled = ContinuousClock.now
        service.child.signal(SIGTERM)

        let status = try await service.child.wait(timeout: .seconds(40))
        let took = ContinuousClock.now - signalled
        // drain 2 s plus a wide margin, far below the held call's 60 s
        #expect(took < .seconds(15), "stopped \(took) after SIGTERM with drain-seconds 2")
        #expect(took >= .seconds(1), "the drain time is given to calls in flight")
        #expect(status == 0, "stderr: \(service.child.standardError)")
        #expect(try await short.value.text == "short")
        let result = await held.result
        guard case .failure(let failure) = result, let error = failure as? RPCError else {
            Issue.record("the held call should fail, got \(result)")
            return
        }
        #expect(error.code == .unavailable, "\(error)")
        await client.close()
    }
}
