import Foundation
import MedicareContracts
import MedicareDomain
import MedicareWire
import Testing

/// The generated JSON form of the messages (`medicare call`, rule documents).
@Suite("JSON form")
struct JSONFormTests {
    @Test func aClaimRoundTripsWithTheProtosFieldNamesAndCodes() throws {
        let claim = Claim(mdtrtID: "M1", psnNo: "P1", fixmedinsCode: "H33080200101", medType: .chronicOutpatient, visitDate: "2024-06-01",
                          diagnoses: ["I10"], lines: [FeeLine(itemCode: "XJ01CAA040A001010100001", quantity: 20, unitPrice: 50, days: 5)], useAccount: true,
                          insutype: .residentBasic)
        let object = claim.jsonObject
        #expect(object["mdtrt_id"] as? String == "M1" && object["med_type"] as? String == "chronic_outpatient" && object["use_account"] as? Bool == true)
        #expect(object["settle_via"] == nil, "zero values are left out")
        #expect(try Claim(jsonData: claim.jsonData()) == claim)
    }

    @Test func codesAreReadByCodeNumberOrProtoNameAndSixtyFourBitIntegersFromStrings() throws {
        let byNumber = try Claim(jsonData: Data(#"{"med_type": 14, "insutype": "INSUTYPE_RESIDENT_BASIC"}"#.utf8))
        #expect(byNumber.medType == .chronicOutpatient && byNumber.insutype == .residentBasic)
        let big = try SettlementResult(jsonData: Data(#"{"medfee_sumamt": "9007199254740993"}"#.utf8))
        #expect(big.medfeeSumamt == 9_007_199_254_740_993)
    }

    @Test(arguments: [
        (#"{"lines": [{"item_code": "X", "quantity": 1.5}]}"#, "lines[0].quantity"),
        (#"{"lines": [{"itemcode": "X"}]}"#, "lines[0].itemcode"),
        (#"{"med_type": "outpatient"}"#, "med_type"),
        (#"{"diagnoses": "I10"}"#, "diagnoses"),
        (#"{"use_account": 1}"#, "use_account"),
        (#"{"lines": [{"days": "7"}]}"#, "lines[0].days"),
    ])
    func aBadValueIsRefusedNamingItsPath(json: String, field: String) {
        #expect(performing: { _ = try Claim(jsonData: Data(json.utf8)) }, throws: { ($0 as? DomainError)?.field == field })
    }

    @Test func everyMethodOfEveryServiceIsCallableInJSON() {
        let all = Set(JSONMethods.all.map(\.descriptor.fullName))
        for methods in [RegistryMethods.all, SettlementMethods.all, SupervisionMethods.all, GatewayMethods.all, HealthMethods.all, EchoMethods.all] {
            for method in methods { #expect(all.contains(method.fullName), "\(method.fullName)") }
        }
        #expect(JSONMethod.named("settlement/getsettlement")?.responseType == "medicare.v1.SettlementResult")
    }
}
