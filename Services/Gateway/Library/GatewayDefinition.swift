import Foundation
import Logging
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareRuntime
import MedicareStore
import MedicareTransport
import MedicareWire
import NIOCore
import Synchronization

/// The gateway: the one mutual-TLS entry for outside callers. It authorizes every call
/// against the access table, forwards each backend method to its service's replicas, and
/// serves the composite operations.
public enum GatewayDefinition {
    public static let migrations: [Migration] = [
        Migration(1, "service metadata", sql: "CREATE TABLE gateway_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"),
    ]

    public static let keys = [
        ConfigKey("upstream.registry", default: "127.0.0.1:7101", "Registry replicas, HOST:PORT[,HOST:PORT...]."),
        ConfigKey("upstream.settlement", default: "127.0.0.1:7102", "Settlement replicas."),
        ConfigKey("upstream.supervision", default: "127.0.0.1:7103", "Supervision replicas."),
        ConfigKey("access.file", default: "", "The access table (JSON); empty = the bundled table (see docs/architecture.md)."),
        ConfigKey("gateway.max-calls-per-caller", default: "512", "Calls in flight per caller identity; more get RESOURCE_EXHAUSTED."),
        ConfigKey("gateway.route-cache-ms", default: "1000",
                  "How long a resolved settlement route is reused; registry writes through this gateway clear it at once. 0 = always ask the registry."),
    ]

    public static let definition = ServiceDefinition(
        name: "gateway", rpcPort: 7100, adminPort: 9100, migrations: migrations, extraKeys: keys
    ) { context in
        let config = context.configuration
        let access: AccessTable
        do {
            access = try AccessTable.load(path: config.string("access.file"))
        } catch {
            throw StartupError("configuration key 'access.file' (\(config.source("access.file"))): \(error)")
        }
        let tls = context.settings.tls
        let registry = try UpstreamPool(name: "registry", addresses: config.string("upstream.registry"), tls: tls, logger: context.logger)
        let settlement = try UpstreamPool(name: "settlement", addresses: config.string("upstream.settlement"), tls: tls, logger: context.logger)
        let supervision = try UpstreamPool(name: "supervision", addresses: config.string("upstream.supervision"), tls: tls, logger: context.logger)
        for pool in [registry, settlement, supervision] {
            context.runInBackground { await pool.probeHealth(logger: context.logger) }
        }
        return makeRouter(
            access: access, registry: registry, settlement: settlement, supervision: supervision,
            maxCallsPerCaller: try config.int("gateway.max-calls-per-caller", in: 1...100_000),
            routeCacheTTL: .milliseconds(try config.int("gateway.route-cache-ms", in: 0...3_600_000))
        )
    }

    /// The gateway's methods over any channels to the three services (pools of TLS
    /// connections in production, in-process routers in tests).
    public static func makeRouter(
        access: AccessTable, registry: any RPCChannel, settlement: any RPCChannel, supervision: any RPCChannel, maxCallsPerCaller: Int,
        routeCacheTTL: Duration = .zero
    ) -> RPCRouter {
        var router = RPCRouter()
        let routes = RouteCache(ttl: routeCacheTTL)
        GatewayProvider(access: access, registry: registry, settlement: settlement, supervision: supervision, routes: routes).register(with: &router)
        let forwarded: [(any RPCChannel, [MethodDescriptor])] = [
            (registry, RegistryMethods.all), (settlement, SettlementMethods.all + SettlementReportsMethods.all),
            (supervision, SupervisionMethods.all + SupervisionReportsMethods.all),
        ]
        for (upstream, methods) in forwarded {
            for method in methods {
                if let composite = moneyMoving[method] {
                    router.register(method, raw: { _, context in
                        _ = try access.authorize(context.peer, method.fullName)
                        throw RPCError(code: .permissionDenied, message: "\(method.fullName) is not served to outside callers; money moves only through \(composite)")
                    })
                    continue
                }
                let invalidatesRoutes = RouteCache.invalidates(method.fullName)
                router.register(method, raw: { payload, context in
                    let scope = try access.authorize(context.peer, method.fullName)
                    let region = scope == .region ? context.peer.region : nil
                    if let region { try RegionScope.check(method, payload, region: region) }
                    var options = CallOptions.propagating(context)
                    if let key = context.idempotencyKey { options.metadata[Metadata.idempotencyKey] = key }
                    if invalidatesRoutes {
                        // Also when the write fails: it may have been applied before its answer was lost.
                        defer { routes.invalidate() }
                        return try await upstream.call(method, payload: payload, options: options)
                    }
                    let answer = try await upstream.call(method, payload: payload, options: options)
                    if let region { try RegionScope.checkAnswer(method, answer, region: region) }
                    return answer
                })
            }
        }
        router.intercept(with: GatewayAccess(access: access))
        router.intercept(with: CallerLimit(limit: maxCallsPerCaller))
        return router
    }

    /// Backend methods that move money or write the audit trail: never forwarded, whatever
    /// the caller's role. Money moves through the composite named, with its route and review
    /// checks; the chain is written by settlement's relay and the gateway's own decisions.
    static let moneyMoving: [MethodDescriptor: String] = [
        SettlementMethods.settle: GatewayMethods.settle.fullName,
        SettlementMethods.reverse: GatewayMethods.reverse.fullName,
        SettlementMethods.replay: GatewayMethods.settle.fullName,
        SupervisionMethods.record: GatewayMethods.settle.fullName,
        SupervisionMethods.recordBatch: GatewayMethods.settle.fullName,
        SupervisionMethods.recordBlock: GatewayMethods.settle.fullName,
    ]
}

/// Every call the gateway serves, whatever its method (composites, forwarded methods,
/// `Health`, the diagnostic `Echo`), is authorized against the access table before its
/// request is decoded: one decision, failing closed for any method the table does not grant.
struct GatewayAccess: RPCInterceptor {
    let access: AccessTable

    func intercept(
        _ request: ByteBuffer, context: CallContext, next: @Sendable (ByteBuffer, CallContext) async throws -> ByteBuffer
    ) async throws -> ByteBuffer {
        _ = try access.authorize(context.peer, context.method.fullName)
        // Whom a call acts for is the gateway's to say to the backends, from the caller's
        // certificate; no outside caller (a service certificate included) may claim it.
        guard context.metadata[Metadata.actingCaller] == nil else {
            throw RPCError(code: .permissionDenied, message: "metadata 'acting-caller' is not accepted from outside callers")
        }
        return try await next(request, context)
    }
}

/// Region-scoped callers (a province's systems, its supervisors) may only touch their region.
/// Fail closed: a method is checked by what it names (codes, regions) or by what it
/// answers, or it is listed as touching no region's data; any other is refused.
enum RegionScope {
    /// Methods whose answer concerns no single region (integrity checks, health).
    static let regionless: Set<MethodDescriptor> = [
        SettlementMethods.checkLedger, SettlementMethods.getAuditEvidence, SupervisionMethods.verifyAudit, HealthMethods.check,
    ]

    static func inside(_ code: String, _ field: String, region: String) throws {
        guard !region.isEmpty, code.hasPrefix(region) else {
            throw RPCError(code: .permissionDenied, message: "\(field) \(quoted(code)) is outside region \(region.isEmpty ? "(none)" : region)")
        }
    }

    /// An institution code ("H" and the 6-digit county and more) inside the region.
    static func institution(_ code: String, _ field: String, region: String) throws {
        try inside(String(code.dropFirst()), field, region: region)
    }

    static func check(_ method: MethodDescriptor, _ payload: ByteBuffer, region: String) throws {
        switch method {
        case RegistryMethods.importInstitutions:
            // Every code a record names: its own (whose digits carry its county), its village
            // and its parent centre.
            for (i, record) in try ImportInstitutionsRequest(decoding: payload).records.enumerated() {
                try institution(record.code, "records[\(i)].code", region: region)
                try inside(record.divisionCode, "records[\(i)].division_code", region: region)
                if !record.parentCode.isEmpty { try institution(record.parentCode, "records[\(i)].parent_code", region: region) }
            }
        case RegistryMethods.upsertDivisions:
            for (i, division) in try UpsertDivisionsRequest(decoding: payload).divisions.enumerated() {
                try inside(division.code, "divisions[\(i)].code", region: region)
            }
        case RegistryMethods.getCoverage:
            try inside(try CoverageRequest(decoding: payload).region, "region", region: region)
        case RegistryMethods.getInstitution:
            try institution(try GetInstitutionRequest(decoding: payload).code, "code", region: region)
        case RegistryMethods.resolveSettlementRoute:
            try institution(try ResolveSettlementRouteRequest(decoding: payload).clinicCode, "clinic_code", region: region)
        case SettlementReportsMethods.getDayTotals:
            let request = try DayTotalsRequest(decoding: payload)
            if request.institution.isEmpty {
                try inside(request.region, "region", region: region)
            } else {
                try institution(request.institution, "institution", region: region)
            }
        case SupervisionReportsMethods.getReviewStats:
            try inside(try ReviewStatsRequest(decoding: payload).region, "region", region: region)
        case SupervisionMethods.review:
            try institution(try ReviewRequest(decoding: payload).claim?.fixmedinsCode ?? "", "claim.fixmedins_code", region: region)
        case SettlementMethods.getSettlement:
            break  // by its answer: see `checkAnswer`
        default:
            guard regionless.contains(method) else {
                throw RPCError(code: .permissionDenied, message: "\(method.fullName) has no region check, so region-scoped callers may not call it")
            }
        }
    }

    /// For methods that name no region in their request: the answer must be inside it.
    static func checkAnswer(_ method: MethodDescriptor, _ answer: ByteBuffer, region: String) throws {
        if method == SettlementMethods.getSettlement {
            let settlement = try SettlementResult(decoding: answer)
            do {
                try institution(settlement.fixmedinsCode, "setl_id's institution", region: region)
            } catch {
                // Whether it exists elsewhere is not this caller's business either.
                // The same answer as for a settlement that does not exist at all.
                throw DomainError(.notFound, field: "setl_id", "no settlement \(quoted(settlement.setlID, max: 40))").rpcError
            }
        }
    }
}

/// Bounds the calls in flight of each caller identity.
struct CallerLimit: RPCInterceptor {
    let limit: Int
    private let counts = Counts()

    final class Counts: Sendable {
        let value = Mutex<[PeerIdentity: Int]>([:])
    }

    init(limit: Int) { self.limit = limit }

    func intercept(
        _ request: ByteBuffer, context: CallContext, next: @Sendable (ByteBuffer, CallContext) async throws -> ByteBuffer
    ) async throws -> ByteBuffer {
        let caller = context.peer
        let admitted = counts.value.withLock { counts -> Bool in
            let current = counts[caller, default: 0]
            guard current < limit else { return false }
            counts[caller] = current + 1
            return true
        }
        guard admitted else {
            throw RPCError(code: .resourceExhausted, message: "too many calls in flight for \(context.peer.commonName) (limit \(limit))")
        }
        defer {
            counts.value.withLock { counts in
                let remaining = counts[caller, default: 1] - 1
                counts[caller] = remaining > 0 ? remaining : nil
            }
        }
        return try await next(request, context)
    }
}
