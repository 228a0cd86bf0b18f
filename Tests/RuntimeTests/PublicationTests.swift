import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareTestSupport
import MedicareWire
import Testing

/// The catalogue and the benefit policy as data published through the gateway: a catalogue
/// version imported in two calls reaches settlement and supervision without a restart and
/// prices a line at its regional reference price; a clinic downloads it (1301) and maps its
/// own code to it (3301); a policy version published for today settles the next claim.
@Suite("Publications", .serialized)
struct PublicationTests {
    static let clinic = "H33080200101"
    static let drug = "XC09AAE011B001010100042"   // 依那普利片 5mg (ATC C09AA02)
    static let service = "001203000010000"

    static func record(_ code: String, _ name: String, _ lv: ChrgitmLv, _ price: Int64, regional: [RegionalPrice] = []) -> CatalogueRecord {
        CatalogueRecord(medListCodg: code, name: name, chrgitmLv: lv, pricUplmtAmt: price, regionalPrices: regional, begndate: "2024-01-01")
    }

    @Test func aCatalogueVersionAndAPolicyVersionPublishedThroughTheGatewayApplyWithoutARestart() async throws {
        try await withDemoStack { stack in
            let ops = SettlementClient(try stack.client("operator"))
            let clinicConnection = try stack.client("clinic-\(Self.clinic)")
            let clinic = SettlementClient(clinicConnection)

            // A record out of form is refused, naming it; nothing is staged.
            let bad = await #expect(throws: RPCError.self) {
                _ = try await ops.importCatalogue(ImportCatalogueRequest(ver: "test-2024.2", records: [Self.record("XA01", "短码", .classA, 10)], last: true))
            }
            #expect(bad?.code == .invalidArgument && bad?.message.hasPrefix("records[0].med_list_codg:") == true, "\(String(describing: bad))")
            // A clinic may not import.
            let notClinic = await #expect(throws: RPCError.self) {
                _ = try await clinic.importCatalogue(ImportCatalogueRequest(ver: "x", records: [], last: true))
            }
            #expect(notClinic?.code == .permissionDenied)

            // Two calls: staged, then published whole.
            let first = try await ops.importCatalogue(ImportCatalogueRequest(ver: "test-2024.2", records: [
                Self.record(Self.drug, "依那普利片 5mg", .classA, 100, regional: [RegionalPrice(admdvs: "3308", pricUplmtAmt: 80)]),
            ]))
            #expect(first.staged == 1 && first.revision == 0)
            let lastChunk = ImportCatalogueRequest(ver: "test-2024.2", records: [Self.record(Self.service, "肌肉注射", .classB, 500)], last: true)
            let published = try await ops.importCatalogue(lastChunk)
            #expect(published.staged == 2 && published.revision > 0 && !published.replay)
            let replay = try await ops.importCatalogue(lastChunk)
            #expect(replay.replay && replay.revision == published.revision)
            var other = lastChunk
            other.records[0].pricUplmtAmt = 600
            let conflict = await #expect(throws: RPCError.self) { _ = try await ops.importCatalogue(other) }
            #expect(conflict?.code == .alreadyExists)

            // 1301: the clinic downloads what was published, a page at a time.
            var downloaded: [CatalogueRecord] = []
            var request = DownloadCatalogueRequest(afterRevision: 0, limit: 4)
            while true {
                let page = try await clinic.downloadCatalogue(request)
                downloaded += page.records
                guard page.more else { break }
                request.uptoRevision = page.revision
                request.afterCode = page.nextCode
            }
            let codes = downloaded.map(\.medListCodg)
            #expect(codes.contains(Self.drug) && codes.contains(Self.service) && codes.contains("XJ01CAA040A001010100001"), "\(codes)")
            #expect(codes == codes.sorted(), "by code")

            // Settlement and supervision apply it within seconds: the claim settles (review's
            // R007 would block an item its catalogue does not list) at the Quzhou price, 0.80.
            let gateway = GatewayClient(clinicConnection)
            var settled: GatewaySettleResponse?
            for attempt in 0..<40 where settled == nil {
                do {
                    settled = try await gateway.settle(stackClaim("PUB-1", lines: [(Self.drug, 10, 100)]), options: keyed("pub-1"))
                } catch let error as RPCError where error.code == .failedPrecondition && attempt < 39 {
                    try await Task.sleep(for: .milliseconds(250))
                }
            }
            let result = try #require(settled?.settlement)
            #expect(settled?.review?.verdict != .block, "\(String(describing: settled?.review))")
            // 10 x 1.00 charged, 10 x 0.80 allowed: 2.00 over the limit, self-paid.
            #expect(result.medfeeSumamt == 1000 && result.overlmtSelfpay == 200, "\(result)")

            // 3301: the clinic's own code maps to the national one; a detail may then name only
            // its own code, and naming another national code for it is refused.
            _ = try await clinic.signIn(SignInRequest(fixmedinsCode: Self.clinic, opterNo: "D001", opterName: "赵医生"))
            let unknown = await #expect(throws: RPCError.self) {
                _ = try await clinic.mapCatalogueCodes(MapCatalogueCodesRequest(fixmedinsCode: Self.clinic, mappings: [
                    CatalogueMapping(medinsListCodg: "YP-X", medListCodg: "XC09AAE011B001010199999"),
                ]))
            }
            #expect(unknown?.code == .failedPrecondition && unknown?.message.hasPrefix("mappings[0].med_list_codg:") == true)
            #expect(try await clinic.mapCatalogueCodes(MapCatalogueCodesRequest(fixmedinsCode: Self.clinic, mappings: [
                CatalogueMapping(medinsListCodg: "YP-ENALAPRIL", medListCodg: Self.drug, medinsListName: "依那普利"),
            ])).mapped == 1)
            let visit = try await clinic.registerVisit(RegisterVisitRequest(
                fixmedinsCode: Self.clinic, iptOtpNo: "OP-PUB-1", psnNo: "P3", insutype: .residentBasic, medType: .generalOutpatient,
                begntime: CivilDate.today().description, atddrNo: "DR01", opterNo: "D001", mdtrtCertType: .ecard, mdtrtCertNo: "E-PUB-1"
            ))
            let uploaded = try await clinic.uploadFeeDetails(UploadFeeDetailsRequest(fixmedinsCode: Self.clinic, mdtrtID: visit.mdtrtID, details: [
                FeeDetail(feedetlSn: "1", medListCodg: "", medinsListCodg: "YP-ENALAPRIL", cnt: 2, pric: 80, bilgDrCodg: "DR01", days: 2),
            ], opterNo: "D001"))
            #expect(uploaded.details.first?.medListCodg == Self.drug)
            let mismatch = await #expect(throws: RPCError.self) {
                _ = try await clinic.uploadFeeDetails(UploadFeeDetailsRequest(fixmedinsCode: Self.clinic, mdtrtID: visit.mdtrtID, details: [
                    FeeDetail(feedetlSn: "2", medListCodg: "XJ01CAA040A001010100001", medinsListCodg: "YP-ENALAPRIL", cnt: 1, pric: 50, bilgDrCodg: "DR01", days: 1),
                ], opterNo: "D001"))
            }
            #expect(mismatch?.code == .failedPrecondition && mismatch?.message.hasPrefix("details[0].med_list_codg:") == true, "\(String(describing: mismatch))")
            // A diagnosis of the disease list is not a fee detail (E11 has an item code's form too).
            let diagnosis = await #expect(throws: RPCError.self) {
                _ = try await clinic.uploadFeeDetails(UploadFeeDetailsRequest(fixmedinsCode: Self.clinic, mdtrtID: visit.mdtrtID, details: [
                    FeeDetail(feedetlSn: "3", medListCodg: "E11", medinsListCodg: "DX-E11", cnt: 1, pric: 50, bilgDrCodg: "DR01"),
                ], opterNo: "D001"))
            }
            #expect(diagnosis?.code == .failedPrecondition && diagnosis?.message.contains("is a diagnosis") == true, "\(String(describing: diagnosis))")
            #expect(try await clinic.unmapCatalogueCodes(UnmapCatalogueCodesRequest(fixmedinsCode: Self.clinic, medinsListCodgs: ["YP-ENALAPRIL", "NONE"])).unmapped == 1)

            // A policy version for the county from today: published once, never retroactively.
            let today = CivilDate.today()
            var policy = try PolicyBook.bundled().policies.first { $0.version == "quzhou-2024.1" }!
            policy.region = "330802"
            policy.version = "kecheng-test.1"
            policy.poolingRatio["general_outpatient"] = 7000
            policy.effectiveFrom = today.description
            let json = String(decoding: try JSONEncoder().encode(policy), as: UTF8.self)
            var past = policy
            past.version = "kecheng-test.0"
            past.effectiveFrom = "2024-01-01"
            let retroactive = await #expect(throws: RPCError.self) {
                _ = try await ops.publishPolicy(PublishPolicyRequest(policyJson: String(decoding: try JSONEncoder().encode(past), as: UTF8.self)))
            }
            #expect(retroactive?.code == .invalidArgument && retroactive?.message.hasPrefix("kecheng-test.0.effectiveFrom:") == true, "\(String(describing: retroactive))")
            var broken = policy
            broken.poolingRatio["general_outpatient"] = 12_000
            let outOfRange = await #expect(throws: RPCError.self) {
                _ = try await ops.publishPolicy(PublishPolicyRequest(policyJson: String(decoding: try JSONEncoder().encode(broken), as: UTF8.self)))
            }
            #expect(outOfRange?.message.hasPrefix("kecheng-test.1.poolingRatio.general_outpatient:") == true, "\(String(describing: outOfRange))")
            let publishedPolicy = try await ops.publishPolicy(PublishPolicyRequest(policyJson: json))
            #expect(!publishedPolicy.replay && publishedPolicy.publishedBy == "gateway")
            #expect(try await ops.publishPolicy(PublishPolicyRequest(policyJson: json)).replay)
            #expect(try await ops.listPolicies(ListPoliciesRequest()).policies.contains { $0.version == "kecheng-test.1" })

            // Today's claim settles under it once the replicas have it (20.00 all 甲: 70% = 14.00).
            var underNew: SettlementResult?
            // (each attempt another person: R003 refuses the same item twice a day.)
            for attempt in 0..<12 {
                let r = try await gateway.settle(stackClaim("PUB-\(attempt + 2)", person: attempt + 4, date: today.description), options: keyed("pub-\(attempt + 2)"))
                if r.settlement?.policyVersion == "kecheng-test.1" { underNew = r.settlement; break }
                try await Task.sleep(for: .milliseconds(700))
            }
            let newResult = try #require(underNew)
            #expect(newResult.hifpPay == 1400, "\(newResult)")
        }
    }
}
