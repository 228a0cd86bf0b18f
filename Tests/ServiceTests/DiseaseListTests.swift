import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareStore
import MedicareTestSupport
import MedicareWire
import SettlementService
import Testing

/// The disease list (医保疾病诊断分类与代码) as catalogue data: once the catalogue holds one, a
/// claim's diagnoses must be in it on the visit day; a diagnosis is not a billable item; its
/// records are checked in their own form.
@Suite struct DiseaseListTests {
    /// The bundled book with K35.8 listed only from 2024-07-01.
    static let book: PolicyBook = {
        var book = try! PolicyBook.bundled()
        book.catalogue.append(CatalogueItem(code: "K35.800", name: "急性阑尾炎", category: "", referencePrice: 0, listType: "901", begndate: "2024-07-01"))
        return book
    }()

    @Test func diagnosesMustBeListedOnTheVisitDay() async throws {
        try await withSettlement(policies: Self.book) { s in
            func refusal(_ diagnoses: [String], date: String = "2024-06-01", lines: [(String, Int64, Int64)] = [("XJ01CAA040A001010100001", 10, 50)]) async -> RPCError? {
                await #expect(throws: RPCError.self) { _ = try await s.preSettle(claim("D1", date: date, lines, diagnoses: diagnoses)) }
            }
            // Listed (in any case: the insurance version's lower-case x is upper-cased).
            let listed = try await s.preSettle(claim("D1", [("XJ01CAA040A001010100001", 10, 50)], diagnoses: ["J06.9", "i10.x00", "E11.900X001"]))
            #expect(listed.hifpPay == 300)
            // Well formed, not listed: FAILED_PRECONDITION naming the diagnosis.
            let unlisted = await refusal(["J06.9", "Z99.999"])
            #expect(unlisted?.code == .failedPrecondition && unlisted?.message.hasPrefix("claim.diagnoses[1]:") == true && unlisted?.message.contains("Z99.999") == true,
                    "\(String(describing: unlisted))")
            // Listed from 2024-07-01 only.
            let early = await refusal(["K35.800"])
            #expect(early?.message.contains("is not in the disease list on 2024-06-01") == true, "\(String(describing: early))")
            _ = try await s.preSettle(claim("D2", date: "2024-07-02", [("XJ01CAA040A001010100001", 10, 50)], diagnoses: ["K35.800"]))
            // Out of form: INVALID_ARGUMENT, as before.
            let malformed = await refusal(["I1O"])
            #expect(malformed?.code == .invalidArgument && malformed?.message.hasPrefix("claim.diagnoses[0]") == true)
            // A diagnosis is not something to bill.
            let billed = await refusal(["J06.9"], lines: [("E11.900", 1, 100)])
            #expect(billed?.code != nil && billed?.message.contains("E11.900") == true, "\(String(describing: billed))")
        }
    }

    /// A disease record has a name and dates only; the wire's errors name the wire's fields.
    @Test func diseaseRecordsAreCheckedInTheirOwnForm() throws {
        let good = CatalogueRecord(medListCodg: "e11.900x001", listType: .disease, name: "2型糖尿病性酮症", begndate: "2024-01-01")
        #expect(try good.item("records[0]").code == "E11.900X001")
        #expect(try good.item("records[0]").isDisease)
        func field(_ record: CatalogueRecord) -> String {
            do { _ = try record.item("records[0]"); return "accepted" } catch { return error.field }
        }
        var priced = good
        priced.pricUplmtAmt = 100
        #expect(field(priced) == "records[0].pric_uplmt_amt")
        var graded = good
        graded.chrgitmLv = .classA
        #expect(field(graded) == "records[0].chrgitm_lv")
        var drugForm = good
        drugForm.medListCodg = "XJ01CAA040A001010100001"
        #expect(field(drugForm) == "records[0].med_list_codg")
        // Without the disease list type it is taken for an item, which needs its category.
        var untyped = good
        untyped.listType = .unspecified
        #expect(field(untyped) == "records[0].chrgitm_lv")
        // The national insurance version's extended codes are ICD-10 codes too.
        #expect(try DiagnosisCode("E11.900x001").value == "E11.900X001")
        #expect(throws: DomainError.self) { try DiagnosisCode("E11.900x0011") }
        // The catalogue counts its diagnoses apart from its items.
        let catalogue = Catalogue(try PolicyBook.bundled().catalogue)
        #expect(catalogue.diseaseCount > 30 && catalogue.diagnosis("I10", on: "2024-06-01") != nil && catalogue.diagnosis("XJ01CAA040A001010100001", on: "2024-06-01") == nil)
    }
}
