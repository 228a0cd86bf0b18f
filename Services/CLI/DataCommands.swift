import ArgumentParser
import Foundation
import MedicareContracts
import MedicareRPC
import MedicareTransport
import MedicareWire
import MedicareFiles

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
                // Made a batch at a time: a province's ten million need not all be in memory.
                // Two calls in flight: the next batch is made, sent and checked while settlement
                // stores the one before (at most one waits for its writer, so each is still
                // written alone in its transaction, without a savepoint).
                try await withThrowingTaskGroup(of: Void.self) { group in
                    var inFlight = 0
                    for chunk in stride(from: 0, to: persons, by: batch) {
                        if inFlight == 2 {
                            try await group.next()
                            inFlight -= 1
                        }
                        let some = synthetic.persons(county: "330802", chunk..<min(chunk + batch, persons))
                        group.addTask { _ = try await settlement.importPersons(ImportPersonsRequest(persons: some), options: options) }
                        inFlight += 1
                        if chunk % 500_000 == 0 && chunk > 0 { FileHandle.standardError.write(Data("\r\(chunk) persons".utf8)) }
                    }
                    try await group.waitForAll()
                }
                // Two doctors at each of the county's institutions (DR01, DR02), for its visits (2201, 2204).
                let doctors = synthetic.county("330802").institutions.flatMap { record in
                    [Practitioner(fixmedinsCode: record.fixmedinsCode, drCode: "DR01", drName: "乡村医生甲", pracType: .villageDoctor, active: true),
                     Practitioner(fixmedinsCode: record.fixmedinsCode, drCode: "DR02", drName: "执业助理医师乙", pracType: .assistantPhysician, active: true)]
                }
                for chunk in stride(from: 0, to: doctors.count, by: batch) {
                    _ = try await settlement.importPractitioners(ImportPractitionersRequest(practitioners: Array(doctors[chunk..<min(chunk + batch, doctors.count)])), options: options)
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

/// Imports a data file (the generator's, or one exported from a spreadsheet or the health
/// commission's system) through the gateway in batches: CSV per RFC 4180, UTF-8 or GBK,
/// columns by header name (`RecordFiles`). Every refused record is printed with its number
/// and why, whether the file or the service refused it; the exit status is 2 when any was
/// (1 for an error that stopped the import).
struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import institutions, divisions, insured persons or a catalogue version from CSV (RFC 4180; UTF-8 or GBK; columns by header name).",
        discussion: """
            institutions: fixmedins_code, fixmedins_name, kind, division_code, licensed_doctors, has_computer, has_network, record_version
                          [parent_code, integration_mode, relationship_end]
            divisions:    code, name
            persons:      psn_no, certno, name, insutype, insu_admdvs, psn_insu_stas, account_balance (fen)
            catalogue:    med_list_codg, name [list_type, chrgitm_lv, selfpay_prop, pric_uplmt_amt, regional_prices,
                          begndate, enddate, max_qty, max_days, chronic_condition, antibiotic, injection, vbp]
                          with --ver: one version, published whole or not at all (a refused record publishes
                          nothing). scripts/generate-catalogue.py --csv writes one.
            Exit status: 0 all imported, 2 some records refused (each printed), 1 the import stopped.
            """
    )
    @OptionGroup var connection: Connection
    @Argument(help: "institutions, divisions, persons or catalogue.") var kind: String
    @Argument(help: "CSV file with a header line.") var file: String
    @Option(help: "auto (UTF-8, else GBK), utf-8 or gbk.") var encoding = "auto"
    @Option(help: "Records per call (at most 5,000).") var batch = 2_000
    @Option(help: "catalogue: the version's name (ver): 1-64 letters, digits, '.', '-' or '_'.") var ver = ""

    func run() async throws {
        try await Self.importFile(kind: kind, file: file, encoding: encoding, batch: batch, ver: ver, connection: connection)
    }

    static func importFile(kind: String, file: String, encoding: String, batch: Int, ver: String = "", connection: Connection) async throws {
        guard (1...5_000).contains(batch) else { throw ValidationError("--batch must be 1-5000") }
        guard (kind == "catalogue") == !ver.isEmpty else {
            throw fail(ValidationError(ver.isEmpty ? "catalogue needs --ver, the version's name (1-64 letters, digits, '.', '-' or '_')" : "--ver is for a catalogue only"))
        }
        guard let encoding = TextEncoding(rawValue: encoding.lowercased()) else { throw ValidationError("--encoding must be auto, utf-8 or gbk") }
        guard let data = FileManager.default.contents(atPath: file) else { throw fail(ValidationError("cannot read \(file)")) }
        /// Sends the file's records with `client`, by kind.
        let send: @Sendable (RPCClient) async throws -> ImportReport
        do {
            let table = try CSVTable(bytes: Array(data), encoding: encoding)
            switch kind {
            case "institutions", "clinics":
                let parsed = try RecordFiles.institutions(table)
                send = { client in try await institutions(parsed, RegistryClient(client), file: file, batch: batch) }
            case "divisions":
                let parsed = try RecordFiles.divisions(table)
                send = { client in
                    try await allOrNone(parsed, batch: batch, field: "divisions", key: \.code) { chunk in
                        _ = try await RegistryClient(client).upsertDivisions(UpsertDivisionsRequest(divisions: chunk), options: CallOptions(timeout: .seconds(120)))
                    }
                }
            case "persons":
                let parsed = try RecordFiles.persons(table)
                send = { client in
                    try await allOrNone(parsed, batch: batch, field: "persons", key: \.psnNo) { chunk in
                        _ = try await SettlementClient(client).importPersons(ImportPersonsRequest(persons: chunk), options: CallOptions(timeout: .seconds(120)))
                    }
                }
            case "catalogue":
                let parsed = try RecordFiles.catalogue(table)
                guard !parsed.records.isEmpty || !parsed.rejections.isEmpty else { throw fail(ValidationError("\(file) holds no records")) }
                send = { client in try await catalogue(parsed, SettlementClient(client), ver: ver, batch: batch) }
            default:
                throw ValidationError("KIND must be institutions, divisions, persons or catalogue, got '\(kind)'")
            }
        } catch let error as FileError {
            throw fail(ValidationError("\(file): \(error.message)"))
        }
        let client = try connection.client()
        let report: ImportReport
        do {
            report = try await send(client)
        } catch {
            await client.close()
            throw fail(error)
        }
        await client.close()
        if !connection.json {
            for r in report.rejections { Console.line("\(file): record \(r.record)\(r.key.isEmpty ? "" : " (\(r.key))"): \(r.reason)") }
        }
        var object = report.counts.mapValues { $0 as Any }
        object["rejected"] = report.rejections.count
        object["rejections"] = report.rejections.map { ["record": $0.record, "key": $0.key, "reason": $0.reason] as [String: Any] }
        emit(connection.json, report.counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ", rejected \(report.rejections.count)", object)
        if !report.rejections.isEmpty { throw ExitCode(2) }
    }

    /// What an import did: counts by outcome, and every record refused.
    struct ImportReport {
        var counts: [String: Int] = [:]
        var rejections: [Rejection] = []
    }

    /// Institutions, whose import answers each record's outcome (created, updated, unchanged,
    /// stale, rejected with its reason).
    static func institutions(_ parsed: ParsedRecords<InstitutionRecord>, _ registry: RegistryClient, file: String, batch: Int) async throws -> ImportReport {
        var report = ImportReport(counts: ["created": 0, "updated": 0, "unchanged": 0, "stale": 0], rejections: parsed.rejections)
        for start in stride(from: 0, to: parsed.records.count, by: batch) {
            let chunk = parsed.records[start..<min(start + batch, parsed.records.count)]
            let result = try await registry.importInstitutions(
                ImportInstitutionsRequest(sessionID: String(URL(fileURLWithPath: file).lastPathComponent.prefix(100)), records: chunk.map(\.message)), options: CallOptions(timeout: .seconds(120))
            )
            for (sent, outcome) in zip(chunk, result.results) {
                switch outcome.outcome {
                case .rejected: report.rejections.append(Rejection(record: sent.record, key: sent.message.fixmedinsCode, reason: outcome.reason))
                case let other: report.counts[other.code, default: 0] += 1
                }
            }
        }
        report.rejections.sort { $0.record < $1.record }
        return report
    }

    /// A catalogue version (`Settlement/ImportCatalogue`), published whole or not at all: when
    /// the file refuses a record, every such record is reported and nothing is sent; else the
    /// records go in calls of `batch`, staged under `ver`, the last call publishing them. A
    /// call the service refuses (a record out of form, named `records[i].field`; the version
    /// published with other records) stops the import with that record reported: nothing is
    /// published (what was staged stays unpublished; import the mended file under a new
    /// version). A version published with the same records answers as replayed.
    static func catalogue(_ parsed: ParsedRecords<CatalogueRecord>, _ settlement: SettlementClient, ver: String, batch: Int) async throws -> ImportReport {
        var report = ImportReport(counts: ["published": 0], rejections: parsed.rejections)
        // A code and begndate once in the version (the service sees one call at a time; across
        // calls a second record would replace the first unseen).
        var first: [String: Int] = [:]
        for (record, message) in parsed.records {
            let key = message.medListCodg.uppercased() + " " + message.begndate
            if let earlier = first[key] {
                report.rejections.append(Rejection(record: record, key: message.medListCodg,
                                                   reason: "med_list_codg: \(message.medListCodg) from \(message.begndate.isEmpty ? "always" : message.begndate) is record \(earlier)'s too"))
            } else {
                first[key] = record
            }
        }
        guard report.rejections.isEmpty else {
            report.rejections.sort { $0.record < $1.record }
            return report
        }
        var start = 0
        while start < parsed.records.count {
            let end = min(start + batch, parsed.records.count)
            let chunk = parsed.records[start..<end]
            let answer: ImportCatalogueResponse
            do {
                answer = try await settlement.importCatalogue(
                    ImportCatalogueRequest(ver: ver, records: chunk.map(\.message), last: end == parsed.records.count), options: CallOptions(timeout: .seconds(300)))
            } catch let error as RPCError where error.code == .invalidArgument || error.code == .failedPrecondition || error.code == .alreadyExists {
                guard let (i, reason) = Self.refused(error.message, field: "records"), chunk.indices.contains(start + i) else { throw error }
                let record = chunk[start + i]
                let outcome = error.code == .alreadyExists ? "version \(ver) is published with other records: import under a new --ver" : "nothing was published"
                report.rejections.append(Rejection(record: record.record, key: record.message.medListCodg, reason: "\(reason) (\(outcome))"))
                return report
            }
            // The version holds exactly the file's records so far: none staged by an earlier,
            // stopped import under the same name, none of a published version left out.
            guard Int(answer.staged) == (answer.replay ? parsed.records.count : end) else {
                throw fail(ValidationError(
                    answer.replay
                        ? "catalogue version \(ver) is published with \(answer.staged) records, not this file's \(parsed.records.count): import under a new --ver"
                        : "catalogue version \(ver) holds \(answer.staged) staged records, not the \(end) sent: an earlier import under this name stopped; import under a new --ver"))
            }
            if end == parsed.records.count {
                report.counts = [answer.replay ? "replayed" : "published": Int(answer.staged), "revision": Int(answer.revision)]
            }
            start = end
        }
        return report
    }

    /// Records whose import method takes a batch all or none, refusing it with the first bad
    /// record's field (`divisions[3].code: ...`): that record is set aside as refused and the
    /// rest of its batch sent again, so every good record is imported (at most 100 records
    /// refused by the service per batch; beyond that the rest of the batch is refused unsent).
    static func allOrNone<Message: Sendable>(
        _ parsed: ParsedRecords<Message>, batch: Int, field: String, key: (Message) -> String, send: ([Message]) async throws -> Void
    ) async throws -> ImportReport {
        var report = ImportReport(counts: ["imported": 0], rejections: parsed.rejections)
        for start in stride(from: 0, to: parsed.records.count, by: batch) {
            var chunk = Array(parsed.records[start..<min(start + batch, parsed.records.count)])
            var refused = 0
            while !chunk.isEmpty {
                do {
                    try await send(chunk.map(\.message))
                    report.counts["imported", default: 0] += chunk.count
                    break
                } catch let error as RPCError where error.code == .invalidArgument || error.code == .notFound || error.code == .failedPrecondition {
                    guard let (i, reason) = Self.refused(error.message, field: field), chunk.indices.contains(i) else { throw error }
                    let record = chunk.remove(at: i)
                    report.rejections.append(Rejection(record: record.record, key: key(record.message), reason: reason))
                    refused += 1
                    if refused == 100 {
                        for unsent in chunk {
                            report.rejections.append(Rejection(record: unsent.record, key: key(unsent.message), reason: "not sent: 100 records of its batch were refused"))
                        }
                        break
                    }
                }
            }
        }
        report.rejections.sort { $0.record < $1.record }
        return report
    }

    /// Which record of the batch a refusal `FIELD[i].name: why` names, and the refusal as
    /// the record's own (`name: why`).
    static func refused(_ message: String, field: String) -> (index: Int, reason: String)? {
        guard message.hasPrefix(field + "["), let close = message.firstIndex(of: "]"),
              let i = Int(message[message.index(message.startIndex, offsetBy: field.count + 1)..<close]) else { return nil }
        let rest = message[message.index(after: close)...]
        return (i, String(rest.hasPrefix(".") ? rest.dropFirst() : rest.hasPrefix(": ") ? rest.dropFirst(2) : rest))
    }
}

/// `medicare import-clinics FILE`: `medicare import institutions FILE`, kept for the scripts
/// that call it so.
struct ImportClinics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "import-clinics", abstract: "Import institutions from CSV: medicare import institutions FILE.")
    @OptionGroup var connection: Connection
    @Argument(help: "CSV file with a header line.") var file: String
    @Option(help: "auto (UTF-8, else GBK), utf-8 or gbk.") var encoding = "auto"
    @Option(help: "Records per call (at most 5,000).") var batch = 2_000

    func run() async throws {
        try await Import.importFile(kind: "institutions", file: file, encoding: encoding, batch: batch, connection: connection)
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
        institutions.write(Data(CSVWriter.line([
            "fixmedins_code", "fixmedins_name", "kind", "division_code", "parent_code", "integration_mode", "relationship_end",
            "licensed_doctors", "has_computer", "has_network", "record_version",
        ]).utf8))
        divisions.write(Data(CSVWriter.line(RecordFiles.divisionColumns.required).utf8))
        people.write(Data(CSVWriter.line(RecordFiles.personColumns.required).utf8))
        var counts = (divisions: 0, institutions: 0, persons: 0)
        for county in synthetic.counties {
            let data = synthetic.county(county)
            divisions.write(Data(data.divisions.map { CSVWriter.line([$0.code, $0.name]) }.joined().utf8))
            institutions.write(Data(data.institutions.map { r in
                CSVWriter.line([r.fixmedinsCode, r.fixmedinsName, r.kind.code, r.divisionCode, r.parentCode, r.integrationMode == .unspecified ? "" : r.integrationMode.code,
                                r.relationshipEnd, String(r.licensedDoctors), r.hasComputer ? "1" : "0", r.hasNetwork ? "1" : "0", String(r.recordVersion)])
            }.joined().utf8))
            let persons = synthetic.persons(county: county, count: self.persons)
            // A CSV row holds one insurance record: the person's newest (the file's flat form).
            people.write(Data(persons.map {
                let newest = $0.insuinfo.first ?? InsuInfo()
                return CSVWriter.line([$0.psnNo, $0.certno, $0.name, String(newest.insutype.rawValue), newest.insuplcAdmdvs, newest.psnInsuStas.code, String($0.accountBalance)])
            }.joined().utf8))
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
