import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareStore
import MedicareWire

/// Supervision's recoveries (追回) and withholdings (暂扣) against institutions (issue 14):
/// each a row in `receivables` and a balanced ledger transaction (`txn_id` "R:" + the ref),
/// written together, once per action ref.
extension SettlementStore {
    /// The ledger lines of a receivable: a recovery is owed by the institution to the fund
    /// (debit `institution:receivable:<code>`, credit `fund:recovered`); a withholding moves
    /// part of what the fund owes it to held (debit `institution:payable:<code>`, credit
    /// `institution:withheld:<code>`).
    static func entries(of receivable: Receivable) -> [LedgerEntry] {
        let code = receivable.payee.isEmpty ? receivable.fixmedinsCode : receivable.payee
        switch receivable.kind {
        case .withholding:
            return [LedgerEntry(account: "institution:payable:\(code)", debit: receivable.amount, credit: 0),
                    LedgerEntry(account: "institution:withheld:\(code)", debit: 0, credit: receivable.amount)]
        default:
            return [LedgerEntry(account: "institution:receivable:\(code)", debit: receivable.amount, credit: 0),
                    LedgerEntry(account: "fund:recovered", debit: 0, credit: receivable.amount)]
        }
    }

    /// Posts a checked receivable once per `action_ref`: the stored one (marked `replay`) when
    /// the ref was posted with the same content; ALREADY_EXISTS when with other content.
    func post(_ receivable: Receivable) async throws -> Receivable {
        try await database.write { tx in
            // Inserted unless the ref is there (two replicas posting one ref at once: one
            // inserts, the other reads what it stored).
            let inserted = try await tx.query(
                """
                INSERT INTO receivables (action_ref, fixmedins_code, kind, amount, content, posted_at) VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (action_ref) DO NOTHING RETURNING action_ref
                """,
                [.text(receivable.actionRef), .text(receivable.fixmedinsCode), receivable.kind.stored, .integer(receivable.amount),
                 .blob(try receivable.encodedBytes()), .text(receivable.postedAt)]
            )
            if inserted.isEmpty {
                guard let row = try await tx.queryOne("SELECT content FROM receivables WHERE action_ref = $1", [.text(receivable.actionRef)]) else {
                    throw StoreError.decoding("receivable \(receivable.actionRef.prefix(64)) was neither inserted nor found")
                }
                var stored = try Receivable(decoding: try row.blob("content"))
                guard stored.fixmedinsCode == receivable.fixmedinsCode, stored.payee == receivable.payee, stored.kind == receivable.kind,
                      stored.amount == receivable.amount else {
                    throw DomainError(.conflict, field: "receivable.action_ref", "\(receivable.actionRef.prefix(64)) was posted with another institution, kind or amount")
                }
                stored.replay = true
                return stored
            }
            let txn = "R:" + receivable.actionRef
            try await tx.insert(into: "ledger", columns: Self.ledgerColumns, rows: Self.entries(of: receivable).enumerated().map { line, entry in
                [.text(txn), .integer(Int64(line + 1)), .text(""), .text(entry.account), .integer(entry.debit), .integer(entry.credit)]
            }, tail: "")
            return receivable
        }
    }

    /// An institution's receivables, oldest first (the latest 1,000), and their totals.
    func account(of code: String) async throws -> InstitutionAccount {
        try await database.read { tx in
            var account = InstitutionAccount(fixmedinsCode: code)
            let totals = try await tx.query("SELECT kind, SUM(amount) AS total FROM receivables WHERE fixmedins_code = $1 GROUP BY kind", [.text(code)])
            for row in totals {
                switch try row.code("kind", as: ReceivableKind.self) {
                case .recovery: account.receivable = try row.int("total")
                case .withholding: account.withheld = try row.int("total")
                default: break
                }
            }
            account.receivables = try await tx.query(
                "SELECT content FROM receivables WHERE fixmedins_code = $1 ORDER BY posted_at DESC, action_ref DESC LIMIT 1000", [.text(code)]
            ).map { try Receivable(decoding: try $0.blob("content")) }.reversed()
            return account
        }
    }
}

extension SettlementProvider {
    /// Settlement/PostReceivable: documented on the RPC in settlement.proto.
    public func postReceivable(_ request: PostReceivableRequest, context: CallContext) async throws -> Receivable {
        guard var receivable = request.receivable else { throw DomainError(field: "receivable", "is required") }
        guard !receivable.actionRef.isEmpty, receivable.actionRef.utf8.count <= 64, receivable.actionRef.utf8.allSatisfy({ $0 >= 32 && $0 < 127 }) else {
            throw DomainError(field: "receivable.action_ref", "must be 1-64 printable ASCII characters")
        }
        _ = try InstitutionCode(receivable.fixmedinsCode, field: "receivable.fixmedins_code")
        if !receivable.payee.isEmpty { _ = try InstitutionCode(receivable.payee, field: "receivable.payee") }
        _ = try receivable.kind.required("receivable.kind")
        guard (1...Receivable.maxAmount).contains(receivable.amount) else {
            throw DomainError(field: "receivable.amount", "must be 1 to 10^12 fen, got \(receivable.amount)")
        }
        try FreeText.checked(receivable.reason, field: "receivable.reason")
        receivable.postedAt = Date().formatted(.iso8601)
        receivable.postedBy = try context.actingName()
        receivable.replay = false
        return try await store.post(receivable)
    }

    /// Settlement/GetInstitutionAccount: documented on the RPC in settlement.proto.
    public func getInstitutionAccount(_ request: InstitutionAccountRequest, context: CallContext) async throws -> InstitutionAccount {
        try await store.account(of: try InstitutionCode(request.fixmedinsCode, field: "fixmedins_code").value)
    }
}
