import ArgumentParser
import Foundation
import Histogram
import MedicareFiles
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareTransport
import MedicareWire
import NIOCore
import Synchronization

/// A load generator against the gateway: a mix of settle, review and profile reads at a
/// fixed concurrency or a fixed arrival rate, bounded by count and time, with a live
/// progress line and, at the end, throughput, latency percentiles per operation and errors
/// by code; with `--report PREFIX`, the same as PREFIX.json, the latency distribution as
/// PREFIX.csv (RFC 4180) and a plot of it as PREFIX.svg. At a fixed rate, a call's latency is
/// measured from the moment it was due, not from when it was sent: a server that falls behind
/// shows the wait it caused (no coordinated omission). Expects the demo county (`medicare demo`).
struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Load-test the gateway with settle, review and read calls.")
    @OptionGroup var connection: Connection
    @Option(help: "Calls in flight.") var concurrency = 64
    @Option(help: "Seconds to run.") var duration = 30.0
    @Option(help: "Seconds of load before the measured run, not counted (connections, caches and prepared statements warm up).") var warmup = 0.0
    @Option(help: "Stop after this many calls (0 = no limit).") var count = 0
    @Option(help: "Fixed arrival rate in calls/s (0 = as fast as the concurrency allows).") var rate = 0.0
    @Option(help: "Weights: settle=8,review=1,read=1 (also visit: register, diagnoses, details, settle).") var mix = "settle=8,review=1,read=1"
    @Option(help: "The visit flow's steps each visit takes: 4 is the whole flow; 1 stops after 2201, 2 after 2203, 3 after 2204 (each step's cost is the difference).")
    var visitSteps = 4
    @Option(help: "Insured persons loaded by the demo.") var persons = 2_000
    @Option(help: "Connections to the gateway, as separate callers would open; calls are spread over them.") var connections = 4
    @Option(help: "Event-loop threads for the connections (0 = one per core); one keeps the load generator from crowding a small machine it shares with the stack.") var eventLoops = 1
    @Option(help: "Write the report as PREFIX.json, the latency distribution as PREFIX.csv and its plot as PREFIX.svg.") var report = ""

    /// `settle`: one Gateway/Settle of a whole claim; `review`; `read` (a profile); `visit`:
    /// the national flow, four calls timed as one: 2201 register, 2203 diagnoses, 2204 fee
    /// details, 2207 settle by reference (the operator signed in at every clinic first).
    enum Operation: String, CaseIterable { case settle, review, read, visit }

    final class Stats: Sendable {
        struct State {
            var histograms: [Operation: Histogram<UInt64>] = [:]
            var errors: [String: Int] = [:]
            /// The first message seen for each kind of error, printed with its count.
            var firstMessages: [String: String] = [:]
            var calls = 0
        }
        let state = Mutex(State())
        let claims = Atomic<Int>(0)
        let tickets = Atomic<Int>(0)

        /// `counted`: false for a call that started during the warm-up (a failure is counted whenever it happens).
        func record(_ op: Operation, micros: UInt64, error: RPCError?, counted: Bool = true) {
            guard counted || error != nil else { return }
            state.withLock { s in
                s.calls += 1
                if let error {
                    let kind = "\(op.rawValue) \(error.code)"
                    s.errors[kind, default: 0] += 1
                    if s.firstMessages[kind] == nil { s.firstMessages[kind] = String(error.message.prefix(160)) }
                } else {
                    _ = s.histograms[op, default: Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)].record(micros)
                }
            }
        }
    }

    func run() async throws {
        let weights = try parseMix()
        let concurrency = self.concurrency, rate = self.rate
        // Designated demo clinics (serials above 100; 1-12 are the township centres).
        let clinics = Synthetic(scale: .county).county("330802").designated.filter { Int($0.suffix(5)) ?? 0 > 100 }
        guard connections >= 1 else { throw ValidationError("--connections must be at least 1") }
        guard (1...4).contains(visitSteps) else { throw ValidationError("--visit-steps must be 1-4, got \(visitSteps)") }
        let visitSteps = self.visitSteps
        if eventLoops > 0 { NIOSingletons.groupLoopCountSuggestion = eventLoops }
        let clients = try (0..<connections).map { _ in try connection.client() }
        let stats = Stats()
        // The visit flow's operator, signed in for today at every clinic it visits (9001),
        // before the clock starts, 16 at a time.
        if weights.contains(where: { $0.0 == .visit && $0.1 > 0 }) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (i, clinic) in clinics.enumerated() {
                    if i >= 16 { try await group.next() }
                    let settlement = SettlementClient(clients[i % clients.count])
                    group.addTask {
                        _ = try await settlement.signIn(SignInRequest(fixmedinsCode: clinic, opterNo: Self.operatorNo, opterName: "load"),
                                                        options: CallOptions(timeout: .seconds(30)))
                    }
                }
                try await group.waitForAll()
            }
        }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        let start = ContinuousClock.now
        // Calls that start before `measured` load the stack but are not in the figures.
        let measured = start + .milliseconds(Int64(warmup * 1000))
        let end = measured + .milliseconds(Int64(duration * 1000))
        let limit = count
        let interval = rate > 0 ? Duration.nanoseconds(Int64(1e9 / rate)) : nil
        let persons = self.persons
        // Unique per run, so that a second run settles again instead of replaying the first.
        let runStamp = UInt64(Date().timeIntervalSince1970)
        let keyPrefix = "load-\(runStamp)-"
        // Each run starts where a run a minute earlier would have stopped (250,000 claims a
        // minute at most), so that runs back to back do not settle a person's day twice (the
        // settlement refuses it as R003) or a visit number twice (it answers a replay).
        let offset = Int((runStamp / 60) % UInt64(Self.visitDays.count * persons / 250_000 + 1)) * 250_000

        let progress = Task {
            var last = 0
            while !Task.isCancelled {
                do { try await Task.sleep(for: .seconds(1)) } catch { break }
                let (calls, errors) = stats.state.withLock { ($0.calls, $0.errors.values.reduce(0, +)) }
                let elapsed = Double((ContinuousClock.now - start).components.seconds)
                FileHandle.standardError.write(Data(String(format: "\r%4.0fs  %8d calls  %7d/s  errors %d   ", elapsed, calls, calls - last, errors).utf8))
                last = calls
            }
        }
        // The workers run on the event loops: with one loop (`--event-loops 1`, the default) a
        // call's answer resumes its worker on the thread that read it, instead of waking a
        // thread of Swift's pool and back for every call, and the load generator takes less of
        // a machine it shares with the stack. (With more loops a worker's loop need not be its
        // connection's: one hop, as before.)
        let loops = EventLoopExecutor.eachLoop()
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                let client = clients[worker % clients.count]
                let gateway = GatewayClient(client), supervision = SupervisionClient(client), settlement = SettlementClient(client)
                group.addTask(executorPreference: loops[worker % loops.count]) {
                    while ContinuousClock.now < end {
                        let n = stats.tickets.add(1, ordering: .relaxed).newValue
                        if limit > 0, n > limit { return }
                        var t0 = ContinuousClock.now
                        if let interval {
                            let due = start + interval * n
                            if due > ContinuousClock.now { try? await Task.sleep(until: due, clock: .continuous) }
                            // From when the call was due: a late start is latency the caller saw.
                            t0 = due
                        }
                        let op = Self.pick(weights, n)
                        var failure: RPCError?
                        do {
                            switch op {
                            case .settle:
                                let k = stats.claims.add(1, ordering: .relaxed).newValue + offset
                                let request = Self.claim(k, persons: persons, clinics: clinics, run: runStamp)
                                _ = try await gateway.settle(GatewaySettleRequest(claim: request), options: CallOptions(
                                    timeout: .seconds(10), metadata: [Metadata.idempotencyKey: keyPrefix + String(k)]))
                            case .review:
                                let k = stats.claims.add(1, ordering: .relaxed).newValue
                                _ = try await supervision.review(ReviewRequest(claim: Self.claim(k, persons: persons, clinics: clinics)), options: CallOptions(timeout: .seconds(10)))
                            case .read:
                                _ = try await gateway.getInstitutionProfile(InstitutionProfileRequest(fixmedinsCode: clinics[n % clinics.count], date: "2024-06-01"),
                                                                            options: CallOptions(timeout: .seconds(10)))
                            case .visit:
                                let k = stats.claims.add(1, ordering: .relaxed).newValue + offset
                                try await Self.visit(Self.claim(k, persons: persons, clinics: clinics, run: runStamp), settlement: settlement, gateway: gateway,
                                                     key: keyPrefix + String(k), steps: visitSteps)
                            }
                        } catch {
                            failure = RPCError(mapping: error)
                        }
                        let d = ContinuousClock.now - t0
                        stats.record(op, micros: UInt64(d.components.seconds * 1_000_000 + d.components.attoseconds / 1_000_000_000_000), error: failure,
                                     counted: t0 >= measured)
                    }
                }
            }
        }
        progress.cancel()
        await progress.value
        let elapsed = ContinuousClock.now - measured
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let state = stats.state.withLock { $0 }
        Console.line("\nload: \(concurrency) in flight\(rate > 0 ? ", \(rate)/s arrival" : ""), \(String(format: "%.1f", seconds)) s, \(state.calls) calls"
                     + (warmup > 0 ? " (after \(String(format: "%.1f", warmup)) s of warm-up, not counted)" : ""))
        Console.line("operation        ok     ok/s   p50 ms   p90 ms   p99 ms p99.9 ms")
        for op in Operation.allCases {
            guard let h = state.histograms[op] else { continue }
            func ms(_ p: Double) -> Double { Double(h.valueAtPercentile(p)) / 1000 }
            Console.line(String(format: "%-9@ %9d %8.0f %8.2f %8.2f %8.2f %8.2f", op.rawValue as NSString, h.totalCount, Double(h.totalCount) / seconds, ms(50), ms(90), ms(99), ms(99.9)))
        }
        for (key, n) in state.errors.sorted(by: { $0.key < $1.key }) { Console.line("errors: \(key): \(n) (first: \(state.firstMessages[key] ?? ""))") }
        for client in clients { await client.close() }
        if !report.isEmpty { try writeReport(state, seconds: seconds) }
    }

    /// The percentiles the report's distribution lists.
    static let percentiles: [Double] = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100]

    /// PREFIX.json (the run and its figures), PREFIX.csv (operation, percentile, latency) and
    /// PREFIX.svg (latency against percentile, per operation).
    func writeReport(_ state: Stats.State, seconds: Double) throws {
        var operations: [[String: Any]] = [], rows = [CSVWriter.line(["operation", "percentile", "latency_ms"])]
        var curves: [(String, [(Double, Double)])] = []
        for op in Operation.allCases {
            guard let h = state.histograms[op] else { continue }
            let points = Self.percentiles.map { ($0, Double(h.valueAtPercentile($0)) / 1000) }
            operations.append([
                "operation": op.rawValue, "ok": h.totalCount, "ok_per_second": Double(h.totalCount) / seconds,
                "latency_ms": Dictionary(uniqueKeysWithValues: points.map { (String(format: "p%g", $0.0), $0.1) }),
            ])
            rows += points.map { CSVWriter.line([op.rawValue, String(format: "%g", $0.0), String(format: "%.3f", $0.1)]) }
            curves.append((op.rawValue, points))
        }
        let summary: [String: Any] = [
            "concurrency": concurrency, "rate_per_second": rate, "mix": mix, "connections": connections, "seconds": seconds, "calls": state.calls,
            "latency_from": rate > 0 ? "scheduled time" : "send time", "operations": operations,
            "errors": state.errors.map { ["kind": $0.key, "count": $0.value, "first_message": state.firstMessages[$0.key] ?? ""] as [String: Any] },
        ]
        do {
            try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: report + ".json"))
            try Data(rows.joined().utf8).write(to: URL(fileURLWithPath: report + ".csv"))
            try Data(Self.plot(curves, title: "latency by percentile: \(concurrency) in flight\(rate > 0 ? ", \(rate)/s" : "")").utf8)
                .write(to: URL(fileURLWithPath: report + ".svg"))
        } catch {
            throw fail(ValidationError("cannot write the report \(report).json/.csv/.svg: \((error as NSError).localizedDescription)"))
        }
        Console.line("report: \(report).json, \(report).csv, \(report).svg")
    }

    /// Latency (ms, logarithmic) against percentile (spaced by nines: 0, 90, 99, 99.9, ...),
    /// one line per operation.
    static func plot(_ curves: [(String, [(Double, Double)])], title: String) -> String {
        let width = 760.0, height = 420.0, left = 64.0, right = 120.0, top = 36.0, bottom = 48.0
        func nines(_ p: Double) -> Double { p >= 100 ? 5 : min(5, -log10(max(1e-5, 1 - p / 100))) }
        let maxLatency = max(curves.flatMap { $0.1.map(\.1) }.max() ?? 1, 0.01), minLatency = max(0.01, min(curves.flatMap { $0.1.map(\.1) }.filter { $0 > 0 }.min() ?? 0.01, maxLatency))
        let low = floor(log10(minLatency)), high = ceil(log10(maxLatency)) + (minLatency == maxLatency ? 1 : 0)
        func x(_ p: Double) -> Double { left + (width - left - right) * nines(p) / 5 }
        func y(_ ms: Double) -> Double { top + (height - top - bottom) * (1 - (log10(max(ms, minLatency)) - low) / max(high - low, 1)) }
        let colours = ["#1f6feb", "#2da44e", "#cf222e"]
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">"
        svg += "<text x=\"\(left)\" y=\"20\" font-size=\"14\">\(title)</text>"
        for decade in stride(from: low, through: high, by: 1) {
            let v = pow(10, decade)
            svg += "<line x1=\"\(left)\" y1=\"\(y(v))\" x2=\"\(width - right)\" y2=\"\(y(v))\" stroke=\"#ddd\"/><text x=\"\(left - 6)\" y=\"\(y(v) + 4)\" text-anchor=\"end\">\(String(format: "%g", v)) ms</text>"
        }
        for p in [0.0, 90, 99, 99.9, 99.99] {
            svg += "<line x1=\"\(x(p))\" y1=\"\(top)\" x2=\"\(x(p))\" y2=\"\(height - bottom)\" stroke=\"#eee\"/><text x=\"\(x(p))\" y=\"\(height - bottom + 16)\" text-anchor=\"middle\">p\(String(format: "%g", p))</text>"
        }
        for (i, curve) in curves.enumerated() {
            let colour = colours[i % colours.count]
            let path = curve.1.filter { $0.0 < 100 }.enumerated().map { "\($0.offset == 0 ? "M" : "L")\(x($0.element.0)),\(y($0.element.1))" }.joined(separator: " ")
            svg += "<path d=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"/>"
            svg += "<text x=\"\(width - right + 8)\" y=\"\(top + 16 + Double(i) * 16)\" fill=\"\(colour)\">\(curve.0)</text>"
        }
        return svg + "</svg>\n"
    }

    /// The operator the visit flow signs in (9001) and names on every step.
    static let operatorNo = "LOAD01"

    /// One visit through the national flow: 2201 register (the claim's visit number as the
    /// HIS's ipt_otp_no; the demo's persons numbered i are employees when i is a multiple of
    /// 3), 2203 diagnoses, 2204 the claim's lines as fee details (prescribed by the demo's
    /// DR01), 2207 settle by reference; only the first `steps` of the four.
    static func visit(_ claim: Claim, settlement: SettlementClient, gateway: GatewayClient, key: String, steps: Int = 4) async throws {
        let options = CallOptions(timeout: .seconds(10))
        let person = Int(claim.psnNo.suffix(7)) ?? 0
        let visit = try await settlement.registerVisit(RegisterVisitRequest(
            fixmedinsCode: claim.fixmedinsCode, iptOtpNo: claim.mdtrtID, psnNo: claim.psnNo, insutype: person % 3 == 0 ? .employeeBasic : .residentBasic,
            medType: claim.medType, begntime: claim.visitDate, atddrNo: "DR01", opterNo: operatorNo,
            mdtrtCertType: .socialSecurityCard, mdtrtCertNo: "A" + claim.psnNo
        ), options: options)
        guard steps > 1 else { return }
        _ = try await settlement.uploadDiagnoses(UploadDiagnosesRequest(
            fixmedinsCode: claim.fixmedinsCode, mdtrtID: visit.mdtrtID, diagnoses: ["J06.9"], opterNo: operatorNo), options: options)
        guard steps > 2 else { return }
        _ = try await settlement.uploadFeeDetails(UploadFeeDetailsRequest(
            fixmedinsCode: claim.fixmedinsCode, mdtrtID: visit.mdtrtID,
            details: claim.lines.enumerated().map { i, line in
                FeeDetail(feedetlSn: String(i + 1), medListCodg: line.itemCode, medinsListCodg: "H-" + line.itemCode, cnt: line.quantity, pric: line.unitPrice,
                          bilgDrCodg: "DR01", days: line.days)
            },
            opterNo: operatorNo), options: options)
        guard steps > 3 else { return }
        _ = try await gateway.settle(GatewaySettleRequest(visit: VisitRef(fixmedinsCode: claim.fixmedinsCode, mdtrtID: visit.mdtrtID)),
                                     options: CallOptions(timeout: .seconds(10), metadata: [Metadata.idempotencyKey: key]))
    }

    /// A claim at a designated demo clinic for a person and day no other claim uses, so that
    /// review never sees a duplicate bill.
    static func claim(_ k: Int, persons: Int, clinics: [String], run: UInt64 = 0) -> Claim {
        let day = k / persons
        let person = String(k % persons)
        return Claim(
            mdtrtID: "L\(run)-\(k)", psnNo: "P330802" + String(repeating: "0", count: max(0, 7 - person.count)) + person,
            fixmedinsCode: clinics[k % clinics.count], medType: .generalOutpatient, visitDate: visitDays[day % visitDays.count],
            lines: [FeeLine(itemCode: "001102000050000", quantity: 1, unitPrice: 1000), FeeLine(itemCode: "XJ01CAA040A001010100001", quantity: 20, unitPrice: 50, days: 5)]
        )
    }

    /// From 2024-03-01 (the demo policy's start) to 2025-12-28 (the demo's temporary
    /// integrations end on 2025-12-31, after which their clinics rightly cannot settle) or
    /// yesterday if earlier, 28 days a month: 616 days, with the demo's 2,000 persons 1.2
    /// million claims before a person's day comes round again and settlement rightly refuses
    /// it as a duplicate (R003). A visit is never in the future. Formatted once, not per claim:
    /// the load generator shares the machine with what it measures.
    static let visitDays: [String] = {
        func twoDigits(_ n: Int) -> String { n < 10 ? "0" + String(n) : String(n) }
        let today = CivilDate.today()
        var days: [String] = []
        for year in 2024...2025 {
            for month in (year == 2024 ? 3 : 1)...12 {
                for date in 1...28 where (year, month, date) < (today.year, today.month, today.day) {
                    days.append(String(year) + "-" + twoDigits(month) + "-" + twoDigits(date))
                }
            }
        }
        return days
    }()

    static func pick(_ weights: [(Operation, Int)], _ n: Int) -> Operation {
        let total = weights.reduce(0) { $0 + $1.1 }
        var slot = n % max(total, 1)
        for (op, weight) in weights {
            if slot < weight { return op }
            slot -= weight
        }
        return .settle
    }

    func parseMix() throws -> [(Operation, Int)] {
        try mix.split(separator: ",").map { part in
            let kv = part.split(separator: "=")
            guard kv.count == 2, let op = Operation(rawValue: String(kv[0])), let weight = Int(kv[1]), weight >= 0 else {
                throw ValidationError("--mix entries look like settle=8; got '\(part)'")
            }
            return (op, weight)
        }
    }
}
