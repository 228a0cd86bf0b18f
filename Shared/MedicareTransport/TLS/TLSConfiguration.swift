/// Where a peer's certificate, key and trusted CA live (PEM files), and how long a handshake
/// may take. Both sides always authenticate each other: there is no one-way mode.
public struct TLSConfiguration: Sendable, Hashable {
    /// This peer's certificate chain (leaf first).
    public var certificatePath: String
    /// This peer's private key (PEM), matching `certificatePath`.
    public var privateKeyPath: String
    /// The CA certificates a peer's chain must lead to.
    public var trustRootsPath: String
    /// How long a TLS handshake may take (default 10 s).
    public var handshakeTimeout: Duration

    /// Makes a configuration from three PEM file paths.
    public init(certificatePath: String, privateKeyPath: String, trustRootsPath: String, handshakeTimeout: Duration = .seconds(10)) {
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
        self.trustRootsPath = trustRootsPath
        self.handshakeTimeout = handshakeTimeout
    }

    /// The files `medicare-certs` writes for `name` into `folder`: `name.pem`, `name.key`, `ca.pem`.
    public static func devCertificates(in folder: String, name: String) -> TLSConfiguration {
        TLSConfiguration(
            certificatePath: "\(folder)/\(name).pem", privateKeyPath: "\(folder)/\(name).key", trustRootsPath: "\(folder)/ca.pem"
        )
    }
}
