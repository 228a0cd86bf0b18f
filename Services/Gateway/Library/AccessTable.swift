import Foundation
import MedicareRPC

/// Who may call what, and within which scope. The methods themselves say which outside roles
/// they are for (`MethodPolicy.roles`, from the protos); this table, configuration (a JSON file,
/// reloaded on SIGHUP), says which roles exist for which department, with which scope, and may
/// grant a role more methods or withdraw some. The first rule matching the caller's role (and
/// department, when given) decides; a method it does not grant may still be granted by a rule
/// for role `*` (see ``authorize(_:_:)``).
public struct AccessTable: Codable, Sendable {
    public struct Rule: Codable, Sendable {
        /// The certificate's OU (`clinic`, `township-centre`, `supervisor`, `province-system`,
        /// `service`, `operator`), or `*` for every authenticated caller.
        public var role: String
        /// The certificate's O, when the role is only for one department (`nhsa`, `nhc`).
        public var department: String?
        /// Methods granted beyond those whose policy names the role: full method names; a
        /// trailing `*` matches a prefix (`["*"]`: every method).
        public var methods: [String]
        /// Methods withdrawn though the policy or `methods` grants them (same forms).
        public var except: [String]
        /// "all", "region" (the caller's ST region), or "institution" (the caller's own code and
        /// its clinics): how much of the data the caller reaches (see ``AccessScope``). Any
        /// other value refuses the whole table when it loads.
        public var scope: AccessScope

        /// Makes a rule.
        public init(role: String, department: String? = nil, methods: [String] = [], except: [String] = [], scope: AccessScope) {
            self.role = role
            self.department = department
            self.methods = methods
            self.except = except
            self.scope = scope
        }

        /// Decodes a rule; `methods` and `except` may be left out (empty).
        public init(from decoder: any Decoder) throws {
            let values = try decoder.container(keyedBy: CodingKeys.self)
            role = try values.decode(String.self, forKey: .role)
            department = try values.decodeIfPresent(String.self, forKey: .department)
            methods = try values.decodeIfPresent([String].self, forKey: .methods) ?? []
            except = try values.decodeIfPresent([String].self, forKey: .except) ?? []
            scope = try values.decode(AccessScope.self, forKey: .scope)
        }

        /// Whether this rule grants the method: named by its policy's roles or by `methods`, and
        /// not withdrawn by `except`.
        func grants(_ method: MethodDescriptor) -> Bool {
            (method.policy.roles.contains(role) || Self.matches(methods, method)) && !withdraws(method)
        }

        /// Whether `except` names the method.
        func withdraws(_ method: MethodDescriptor) -> Bool { Self.matches(except, method) }

        static func matches(_ patterns: [String], _ method: MethodDescriptor) -> Bool {
            patterns.contains { $0 == method.fullName || ($0.hasSuffix("*") && method.fullName.hasPrefix($0.dropLast())) }
        }
    }

    public typealias Scope = AccessScope

    public var rules: [Rule]
    /// The table's format: 2 since the methods name their roles. A file without it is of the
    /// format before, whose `methods` lists were the whole grant: loading one that lists
    /// methods for an outside role would widen that role to what the protos now grant, so it
    /// is refused (``load(path:)``).
    public var format: Int?

    /// Makes a table of rules (format 2).
    public init(rules: [Rule]) {
        self.rules = rules
        self.format = 2
    }

    /// Reads the table from a JSON file, or the bundled default when `path` is empty.
    /// - Throws: a `DecodingError` for a malformed table or an unknown scope; ``FormatError``
    ///   for a table of the earlier format that lists methods for an outside role.
    public static func load(path: String) throws -> AccessTable {
        let data = path.isEmpty
            ? try Data(contentsOf: Bundle.module.url(forResource: "access", withExtension: "json")!)
            : try Data(contentsOf: URL(fileURLWithPath: path))
        let table = try JSONDecoder().decode(AccessTable.self, from: data)
        let narrowed = table.rules.filter { $0.methods != ["*"] && !$0.methods.isEmpty }.map(\.role)
        guard table.format == 2 || narrowed.isEmpty else { throw FormatError(roles: narrowed) }
        return table
    }

    /// An access table of the format before methods named their roles, with method lists for
    /// outside roles: under format 2 they would only add to what the protos grant.
    public struct FormatError: Error, CustomStringConvertible {
        /// The roles whose rules list methods.
        public let roles: [String]
        public var description: String {
            "the table has no \"format\": 2, and its rules for \(roles.joined(separator: ", ")) list methods: methods now name the roles "
                + "they are for (docs/transactions.md), and a rule's methods add to them; say \"format\": 2 and turn a narrowed list into \"except\""
        }
    }

    /// The scope the caller has for the method, or `permissionDenied`: the first rule for the
    /// caller's role (and department) decides; a method it does not grant may still be granted
    /// by a rule for role `*`, which holds for every authenticated caller (public methods, such
    /// as a clinic's published prices).
    public func authorize(_ peer: PeerIdentity, _ method: MethodDescriptor) throws(RPCError) -> Scope {
        let own = rules.first { $0.role == peer.role && ($0.department == nil || $0.department == peer.department) }
        if let own, own.grants(method) { return own.scope }
        // Withdrawn from the role: not granted back by the rule for every caller either.
        if let own, own.withdraws(method) {
            throw RPCError(code: .permissionDenied, message: "\(peer.role) '\(peer.commonName)' may not call \(method.fullName)")
        }
        if let rule = rules.first(where: { $0.role == "*" && ($0.department == nil || $0.department == peer.department) && $0.grants(method) }) {
            return rule.scope
        }
        throw RPCError(code: .permissionDenied, message: "\(peer.role) '\(peer.commonName)' may not call \(method.fullName)")
    }
}
