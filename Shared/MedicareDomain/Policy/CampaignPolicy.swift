import Foundation

/// The campaign's dates as versioned data (the notice's; a province may publish its own):
/// the target for bringing every eligible village clinic under designated management (notice
/// §一: by 2024-12-31), the deadline for ending temporary management relationships (notice
/// §二(二): integration completed by 2025-12-31), and how far ahead relationships falling due
/// are listed. Loaded from JSON (`versions`, each with `effectiveFrom`); the version in
/// force on a day is the latest whose `effectiveFrom` is on or before it.
public struct CampaignPolicy: Codable, Sendable, Equatable {
    /// One version of the campaign's dates.
    public struct Version: Codable, Sendable, Equatable {
        /// The version's name, cited in refusals ("national-2024.1").
        public var version: String
        /// YYYY-MM-DD from which it holds.
        public var effectiveFrom: String
        /// The document it comes from.
        public var source: String
        /// YYYY-MM-DD by which every eligible clinic should be under designated management.
        public var designationTarget: String
        /// YYYY-MM-DD on or before which every temporary management relationship ends.
        public var integrationDeadline: String
        /// Relationships ending within this many days are listed as due.
        public var relationshipNoticeDays: Int
        /// YYYY-MM-DD by which each province names its two liaisons (notice §五).
        public var liaisonDue: String
        /// The progress reports asked for: each period's name and due date (the last working
        /// day of the quarter, notice §五).
        public var reports: [Report]
        /// A province is slow when its share of villages covered is below this (basis points)...
        public var slowBelowShareBasisPoints: Int
        /// ...or below the national share by more than this (basis points).
        public var slowBelowNationalByBasisPoints: Int
    }

    /// A progress report the campaign asks for.
    public struct Report: Codable, Sendable, Equatable {
        /// Its name, as reports are filed under ("2024Q3").
        public var period: String
        /// YYYY-MM-DD it is due.
        public var due: String
    }

    /// Every version, any order.
    public var versions: [Version]

    /// The bundled national campaign (notice: designation by 2024-12-31, integration by
    /// 2025-12-31, relationships listed 90 days ahead). A build without its resource is a
    /// broken build, not a runtime condition.
    public static let national: CampaignPolicy = {
        do { return try load(path: "") } catch { preconditionFailure("the bundled campaign-2024.json is missing or invalid: \(error)") }
    }()

    /// The version in force on `day` (YYYY-MM-DD); before the first, the first.
    /// - Precondition: at least one version (``validate()``).
    public func version(on day: String) -> Version {
        versions.filter { $0.effectiveFrom <= day }.max { $0.effectiveFrom < $1.effectiveFrom }
            ?? versions.min { $0.effectiveFrom < $1.effectiveFrom }!
    }

    /// Checks every version: dates well formed, a notice period of 1-366 days, at least one version.
    /// - Throws: ``DomainError`` naming the version's field.
    public func validate() throws(DomainError) {
        guard !versions.isEmpty else { throw DomainError(field: "campaign.versions", "at least one version") }
        for (i, v) in versions.enumerated() {
            for (name, value) in [("effectiveFrom", v.effectiveFrom), ("designationTarget", v.designationTarget), ("integrationDeadline", v.integrationDeadline),
                                  ("liaisonDue", v.liaisonDue)] + v.reports.map({ ("reports.\($0.period).due", $0.due) }) {
                _ = try CivilDate(value, field: "campaign.versions[\(i)].\(name)")
            }
            guard (1...366).contains(v.relationshipNoticeDays) else {
                throw DomainError(field: "campaign.versions[\(i)].relationshipNoticeDays", "must be 1-366")
            }
            guard (0...10_000).contains(v.slowBelowShareBasisPoints), (0...10_000).contains(v.slowBelowNationalByBasisPoints) else {
                throw DomainError(field: "campaign.versions[\(i)].slowBelowShareBasisPoints", "basis points must be 0-10000")
            }
            for report in v.reports where report.period.isEmpty || report.period.count > 20 {
                throw DomainError(field: "campaign.versions[\(i)].reports", "a period name is 1-20 characters")
            }
        }
    }

    /// Reads and validates a campaign file, or the bundled national one when `path` is empty.
    /// - Throws: ``DomainError`` (`campaign.file`) when it cannot be read or is invalid.
    public static func load(path: String) throws -> CampaignPolicy {
        let policy = try DataFile.read(CampaignPolicy.self, path: path, bundled: "campaign-2024", key: "campaign.file", kind: "campaign file")
        try policy.validate()
        return policy
    }
}
