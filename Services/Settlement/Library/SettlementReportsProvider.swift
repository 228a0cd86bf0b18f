import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareStore
import MedicareWire

/// medicare.v1.SettlementReports: day totals per institution or region.
public struct SettlementReportsProvider: SettlementReportsService {
    let database: any SQLDatabase

    public init(database: any SQLDatabase) { self.database = database }

    public func getDayTotals(_ request: DayTotalsRequest, context: CallContext) async throws -> DayTotals {
        let date = try CivilDate(request.date, field: "date").description
        guard request.region.utf8.count <= 6, request.region.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw DomainError(field: "region", "must be up to 6 digits of the county code")
        }
        var sql = """
            SELECT SUM(CASE WHEN status = 'settled' THEN 1 ELSE 0 END) AS live, SUM(CASE WHEN status = 'reversed' THEN 1 ELSE 0 END) AS reversed,
              SUM(CASE WHEN status = 'settled' THEN medfee_sumamt ELSE 0 END) AS medfee, SUM(CASE WHEN status = 'settled' THEN hifp_pay ELSE 0 END) AS fund,
              SUM(CASE WHEN status = 'settled' THEN acct_pay ELSE 0 END) AS acct, SUM(CASE WHEN status = 'settled' THEN psn_cash_pay ELSE 0 END) AS cash
            FROM settlements WHERE setl_date = $1
            """
        var binds: [SQLValue] = [.text(date)]
        if !request.institution.isEmpty {
            let code = try InstitutionCode(request.institution, field: "institution")
            sql += " AND (fixmedins_code = $2 OR settle_via = $2)"
            binds.append(.text(code.value))
        } else if !request.region.isEmpty {
            sql += " AND fixmedins_code LIKE $2"
            binds.append(.text("H" + request.region + "%"))
        }
        let finalSQL = sql, finalBinds = binds
        return try await database.read { tx in
            let row = try await tx.queryOne(finalSQL, finalBinds)
            return DayTotals(
                settlements: UInt32(try row?.optionalInt("live") ?? 0), reversed: UInt32(try row?.optionalInt("reversed") ?? 0),
                medfeeSumamt: try row?.optionalInt("medfee") ?? 0, fundPaySumamt: try row?.optionalInt("fund") ?? 0,
                acctPay: try row?.optionalInt("acct") ?? 0, psnCashPay: try row?.optionalInt("cash") ?? 0
            )
        }
    }
}
