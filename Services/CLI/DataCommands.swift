import ArgumentParser
import Foundation
import MedicareContracts
import MedicareRPC
import MedicareTransport
import MedicareWire
import SwiftCSV

/// Loads synthetic data through the gateway: divisions, institutions, designations and
/// insured persons. Designations are direct changes (ChangeDesignation) unless `--campaign`
/// walks each through the workflow in batches of 5,000: application, approval and a signed
/// service agreement. At nation scale only `--campaign` designates (580,000 single changes
/// are a day's calls).
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Load a synthetic county, province or nation through the gateway.")
    @OptionGroup var connection: Connection
    @Option(help: "county, province or nation.") var scale = "county"
    @Option(help: "Insured persons to load (in county 330802).") var persons = 2_000
    @Option(help: "Records per import batch (at most 5,000).") var batch = 5_000
    @Flag(help: "Designate through the workflow: apply, approve and sign agreements in batches of 5,000.") var campaign = false

    func run() async throws {
        guard let scale = Synthetic.Scale(rawValue: scale) else { throw ValidationError("--scale must be county, province or nation") }
        let synthetic = Synthetic(scale: scale)
        let client = try connection.client()
        let registry = RegistryClient(client)
        let options = CallOptions(timeout: .seconds(120))
        let start = ContinuousClock.now
        var divisions: [Division] = [], records: [InstitutionRecord] = []
        var imported = 0, rejected = 0, designated = 0
        var applying: [String] = []
        /// The batch being designated while the next counties import (at most one in flight:
        /// the registry's single writer takes them in turn, and the calls' other work overlaps).
        var inFlight: Task<Int, any Error>?
        /// Applies for, approves and signs agreements for the institutions waiting, 5,000 at a
        /// time, each batch after the one before it; the last is awaited with `force`.
        func designateThroughTheWorkflow(force: Bool) async throws {
            while applying.count >= 5_000 || (force && !applying.isEmpty) {
                let codes = Array(applying.prefix(5_000))
                applying.removeFirst(codes.count)
                if let previous = inFlight { designated += try await previous.value }
                inFlight = Task {
                    let filed = try await registry.applyForDesignation(ApplyForDesignationRequest(fixmedinsCodes: codes, remarks: "demo"), options: options)
                    let ids = filed.applications.map(\.applicationID)
                    _ = try await registry.reviewApplications(ReviewApplicationsRequest(applicationIds: ids, decision: .approve), options: options)
                    _ = try await registry.signAgreements(SignAgreementsRequest(agreements: filed.applications.map {
                        SignAgreementRequest(applicationID: $0.applicationID, agreementNo: "AG-\($0.fixmedinsCode)", startDate: "2024-01-01", endDate: "2026-12-31",
                                             scopes: [.generalOutpatient, .chronicDrugs], signedDate: "2023-12-15")
                    }), options: options)
                    return codes.count
                }
            }
            if force, let last = inFlight {
                inFlight = nil
                designated += try await last.value
            }
        }
        func flush(force: Bool) async throws {
            while divisions.count >= batch || (force && !divisions.isEmpty) {
                let chunk = Array(divisions.prefix(batch))
                divisions.removeFirst(chunk.count)
                _ = try await registry.upsertDivisions(UpsertDivisionsRequest(divisions: chunk), options: options)
            }
            while records.count >= batch || (force && !records.isEmpty) {
                let chunk = Array(records.prefix(batch))
                records.removeFirst(chunk.count)
                let result = try await registry.importInstitutions(ImportInstitutionsRequest(sessionID: "demo-\(scale)", records: chunk), options: options)
                imported += Int(result.created + result.updated + result.unchanged)
                rejected += Int(result.rejected)
            }
        }
        do {
            for (n, county) in synthetic.counties.enumerated() {
                let data = synthetic.county(county)
                divisions += data.divisions
                records += data.institutions
                try await flush(force: false)
                if campaign {
                    applying += data.designated
                    if applying.count >= 5_000 {
                        try await flush(force: true)
                        try await designateThroughTheWorkflow(force: false)
                    }
                } else if scale != .nation {
                    try await flush(force: true)
                    for code in data.designated {
                        do {
                            _ = try await registry.changeDesignation(ChangeDesignationRequest(fixmedinsCode: code, action: .designate, reason: "demo agreement", effectiveDate: "2024-01-01"), options: options)
                            designated += 1
                        } catch let error as RPCError where error.code == .failedPrecondition {}  // already designated
                    }
                }
                if n % 50 == 49 { FileHandle.standardError.write(Data("\r\(n + 1)/\(synthetic.counties.count) counties, \(imported) institutions".utf8)) }
            }
            try await flush(force: true)
            try await designateThroughTheWorkflow(force: true)
            if persons > 0 {
                let settlement = SettlementClient(client)
                let all = synthetic.persons(county: "330802", count: persons)
                for chunk in stride(from: 0, to: all.count, by: batch) {
                    _ = try await settlement.importPersons(ImportPersonsRequest(persons: Array(all[chunk..<min(chunk + batch, all.count)])), options: options)
                }
            }
        } catch {
            throw fail(error)
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        emit(connection.json, "\n\(scale): \(imported) institutions imported (\(rejected) rejected), \(designated) designated, \(persons) insured persons in \(String(format: "%.1f", seconds)) s (\(String(format: "%.0f", Double(imported) / seconds)) institutions/s)",
             ["scale": scale.rawValue, "institutions": imported, "rejected": rejected, "designated": designated, "persons": persons, "seconds": seconds])
        await client.close()
    }
}

/// Imports institutions from a CSV file in batches, printing the per-record problems.
struct ImportClinics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-clinics",
        abstract: "Import clinics from CSV: fixmedins_code,fixmedins_name,kind,division_code,parent_code,integration_mode,relationship_end,licensed_doctors,has_computer,has_network,record_version"
    )
    @OptionGroup var connection: Connection
    @Argument(help: "CSV file with a header line.") var file: String
    @Option(help: "Records per batch.") var batch = 2_000

    func run() async throws {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ValidationError("cannot read \(file)") }
        // LF or CRLF line ends, quoted fields, a byte-order mark: what spreadsheets write.
        let rows: [[String]]
        do {
            rows = try EnumeratedCSV(string: text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text, delimiter: .comma, loadColumns: false).rows
        } catch {
            throw ValidationError("\(file): not CSV: \(error)")
        }
        var records: [InstitutionRecord] = []
        for (n, f) in rows.enumerated() where !(f.count == 1 && f[0].isEmpty) {
            guard f.count == 11, let doctors = UInt32(f[7]), let version = UInt64(f[10]) else {
                throw ValidationError("\(file):\(n + 2): expected 11 fields with numeric licensed_doctors and record_version")
            }
            // Closed sets travel as their codes in the file (kind township_centre or village_clinic;
            // integration_mode integrated, integrating, not_ready, or empty for a centre).
            guard let kind = InstitutionKind(code: f[2]) else {
                throw ValidationError("\(file):\(n + 2): kind '\(f[2].prefix(30))' is not \(InstitutionKind.known.map(\.code).joined(separator: " or "))")
            }
            guard f[5].isEmpty || IntegrationMode(code: f[5]) != nil else {
                throw ValidationError("\(file):\(n + 2): integration_mode '\(f[5].prefix(30))' is not \(IntegrationMode.known.map(\.code).joined(separator: ", ")) or empty")
            }
            records.append(InstitutionRecord(fixmedinsCode: f[0], fixmedinsName: f[1], kind: kind, divisionCode: f[3], parentCode: f[4], integrationMode: IntegrationMode(code: f[5]) ?? .unspecified,
                                             relationshipEnd: f[6], licensedDoctors: doctors, hasComputer: f[8] == "1" || f[8] == "true",
                                             hasNetwork: f[9] == "1" || f[9] == "true", recordVersion: version))
        }
        let client = try connection.client()
        var totals = (created: 0, updated: 0, unchanged: 0, stale: 0, rejected: 0)
        do {
            for chunk in stride(from: 0, to: records.count, by: batch) {
                let r = try await RegistryClient(client).importInstitutions(
                    ImportInstitutionsRequest(sessionID: file, records: Array(records[chunk..<min(chunk + batch, records.count)])),
                    options: CallOptions(timeout: .seconds(120)))
                totals.created += Int(r.created); totals.updated += Int(r.updated); totals.unchanged += Int(r.unchanged)
                totals.stale += Int(r.stale); totals.rejected += Int(r.rejected)
                for result in r.results where result.outcome == .rejected && !connection.json { Console.line("rejected \(result.fixmedinsCode): \(result.reason)") }
            }
        } catch {
            throw fail(error)
        }
        emit(connection.json, "created \(totals.created), updated \(totals.updated), unchanged \(totals.unchanged), stale \(totals.stale), rejected \(totals.rejected)",
             ["created": totals.created, "updated": totals.updated, "unchanged": totals.unchanged, "stale": totals.stale, "rejected": totals.rejected])
        await client.close()
    }
}

/// Writes synthetic data as CSV files.
struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write deterministic synthetic divisions, institutions and persons as CSV.")
    @Option(help: "county, province or nation.") var scale = "county"
    @Option(name: .shortAndLong, help: "Output folder.") var output = "synthetic"
    @Option(help: "Insured persons per county.") var persons = 1_000

    func run() async throws {
        guard let scale = Synthetic.Scale(rawValue: scale) else { throw ValidationError("--scale must be county, province or nation") }
        let synthetic = Synthetic(scale: scale)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        guard let institutions = FileHandle(forWritingAtPath: create("\(output)/institutions.csv")),
              let divisions = FileHandle(forWritingAtPath: create("\(output)/divisions.csv")),
              let people = FileHandle(forWritingAtPath: create("\(output)/persons.csv")) else {
            throw ValidationError("cannot write into \(output)")
        }
        institutions.write(Data("fixmedins_code,fixmedins_name,kind,division_code,parent_code,integration_mode,relationship_end,licensed_doctors,has_computer,has_network,record_version\n".utf8))
        divisions.write(Data("code,name\n".utf8))
        people.write(Data("psn_no,certno,name,insutype,insu_admdvs,status,account_balance\n".utf8))
        var counts = (divisions: 0, institutions: 0, persons: 0)
        for county in synthetic.counties {
            let data = synthetic.county(county)
            divisions.write(Data(data.divisions.map { "\($0.code),\($0.name)\n" }.joined().utf8))
            institutions.write(Data(data.institutions.map { r in
                "\(r.fixmedinsCode),\(r.fixmedinsName),\(r.kind.code),\(r.divisionCode),\(r.parentCode),\(r.integrationMode == .unspecified ? "" : r.integrationMode.code),\(r.relationshipEnd),\(r.licensedDoctors),\(r.hasComputer ? 1 : 0),\(r.hasNetwork ? 1 : 0),\(r.recordVersion)\n"
            }.joined().utf8))
            let persons = synthetic.persons(county: county, count: self.persons)
            people.write(Data(persons.map { "\($0.psnNo),\($0.certno),\($0.name),\($0.insutype.rawValue),\($0.insuAdmdvs),\($0.psnInsuStas.code),\($0.accountBalance)\n" }.joined().utf8))
            counts.divisions += data.divisions.count
            counts.institutions += data.institutions.count
            counts.persons += persons.count
        }
        Console.line("\(scale): \(synthetic.counties.count) counties, \(counts.divisions) divisions, \(counts.institutions) institutions, \(counts.persons) persons in \(output)/")
    }

    private func create(_ path: String) -> String {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        return path
    }
}
