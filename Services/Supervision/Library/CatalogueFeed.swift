import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareWire

/// The catalogue supervision reviews and counts by, replaced whole as settlement publishes
/// catalogue versions (``CatalogueFeed``).
public typealias CatalogueHolder = Reloadable<Catalogue>

/// Keeps supervision's catalogue at settlement's: downloads the records of the versions
/// published after the revision it holds (`Settlement/DownloadCatalogue`, a page at a time)
/// and applies them, so review and settlement price and classify a line from the same
/// records. Until the first download (settlement not reachable at start-up) the catalogue is
/// the policy file's.
public struct CatalogueFeed: Sendable {
    let holder: CatalogueHolder
    let settlement: SettlementClient

    /// A feed into `holder` from settlement over `channel`.
    public init(_ holder: CatalogueHolder, settlement channel: any RPCChannel) {
        self.holder = holder
        self.settlement = SettlementClient(channel)
    }

    /// Downloads and applies what was published after the held revision; answers the revision
    /// now held. Throws what the call throws (``RPCError``, ``DomainError`` for a record that
    /// does not validate); the holder is then unchanged.
    @discardableResult
    public func refresh() async throws -> Int64 {
        var catalogue = holder.current
        var request = DownloadCatalogueRequest(afterRevision: catalogue.revision, uptoRevision: 0, afterCode: "", limit: 5_000)
        var records: [CatalogueItem] = []
        while true {
            let page = try await settlement.downloadCatalogue(request)
            for (i, record) in page.records.enumerated() { records.append(try record.item("records[\(i)]")) }
            guard page.more else {
                guard page.revision > catalogue.revision else { return catalogue.revision }
                catalogue.apply(records, revision: page.revision)
                holder.replace(catalogue)
                return page.revision
            }
            request.uptoRevision = page.revision
            request.afterCode = page.nextCode
        }
    }
}
