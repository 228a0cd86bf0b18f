import ArgumentParser
import Foundation
import MedicareContracts
import MedicareDomain
import MedicareTransport
import MedicareWire

/// `medicare rules`: the smart-review rule sets (智能审核规则库, notice §三) kept by supervision.
struct Rules: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Review rule sets: list them, show or export one, publish a changed set (takes effect on the next review).",
        discussion: """
            medicare rules list
            medicare rules show                       the set in force today (--date, --version for others)
            medicare rules show --version zj-2024.2 --export > rules.json
            medicare rules publish rules.json         a changed set, under a new "version"
            """,
        subcommands: [List.self, Show.self, Publish.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every published rule set version, oldest first.")
        @OptionGroup var connection: Connection

        func run() async throws {
            try await withGateway(connection) { client in
                let sets = try await SupervisionClient(client).listRuleSets(ListRuleSetsRequest()).ruleSets
                emit(connection.json, sets.map { "\($0.version)  from \($0.effectiveFrom)  \($0.name)  (published \($0.publishedAt) by \($0.publishedBy))" }
                    .joined(separator: "\n"), ["rule_sets": sets.map { ["version": $0.version, "name": $0.name, "effective_from": $0.effectiveFrom,
                                                                          "published_at": $0.publishedAt, "published_by": $0.publishedBy] }])
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One rule set's rules: by --version, or the one in force on --date (today).")
        @OptionGroup var connection: Connection
        @Option(help: "A published version.") var version = ""
        @Option(help: "YYYY-MM-DD: the set in force that visit day (default today).") var date = ""
        @Flag(help: "Print the set as a rule document (the form `publish` reads).") var export = false

        func run() async throws {
            try await withGateway(connection) { client in
                let set = try await SupervisionClient(client).getRuleSet(GetRuleSetRequest(version: version, date: date))
                if export || connection.json {
                    Console.line(String(decoding: set.json(), as: UTF8.self))
                    return
                }
                var lines = ["\(set.version) \(set.name), from \(set.effectiveFrom), published \(set.publishedAt) by \(set.publishedBy)"]
                for rule in set.rules {
                    let dates = rule.effectiveTo.isEmpty ? "from \(rule.effectiveFrom)" : "\(rule.effectiveFrom) to \(rule.effectiveTo)"
                    lines.append("  \(rule.ruleID) v\(rule.version) \(rule.kind.code) \(rule.verdict.code)/\(rule.severity.code) \(dates): \(rule.name)")
                    lines.append("      source: \(rule.source)")
                }
                Console.line(lines.joined(separator: "\n"))
            }
        }
    }

    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Publish a rule document (JSON, docs/supervision.md): checked whole, then in force on the next review.")
        @OptionGroup var connection: Connection
        @Argument(help: "The rule document.") var file: String

        func run() async throws {
            let set: RuleSet
            do {
                set = try RuleSet(json: try Data(contentsOf: URL(fileURLWithPath: file)))
            } catch let error as DomainError {
                throw ValidationError("\(file): \(error.field): \(error.message)")
            }
            try await withGateway(connection) { client in
                let published = try await SupervisionClient(client).publishRuleSet(PublishRuleSetRequest(ruleSet: set))
                let stored = published.ruleSet ?? set
                emit(connection.json, "\(stored.version): \(published.replay ? "already published" : "published") \(stored.publishedAt) by \(stored.publishedBy), \(stored.rules.count) rules",
                     ["version": stored.version, "replay": published.replay, "published_at": stored.publishedAt, "published_by": stored.publishedBy, "rules": stored.rules.count])
            }
        }
    }
}

/// `medicare alerts`: real-time monitoring's alerts (实时监控预警) for a region.
struct Alerts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Monitoring alerts raised in a region, oldest first; pass the last printed id as --after next time.",
        discussion: "medicare alerts 33   medicare alerts 330802 --after 120 --limit 50"
    )
    @OptionGroup var connection: Connection
    @Argument(help: "Region: a prefix of the county code (33, 330802).") var region: String
    @Option(help: "Only alerts after this alert_id.") var after: UInt64 = 0
    @Option(help: "At most this many (1-1000).") var limit: UInt32 = 100

    func run() async throws {
        try await withGateway(connection) { client in
            let alerts = try await SupervisionClient(client).listAlerts(ListAlertsRequest(region: region, after: after, limit: limit)).alerts
            emit(connection.json, alerts.isEmpty ? "no alerts" : alerts.map {
                "#\($0.alertID) \($0.raisedAt) \($0.ruleID) v\($0.ruleVersion) \($0.severity.code) \($0.fixmedinsCode): \($0.evidence)"
            }.joined(separator: "\n"), ["alerts": alerts.map {
                ["alert_id": $0.alertID, "rule_id": $0.ruleID, "rule_version": $0.ruleVersion, "rule_set_version": $0.ruleSetVersion, "severity": $0.severity.code,
                 "fixmedins_code": $0.fixmedinsCode, "raised_at": $0.raisedAt, "evidence": $0.evidence, "persons": $0.persons, "settlements": $0.settlements,
                 "amount": $0.amount, "window_start": $0.windowStart] as [String: Any]
            }])
        }
    }
}
