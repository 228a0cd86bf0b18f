/// A method's identity on the wire: `medicare.v1.Registry/GetInstitution`.
public struct MethodDescriptor: Hashable, Sendable, CustomStringConvertible {
    /// The service's full name, `medicare.v1.Registry`.
    public let service: String
    /// The method's name within the service, `GetInstitution`.
    public let method: String
    /// `service/method`, as it travels in the request frame.
    public let fullName: String

    public init(service: String, method: String) {
        self.service = service
        self.method = method
        self.fullName = "\(service)/\(method)"
    }

    /// Parses a full name; nil when it is not `service/method`.
    public init?(fullName: String) {
        let parts = fullName.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        self.init(service: String(parts[0]), method: String(parts[1]))
    }

    public var description: String { fullName }
}
