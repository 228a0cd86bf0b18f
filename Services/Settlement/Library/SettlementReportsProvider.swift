import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareStore
import MedicareWire

/// medicare.v1.SettlementReports: day totals per institution or region.
public struct SettlementReportsProvider: SettlementReportsService {
    let store: SettlementStore

    public init(store: SettlementStore) { self.store = store }

    /// Totals for one business day, by the day the money moved: settlements posted that day
    /// and reversals posted that day (of settlements from any day), sums net of the reversals.
    /// A closed day never changes. `institution` counts its own claims and those it settled
    /// for its clinics; `region` (up to 6 digits) the institutions whose code starts with it.
    public func getDayTotals(_ request: DayTotalsRequest, context: CallContext) async throws -> DayTotals {
        let date = try CivilDate(request.date, field: "date")
        guard request.region.utf8.count <= 6, request.region.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw DomainError(field: "region", "must be up to 6 digits of the county code")
        }
        let scope: SettlementStore.TotalsScope = if !request.institution.isEmpty {
            .institution(try InstitutionCode(request.institution, field: "institution"))
        } else if !request.region.isEmpty {
            .region(request.region)
        } else {
            .all
        }
        return try await store.dayTotals(on: date, scope: scope)
    }
}
