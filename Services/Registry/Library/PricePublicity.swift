import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareStore
import MedicareWire

// Price publicity (价格公示, notice §四): a village clinic's prices of drugs, consumables and
// services, public to every caller of the system, none above the public-institution
// reference price.

extension RegistryStore {
    static let priceMigrations: [Migration] = [
        Migration(14, "published price lists", sql: """
            CREATE TABLE price_lists (code TEXT NOT NULL, item_code TEXT NOT NULL, unit_price BIGINT NOT NULL, PRIMARY KEY (code, item_code));
            CREATE TABLE price_list_heads (code TEXT PRIMARY KEY, published_at TEXT NOT NULL, published_by TEXT NOT NULL)
            """),
    ]

    /// Replaces `code`'s price list (all or none).
    func publish(code: String, items: [(String, Int64)], by: String) async throws -> String {
        let at = Date().formatted(.iso8601)
        try await database.write { tx in
            // The head first: it locks the clinic's list, so two publications replace it one
            // after the other instead of colliding on its rows.
            try await tx.execute(
                """
                INSERT INTO price_list_heads (code, published_at, published_by) VALUES ($1, $2, $3)
                ON CONFLICT (code) DO UPDATE SET published_at = excluded.published_at, published_by = excluded.published_by
                """, [.text(code), .text(at), .text(by)]
            )
            try await tx.execute("DELETE FROM price_lists WHERE code = $1", [.text(code)])
            try await tx.insert(into: "price_lists", columns: ["code", "item_code", "unit_price"], rows: items.map { [.text(code), .text($0.0), .integer($0.1)] })
        }
        return at
    }

    /// `code`'s published list: (item, price) in item order, when, by whom; nil if none.
    func priceList(_ code: String) async throws -> (items: [(String, Int64)], at: String, by: String)? {
        try await database.read { tx in
            guard let head = try await tx.queryOne("SELECT published_at, published_by FROM price_list_heads WHERE code = $1", [.text(code)]) else { return nil }
            let items = try await tx.query("SELECT item_code, unit_price FROM price_lists WHERE code = $1 ORDER BY item_code", [.text(code)]).map {
                (try $0.string("item_code"), try $0.int("unit_price"))
            }
            return (items, try head.string("published_at"), try head.string("published_by"))
        }
    }
}

extension RegistryProvider {
    /// `Registry/PublishPriceList`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func publishPriceList(_ request: PublishPriceListRequest, context: CallContext) async throws -> PriceList {
        let code = try InstitutionCode(request.fixmedinsCode, field: "fixmedins_code").value
        guard (1...2_000).contains(request.items.count) else { throw DomainError(field: "items", "must hold 1-2000 items, got \(request.items.count)") }
        guard let institution = try await store.institution(code) else { throw DomainError(.notFound, field: "fixmedins_code", "no institution \(code)") }
        // The clinic for itself, its township centre for it, or the bureau.
        let caller = try context.actingCaller()
        let standing = caller.standing(toward: code, parent: institution.record?.parentCode)
        guard standing == .itself || standing == .itsCentre || standing == .bureau else { throw DomainError(.permissionDenied, field: "fixmedins_code", "\(caller.role) '\(caller.commonName)' may not publish \(code)'s prices") }
        var items: [(String, Int64)] = [], seen = Set<String>()
        for (i, item) in request.items.enumerated() {
            let field = "items[\(i)]"
            guard let entry = catalogue[item.itemCode] else {
                throw DomainError(field: "\(field).item_code", "\(quoted(item.itemCode)) is not in the catalogue")
            }
            guard seen.insert(item.itemCode).inserted else { throw DomainError(field: "\(field).item_code", "\(item.itemCode) appears twice") }
            guard (0...Claim.maxUnitPrice).contains(item.unitPrice) else {
                throw DomainError(field: "\(field).unit_price", "must be 0-\(Claim.maxUnitPrice) fen, got \(item.unitPrice)")
            }
            // Notice §四: not above the public-institution price.
            guard item.unitPrice <= entry.referencePrice else {
                throw DomainError(field: "\(field).unit_price", "\(item.unitPrice) fen for \(item.itemCode) \(entry.name) is above the public-institution reference price \(entry.referencePrice) fen")
            }
            items.append((item.itemCode, item.unitPrice))
        }
        // Public, so the list names the publishing institution, not the person or system.
        let publisher = Self.institutionOf(caller)
        let by = publisher.isEmpty ? "bureau" : publisher
        let sorted = items.sorted { $0.0 < $1.0 }
        let at = try await store.publish(code: code, items: sorted, by: by)
        return priceList(code, name: institution.record?.fixmedinsName ?? "", items: sorted, at: at, by: by)
    }

    /// `Registry/GetPriceList`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func getPriceList(_ request: GetPriceListRequest, context: CallContext) async throws -> PriceList {
        let code = try InstitutionCode(request.fixmedinsCode, field: "fixmedins_code").value
        guard let institution = try await store.institution(code), let list = try await store.priceList(code) else {
            throw DomainError(.notFound, field: "fixmedins_code", "\(code) has published no price list")
        }
        return priceList(code, name: institution.record?.fixmedinsName ?? "", items: list.items, at: list.at, by: list.by)
    }

    /// A published list as answered: each item with its catalogue name and reference price (fen).
    private func priceList(_ code: String, name: String, items: [(String, Int64)], at: String, by: String) -> PriceList {
        PriceList(
            fixmedinsCode: code, fixmedinsName: name,
            items: items.map { PriceItem(itemCode: $0.0, name: catalogue[$0.0]?.name ?? "", unitPrice: $0.1, referencePrice: catalogue[$0.0]?.referencePrice ?? 0) },
            publishedAt: at, publishedBy: by
        )
    }
}
