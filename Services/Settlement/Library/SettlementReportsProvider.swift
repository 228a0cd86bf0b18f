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
        var second: String?
        if !request.institution.isEmpty {
            // Its own claims, plus those it settled for its clinics: two index lookups.
            let code = try InstitutionCode(request.institution, field: "institution")
            second = sql + " AND settle_via = $2 AND fixmedins_code <> $2"
            sql += " AND fixmedins_code = $2"
            binds.append(.text(code.value))
        } else if !request.region.isEmpty {
            // A range, not LIKE, so that the (setl_date, fixmedins_code) index serves it.
            sql += " AND fixmedins_code >= $2 AND fixmedins_code < $3"
            binds.append(.text("H" + request.region))
            binds.append(.text("H" + request.region + "~"))
        }
        let queries = [sql] + (second.map { [$0] } ?? []), finalBinds = binds
        return try await database.read { tx in
            var totals = DayTotals()
            for query in queries {
                let row = try await tx.queryOne(query, finalBinds)
                totals.settlements += UInt32(try row?.optionalInt("live") ?? 0)
                totals.reversed += UInt32(try row?.optionalInt("reversed") ?? 0)
                totals.medfeeSumamt += try row?.optionalInt("medfee") ?? 0
                totals.fundPaySumamt += try row?.optionalInt("fund") ?? 0
                totals.acctPay += try row?.optionalInt("acct") ?? 0
                totals.psnCashPay += try row?.optionalInt("cash") ?? 0
            }
            return totals
        }
    }
}
