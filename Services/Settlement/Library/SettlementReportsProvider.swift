import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareStore
import MedicareWire

/// medicare.v1.SettlementReports: day totals per institution or region.
public struct SettlementReportsProvider: SettlementReportsService {
    let database: any SQLDatabase

    public init(database: any SQLDatabase) { self.database = database }

    /// Totals for one business day, by the day the money moved: settlements posted that day
    /// and reversals posted that day (of settlements from any day), sums net of the reversals.
    /// A closed day never changes. `institution` counts its own claims and those it settled
    /// for its clinics; `region` (up to 6 digits) the institutions whose code starts with it.
    public func getDayTotals(_ request: DayTotalsRequest, context: CallContext) async throws -> DayTotals {
        let date = try CivilDate(request.date, field: "date").description
        guard request.region.utf8.count <= 6, request.region.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw DomainError(field: "region", "must be up to 6 digits of the county code")
        }
        let sums = "COUNT(*) AS n, SUM(s.medfee_sumamt) AS medfee, SUM(s.hifp_pay) AS fund, SUM(s.acct_pay) AS acct, SUM(s.psn_cash_pay) AS cash"
        let posted = "SELECT \(sums) FROM settlements s WHERE s.setl_date = $1"
        let reversed = "SELECT \(sums) FROM reversals r JOIN settlements s ON s.setl_id = r.setl_id WHERE r.rev_date = $1"
        var filters: [String] = [""]
        var binds: [SQLValue] = [.text(date)]
        if !request.institution.isEmpty {
            // Its own claims, plus those it settled for its clinics.
            let code = try InstitutionCode(request.institution, field: "institution")
            filters = [" AND s.fixmedins_code = $2", " AND s.settle_via = $2 AND s.fixmedins_code <> $2"]
            binds.append(.text(code.value))
        } else if !request.region.isEmpty {
            // A range, not LIKE, so that the (setl_date, fixmedins_code) index serves it.
            filters = [" AND s.fixmedins_code >= $2 AND s.fixmedins_code < $3"]
            binds.append(.text("H" + request.region))
            binds.append(.text("H" + request.region + "~"))
        }
        let queries = filters.flatMap { [(posted + $0, Int64(1)), (reversed + $0, Int64(-1))] }, finalBinds = binds
        return try await database.read { tx in
            var totals = DayTotals()
            for (query, sign) in queries {
                guard let row = try await tx.queryOne(query, finalBinds) else { continue }
                let n = UInt32(try row.optionalInt("n") ?? 0)
                if sign > 0 { totals.settlements += n } else { totals.reversed += n }
                totals.medfeeSumamt += sign * (try row.optionalInt("medfee") ?? 0)
                totals.fundPaySumamt += sign * (try row.optionalInt("fund") ?? 0)
                totals.acctPay += sign * (try row.optionalInt("acct") ?? 0)
                totals.psnCashPay += sign * (try row.optionalInt("cash") ?? 0)
            }
            return totals
        }
    }
}
