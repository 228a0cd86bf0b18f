import ArgumentParser
import Foundation
import Logging
import MedicareContracts
import MedicareRPC
import MedicareTransport
import MedicareWire

/// `medicare`: the command-line client for people. Talks to the gateway over mutual TLS.
@main
struct MedicareCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "medicare",
        abstract: "Settle claims, import clinics, run the designation campaign (apply, review, agreement, ledger, changes), keep the review rule sets, read coverage and profiles, load the demo, generate data, run load tests.",
        version: MedicareRelease.version,
        subcommands: [
            Demo.self, Import.self, ImportClinics.self, Settle.self, CoverageCommand.self, Profile.self, Apply.self, Review.self, Agreement.self, ShowApplication.self,
            Ledger.self, Changes.self, Relationships.self, Report.self, Prices.self, Rules.self, Alerts.self, Generate.self, Load.self, Call.self, Describe.self, HealthCommand.self,
            ServiceVerbs<RegistryVerbs>.self, ServiceVerbs<SettlementVerbs>.self, ServiceVerbs<SettlementReportsVerbs>.self,
            ServiceVerbs<SupervisionVerbs>.self, ServiceVerbs<SupervisionReportsVerbs>.self, ServiceVerbs<GatewayVerbs>.self,
        ]
    )
}

/// Where the gateway is and who we are.
struct Connection: ParsableArguments {
    @Option(help: "The gateway, HOST:PORT (default: MEDICARE_GATEWAY, else 127.0.0.1:7100).") var gateway = ProcessInfo.processInfo.environment["MEDICARE_GATEWAY"] ?? "127.0.0.1:7100"
    @Option(help: "Certificate folder (default: MEDICARE_CERTS, else certs).") var certs = ProcessInfo.processInfo.environment["MEDICARE_CERTS"] ?? "certs"
    @Option(name: .customLong("as"), help: "Certificate name to call as (operator, clinic-H33080200101, province-nhc-33, ...).") var identity = "operator"
    @Flag(help: "Print JSON instead of text.") var json = false

    func client() throws -> RPCClient {
        guard let colon = gateway.lastIndex(of: ":"), let port = Int(gateway[gateway.index(after: colon)...]) else {
            throw ValidationError("--gateway must be HOST:PORT, got '\(gateway)'")
        }
        var logger = Logger(label: "medicare")
        logger.logLevel = .critical
        do {
            return try RPCClient(
                configuration: RPCClientConfiguration(host: String(gateway[..<colon]), port: port, tls: .devCertificates(in: certs, name: identity)),
                logger: logger
            )
        } catch {
            throw ValidationError("cannot use certificate '\(identity)' in \(certs): \(error)")
        }
    }
}

/// One clear line for a failed call.
func fail(_ error: any Error) -> ExitCode {
    let text = (error as? RPCError).map { "\($0.code): \($0.message)" } ?? "\(error)"
    FileHandle.standardError.write(Data("medicare: \(text)\n".utf8))
    return ExitCode(1)
}

func emit(_ json: Bool, _ text: String, _ object: [String: Any]) {
    if json, let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
        Console.line(String(decoding: data, as: UTF8.self))
    } else {
        Console.line(text)
    }
}

func yuan(_ fen: Int64) -> String { String(format: "%.2f", Double(fen) / 100) }

struct Settle: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Settle a claim from a JSON file (see docs/cli.md for its shape).")
    @OptionGroup var connection: Connection
    @Argument(help: "The claim, JSON.") var file: String
    @Option(help: "Idempotency key (default: the claim's mdtrt_id).") var key: String?
    @Flag(help: "Pre-settle only (2206): calculate, post nothing.") var pre = false

    struct ClaimFile: Decodable {
        struct Line: Decodable { var item_code: String; var quantity: Int64; var unit_price: Int64; var days: UInt32? }
        var mdtrt_id: String; var psn_no: String; var certno: String?; var fixmedins_code: String
        /// 医疗类别, the national code: 11 general outpatient, 14 chronic outpatient.
        var med_type: Int32
        var visit_date: String; var diagnoses: [String]?; var lines: [Line]; var use_account: Bool?
    }

    func run() async throws {
        let claim: ClaimFile
        do {
            claim = try JSONDecoder().decode(ClaimFile.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
        } catch {
            throw ValidationError("\(file) is not a claim: \(error)")
        }
        let client = try connection.client()
        defer { Task { await client.close() } }
        let request = GatewaySettleRequest(claim: Claim(
            mdtrtID: claim.mdtrt_id, psnNo: claim.psn_no, certno: claim.certno ?? "", fixmedinsCode: claim.fixmedins_code,
            medType: MedType(rawValue: claim.med_type), visitDate: claim.visit_date, diagnoses: claim.diagnoses ?? [],
            lines: claim.lines.map { FeeLine(itemCode: $0.item_code, quantity: $0.quantity, unitPrice: $0.unit_price, days: $0.days ?? 0) },
            useAccount: claim.use_account ?? false
        ), preSettle: pre)
        do {
            let r = try await GatewayClient(client).settle(request, options: CallOptions(timeout: .seconds(30), metadata: [Metadata.idempotencyKey: key ?? claim.mdtrt_id]))
            let s = r.settlement ?? SettlementResult()
            emit(connection.json, """
                \(pre ? "pre-settled" : "settled") \(s.setlID) via \(s.settleVia) (\(s.policyVersion))\(r.replay ? ", a replay: this visit was settled before and nothing new was paid" : "")
                  total \(yuan(s.medfeeSumamt))  fund \(yuan(s.fundPaySumamt))  account \(yuan(s.acctPay))  cash \(yuan(s.psnCashPay))  deductible \(yuan(s.actPayDedc))
                """, ["setl_id": s.setlID, "settle_via": s.settleVia, "medfee_sumamt": s.medfeeSumamt, "fund_pay_sumamt": s.fundPaySumamt,
                      "hifp_pay": s.hifpPay, "acct_pay": s.acctPay, "psn_cash_pay": s.psnCashPay, "act_pay_dedc": s.actPayDedc,
                      "policy_version": s.policyVersion, "review": r.review?.verdict.code ?? "", "replay": r.replay])
        } catch {
            throw fail(error)
        }
    }
}

struct CoverageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "coverage", abstract: "Print the 村村通 coverage of a region.")
    @OptionGroup var connection: Connection
    @Argument(help: "Division code prefix: 2, 4, 6, 9 or 12 digits.") var region: String
    @Option(help: "Gap villages to list (0 = none).") var gaps: UInt32 = 20
    @Option(help: "Day, YYYY-MM-DD (default today): only clinics that could settle that day count.") var asOf = ""

    func run() async throws {
        try await withRegistry(connection) { registry in
            let c = try await registry.getCoverage(CoverageRequest(region: region, maxGaps: max(gaps, 1), asOf: asOf))
                .with { if gaps == 0 { $0.gaps = [] } }
            let share = c.villages == 0 ? 0 : Double(c.covered) * 100 / Double(c.villages)
            let gapLines = c.gaps.map { "  gap: \($0.code) \($0.name)" }.joined(separator: "\n")
            let childLines = c.children.map { "  \($0.divisionCode) \($0.name): \($0.covered)/\($0.villages) villages, \($0.designatedClinics)/\($0.clinics) clinics" }
            emit(connection.json, "region \(c.region) as of \(c.asOf): \(c.covered)/\(c.villages) villages covered (\(String(format: "%.1f", share))%), \(c.designatedClinics)/\(c.clinics) clinics designated; target \(c.targetDate) (\(c.daysToTarget) days)"
                    + (childLines.isEmpty ? "" : "\n" + childLines.joined(separator: "\n")) + (gapLines.isEmpty ? "" : "\n" + gapLines),
                 ["region": c.region, "as_of": c.asOf, "villages": c.villages, "covered": c.covered, "clinics": c.clinics, "designated_clinics": c.designatedClinics,
                  "target_date": c.targetDate, "days_to_target": c.daysToTarget,
                  "children": c.children.map { ["division_code": $0.divisionCode, "name": $0.name, "villages": $0.villages, "covered": $0.covered,
                                                "clinics": $0.clinics, "designated_clinics": $0.designatedClinics] as [String: Any] },
                  "gaps": c.gaps.map { ["code": $0.code, "name": $0.name] }])
        }
    }
}

struct Profile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show an institution's profile: record, today's settlements, review blocks.")
    @OptionGroup var connection: Connection
    @Argument(help: "Institution code, H + 11 digits.") var code: String
    @Option(help: "Day, YYYY-MM-DD (default today).") var date = ""

    func run() async throws {
        try await withGateway(connection) { client in
            let p = try await GatewayClient(client).getInstitutionProfile(InstitutionProfileRequest(fixmedinsCode: code, date: date))
            let r = p.institution?.record
            let sources = p.sources.map { "\($0.source)=\($0.code)" }.joined(separator: " ")
            emit(connection.json, """
                \(code) \(r?.fixmedinsName ?? "?") [\(p.institution?.designationStatus.code ?? "unknown")] \(r?.kind.code ?? "") \(r?.integrationMode.code ?? "") parent \(r?.parentCode ?? "")
                  settlements \(p.totals?.settlements ?? 0) (reversed \(p.totals?.reversed ?? 0)), fees \(yuan(p.totals?.medfeeSumamt ?? 0)), fund \(yuan(p.totals?.fundPaySumamt ?? 0)); review blocks in county \(p.reviews?.blocked ?? 0)
                  sources: \(sources)
                """, ["code": code, "name": r?.fixmedinsName ?? "", "designation_status": p.institution?.designationStatus.code ?? "",
                      "settlements": p.totals?.settlements ?? 0, "medfee_sumamt": p.totals?.medfeeSumamt ?? 0,
                      "sources": p.sources.map { ["source": $0.source.code, "code": $0.code.code, "message": $0.message] }])
        }
    }
}

extension Coverage {
    func with(_ change: (inout Coverage) -> Void) -> Coverage {
        var copy = self
        change(&copy)
        return copy
    }
}
