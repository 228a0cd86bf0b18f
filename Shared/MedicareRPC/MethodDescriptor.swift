public import NIOCore

/// A method's identity on the wire (`medicare.v1.Registry/GetInstitution`) and what it is:
/// its ``MethodPolicy``, generated from the options beside the method in `Proto/` (see
/// `Proto/medicare/v1/options.proto`).
///
/// Two descriptors are equal when their full names are: the policy is a property of the name.
public struct MethodDescriptor: Hashable, Sendable, CustomStringConvertible {
    /// The service's full name, `medicare.v1.Registry`.
    public let service: String
    /// The method's name within the service, `GetInstitution`.
    public let method: String
    /// `service/method`, as it travels in the request frame.
    public let fullName: String
    /// What the method is: retry safety, caller scope, national transaction code, ...
    public let policy: MethodPolicy
    /// The scope keys a request names (fields marked `scope_key`), read from its encoded
    /// bytes; nil when the request type has none. Throws `WireError` for bytes that do not decode.
    public let requestKeys: (@Sendable (ByteBuffer) throws -> [ScopeKeyValue])?
    /// The scope keys an answer names; nil when the response type has none.
    public let answerKeys: (@Sendable (ByteBuffer) throws -> [ScopeKeyValue])?

    /// Makes a descriptor; `fullName` is `service/method`. The default policy fails closed.
    public init(
        service: String, method: String, policy: MethodPolicy = MethodPolicy(),
        requestKeys: (@Sendable (ByteBuffer) throws -> [ScopeKeyValue])? = nil,
        answerKeys: (@Sendable (ByteBuffer) throws -> [ScopeKeyValue])? = nil
    ) {
        self.service = service
        self.method = method
        self.fullName = "\(service)/\(method)"
        self.policy = policy
        self.requestKeys = requestKeys
        self.answerKeys = answerKeys
    }

    /// Parses a full name; nil when it is not `service/method`. The policy is the default
    /// (fails closed): look a method up in a router to get its declared one.
    public init?(fullName: String) {
        let parts = fullName.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        self.init(service: String(parts[0]), method: String(parts[1]))
    }

    /// The full name, `service/method`.
    public var description: String { fullName }

    /// Compares full names only.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.fullName == rhs.fullName }
    /// Hashes the full name only.
    public func hash(into hasher: inout Hasher) { hasher.combine(fullName) }
}

/// A method's options from `Proto/medicare/v1/options.proto` (`medicare.v1.policy` and the
/// standard `idempotency_level`). The defaults fail closed: not retried, only callers of
/// scope "all", forwarded, no transaction code.
public struct MethodPolicy: Sendable, Equatable {
    /// `google.protobuf.MethodOptions.IdempotencyLevel`.
    public enum Idempotency: Sendable, Equatable {
        /// Not safe to run twice (unless ``MethodPolicy/keyed`` and the call carries a key).
        case unknown
        /// A write whose second run has the same effect as the first.
        case idempotent
        /// A read.
        case noSideEffects
    }

    /// `medicare.v1.CallerScope`: who may call, and how a scoped caller is confined.
    public enum CallerScope: Sendable, Equatable {
        /// Only callers of scope "all".
        case all
        /// Confined by the request's scope keys.
        case request
        /// Confined by the answer's scope keys (outside: NOT_FOUND).
        case answer
        /// Concerns no region's or institution's data.
        case any
        /// The handler confines the caller itself.
        case handler
    }

    /// The standard idempotency level: whether a call may safely run again.
    public var idempotency: Idempotency
    /// Who may call the method and how a scoped caller is confined.
    public var callerScope: CallerScope
    /// A write that changes what a settlement route resolves to: the gateway forgets its cached
    /// routes when the call completes or fails.
    public var invalidatesRoutes: Bool
    /// The national platform's transaction number ("2207"), or nil.
    public var nationalCode: String?
    /// For methods outside callers may not call: the gateway method that does it for them.
    public var servedVia: String?
    /// Safe to run twice only under the same idempotency key.
    public var keyed: Bool
    /// When not empty: the only service names (certificate CN) that may call the method directly.
    public var onlyCallers: Set<String>
    /// Also open to the medical-insurance department's operators directly.
    public var diagnostic: Bool
    /// For ``CallerScope/answer``: the NOT_FOUND message for something that does not exist,
    /// answered word for word for something outside the caller's part.
    public var notFound: String
    /// The outside callers' roles (certificate OU) granted the method, `*` for every
    /// authenticated caller; the gateway's access table gives each role its scope and may add
    /// or withdraw grants. Empty: only the roles the table grants everything (service, operator).
    public var roles: Set<String>

    /// Makes a policy; the defaults fail closed (not retried, callers of scope "all" only, no
    /// role granted).
    public init(
        idempotency: Idempotency = .unknown, callerScope: CallerScope = .all, invalidatesRoutes: Bool = false,
        nationalCode: String? = nil, servedVia: String? = nil, keyed: Bool = false, onlyCallers: Set<String> = [],
        diagnostic: Bool = false, notFound: String = "", roles: Set<String> = []
    ) {
        self.idempotency = idempotency
        self.callerScope = callerScope
        self.invalidatesRoutes = invalidatesRoutes
        self.nationalCode = nationalCode
        self.servedVia = servedVia
        self.keyed = keyed
        self.onlyCallers = onlyCallers
        self.diagnostic = diagnostic
        self.notFound = notFound
        self.roles = roles
    }

    /// Whether a call may be sent again (to another replica) after it may have reached one:
    /// reads and idempotent writes always, keyed writes when the call carries a key.
    public func mayRetry(hasIdempotencyKey: Bool) -> Bool {
        idempotency != .unknown || (keyed && hasIdempotencyKey)
    }
}

/// One value a message names that places it in a region or at an institution (a field marked
/// with the `scope_key` option), with the field's path for error messages (`records[3].code`).
public struct ScopeKeyValue: Sendable, Equatable {
    /// `medicare.v1.ScopeKey`.
    public enum Kind: Sendable, Equatable {
        /// A division code or prefix.
        case division
        /// An institution code (`H` + 6-digit county + 5 digits).
        case institution
    }

    /// Whether the value is a division code or an institution code.
    public var kind: Kind
    /// The field's path in the message, for error messages (`records[3].code`).
    public var field: String
    /// The value as it appears in the message.
    public var value: String

    /// Makes a scope key value.
    public init(_ kind: Kind, field: String, value: String) {
        self.kind = kind
        self.field = field
        self.value = value
    }
}

/// A message that names regions or institutions (fields marked `scope_key` in its proto, or
/// in its nested messages); the generator makes every such message conform.
public protocol ScopeKeyed {
    /// Appends the values this message names, empty ones included, each with its field's
    /// path under `path` (`records[3].parent_code`).
    func scopeKeys(_ path: String, into keys: inout [ScopeKeyValue])
}

extension ScopeKeyed {
    /// ``scopeKeys(_:into:)`` from the message's root, as an array.
    public func scopeKeys() -> [ScopeKeyValue] {
        var keys: [ScopeKeyValue] = []
        scopeKeys("", into: &keys)
        return keys
    }
}
