import Foundation
import MedicareContracts
import MedicareTestSupport
import MedicareWire
import Testing

/// `medicare import` through the gateway, with files as people export them: each refused
/// record is reported with its number and the exit status is 2, and every good record lands.
@Suite("Data files imported from the command line", .serialized)
struct FileImportCLITests {
    static func medicare(_ stack: Stack, _ arguments: [String]) async throws -> (status: Int32, json: [String: Any], error: String) {
        let result = try await runCommand(
            Executables.path("medicare"),
            arguments + ["--gateway", "127.0.0.1:\(stack.gateway.rpcPort)", "--certs", "\(stack.folder)/certs", "--json"]
        )
        return (result.status, (try? JSONSerialization.jsonObject(with: result.output) as? [String: Any]) ?? [:], result.error)
    }

    @Test func divisionsInstitutionsAndPersonsFromExportedFiles() async throws {
        try await withDemoStack(loadDemo: false) { stack in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("medicare-import-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }

            // Divisions, UTF-8 with a byte-order mark and CRLF; the fourth is malformed, and the
            // service's refusal of it is reported as that record's while the others land.
            let divisions = "\u{FEFF}code,name\r\n330000000000,浙江省\r\n330800000000,衢州市\r\n330802000000,柯城区\r\n33080A101000,坏\r\n"
                + "330802101000,航埠镇\r\n330802101201,\"甲村, 东\"\r\n"
            _ = FileManager.default.createFile(atPath: "\(folder)/divisions.csv", contents: Data(divisions.utf8))
            let d = try await Self.medicare(stack, ["import", "divisions", "\(folder)/divisions.csv"])
            #expect(d.status == 2, "\(d.error)")
            #expect(d.json["imported"] as? Int == 5 && d.json["rejected"] as? Int == 1, "\(d.json)")
            let refusal = (d.json["rejections"] as? [[String: Any]])?.first
            #expect(refusal?["record"] as? Int == 4 && refusal?["key"] as? String == "33080A101000" && (refusal?["reason"] as? String)?.hasPrefix("code: ") == true, "\(String(describing: refusal))")

            // Institutions in GBK with the columns in another order, a quoted name, and one
            // record whose licensed_doctors is not a number.
            var gbk = Array("record_version,fixmedins_code,kind,division_code,fixmedins_name,licensed_doctors,has_computer,has_network,parent_code,integration_mode\r\n".utf8)
            gbk += Array("1,H33080200001,township_centre,330802101000,".utf8) + [186, 189, 178, 186, 213, 242, 206, 192, 201, 250, 212, 186] + Array(",5,1,1,,\r\n".utf8)
            gbk += Array("1,H33080200101,village_clinic,330802101201,\"".utf8) + [188, 215, 180, 229, 206, 192, 201, 250, 202, 210, 44, 32, 182, 171]
                + Array("\",2,1,1,H33080200001,integrated\r\n".utf8)
            gbk += Array("1,H33080200102,village_clinic,330802101201,x,two,1,1,H33080200001,integrated\r\n".utf8)
            _ = FileManager.default.createFile(atPath: "\(folder)/institutions.csv", contents: Data(gbk))
            let i = try await Self.medicare(stack, ["import", "institutions", "\(folder)/institutions.csv"])
            #expect(i.status == 2 && i.json["created"] as? Int == 2 && i.json["rejected"] as? Int == 1, "\(i.json) \(i.error)")
            let bad = (i.json["rejections"] as? [[String: Any]])?.first
            #expect(bad?["record"] as? Int == 3 && bad?["key"] as? String == "H33080200102" && (bad?["reason"] as? String)?.hasPrefix("licensed_doctors:") == true)
            let ops = try stack.client("operator")
            let clinic = try await RegistryClient(ops).getInstitution(GetInstitutionRequest(fixmedinsCode: "H33080200101"))
            #expect(clinic.record?.fixmedinsName == "甲村卫生室, 东" && clinic.record?.parentCode == "H33080200001")
            await ops.close()

            // Persons as the generator writes them: all land, exit 0.
            let persons = "psn_no,certno,name,insutype,insu_admdvs,psn_insu_stas,account_balance\r\n"
                + "P330802000001,330802195001010012,张三,390,330802,enrolled,12000\r\n"
            _ = FileManager.default.createFile(atPath: "\(folder)/persons.csv", contents: Data(persons.utf8))
            let p = try await Self.medicare(stack, ["import", "persons", "\(folder)/persons.csv"])
            #expect(p.status == 0 && p.json["imported"] as? Int == 1, "\(p.json) \(p.error)")

            // A header that names no known column refuses the file before anything is sent.
            _ = FileManager.default.createFile(atPath: "\(folder)/wrong.csv", contents: Data("code,nom\r\n330802101202,乙村\r\n".utf8))
            let wrong = try await Self.medicare(stack, ["import", "divisions", "\(folder)/wrong.csv"])
            #expect(wrong.status == 1 && wrong.error.contains("header column 'nom' is not one of code, name"), "\(wrong.error)")
        }
    }
}

/// `medicare import catalogue FILE --ver V`: a catalogue version from a 1301-style CSV,
/// streamed in calls and published whole by the last; a file with a bad record publishes
/// nothing, whether the file or the service refuses it.
@Suite("A catalogue version imported from the command line", .serialized)
struct CatalogueImportCLITests {
    static let header = "med_list_codg,list_type,name,chrgitm_lv,selfpay_prop,pric_uplmt_amt,regional_prices,begndate,enddate,max_qty,max_days,chronic_condition,antibiotic,injection,vbp\r\n"

    @Test func aVersionIsPublishedWholeOrNotAtAll() async throws {
        try await withDemoStack(loadDemo: false) { stack in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("medicare-catalogue-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            func file(_ name: String, _ rows: [String]) -> String {
                let path = "\(folder)/\(name)"
                _ = FileManager.default.createFile(atPath: path, contents: Data((Self.header + rows.joined(separator: "\r\n") + "\r\n").utf8))
                return path
            }
            let good = file("good.csv", [
                "XC09AAE001B001010100077,101,依那普利片 5mg,02,1000,80,3308:70;330802:65,2024-01-01,,90,30,hypertension,0,0,1",
                "001102000059999,,一般诊疗费（乙）,01,,1200,,2024-01-01,,1,,,0,0,0",
                "J06.900X001,901,急性上呼吸道感染（测试）,,,,,,,,,,,,",
            ])
            let ops = try stack.client("operator")
            defer { Task { await ops.close() } }
            let before = try await SettlementClient(ops).downloadCatalogue(DownloadCatalogueRequest(limit: 1)).revision

            // Three records in calls of two: staged, then published by the second call.
            let published = try await FileImportCLITests.medicare(stack, ["import", "catalogue", good, "--ver", "cli-2024.12", "--batch", "2"])
            #expect(published.status == 0 && published.json["published"] as? Int == 3, "\(published.json) \(published.error)")
            let revision = try #require(published.json["revision"] as? Int)
            #expect(Int64(revision) > before)
            let download = try await SettlementClient(ops).downloadCatalogue(DownloadCatalogueRequest(afterRevision: before, limit: 100))
            let drug = try #require(download.records.first { $0.medListCodg == "XC09AAE001B001010100077" })
            #expect(drug.chrgitmLv == .classB && drug.selfpayProp?.basisPoints == 1000 && drug.pricUplmtAmt == 80 && drug.vbp)
            #expect(drug.regionalPrices.map(\.admdvs) == ["3308", "330802"] && drug.regionalPrices.map(\.pricUplmtAmt) == [70, 65])
            #expect(drug.chronicCondition == .hypertension && drug.maxQty == 90 && drug.maxDays == 30)
            #expect(Set(download.records.map(\.medListCodg)) == ["XC09AAE001B001010100077", "001102000059999", "J06.900X001"])

            // The same file again: replayed, nothing new.
            let again = try await FileImportCLITests.medicare(stack, ["import", "catalogue", good, "--ver", "cli-2024.12"])
            #expect(again.status == 0 && again.json["replayed"] as? Int == 3, "\(again.json) \(again.error)")

            // A field the file cannot read: every such record reported, nothing sent.
            let unreadable = file("unreadable.csv", ["001102000058888,,检查,01,,100,,,,1,,,0,0,0", "001102000057777,,检查,x,,100,,,,1,,,0,0,0",
                                                      "001102000056666,,检查,01,,100,3308=90,,,1,,,0,0,0"])
            let u = try await FileImportCLITests.medicare(stack, ["import", "catalogue", unreadable, "--ver", "cli-2024.13"])
            #expect(u.status == 2 && u.json["rejected"] as? Int == 2 && u.json["published"] as? Int == 0, "\(u.json) \(u.error)")
            let reasons = (u.json["rejections"] as? [[String: Any]] ?? []).compactMap { $0["reason"] as? String }
            #expect(reasons.count == 2 && reasons[0].hasPrefix("chrgitm_lv:") && reasons[1].hasPrefix("regional_prices:"), "\(reasons)")

            // A record the service refuses in the second call: reported as that record, and the
            // first call's staged records are not published either.
            let refused = file("refused.csv", ["001102000055555,,检查,01,,100,,,,1,,,0,0,0", "001102000054444,,检查,01,,100,,,,1,,,0,0,0",
                                               "X123,,坏药,01,,100,,,,1,,,0,0,0"])
            let r = try await FileImportCLITests.medicare(stack, ["import", "catalogue", refused, "--ver", "cli-2024.14", "--batch", "2"])
            let rejection = (r.json["rejections"] as? [[String: Any]])?.first
            #expect(r.status == 2 && rejection?["record"] as? Int == 3 && rejection?["key"] as? String == "X123", "\(r.json) \(r.error)")
            #expect((rejection?["reason"] as? String)?.hasPrefix("med_list_codg:") == true, "\(String(describing: rejection))")
            let after = try await SettlementClient(ops).downloadCatalogue(DownloadCatalogueRequest(afterRevision: Int64(revision), limit: 100))
            #expect(after.records.isEmpty && after.revision == Int64(revision))

            // Under the stopped import's name, a file that differs from what it staged is
            // refused rather than published with the leftovers.
            let mended = file("mended.csv", ["001102000053333,,检查,01,,100,,,,1,,,0,0,0"])
            let m = try await FileImportCLITests.medicare(stack, ["import", "catalogue", mended, "--ver", "cli-2024.14"])
            #expect(m.status == 1 && m.error.contains("holds 3 staged records, not the 1 sent"), "\(m.error)")
            // Part of a published version is not a replay of it.
            let part = file("part.csv", ["001102000059999,,一般诊疗费（乙）,01,,1200,,2024-01-01,,1,,,0,0,0"])
            let p = try await FileImportCLITests.medicare(stack, ["import", "catalogue", part, "--ver", "cli-2024.12"])
            #expect(p.status == 1 && p.error.contains("is published with 3 records, not this file's 1"), "\(p.error)")
            // A code and begndate twice in the file: both records named, nothing sent.
            let twice = file("twice.csv", ["001102000052222,,检查,01,,100,,,,1,,,0,0,0", "001102000052222,,检查,01,,200,,,,1,,,0,0,0"])
            let t = try await FileImportCLITests.medicare(stack, ["import", "catalogue", twice, "--ver", "cli-2024.15"])
            let duplicate = (t.json["rejections"] as? [[String: Any]])?.first
            #expect(t.status == 2 && duplicate?["record"] as? Int == 2 && (duplicate?["reason"] as? String)?.contains("record 1's too") == true, "\(t.json) \(t.error)")

            // No --ver: refused, nothing sent.
            let unnamed = try await FileImportCLITests.medicare(stack, ["import", "catalogue", good])
            #expect(unnamed.status == 1 && unnamed.error.contains("--ver"), "\(unnamed.error)")
        }
    }
}

/// `medicare load --report`: the run's figures as JSON, the latency distribution as CSV and
/// its plot as SVG; at a fixed rate, latency counts from each call's scheduled time.
@Suite("Load generator report", .serialized)
struct LoadReportTests {
    @Test func aFixedRateRunWritesItsReport() async throws {
        try await withDemoStack(loadDemo: false) { stack in
            // The load generator's claims are the synthetic county's (`medicare demo`).
            let demo = try await runCommand(Executables.path("medicare"), [
                "demo", "--persons", "200", "--gateway", "127.0.0.1:\(stack.gateway.rpcPort)", "--certs", "\(stack.folder)/certs",
            ], timeout: .seconds(120))
            #expect(demo.status == 0, "\(demo.error)")
            let prefix = NSTemporaryDirectory() + "load-\(UUID().uuidString.prefix(8))"
            let run = try await runCommand(Executables.path("medicare"), [
                "load", "--rate", "100", "--duration", "2", "--concurrency", "8", "--persons", "200", "--mix", "settle=1,read=1,visit=1",
                "--gateway", "127.0.0.1:\(stack.gateway.rpcPort)", "--certs", "\(stack.folder)/certs", "--report", prefix,
            ], timeout: .seconds(60))
            #expect(run.status == 0, "\(run.error)")
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: prefix + ".json"))) as? [String: Any]
            #expect(json?["latency_from"] as? String == "scheduled time" && (json?["calls"] as? Int ?? 0) > 50, "\(String(describing: json))")
            let operations = json?["operations"] as? [[String: Any]] ?? []
            #expect(Set(operations.compactMap { $0["operation"] as? String }) == ["settle", "read", "visit"], "\(operations)")
            // The national flow's visits (register, diagnoses, details, settle by reference) all pass.
            #expect((json?["errors"] as? [Any])?.isEmpty == true, "\(String(describing: json?["errors"]))")
            #expect(((operations.first?["latency_ms"] as? [String: Any])?["p99"] as? Double ?? 0) > 0)
            let csv = try String(contentsOfFile: prefix + ".csv", encoding: .utf8)
            #expect(csv.hasPrefix("operation,percentile,latency_ms\r\n") && csv.contains("\r\nsettle,99,"), "\(csv.prefix(200))")
            let svg = try String(contentsOfFile: prefix + ".svg", encoding: .utf8)
            #expect(svg.hasPrefix("<svg") && svg.contains("<path") && svg.contains(">settle</text>"))
            for suffix in [".json", ".csv", ".svg"] { try? FileManager.default.removeItem(atPath: prefix + suffix) }

            // Visits stopped after 2204 (`--visit-steps 3`) upload their details and settle nothing.
            func served(_ method: String) async throws -> Int {
                let (_, metrics) = try await stack.settlement.get("/metrics")
                let line = metrics.split(separator: "\n").first { $0.hasPrefix("medicare_rpc_duration_seconds_count{method=\"medicare.v1.Settlement/\(method)\"}") }
                return line.flatMap { $0.split(separator: " ").last.flatMap { Int($0) } } ?? 0
            }
            let (settles, uploads) = (try await served("Settle"), try await served("UploadFeeDetails"))
            let common = ["--persons", "200", "--mix", "visit=1", "--gateway", "127.0.0.1:\(stack.gateway.rpcPort)", "--certs", "\(stack.folder)/certs"]
            let partial = try await runCommand(Executables.path("medicare"), ["load", "--count", "20", "--concurrency", "4", "--visit-steps", "3"] + common, timeout: .seconds(60))
            #expect(partial.status == 0, "\(partial.error)")
            let (settlesAfter, uploadsAfter) = (try await served("Settle"), try await served("UploadFeeDetails"))
            #expect(settlesAfter == settles && uploadsAfter == uploads + 20, "\(settles) → \(settlesAfter), \(uploads) → \(uploadsAfter)")
            let wrong = try await runCommand(Executables.path("medicare"), ["load", "--count", "1", "--visit-steps", "5"] + common, timeout: .seconds(60))
            #expect(wrong.status != 0 && wrong.error.contains("--visit-steps must be 1-4, got 5"), "\(wrong.error)")
        }
    }
}

/// A verb per method, its fields as flags: every public method from the command line.
@Suite("A CLI verb for every method", .serialized)
struct MethodVerbTests {
    @Test func methodsAsVerbsWithTheirFieldsAsFlags() async throws {
        try await withDemoStack { stack in
            let common = ["--gateway", "127.0.0.1:\(stack.gateway.rpcPort)", "--certs", "\(stack.folder)/certs"]
            let text = try await runCommand(Executables.path("medicare"), ["registry", "get-institution", "--fixmedins-code", "H33080200101"] + common)
            let shown = String(decoding: text.output, as: UTF8.self)
            #expect(text.status == 0 && shown.contains("record.fixmedins_code: H33080200101") && shown.contains("designation_status: designated"), "\(shown) \(text.error)")
            let json = try await runCommand(Executables.path("medicare"), ["settlement-reports", "get-day-totals", "--region", "330802", "--date", "2024-06-01", "--json"] + common)
            #expect(json.status == 0 && (try? JSONSerialization.jsonObject(with: json.output)) is [String: Any], "\(json.error)")
            let repeated = try await runCommand(Executables.path("medicare"), [
                "registry", "apply-for-designation", "--fixmedins-codes", "H33080200101,H33080200001", "--json",
            ] + common)
            #expect(repeated.status == 1 && repeated.error.contains("failed_precondition: fixmedins_codes[0]"), "\(repeated.error)")
            let typo = try await runCommand(Executables.path("medicare"), ["registry", "get-institution", "--fixmedins-cod", "H33080200101"] + common)
            #expect(typo.status != 0 && typo.error.contains("--fixmedins-cod: not a field of medicare.v1.GetInstitutionRequest"), "\(typo.error)")
            let unknown = try await runCommand(Executables.path("medicare"), ["supervision", "no-such-thing"] + common)
            #expect(unknown.status != 0 && unknown.error.contains("Supervision has no method no-such-thing"), "\(unknown.error)")
        }
    }
}
