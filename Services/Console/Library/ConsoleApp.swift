import Foundation
import GatewayService
import Hummingbird
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareWire
import Mustache

/// The operator console: server-rendered pages for bureau officials, supervisors and
/// operators (coverage drill-down, designation progress, the work ledger, settlements and fund
/// paid per day, review blocks, alerts and cases) and the actions they take (suspend or
/// restore a designation, reverse a settlement, check the ledger, verify the audit chain).
///
/// It reaches the services only as a gateway caller, with its own certificate, and decides
/// what each signed-in user may see or do with the gateway's own access table: a user is a
/// role, department and region exactly as a certificate is, and a method the table does not
/// grant that role is refused here before any call. A region-scoped user sees only regions
/// inside their own. See docs/console.md.
public struct ConsoleApp: Sendable {
    public let gateway: any RPCChannel
    public let access: AccessTable
    public let users: ConsoleUsers
    public let sessions: ConsoleSessions
    let templates: MustacheLibrary

    /// A console calling `gateway` (a channel with the console's own certificate), judging
    /// users by `access` (the gateway's table), signing in `users`, each sign-in lasting
    /// `sessionLifetime`. Throws Mustache's parse error if a page template is malformed (a
    /// defect of this build, caught by its tests).
    public init(gateway: any RPCChannel, access: AccessTable, users: ConsoleUsers, sessionLifetime: Duration = .seconds(8 * 3600)) throws {
        self.gateway = gateway
        self.access = access
        self.users = users
        sessions = ConsoleSessions(lifetime: sessionLifetime)
        templates = try Templates.library()
    }

    /// The console's routes, each answering HTML (`text/html; charset=utf-8`):
    /// - `GET /login`, `POST /login` (form `name`, `password`: 303 to `/` with the session
    ///   cookie, or 401 with the form again), `POST /logout` (form `form_token`);
    /// - `GET /`, `/ledger`, `/settlements`, `/supervision` (`?region=` a division prefix of 2,
    ///   4, 6, 9 or 12 digits, default the user's; `?lang=en|zh`);
    /// - `GET /actions`, `POST /actions/designation|reverse|check-ledger|verify-audit` (form
    ///   `form_token` and the action's fields).
    /// Without a session every page answers 303 to `/login`. A refusal answers its page with
    /// the reason: 403 (the access table, or a form without the session's token), 400 (a
    /// field), 404 (not found), 502 (the gateway or a service did not answer).
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/login") { request, _ in self.page(request, template: "login", user: nil, values: [:]) }
        router.post("/login") { request, _ in try await self.signIn(request) }
        router.post("/logout") { request, _ in try await self.signOut(request) }
        router.get("/") { request, _ in try await self.signedIn(request) { try await self.overview(request, $0) } }
        router.get("/ledger") { request, _ in try await self.signedIn(request) { try await self.ledger(request, $0) } }
        router.get("/settlements") { request, _ in try await self.signedIn(request) { try await self.settlements(request, $0) } }
        router.get("/supervision") { request, _ in try await self.signedIn(request) { try await self.supervision(request, $0) } }
        router.get("/actions") { request, _ in try await self.signedIn(request) { self.page(request, template: "actions", user: $0, values: [:]) } }
        router.post("/actions/:action") { request, context in
            let action = context.parameters.get("action") ?? ""
            return try await self.signedIn(request) { try await self.act(action, request, $0) }
        }
        return router
    }

    // MARK: sessions

    static let cookie = "mc_session"

    func signIn(_ request: Request) async throws -> Response {
        let form = try await Self.form(request)
        guard let user = users.authenticate(name: form["name"] ?? "", password: form["password"] ?? "") else {
            var response = page(request, template: "login", user: nil, values: [:], error: Words.all(Self.lang(request))["badLogin"])
            response.status = .unauthorized
            return response
        }
        var response = Response(status: .seeOther, headers: [.location: "/"])
        response.setCookie(Cookie(name: Self.cookie, value: sessions.open(user), path: "/", httpOnly: true, sameSite: .strict))
        return response
    }

    func signOut(_ request: Request) async throws -> Response {
        let token = request.cookies[Self.cookie]?.value
        if let session = sessions.session(token), (try await Self.form(request))["form_token"] == session.formToken { sessions.close(token) }
        var response = Response(status: .seeOther, headers: [.location: "/login"])
        response.setCookie(Cookie(name: Self.cookie, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .strict))
        return response
    }

    /// `body` for a signed-in user; otherwise to the sign-in page.
    func signedIn(_ request: Request, _ body: (ConsoleSessions.Session) async throws -> Response) async throws -> Response {
        guard let session = sessions.session(request.cookies[Self.cookie]?.value) else {
            return Response(status: .seeOther, headers: [.location: "/login"])
        }
        return try await body(session)
    }

    // MARK: pages

    /// The region a page shows: `?region=` (2, 4, 6, 9 or 12 digits) inside the user's own, or
    /// the user's own (the province, 33, for a user of all regions).
    func region(_ request: Request, _ user: ConsoleUser) throws(RPCError) -> String {
        let asked = request.uri.queryParameters.get("region").map { String($0) } ?? ""
        let own = user.region
        let region = asked.isEmpty ? (own.isEmpty ? "33" : own) : asked
        guard [2, 4, 6, 9, 12].contains(region.count), region.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw RPCError(code: .invalidArgument, message: "region: must be a division code prefix of 2, 4, 6, 9 or 12 digits")
        }
        return region
    }

    /// Checks the user may call `method` for `region` (the access table's scope for their role).
    func authorize(_ user: ConsoleUser, _ method: MethodDescriptor, region: String?) throws(RPCError) {
        let scope = try access.authorize(user.identity, method)
        switch scope {
        case .all: return
        case .region:
            guard let region, region.hasPrefix(user.region), !user.region.isEmpty else {
                throw RPCError(code: .permissionDenied, message: "\(user.name) may see region \(user.region) only")
            }
        case .institution:
            throw RPCError(code: .permissionDenied, message: "\(user.role) '\(user.name)' sees one institution, not a region's pages")
        }
    }

    /// A region page: the region asked (``region(_:_:)``), the user authorized for `method`
    /// there, then `body`; an error becomes the page's message with its status.
    func regionPage(
        _ request: Request, _ session: ConsoleSessions.Session, _ method: MethodDescriptor, _ body: (String) async throws -> Response
    ) async -> Response {
        do {
            let region = try region(request, session.user)
            try authorize(session.user, method, region: region)
            return try await body(region)
        } catch {
            return failure(request, session, error)
        }
    }

    func overview(_ request: Request, _ session: ConsoleSessions.Session) async throws -> Response {
        let user = session.user
        return await regionPage(request, session, RegistryMethods.getCoverage) { region in
            let registry = RegistryClient(gateway)
            let coverage = try await registry.getCoverage(CoverageRequest(region: region, maxGaps: 50))
            func share(_ covered: UInt32, _ villages: UInt32) -> Double { villages == 0 ? 0 : Double(covered) / Double(villages) }
            let children: [[String: Any]] = coverage.children.map { c in
                let code = Self.prefix(of: c.divisionCode, for: region)
                return ["code": c.divisionCode, "name": c.name.isEmpty ? c.divisionCode : c.name, "villages": c.villages, "covered": c.covered,
                        "share": Self.percent(share(c.covered, c.villages)), "percent": Int(share(c.covered, c.villages) * 100),
                        "drill": code.count > region.count ? code : ""]
            }
            // Progress: coverage at each quarter's end since the campaign began, and today.
            let today = CivilDate.today().description
            var points: [(label: String, value: Double)] = []
            for day in ["2024-03-31", "2024-06-30", "2024-09-30", "2024-12-31", "2025-03-31", "2025-06-30", "2025-09-30", "2025-12-31"] where day < today {
                let then = try await registry.getCoverage(CoverageRequest(region: region, maxGaps: 0, asOf: day))
                points.append((String(day.prefix(7)), share(then.covered, then.villages)))
            }
            points.append((today, share(coverage.covered, coverage.villages)))
            let words = Words.all(Self.lang(request))
            return page(request, template: "overview", user: session, values: [
                "region": region, "regionName": region, "asOf": coverage.asOf, "villages": coverage.villages, "covered": coverage.covered,
                "share": Self.percent(share(coverage.covered, coverage.villages)), "clinics": coverage.clinics, "designatedClinics": coverage.designatedClinics,
                "children": children, "gaps": coverage.gaps.map { ["code": $0.code, "name": $0.name] }, "hasGaps": !coverage.gaps.isEmpty,
                "parent": Self.parent(of: region, limit: user.region) ?? "",
                "progressChart": Charts.line(points, target: (1, "2024-12-31 100%"), title: words["progress"] ?? ""),
            ])
        }
    }

    func ledger(_ request: Request, _ session: ConsoleSessions.Session) async throws -> Response {
        await regionPage(request, session, RegistryMethods.getWorkLedger) { region in
            let ledger = try await RegistryClient(gateway).getWorkLedger(WorkLedgerRequest(region: region, pageSize: 200))
            return page(request, template: "ledger", user: session, values: [
                "region": region, "clinics": ledger.clinics,
                "counts": ledger.counts.map { ["reason": $0.reason.code, "count": $0.clinics] },
                "rows": ledger.rows.map { ["code": $0.fixmedinsCode, "name": $0.fixmedinsName, "division": $0.divisionCode, "reason": $0.reason.code,
                                           "plan": $0.plan, "unit": $0.responsibleUnit, "targetDate": $0.targetDate] },
            ])
        }
    }

    func settlements(_ request: Request, _ session: ConsoleSessions.Session) async throws -> Response {
        await regionPage(request, session, SettlementReportsMethods.getDayTotals) { region in
            let settlement = SettlementReportsClient(gateway)
            let today = CivilDate.today()
            var days: [[String: Any]] = [], fund: [(label: String, value: Double)] = []
            for back in (0..<14).reversed() {
                let day = today.adding(days: -back).description
                let totals = try await settlement.getDayTotals(DayTotalsRequest(region: region, date: day))
                days.append(["day": day, "settlements": totals.settlements, "reversed": totals.reversed,
                             "medfee": Self.yuan(totals.medfeeSumamt), "fund": Self.yuan(totals.fundPaySumamt)])
                fund.append((String(day.suffix(5)), Double(totals.fundPaySumamt) / 100))
            }
            let words = Words.all(Self.lang(request))
            return page(request, template: "settlements", user: session, values: [
                "region": region, "days": days.reversed(), "fundChart": Charts.bars(fund, title: words["fund"] ?? "", unit: "¥"),
            ])
        }
    }

    func supervision(_ request: Request, _ session: ConsoleSessions.Session) async throws -> Response {
        await regionPage(request, session, SupervisionMethods.listAlerts) { region in
            let supervision = SupervisionClient(gateway)
            let alerts = try await supervision.listAlerts(ListAlertsRequest(region: region, limit: 100))
            // Cases and review statistics are kept per county: asked of a wider region, they are left out.
            let cases = region.count >= 6 ? (try? await supervision.listCases(ListCasesRequest(region: region, limit: 100)))?.cases ?? [] : []
            var blocked: [(label: String, value: Double)] = []
            if region.count >= 6 {
                let today = CivilDate.today()
                for back in (0..<7).reversed() {
                    let day = today.adding(days: -back).description
                    let stats = try? await SupervisionReportsClient(gateway).getReviewStats(ReviewStatsRequest(region: region, date: day))
                    blocked.append((String(day.suffix(5)), Double(stats?.blocked ?? 0)))
                }
            }
            let words = Words.all(Self.lang(request))
            return page(request, template: "supervision", user: session, values: [
                "region": region,
                "alerts": alerts.alerts.suffix(50).reversed().map { ["id": $0.alertID, "rule": $0.ruleID, "code": $0.fixmedinsCode, "evidence": $0.evidence] },
                "cases": cases.map { ["id": $0.caseID, "code": $0.fixmedinsCode, "status": $0.status.code, "summary": $0.summary] },
                "blockedChart": blocked.isEmpty ? "" : Charts.bars(blocked, title: words["blocked"] ?? "", unit: ""),
            ])
        }
    }

    // MARK: actions

    func act(_ action: String, _ request: Request, _ session: ConsoleSessions.Session) async throws -> Response {
        let form = try await Self.form(request)
        // Every form carries the session's own token: a page elsewhere cannot post for the user.
        guard form["form_token"] == session.formToken else {
            var response = page(request, template: "actions", user: session, values: [:], error: "form_token: this form is not from your session; reload the page")
            response.status = .forbidden
            return response
        }
        let user = session.user
        do {
            let result: String
            switch action {
            case "designation":
                let code = try InstitutionCode(form["fixmedins_code"] ?? "", field: "fixmedins_code").value
                let act: DesignationAction = form["action"] == "restore" ? .restore : .suspend
                let reason = try FreeText.checked(form["reason"] ?? "", field: "reason", max: 200)
                try authorize(user, RegistryMethods.changeDesignation, region: nil as String?)
                let changed = try await RegistryClient(gateway).changeDesignation(ChangeDesignationRequest(
                    fixmedinsCode: code, action: act, reason: "\(reason) (console: \(user.name))"
                ))
                result = "\(code): \(changed.designationStatus.code)"
            case "reverse":
                let setlID = form["setl_id"] ?? ""
                let reason = try FreeText.checked(form["reason"] ?? "", field: "reason", max: 200)
                try authorize(user, GatewayMethods.reverse, region: nil as String?)
                var options = CallOptions()
                options.metadata[Metadata.idempotencyKey] = "console-reverse-\(setlID.prefix(100))"
                let reversed = try await GatewayClient(gateway).reverse(GatewayReverseRequest(setlID: setlID, reason: "\(reason) (console: \(user.name))"), options: options)
                result = "\(reversed.setlID): \(reversed.reversalID)\(reversed.replay ? " (replay)" : "")"
            case "check-ledger":
                try authorize(user, SettlementMethods.checkLedger, region: nil as String?)
                let check = try await SettlementClient(gateway).checkLedger(LedgerCheckRequest())
                result = "balanced \(check.balanced): \(check.settlements) settlements, \(check.reversals) reversals, debits \(Self.yuan(check.totalDebits)), credits \(Self.yuan(check.totalCredits))"
                    + (check.problems.isEmpty ? "" : "; " + check.problems.prefix(5).joined(separator: "; "))
            case "verify-audit":
                try authorize(user, GatewayMethods.verifyAuditTrail, region: nil as String?)
                let chain = try await GatewayClient(gateway).verifyAuditTrail(VerifyAuditTrailRequest())
                result = "intact \(chain.intact): \(chain.records) records, \(chain.checkpointsVerified) checkpoints verified" + (chain.reason.isEmpty ? "" : "; \(chain.reason)")
            default:
                throw RPCError(code: .notFound, message: "no action \(action.prefix(40))")
            }
            return page(request, template: "actions", user: session, values: ["result": result])
        } catch {
            return failure(request, session, error, template: "actions")
        }
    }

    // MARK: rendering

    func failure(_ request: Request, _ session: ConsoleSessions.Session, _ error: any Error, template: String = "actions") -> Response {
        let rpc = RPCError(mapping: error)
        let safe = rpc.redactedForPeer() ?? rpc
        let words = Words.all(Self.lang(request))
        var response = page(request, template: template, user: session, values: [:],
                            error: (safe.code == .permissionDenied ? (words["denied"] ?? "") + ": " : "") + "\(safe.code): \(safe.message)")
        response.status = switch safe.code {
        case .permissionDenied: .forbidden
        case .invalidArgument, .failedPrecondition: .badRequest
        case .notFound: .notFound
        default: .badGateway
        }
        return response
    }

    func page(_ request: Request, template: String, user: ConsoleSessions.Session?, values: [String: Any], error: String? = nil) -> Response {
        let lang = Self.lang(request)
        var context = values
        context["w"] = Words.all(lang)
        context["lang"] = lang
        if let user { context["formToken"] = user.formToken }
        let body = templates.render(context, withTemplate: template) ?? ""
        var layout: [String: Any] = ["w": Words.all(lang), "lang": lang, "otherLang": lang == "en" ? "zh" : "en", "body": body]
        if let user {
            layout["user"] = ["name": user.user.name, "role": user.user.role, "region": user.user.region, "formToken": user.formToken]
        }
        if let error { layout["error"] = error }
        let html = templates.render(layout, withTemplate: "layout") ?? ""
        var response = Response(status: .ok, headers: [
            .contentType: "text/html; charset=utf-8",
            // Nothing but this page's own styles and forms: no script at all.
            .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
            .init("X-Content-Type-Options")!: "nosniff", .cacheControl: "no-store",
        ], body: .init(byteBuffer: ByteBuffer(string: html)))
        if let asked = request.uri.queryParameters.get("lang"), asked == "en" || asked == "zh" {
            response.setCookie(Cookie(name: "mc_lang", value: String(asked), path: "/", httpOnly: true, sameSite: .strict))
        }
        return response
    }

    static func lang(_ request: Request) -> String {
        if let asked = request.uri.queryParameters.get("lang"), asked == "en" || asked == "zh" { return String(asked) }
        return request.cookies["mc_lang"]?.value == "en" ? "en" : "zh"
    }

    /// A form's fields (application/x-www-form-urlencoded, at most 16 KiB).
    static func form(_ request: Request) async throws -> [String: String] {
        var request = request
        let body = try await request.collectBody(upTo: 16_384)
        let text = String(buffer: body).replacingOccurrences(of: "+", with: "%20")
        var fields: [String: String] = [:]
        for item in URLComponents(string: "?" + text)?.queryItems ?? [] where fields[item.name] == nil { fields[item.name] = item.value ?? "" }
        return fields
    }

    static func percent(_ share: Double) -> String { String(format: "%.1f%%", share * 100) }
    static func yuan(_ fen: Int64) -> String { String(format: "%.2f", Double(fen) / 100) }

    /// A child division's code prefix, as a region: 4 digits under a province, 6 under a city,
    /// 9 under a county, 12 under a township.
    static func prefix(of code: String, for region: String) -> String {
        let next = [2: 4, 4: 6, 6: 9, 9: 12][region.count] ?? 12
        return String(code.prefix(next))
    }

    /// The region above `region`, unless that leaves the user's own; nil at the top.
    static func parent(of region: String, limit: String) -> String? {
        let up = [4: 2, 6: 4, 9: 6, 12: 9][region.count].map { String(region.prefix($0)) }
        guard let up, up.count >= max(limit.count, 2) else { return nil }
        return up
    }
}
