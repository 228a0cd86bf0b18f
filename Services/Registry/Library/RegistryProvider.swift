import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareWire

/// medicare.v1.Registry.
public struct RegistryProvider: RegistryService {
    let store: RegistryStore
    /// Told after each designation change, so that its audit record leaves the outbox at once.
    let relay: AuditRelay?

    /// The campaign's dates (target, integration deadline, notice period) as versioned data.
    let campaign: CampaignPolicy

    /// The catalogue price lists are checked against (the benefit policy file's), by code.
    let catalogue: [String: CatalogueItem]

    /// A provider over `store`; `relay` is nudged after each designation change; `campaign`
    /// is the bundled national one unless given; `policies` supplies the catalogue that
    /// published prices are checked against (the bundled one unless given).
    public init(store: RegistryStore, relay: AuditRelay? = nil, campaign: CampaignPolicy = .national, policies: PolicyBook? = nil) {
        self.store = store
        self.relay = relay
        self.campaign = campaign
        // Billable items only: the disease list has nothing to publicize.
        self.catalogue = Dictionary(uniqueKeysWithValues: ((policies ?? (try? PolicyBook.bundled()))?.catalogue ?? []).filter { !$0.isDisease }.map { ($0.code, $0) })
    }

    /// The most records, divisions, applications or agreements one batch call takes; more is
    /// INVALID_ARGUMENT naming the list.
    public static let maxBatch = 5_000

    /// `Registry/UpsertDivisions`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func upsertDivisions(_ request: UpsertDivisionsRequest, context: CallContext) async throws -> UpsertDivisionsResponse {
        guard request.divisions.count <= Self.maxBatch else { throw DomainError(field: "divisions", "at most \(Self.maxBatch) per call") }
        var valid: [(DivisionCode, String)] = []
        for (i, d) in request.divisions.enumerated() {
            let code = try DivisionCode(d.code, field: "divisions[\(i)].code")
            guard !d.name.isEmpty, d.name.count <= 100 else { throw DomainError(field: "divisions[\(i)].name", "must be 1-100 characters") }
            valid.append((code, d.name))
        }
        try await store.upsertDivisions(valid) { "divisions[\($0)].code" }
        return UpsertDivisionsResponse(upserted: UInt32(valid.count))
    }

    /// `Registry/ImportInstitutions`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func importInstitutions(_ request: ImportInstitutionsRequest, context: CallContext) async throws -> ImportInstitutionsResponse {
        guard request.records.count <= Self.maxBatch else {
            throw DomainError(field: "records", "at most \(Self.maxBatch) records per batch; send a province as several batches")
        }
        _ = try FreeText.checked(request.sessionID, field: "session_id", max: 100, required: false)
        var results: [ImportResult] = []
        var accepted: [InstitutionRecord] = []
        var positions: [Int] = []
        var seen = Set<String>()
        let today = CivilDate.today().description, deadline = campaign.version(on: today)
        for record in request.records {
            do {
                try InstitutionRules.check(record)
                // An arrangement holds from a day that has come: a future one would change
                // today's record before its day (send it when it takes effect).
                if record.effectiveDate > today {
                    throw DomainError(field: "effective_date", "\(record.effectiveDate) is after today (\(today)); send the change when it takes effect")
                }
                // Notice §二(二): every temporary relationship ends by the integration deadline.
                if record.kind == .villageClinic, record.integrationMode == .integrating, record.relationshipEnd > deadline.integrationDeadline {
                    throw DomainError(
                        field: "relationship_end",
                        "\(record.relationshipEnd) is after the integration deadline \(deadline.integrationDeadline) (\(deadline.version)): a temporary relationship ends by then"
                    )
                }
                guard seen.insert(record.fixmedinsCode).inserted else { throw DomainError(field: "fixmedins_code", "appears twice in this batch") }
                positions.append(results.count)
                accepted.append(record)
                results.append(ImportResult(fixmedinsCode: record.fixmedinsCode))
            } catch {
                results.append(ImportResult(fixmedinsCode: String(record.fixmedinsCode.prefix(20)), outcome: .rejected, reason: String("\(error)".prefix(300))))
            }
        }
        let outcomes = try await store.importRecords(accepted, today: today)
        for (position, outcome) in zip(positions, outcomes) {
            results[position].outcome = outcome.outcome
            results[position].reason = outcome.reason
        }
        var response = ImportInstitutionsResponse(results: results)
        for result in results {
            switch result.outcome {
            case .created: response.created += 1
            case .updated: response.updated += 1
            case .unchanged: response.unchanged += 1
            case .stale: response.stale += 1
            case .rejected, .unspecified, .unrecognized: response.rejected += 1
            }
        }
        context.logger.info("import batch", metadata: [
            "registry.session": "\(request.sessionID)", "registry.created": "\(response.created)", "registry.rejected": "\(response.rejected)",
        ])
        return response
    }

    /// `Registry/GetInstitution`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func getInstitution(_ request: GetInstitutionRequest, context: CallContext) async throws -> Institution {
        let code = try InstitutionCode(request.fixmedinsCode, field: "fixmedins_code")
        guard let institution = try await store.institution(code.value) else { throw DomainError(.notFound, field: "fixmedins_code", "no institution \(code)") }
        return institution
    }

    /// `Registry/ChangeDesignation`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func changeDesignation(_ request: ChangeDesignationRequest, context: CallContext) async throws -> Institution {
        let code = try InstitutionCode(request.fixmedinsCode, field: "fixmedins_code")
        try FreeText.checked(request.reason, field: "reason")
        // Who acted: the caller the gateway forwards for, not the gateway.
        let effective = request.effectiveDate.isEmpty ? CivilDate.today().description : try CivilDate(request.effectiveDate, field: "effective_date").description
        let institution = try await store.changeDesignation(
            code: code.value, action: try request.action.required("action"), reason: request.reason, by: context.actor.description, effective: effective
        )
        relay?.nudge()
        Self.countDesignations(to: institution.designationStatus, 1)
        return institution
    }

    /// `Registry/ResolveSettlementRoute`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func resolveSettlementRoute(_ request: ResolveSettlementRouteRequest, context: CallContext) async throws -> SettlementRoute {
        let code = try InstitutionCode(request.fixmedinsCode, field: "fixmedins_code")
        let date = request.onDate.isEmpty ? CivilDate.today().description : try CivilDate(request.onDate, field: "on_date").description
        guard let facts = try await store.routeFacts(code.value, on: date) else {
            throw DomainError(.notFound, field: "fixmedins_code", "no institution \(code)")
        }
        var route = SettlementRoute(designationStatus: facts.status, divisionCode: facts.division, kind: facts.kind)
        guard facts.status == .designated else {
            route.refusal = "\(code) is \(Self.words(facts.status))"
            return route
        }
        // Designated now, and on the visit's day: the fund pays for visits under an agreement.
        guard facts.statusThen == .designated else {
            route.refusal = "\(code) was \(Self.words(facts.statusThen)) on \(date)"
            return route
        }
        if facts.kind == .townshipCentre || facts.mode == .notReady {
            route.canSettle = true
            route.settleVia = code.value
            route.mode = .direct
            return Self.withAgreement(route, facts.agreement, on: date)
        }
        if facts.mode == .integrating, facts.relationshipEnd < date {
            route.refusal = "the temporary relationship of \(code) with \(facts.parent) ended on \(facts.relationshipEnd)"
            return route
        }
        guard facts.centreKind == .townshipCentre || facts.centreStatus == nil else {
            route.refusal = "the parent \(facts.parent) of \(code) is not a township centre"
            return route
        }
        guard let centreStatus = facts.centreStatus else {
            route.refusal = "township centre \(facts.parent) of \(code) is not registered"
            return route
        }
        guard centreStatus == .designated else {
            route.refusal = "township centre \(facts.parent) is \(Self.words(centreStatus))"
            return route
        }
        guard facts.centreStatusThen == .designated else {
            route.refusal = "township centre \(facts.parent) was \(Self.words(facts.centreStatusThen)) on \(date)"
            return route
        }
        route.canSettle = true
        route.settleVia = facts.parent
        route.mode = facts.mode == .integrated ? .integrated : .integrating
        return Self.withAgreement(route, facts.centreAgreement, on: date)
    }

    /// The route with the scopes of the settling institution's agreement in force on `date`
    /// (none on file: designated without one, which limits nothing).
    /// An institution with an agreement on file settles only under one in force on the day:
    /// a lapsed agreement refuses the route (renewal is a new agreement), whatever the status.
    /// (The agreement comes with the route's facts, in the same query.)
    private static func withAgreement(_ route: SettlementRoute, _ agreement: RegistryStore.Agreement?, on date: String) -> SettlementRoute {
        guard route.canSettle, let agreement else { return route }
        var route = route
        route.agreementNo = agreement.number
        route.scopes = agreement.scopes
        if agreement.end < date {
            route.canSettle = false
            route.refusal = "the service agreement \(agreement.number) of \(route.settleVia) ended on \(agreement.end)"
        }
        return route
    }

    /// A closed-set value as words in a refusal ("not designated", "under review").
    static func words(_ value: some ProtoEnum) -> String { value.code.replacingOccurrences(of: "_", with: " ") }

    /// `Registry/GetCoverage`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func getCoverage(_ request: CoverageRequest, context: CallContext) async throws -> Coverage {
        let region = try DivisionCode.validatePrefix(request.region)
        let maxGaps = request.maxGaps == 0 ? 100 : min(Int(request.maxGaps), 10_000)
        let day = request.asOf.isEmpty ? CivilDate.today() : try CivilDate(request.asOf, field: "as_of")
        let campaign = campaign.version(on: day.description)
        var coverage = try await store.namedCoverage(region: region, day: day.description, childLength: DivisionCode.Level.childDigits(under: region.count), maxGaps: maxGaps)
        // The gap villages' clinics with the ledger's reasons (as of today: why they are not in).
        let clinics = try await store.ledgerClinics(villages: coverage.gaps.map(\.code), today: CivilDate.today().description)
        let byVillage = Dictionary(grouping: clinics, by: \.division)
        coverage.gapVillages = coverage.gaps.map { gap in
            GapVillage(code: gap.code, name: gap.name, clinics: (byVillage[gap.code] ?? []).map { Self.row($0, nil) })
        }
        coverage.targetDate = campaign.designationTarget
        coverage.daysToTarget = Int32(day.days(to: try CivilDate(campaign.designationTarget, field: "campaign.designationTarget")))
        coverage.campaignVersion = campaign.version
        return coverage
    }

    /// Most relationships one answer lists (due and ended together).
    static let maxRelationships = 5_000

    /// `Registry/ListRelationships`: what it takes, answers and refuses is documented on the RPC in registry.proto.
    public func listRelationships(_ request: RelationshipsRequest, context: CallContext) async throws -> RelationshipsResponse {
        let region = try DivisionCode.validatePrefix(request.region)
        let day = request.asOf.isEmpty ? CivilDate.today() : try CivilDate(request.asOf, field: "as_of")
        let campaign = campaign.version(on: day.description)
        let until = day.adding(days: campaign.relationshipNoticeDays)
        var response = RelationshipsResponse(
            asOf: day.description, integrationDeadline: campaign.integrationDeadline, noticeDays: UInt32(campaign.relationshipNoticeDays),
            campaignVersion: campaign.version
        )
        let found = try await store.relationships(region: region, until: until.description, limit: Self.maxRelationships + 1)
        response.truncated = found.count > Self.maxRelationships
        for var relationship in found.prefix(Self.maxRelationships) {
            guard let end = try? CivilDate(relationship.relationshipEnd, field: "relationship_end") else { continue }
            relationship.daysLeft = Int32(day.days(to: end))
            if end < day { response.ended.append(relationship) } else { response.due.append(relationship) }
        }
        return response
    }
}

extension RegistryProvider {
    /// `medicare_registry_designation_changes_total{to_status}`: designation changes made.
    static func countDesignations(to status: DesignationStatus, _ count: Int) {
        designationChanges.increment(status.code, by: Int64(count))
    }

    static let designationChanges = CounterFamily("medicare_registry_designation_changes_total", dimensions: ["to_status"])
}
