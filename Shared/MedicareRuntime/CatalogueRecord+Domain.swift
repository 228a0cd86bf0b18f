import Foundation
import MedicareDomain
import MedicareWire

extension CatalogueRecord {
    /// The record as the domain's ``CatalogueItem``, checked whole (``CatalogueItem/validate(_:)``)
    /// with every error naming the wire field under `field` (`records[3].med_list_codg`).
    /// - Throws: ``DomainError`` (`invalid`).
    public func item(_ field: String) throws(DomainError) -> CatalogueItem {
        let listType: String?
        switch self.listType {
        case .unspecified: listType = nil
        case .drug, .herbal, .service, .consumable, .disease: listType = String(self.listType.rawValue)
        case .unrecognized(let n): throw DomainError(field: "\(field).list_type", "\(n) is not a list type")
        }
        let category: String
        switch chrgitmLv {
        case .classA: category = "A"
        case .classB: category = "B"
        case .classC: category = "C"
        // A disease record has none (CatalogueItem.validate refuses one given).
        case .unspecified where self.listType == .disease: category = ""
        default: throw DomainError(field: "\(field).chrgitm_lv", "is required: CHRGITM_LV_CLASS_A, _B or _C")
        }
        guard regionalPrices.count <= 64 else { throw DomainError(field: "\(field).regional_prices", "at most 64, got \(regionalPrices.count)") }
        var prices: [String: Int64] = [:]
        for (i, price) in regionalPrices.enumerated() {
            guard prices.updateValue(price.pricUplmtAmt, forKey: price.admdvs) == nil else {
                throw DomainError(field: "\(field).regional_prices[\(i)].admdvs", "\(quoted(price.admdvs)) appears twice")
            }
        }
        guard maxQty >= 0 else { throw DomainError(field: "\(field).max_qty", "must not be negative") }
        guard maxDays >= 0 else { throw DomainError(field: "\(field).max_days", "must not be negative") }
        let condition: String?
        switch chronicCondition {
        case .unspecified: condition = nil
        case .hypertension: condition = "hypertension"
        case .diabetes: condition = "diabetes"
        case .unrecognized(let n): throw DomainError(field: "\(field).chronic_condition", "\(n) is not a condition")
        }
        let item = CatalogueItem(
            // Diagnoses in upper case, as claims carry them (I10.x00 is I10.X00).
            code: self.listType == .disease ? medListCodg.uppercased() : medListCodg, name: name, category: category, referencePrice: pricUplmtAmt, listType: listType,
            selfPayRatio: selfpayProp?.basisPoints, regionalPrices: prices.isEmpty ? nil : prices,
            begndate: begndate.isEmpty ? nil : begndate, enddate: enddate.isEmpty ? nil : enddate,
            maxQuantity: maxQty == 0 ? nil : maxQty, maxDays: maxDays == 0 ? nil : maxDays, chronicCondition: condition,
            antibiotic: antibiotic ? true : nil, injection: injection ? true : nil, vbp: vbp ? true : nil
        )
        do {
            try item.validate(field)
        } catch {
            // The domain's names (`.code`, `.referencePrice`) as the wire's.
            throw DomainError(error.kind, field: Self.wireNames.reduce(error.field) { $0.replacingOccurrences(of: $1.0, with: $1.1) }, error.message)
        }
        return item
    }

    /// The domain field names and the wire's, for errors.
    static let wireNames = [
        (".code", ".med_list_codg"), (".listType", ".list_type"), (".category", ".chrgitm_lv"), (".referencePrice", ".pric_uplmt_amt"),
        (".selfPayRatio", ".selfpay_prop"), (".regionalPrices", ".regional_prices"), (".maxQuantity", ".max_qty"),
        (".maxDays", ".max_days"), (".chronicCondition", ".chronic_condition"),
    ]

    /// The wire form of a catalogue record (``CatalogueItem``).
    public init(_ item: CatalogueItem) {
        self.init(
            medListCodg: item.code, listType: item.resolvedListType.map { ListType(rawValue: Int32($0.rawValue)!) } ?? .unspecified,
            name: item.name,
            chrgitmLv: item.category == "A" ? .classA : item.category == "B" ? .classB : item.category == "C" ? .classC : .unspecified,
            selfpayProp: item.selfPayRatio.map { SelfpayProp(basisPoints: $0) }, pricUplmtAmt: item.referencePrice,
            regionalPrices: (item.regionalPrices ?? [:]).sorted { $0.key < $1.key }.map { RegionalPrice(admdvs: $0.key, pricUplmtAmt: $0.value) },
            begndate: item.begndate ?? "", enddate: item.enddate ?? "", maxQty: item.maxQuantity ?? 0, maxDays: item.maxDays ?? 0,
            chronicCondition: item.chronicCondition == "hypertension" ? .hypertension : item.chronicCondition == "diabetes" ? .diabetes : .unspecified,
            antibiotic: item.antibiotic ?? false, injection: item.injection ?? false, vbp: item.vbp ?? false
        )
    }
}
