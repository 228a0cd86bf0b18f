import Foundation
import Logging
import MedicareContracts
import MedicareCrypto
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
        ConfigKey("gateway.visit-claim-ms", default: "600000",
                  "How long the claim a visit's last answer made is kept for settling it by reference (settlement checks it is still the visit's). 0 = always read the visit."),
    ]

    public static let definition = ServiceDefinition(
        name: "gateway", rpcPort: 7100, adminPort: 9100, bridgePort: 7180, migrations: migrations, extraKeys: keys
    ) { context in
        let config = context.configuration
        let access: AccessTable
        do {
            access = try AccessTable.load(path: config.string("access.file"))
        } catch {
            throw StartupError("configuration key 'access.file' (\(config.source("access.file"))): \(error)")
        }
        let registry = try context.upstream("registry"), settlement = try context.upstream("settlement"), supervision = try context.upstream("supervision")
        // Ready only while every backend has a serving replica (/readyz says which has none).
        context.addReadinessCheck {
            let down = [registry, settlement, supervision].filter { !$0.anyHealthy }.map(\.name)
            return down.isEmpty ? nil : "no serving replica of \(down.joined(separator: ", "))"
        }
        // SIGHUP reads the access table again; a table that does not load leaves the one in force.
        let tables = AccessTables(access)
        let path = config.string("access.file")
        context.reloadOnHangup(tables, what: "access table") { try AccessTable.load(path: path) }
        return makeRouter(
            access: access, registry: registry, settlement: settlement, supervision: supervision,
            maxCallsPerCaller: try config.int("gateway.max-calls-per-caller", in: 1...100_000),
            routeCacheTTL: .milliseconds(try config.int("gateway.route-cache-ms", in: 0...3_600_000)),
            visitClaimTTL: .milliseconds(try config.int("gateway.visit-claim-ms", in: 0...86_400_000)), tables: tables
        )
    }

    /// The gateway's methods over any channels to the three services (pools of TLS
    /// connections in production, in-process routers in tests). What each forwarded method
    /// is (who may call it, how a scoped caller is confined, whether it clears cached routes,
    /// whether outside callers may call it at all) is its descriptor's policy, from the proto.
    /// `maxCallsPerCaller` bounds each caller's calls in flight (``CallerLimit``);
    /// `routeCacheTTL` is how long a resolved settlement route is reused (``RouteCache``) and
    /// `visitClaimTTL` how long a visit's claim is kept for settling it by reference
    /// (``VisitClaims``), zero for neither; `tables` is the access table to reload (SIGHUP),
    /// made from `access` when nil.
    public static func makeRouter(
        access: AccessTable, registry: any RPCChannel, settlement: any RPCChannel, supervision: any RPCChannel, maxCallsPerCaller: Int,
        routeCacheTTL: Duration = .zero, visitClaimTTL: Duration = .zero, tables: AccessTables? = nil
    ) -> RPCRouter {
        var router = RPCRouter()
        let routes = RouteCache(ttl: routeCacheTTL)
        let visitClaims = VisitClaims(ttl: visitClaimTTL)
        GatewayProvider(registry: registry, settlement: settlement, supervision: supervision, routes: routes, visitClaims: visitClaims).register(with: &router)
        let forwarded: [(any RPCChannel, [MethodDescriptor])] = [
            (registry, RegistryMethods.all), (settlement, SettlementMethods.all + SettlementReportsMethods.all),
            (supervision, SupervisionMethods.all + SupervisionReportsMethods.all),
        ]
        for (upstream, methods) in forwarded {
            for method in methods {
                let invalidatesRoutes = method.policy.invalidatesRoutes
                let visitHook = visitClaims.isEnabled ? VisitClaims.hooks[method.fullName] : nil
                let name = method.fullName
                router.register(method, raw: { payload, context in
                    var options = CallOptions.propagating(context)
                    if let key = context.idempotencyKey { options.metadata[Metadata.idempotencyKey] = key }
                    // Also when the write fails: it may have been applied before its answer was lost.
                    defer { if invalidatesRoutes { routes.invalidate() } }
                    guard let visitHook else { return try await upstream.call(method, payload: payload, options: options) }
                    // A visit's claim, kept or forgotten for settling it by reference.
                    do {
                        let answer = try await upstream.call(method, payload: payload, options: options)
                        visitClaims.apply(visitHook, method: name, request: payload, answer: answer)
                        return answer
                    } catch {
                        visitClaims.apply(visitHook, method: name, request: payload, answer: nil)
                        throw error
                    }
                })
            }
        }
        router.intercept(with: GatewayAccess(tables: tables ?? AccessTables(access)))
        router.intercept(with: CallerLimit(limit: maxCallsPerCaller))
        return router
    }
}

/// Every call the gateway serves, whatever its method (composites, forwarded methods,
/// `Health`, the diagnostic `Echo`), is authorized here and nowhere else, before its handler
/// runs: the access table says whether the caller may call the method and with which scope;
/// the method's policy says whether outside callers may call it at all (`served_via`) and how
/// a region- or institution-scoped caller is confined (`caller_scope`). Fails closed: a
/// method the table does not grant, or whose policy does not say how to confine a scoped
/// caller, is refused. Handlers read the granted scope from the context.
struct GatewayAccess: RPCInterceptor {
    let tables: AccessTables

    init(tables: AccessTables) { self.tables = tables }

    func intercept(
        _ request: ByteBuffer, context: CallContext, next: @Sendable (ByteBuffer, CallContext) async throws -> ByteBuffer
    ) async throws -> ByteBuffer {
        // A trace id for every call: the caller's, or one minted here that the backends log too.
        let context = context.traceID == nil ? context.tracing(Self.newTraceID()) : context
        do {
            return try await authorized(request, context: context, next: next)
        } catch let error as RPCError where error.code == .permissionDenied {
            // Refusals are what an operator looks for: logged with who asked, at notice.
            context.logger.notice("call refused", metadata: ["rpc.caller": "\(context.peer)", "rpc.reason": "\(error.message.prefix(300))"])
            throw error
        }
    }

    /// 32 hex digits (W3C trace-context's trace-id form): this process's random 64 bits, then
    /// a counter scrambled by a bijection keyed by more of them, so unique within the process
    /// (and, by the random half, across processes and restarts) and random-looking, without
    /// asking the system's random source per call (OpenSSL's RAND_bytes, its locks included,
    /// was 3% of the gateway's event loop). A trace id names calls in logs; it is no secret.
    static func newTraceID() -> String {
        let n = traceCounter.wrappingAdd(1, ordering: .relaxed).newValue
        return traceIDs.prefix + hex16(scramble(n ^ traceIDs.key))
    }

    private static let traceIDs: (prefix: String, key: UInt64) = {
        let bytes = SecureRandom.bytes(16)
        let key = bytes[8...].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return (SM3.hex(Array(bytes[..<8])), key)
    }()
    private static let traceCounter = Atomic<UInt64>(0)

    /// SplitMix64's finalizer: a bijection on 64 bits that spreads every input bit.
    static func scramble(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 16 lower-case hex digits, zero-padded: the value's 8 bytes, most significant first.
    static func hex16(_ value: UInt64) -> String { SM3.hex(withUnsafeBytes(of: value.bigEndian) { Array($0) }) }

    private func authorized(
        _ request: ByteBuffer, context: CallContext, next: @Sendable (ByteBuffer, CallContext) async throws -> ByteBuffer
    ) async throws -> ByteBuffer {
        let method = context.method
        let scope = try tables.current.authorize(context.peer, method)
        // Whom a call acts for is the gateway's to say to the backends, from the caller's
        // certificate; no outside caller (a service certificate included) may claim it.
        guard context.metadata[Metadata.actingCaller] == nil else {
            throw RPCError(code: .permissionDenied, message: "metadata 'acting-caller' is not accepted from outside callers")
        }
        if let composite = method.policy.servedVia {
            throw RPCError(code: .permissionDenied, message: "\(method.fullName) is not served to outside callers; it happens only through \(composite)")
        }
        var granted = context
        granted.accessScope = scope
        guard scope != .all else { return try await next(request, granted) }
        try CallerConfinement.checkRequest(method, request, peer: context.peer, scope: scope)
        let answer = try await next(request, granted)
        try CallerConfinement.checkAnswer(method, answer, peer: context.peer, scope: scope)
        return answer
    }
}

/// How a region- or institution-scoped caller is kept to its part of the data, by the scope
/// keys (`scope_key` fields) its request or the answer names, as the method's `caller_scope`
/// says. A region caller (certificate `ST`) may name division codes starting with its region
/// and institutions whose county digits do; an institution caller (certificate `CN`) only its
/// own code.
enum CallerConfinement {
    static func inside(_ code: String, _ field: String, region: String) throws(RPCError) {
        guard !region.isEmpty, code.hasPrefix(region) else { throw outside(code, field, region: region) }
    }

    /// An institution code ("H" and the 6-digit county and more) inside the region.
    static func institution(_ code: String, _ field: String, region: String) throws(RPCError) {
        guard !region.isEmpty, code.dropFirst().hasPrefix(region) else { throw outside(code, field, region: region) }
    }

    static func outside(_ code: String, _ field: String, region: String) -> RPCError {
        RPCError(code: .permissionDenied, message: "\(field) \(quoted(code)) is outside region \(region.isEmpty ? "(none)" : region)")
    }

    /// One scope key against the caller's scope.
    static func confine(_ key: ScopeKeyValue, peer: PeerIdentity, scope: AccessScope) throws(RPCError) {
        switch (scope, key.kind) {
        case (.all, _): return
        case (.region, .division): try inside(key.value, key.field, region: peer.region)
        case (.region, .institution): try institution(key.value, key.field, region: peer.region)
        case (.institution, .institution) where key.value == peer.commonName: return
        case (.institution, _):
            throw RPCError(code: .permissionDenied, message: "\(key.field) \(quoted(key.value)) is not \(peer.commonName)'s own")
        }
    }

    /// Before the call: the method must admit scoped callers, and a request-confined method's
    /// request must name at least one region or institution, each inside the caller's part.
    static func checkRequest(_ method: MethodDescriptor, _ payload: ByteBuffer, peer: PeerIdentity, scope: AccessScope) throws(RPCError) {
        switch method.policy.callerScope {
        case .any, .handler, .answer: return
        case .all:
            throw RPCError(code: .permissionDenied, message: "\(method.fullName) is only for callers with scope all; \(peer.role) '\(peer.commonName)' has scope \(scope.rawValue)")
        case .request:
            let keys: [ScopeKeyValue]
            do {
                keys = try method.requestKeys?(payload) ?? []
            } catch {
                throw RPCError(code: .invalidArgument, message: "request: \(error)", cause: error)
            }
            var named = false
            for key in keys where !key.value.isEmpty {
                named = true
                try confine(key, peer: peer, scope: scope)
            }
            guard named else {
                throw RPCError(code: .permissionDenied, message: "\(method.fullName) must name a region or institution inside \(peer.commonName)'s \(scope.rawValue)")
            }
        }
    }

    /// After the call, for answer-confined methods: an answer outside the caller's part is
    /// answered exactly as something that does not exist (whether it exists elsewhere is not
    /// this caller's business).
    static func checkAnswer(_ method: MethodDescriptor, _ answer: ByteBuffer, peer: PeerIdentity, scope: AccessScope) throws(RPCError) {
        guard method.policy.callerScope == .answer, scope != .all else { return }
        let keys: [ScopeKeyValue]
        do {
            keys = try method.answerKeys?(answer).filter { !$0.value.isEmpty } ?? []
        } catch {
            throw RPCError(code: .internal, message: "internal error", cause: error)
        }
        let mine = switch scope {
        case .all: true
        // Every place the answer names is inside the region.
        case .region: !keys.isEmpty && keys.allSatisfy { key in (try? confine(key, peer: peer, scope: scope)) != nil }
        // The institution is one of those the answer names (a clinic, or the centre that settled for it).
        case .institution: keys.contains { $0.kind == .institution && $0.value == peer.commonName }
        }
        guard mine else { throw RPCError(code: .notFound, message: method.policy.notFound) }
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

/// The access table in force, replaced whole when its file is read again (SIGHUP): a call
/// is judged by the table of the moment it arrives; calls in flight are not dropped.
public typealias AccessTables = Reloadable<AccessTable>
