/// Who is calling, as proven by the peer's verified client certificate.
///
/// The certificate subject carries it (see docs/protocol.md, "Identity"):
/// - `O`  the department: ``Department``, e.g. `nhsa` (medical insurance) or `nhc` (health commission);
/// - `OU` the role: ``Role``, e.g. `service`, `province-system`, `township-centre`, `clinic`, `operator`;
/// - `ST` the region code the caller acts for (2, 4, 6 or 12 digits of the division code);
/// - `CN` the principal: a service name (`registry`), a system name, or an institution code (`H`+11 digits).
public struct PeerIdentity: Sendable, Hashable, CustomStringConvertible {
    /// The certificate's `CN`: a service name, a system name or an institution code.
    public var commonName: String
    /// The certificate's `O`: ``Department`` (`nhsa`, `nhc`).
    public var department: String
    /// The certificate's `OU`: ``Role`` (`service`, `clinic`, ...).
    public var role: String
    /// The certificate's `ST`: the division code or prefix the caller acts for.
    public var region: String

    /// Makes an identity from its four fields (as read from a certificate subject, or in tests).
    public init(commonName: String, department: String = "", role: String = "", region: String = "") {
        self.commonName = commonName
        self.department = department
        self.role = role
        self.region = region
    }

    /// `role:commonName@department/region`, for logs.
    public var description: String { "\(role):\(commonName)@\(department)/\(region)" }

    /// The metadata form of this identity (`acting-caller`): its four fields separated by tabs.
    public var actingCallerValue: String { [role, commonName, department, region].joined(separator: "\t") }

    /// Parses ``actingCallerValue``; nil unless it is exactly four fields of at most 128 bytes
    /// without control characters.
    public init?(actingCallerValue value: String) {
        let parts = value.split(separator: "\t", omittingEmptySubsequences: false)
        guard parts.count == 4, !parts[0].isEmpty, !parts[1].isEmpty,
              parts.allSatisfy({ $0.utf8.count <= 128 && $0.utf8.allSatisfy { $0 >= 32 && $0 != 127 } }) else { return nil }
        self.init(commonName: String(parts[1]), department: String(parts[2]), role: String(parts[0]), region: String(parts[3]))
    }

    /// The scope an idempotency key lives in: the acting caller's role and name (for an
    /// institution, its code). Two institutions may use the same key.
    public var idempotencyScope: String { "\(role):\(commonName)" }

    /// How a caller stands toward an institution: the one rule every handler that acts for an
    /// institution applies (a designation application, a price list, a centre's view of its
    /// clinics), so that they cannot drift apart. Fails closed: a caller in no listed relation
    /// stands ``none``.
    public enum Standing: Sendable, Equatable {
        /// The institution itself: a clinic's or township centre's certificate whose CN is the code.
        case itself
        /// Its township centre: under 乡村一体化管理 a centre acts for the village clinics it
        /// manages (notice §二; the registry's `parent_code`).
        case itsCentre
        /// The health commission's provincial system, for an institution in its region (`ST`).
        case healthCommission
        /// The medical-insurance bureau: its operators and this system's services.
        case bureau
        /// None of these.
        case none
    }

    /// How this caller stands toward the institution `code`, whose township centre is `parent`
    /// ('' or nil: none known) and whose division (village or township code) is `division`.
    public func standing(toward code: String, parent: String? = nil, division: String? = nil) -> Standing {
        switch role {
        case Role.clinic where commonName == code, Role.townshipCentre where commonName == code:
            return .itself
        case Role.townshipCentre where !(parent ?? "").isEmpty && commonName == parent:
            return .itsCentre
        case Role.provinceSystem where department == Department.healthCommission && !region.isEmpty && (division ?? "").hasPrefix(region):
            return .healthCommission
        case Role.operator, Role.service:
            return .bureau
        default:
            return .none
        }
    }

    /// The certificate `O` values this system knows.
    public enum Department {
        /// The national healthcare security administration (medical insurance).
        public static let medicalInsurance = "nhsa"
        /// The health commission.
        public static let healthCommission = "nhc"
    }

    /// The certificate `OU` values this system knows.
    public enum Role {
        /// One of this system's services (registry, settlement, supervision, gateway).
        public static let service = "service"
        /// A provincial system.
        public static let provinceSystem = "province-system"
        /// A township health centre (which may settle for its clinics).
        public static let townshipCentre = "township-centre"
        /// A village clinic.
        public static let clinic = "clinic"
        /// An operator of the medical-insurance department.
        public static let `operator` = "operator"
        /// A supervisor (issued under `nhsa` in the development certificates).
        public static let supervisor = "supervisor"
    }
}
