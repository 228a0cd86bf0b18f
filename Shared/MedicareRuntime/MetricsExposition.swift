import Foundation
import MedicareRPC
import Prometheus

/// What `/metrics` answers: the registry's metrics, each family with its `# HELP` line (swift-
/// metrics has no help text, so it is added here from ``help``), then the process's own
/// (CPU, memory, descriptors, start time, from `/proc`) and `medicare_build_info`. A test runs
/// `promtool check metrics` on every service's answer.
enum MetricsExposition {
    /// Each family's help, by name (a service's audit relay families are `medicare_<service>_audit_*`).
    static let help: [String: String] = [
        "medicare_rpc_calls_total": "Calls served, by method and status code.",
        "medicare_rpc_duration_seconds": "Time to serve a call, from its arrival to its answer, by method.",
        "medicare_rpc_in_flight": "Calls being served now, by method.",
        "medicare_store_batch_size": "Transactions committed together in one group commit.",
        "medicare_store_commit_seconds": "Time to commit one group of transactions.",
        "medicare_store_sync_seconds": "Time to make one commit durable (fsync of the write-ahead log).",
        "medicare_store_checkpoint_seconds": "Time of one write-ahead-log checkpoint.",
        "medicare_store_unavailable": "1 while the store cannot be used (a full disk, failing storage, an unreachable database), by kind.",
        "medicare_store_unavailable_total": "Times the store became unavailable, by kind.",
        "medicare_settlement_batch_size": "Settlements posted together in one batch.",
        "medicare_gateway_settle_stage_seconds": "Time of each stage of a settle through the gateway (route, review, settle).",
        "medicare_supervision_alerts_total": "Monitoring alerts raised, by rule.",
        "medicare_supervision_monitor_failures_total": "Settlements the real-time monitor could not judge.",
        "medicare_supervision_monitor_lag_seconds": "Time from a settlement's posting to its judgement by the real-time monitor.",
        "medicare_settlement_settled_total": "Settlements posted, by insured region (county) and medical type.",
        "medicare_settlement_fund_paid_fen_total": "Fund paid by settlements posted, in fen, by insured region (county).",
        "medicare_settlement_reversed_total": "Settlements reversed.",
        "medicare_supervision_review_total": "Claims judged by pre-settlement review, by outcome.",
        "medicare_supervision_review_findings_total": "Review findings, by rule and verdict.",
        "medicare_registry_designation_changes_total": "Designation changes made, by the status changed to.",
        "audit_relayed_total": "Audit records delivered to supervision's chain.",
        "audit_rejected_total": "Audit records supervision refused (kept for an operator).",
        "audit_delivery_seconds": "Time to deliver one batch of audit records.",
        "audit_backlog": "Audit records waiting in the outbox.",
        "audit_lag_seconds": "Age of an audit record when delivered.",
    ]

    /// The help for a family, or nil when none is written (a test keeps every family covered).
    static func help(for family: String) -> String? {
        if let text = help[family] { return text }
        if family.hasPrefix("medicare_"), let range = family.range(of: "_audit_") {
            return help["audit_" + family[range.upperBound...]]
        }
        return nil
    }

    /// The whole answer for `service`.
    static func render(_ registry: PrometheusCollectorRegistry, service: String) -> [UInt8] {
        var raw: [UInt8] = []
        registry.emit(into: &raw)
        var out = ""
        out.reserveCapacity(raw.count + 4096)
        for line in String(decoding: raw, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE "), let family = line.dropFirst(7).split(separator: " ").first, let text = help(for: String(family)) {
                out += "# HELP \(family) \(text)\n"
            }
            if !line.isEmpty { out += line + "\n" }
        }
        out += process(service: service)
        return Array(out.utf8)
    }

    /// The process's own metrics, as Prometheus's client libraries name them, and the build.
    static func process(service: String) -> String {
        var out = ""
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            // Fields after the command name: state is 3rd; utime 14th, stime 15th, starttime 22nd.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 19, let user = Double(fields[11]), let system = Double(fields[12]), let start = Double(fields[19]) {
                out += "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\n"
                out += "process_cpu_seconds_total \((user + system) / ticks)\n"
                if let boot = bootTime() {
                    out += "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\n"
                    out += "process_start_time_seconds \(boot + start / ticks)\n"
                }
            }
        }
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
            let fields = statm.split(separator: " ")
            if fields.count > 1, let virtual = Double(fields[0]), let resident = Double(fields[1]) {
                let page = Double(sysconf(Int32(_SC_PAGESIZE)))
                out += "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\n"
                out += "process_resident_memory_bytes \(resident * page)\n"
                out += "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n# TYPE process_virtual_memory_bytes gauge\n"
                out += "process_virtual_memory_bytes \(virtual * page)\n"
            }
        }
        if let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            out += "# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\nprocess_open_fds \(fds.count)\n"
        }
        out += "# HELP medicare_build_info The running build: 1, labelled with the service and its release.\n# TYPE medicare_build_info gauge\n"
        out += "medicare_build_info{service=\"\(service)\",version=\"\(MedicareRelease.version)\"} 1\n"
        return out
    }

    private static func bootTime() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}
