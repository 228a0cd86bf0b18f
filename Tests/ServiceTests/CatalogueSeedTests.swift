import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareStore
import MedicareTestSupport
import MedicareWire
@testable import SettlementService
import Testing

/// The policy file seeds settlement's publications once: a restart with the same file
/// publishes nothing (the fixture's records leave their list type to the code, the stored
/// ones name it); a changed record is published as a new catalogue version, which a replica
/// applies over what it holds; records are priced by period and treatment region.
@Suite("Catalogue seeding")
struct CatalogueSeedTests {
    @Test(arguments: Engine.all)
    func theSameFileSeedsNothingTheSecondTimeAndAChangeIsANewVersion(engine: Engine) async throws {
        try await withService("settlement", engine: engine, migrations: SettlementDefinition.migrations, router: { _ in RPCRouter() }) { _, db in
            let store = SettlementStore(database: db)
            var book = try PolicyBook.bundled()
            let first = try await store.seed(from: book, source: "bundled")
            #expect(first.policies.count == book.policies.count && first.records == book.catalogue.count)
            let loaded = try await PolicyHolder.current(book).refreshed(from: store)
            let again = try await store.seed(from: book, source: "bundled")
            #expect(again.policies.isEmpty && again.records == 0 && again.differing.isEmpty, "\(again)")
            var changedPolicy = book
            changedPolicy.policies[0].poolingRatio["general_outpatient"] = 5500
            let refused = try await store.seed(from: changedPolicy, source: "bundled")
            #expect(refused.differing == [book.policies[0].version] && refused.policies.isEmpty)
            #expect(try await store.latestRevision() == loaded.revision)

            // A new price from 2025 for one drug: one record more, the old period kept.
            var dearer = book.catalogue[0]
            dearer.begndate = "2025-01-01"
            dearer.referencePrice += 7
            book.catalogue.append(dearer)
            #expect(try await store.seed(from: book, source: "bundled").records == 1)
            let next = try await loaded.refreshed(from: store)
            #expect(next.revision > loaded.revision)
            #expect(next.catalogue.item(dearer.code, on: "2024-06-01")?.referencePrice == dearer.referencePrice - 7)
            #expect(next.catalogue.item(dearer.code, on: "2025-03-01")?.referencePrice == dearer.referencePrice)
            // Paged one record at a time, a code's two records still arrive together, none lost.
            var codes: [String] = [], after = ""
            while true {
                let page = try await store.downloadCatalogue(after: 0, upto: next.revision, afterCode: after, limit: 1)
                codes += page.records.map(\.medListCodg)
                guard page.more else { break }
                after = page.next
            }
            #expect(codes.count == book.catalogue.count && codes.filter { $0 == dearer.code }.count == 2, "\(codes)")
        }
    }

    @Test func aRegionalPriceAppliesByTheMostSpecificPrefixOfTheClinicsCounty() throws {
        let item = CatalogueItem(code: "XC09AAE011B001010100042", name: "依那普利片 5mg", category: "A", referencePrice: 100,
                                 regionalPrices: ["33": 95, "3308": 80], begndate: "2024-01-01", enddate: "2024-12-31")
        try item.validate("item")
        #expect(item.referencePrice(inCounty: "330802") == 80 && item.referencePrice(inCounty: "330106") == 95 && item.referencePrice(inCounty: "110101") == 100)
        #expect(item.applies(on: "2024-12-31") && !item.applies(on: "2025-01-01") && !item.applies(on: "2023-12-31"))
        var short = item
        short.code = "XC09"
        #expect(throws: DomainError.self) { try short.validate("item") }
        var wrongType = item
        wrongType.listType = "301"
        #expect { try wrongType.validate("item") } throws: { ($0 as? DomainError)?.field == "item.code" }
    }
}
