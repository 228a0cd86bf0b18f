import ArgumentParser
import Foundation
import Histogram
import Logging
import MedicareContracts
import MedicareRPC
import MedicareTransport
import MedicareWire
import Synchronization

/// Unary echo over mutual TLS: this process is the client, `medicare-echo` (started here as
/// a separate process) the server. One connection; for each level of calls in flight, a
/// warm-up, then a measured run printing calls/s, latency percentiles and the server's CPU
/// time per call (from /proc). Build with -c release.
@main
struct RPCBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rpc-bench")

    @Option(help: "Calls in flight, comma separated.") var concurrency = "1,16,64"
    @Option(help: "Warm-up seconds per level.") var warmup = 2.0
    @Option(help: "Measured seconds per level.") var duration = 10.0
    @Option(help: "The server executable (default: medicare-echo beside this one).") var server: String?
    @Option(help: "Certificates folder (default: a new temporary one).") var certs: String?

    func run() async throws {
        var logger = Logger(label: "rpc-bench")
        logger.logLevel = .error
        let certs = self.certs ?? NSTemporaryDirectory() + "rpc-bench-certs-\(getpid())"
        try DevCertificates.ensure(in: certs)
        let serverPath = server ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("medicare-echo").path

        let child = Process()
        child.executableURL = URL(fileURLWithPath: serverPath)
        child.arguments = ["--certs", certs, "--port", "0"]
        let pipe = Pipe()
        child.standardOutput = pipe
        child.standardError = FileHandle.nullDevice
        try child.run()
        defer { child.terminate() }
        var line = ""
        while !line.contains("\n") {
            let data = pipe.fileHandleForReading.availableData
            guard !data.isEmpty else { throw ValidationError("the server exited before listening") }
            line += String(decoding: data, as: UTF8.self)
        }
        guard let port = Int(line.split(separator: "\n")[0].split(separator: ":").last ?? "") else {
            throw ValidationError("cannot read the server's port from '\(line)'")
        }

        let client = try RPCClient(
            configuration: RPCClientConfiguration(host: "127.0.0.1", port: port, serverHostname: "localhost", tls: .devCertificates(in: certs, name: "operator")),
            logger: logger
        )
        let echo = EchoClient(client)
        let request = EchoMessage(
            text: "村卫生室 H33080200101 门诊统筹 甲类药品 阿莫西林胶囊 0.25g*24粒", number: 1_234_567_890,
            blob: Array(repeating: 0x5A, count: 48), tags: ["310", "330802", "H33080200001", "ZA01"], flag: true, ratio: 0.65
        )
        print("rpc-bench: unary echo, \(try request.encodedBytes().count)-byte request and response, one mTLS connection, server pid \(child.processIdentifier)")
        print("in-flight   calls/s    p50 µs    p90 µs    p99 µs  p99.9 µs  server CPU µs/call")
        for level in concurrency.split(separator: ",").compactMap({ Int($0) }) {
            _ = try await Self.load(echo, request, concurrency: level, seconds: warmup)
            let cpuBefore = Self.cpuMicros(pid: child.processIdentifier)
            let (histogram, calls, elapsed) = try await Self.load(echo, request, concurrency: level, seconds: duration)
            let cpu = Self.cpuMicros(pid: child.processIdentifier) - cpuBefore
            print(String(
                format: "%9d %9.0f %9d %9d %9d %9d %19.1f", level, Double(calls) / elapsed,
                histogram.valueAtPercentile(50), histogram.valueAtPercentile(90), histogram.valueAtPercentile(99),
                histogram.valueAtPercentile(99.9), Double(cpu) / Double(calls)
            ))
        }
        await client.close()
    }

    static func load(_ echo: EchoClient, _ request: EchoMessage, concurrency: Int, seconds: Double) async throws -> (Histogram<UInt64>, Int, Double) {
        let start = ContinuousClock.now
        let end = start + .milliseconds(Int64(seconds * 1000))
        let merged = try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
                    while ContinuousClock.now < end {
                        let t0 = ContinuousClock.now
                        _ = try await echo.echo(request)
                        let d = ContinuousClock.now - t0
                        _ = histogram.record(UInt64(d.components.seconds * 1_000_000 + d.components.attoseconds / 1_000_000_000_000))
                    }
                    return histogram
                }
            }
            var total = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
            for try await h in group { total.add(h) }
            return total
        }
        let elapsed = ContinuousClock.now - start
        return (merged, Int(merged.totalCount), Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    /// utime + stime of a process in microseconds, from /proc/PID/stat.
    static func cpuMicros(pid: Int32) -> Int {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // after ")": state is field 3; utime and stime are fields 14 and 15
        let utime = Int(fields[11]) ?? 0, stime = Int(fields[12]) ?? 0
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        return (utime + stime) * 1_000_000 / ticks
    }
}
