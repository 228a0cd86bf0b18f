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
            func matches(_ patterns: [String]) -> Bool {
                patterns.contains { $0 == method.fullName || ($0.hasSuffix("*") && method.fullName.hasPrefix($0.dropLast())) }
            }
            return (method.policy.roles.contains(role) || matches(methods)) && !matches(except)
        }
    }

    public typealias Scope = AccessScope

    public var rules: [Rule]

    /// Makes a table of rules.
    public init(rules: [Rule]) { self.rules = rules }

    /// Reads the table from a JSON file, or the bundled default when `path` is empty.
    public static func load(path: String) throws -> AccessTable {
        let data = path.isEmpty
            ? try Data(contentsOf: Bundle.module.url(forResource: "access", withExtension: "json")!)
            : try Data(contentsOf: URL(fileURLWithPath: path))
        return try JSONDecoder().decode(AccessTable.self, from: data)
    }

    /// The scope the caller has for the method, or `permissionDenied`: the first rule for the
    /// caller's role (and department) decides; a method it does not grant may still be granted
    /// by a rule for role `*`, which holds for every authenticated caller (public methods, such
    /// as a clinic's published prices).
    public func authorize(_ peer: PeerIdentity, _ method: MethodDescriptor) throws(RPCError) -> Scope {
        if let rule = rules.first(where: { $0.role == peer.role && ($0.department == nil || $0.department == peer.department) }), rule.grants(method) {
            return rule.scope
        }
        if let rule = rules.first(where: { $0.role == "*" && ($0.department == nil || $0.department == peer.department) && $0.grants(method) }) {
            return rule.scope
        }
        throw RPCError(code: .permissionDenied, message: "\(peer.role) '\(peer.commonName)' may not call \(method.fullName)")
    }
}
