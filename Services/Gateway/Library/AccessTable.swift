import Foundation
import MedicareRPC

/// Who may call what, and within which scope: configuration (a JSON file), not code.
/// The first rule matching the caller's role (and department, when given) decides; a method
/// it does not list may still be granted by a rule for role `*` (see ``authorize(_:_:)``).
public struct AccessTable: Codable, Sendable {
    public struct Rule: Codable, Sendable {
        public var role: String
        public var department: String?
        /// Full method names; a trailing `*` matches a prefix.
        public var methods: [String]
        /// "all", "region" (the caller's ST region), or "institution" (the caller's own code and
        /// its clinics): how much of the data the caller reaches (see ``AccessScope``). Any
        /// other value refuses the whole table when it loads.
        public var scope: AccessScope
    }

    public typealias Scope = AccessScope

    public var rules: [Rule]

    public static func load(path: String) throws -> AccessTable {
        let data = path.isEmpty
            ? try Data(contentsOf: Bundle.module.url(forResource: "access", withExtension: "json")!)
            : try Data(contentsOf: URL(fileURLWithPath: path))
        return try JSONDecoder().decode(AccessTable.self, from: data)
    }

    /// The scope the caller has for the method, or `permissionDenied`: the first rule for the
    /// caller's role (and department) decides; a method it does not list may still be granted
    /// by a rule for role `*`, which holds for every authenticated caller (public methods, such
    /// as a clinic's published prices).
    public func authorize(_ peer: PeerIdentity, _ method: String) throws(RPCError) -> Scope {
        func lists(_ rule: Rule) -> Bool { rule.methods.contains(where: { $0 == method || ($0.hasSuffix("*") && method.hasPrefix($0.dropLast())) }) }
        if let rule = rules.first(where: { $0.role == peer.role && ($0.department == nil || $0.department == peer.department) }), lists(rule) {
            return rule.scope
        }
        if let rule = rules.first(where: { $0.role == "*" && ($0.department == nil || $0.department == peer.department) && lists($0) }) {
            return rule.scope
        }
        throw RPCError(code: .permissionDenied, message: "\(peer.role) '\(peer.commonName)' may not call \(method)")
    }
}
