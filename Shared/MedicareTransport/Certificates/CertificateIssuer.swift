internal import COpenSSL
import Foundation

/// Issues ECDSA P-256 certificates with OpenSSL: a development CA, and certificates for
/// services and callers whose subject carries their identity (see ``PeerIdentity``).
public enum CertificateIssuer {
    /// A PEM key and certificate.
    public struct Issued: Sendable {
        /// The private key, PEM.
        public let keyPEM: String
        /// The certificate, PEM.
        public let certificatePEM: String

        /// Pairs a PEM key and certificate (read from files, or just issued).
        public init(keyPEM: String, certificatePEM: String) {
            self.keyPEM = keyPEM
            self.certificatePEM = certificatePEM
        }
    }

    /// A certificate subject and its validity.
    public struct Subject: Sendable {
        /// The subject's `CN`: a service name, system name or institution code.
        public var commonName: String
        /// The subject's `O`: the department (`nhsa`, `nhc`).
        public var department: String
        /// The subject's `OU`: the role (`service`, `clinic`, ...).
        public var role: String
        /// The subject's `ST`: the region code the holder acts for.
        public var region: String
        /// subjectAltName entries: "DNS:registry", "IP:127.0.0.1".
        public var alternativeNames: [String]
        /// The start of validity relative to now (default an hour ago, for clock skew).
        public var notBefore: Duration
        /// The end of validity relative to now (default 825 days).
        public var notAfter: Duration

        /// Makes a subject; empty fields are left out of the certificate by the issuer.
        public init(
            commonName: String, department: String = "", role: String = "", region: String = "",
            alternativeNames: [String] = [], notBefore: Duration = .seconds(-3600), notAfter: Duration = .seconds(825 * 86_400)
        ) {
            self.commonName = commonName
            self.department = department
            self.role = role
            self.region = region
            self.alternativeNames = alternativeNames
            self.notBefore = notBefore
            self.notAfter = notAfter
        }
    }

    /// Why OpenSSL could not issue a certificate.
    public struct IssueError: Error, CustomStringConvertible {
        /// OpenSSL's reason.
        public let description: String
    }

    /// A self-signed CA.
    public static func certificateAuthority(commonName: String, validity: Duration = .seconds(3650 * 86_400)) throws -> Issued {
        try issue(Subject(commonName: commonName, department: "nhsa", notAfter: validity), signedBy: nil, isCA: true)
    }

    /// A leaf certificate for a peer, signed by `ca`.
    public static func issue(_ subject: Subject, signedBy ca: Issued?, isCA: Bool = false) throws -> Issued {
        var keyOut: UnsafeMutablePointer<CChar>?
        var certOut: UnsafeMutablePointer<CChar>?
        var error = [CChar](repeating: 0, count: 1024)
        let san = subject.alternativeNames.joined(separator: ",")
        let status = mc_cert_issue(
            ca?.keyPEM, ca?.certificatePEM, subject.commonName, subject.department, subject.role, subject.region,
            san.isEmpty ? nil : san, isCA ? 1 : 0, Int(subject.notBefore.components.seconds),
            Int(subject.notAfter.components.seconds), &keyOut, &certOut, &error, error.count
        )
        defer {
            mc_free(keyOut)
            mc_free(certOut)
        }
        guard status == 0, let keyOut, let certOut else {
            throw IssueError(description: String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return Issued(keyPEM: String(cString: keyOut), certificatePEM: String(cString: certOut))
    }

    /// A certificate for the key in `csrPEM` (a PEM certificate signing request, whose own
    /// signature must verify), signed by `ca`, with `subject`'s identity (the request's
    /// subject is ignored: the issuer states who the holder is) and alternative names, valid
    /// from an hour ago (clock skew) to `subject.notAfter` from now. Returns the certificate,
    /// PEM. Throws ``IssueError`` with OpenSSL's reason: the CA unreadable, not a PEM request,
    /// its signature not verifying, a subject field or alternative name invalid.
    public static func sign(csrPEM: String, as subject: Subject, by ca: Issued) throws -> String {
        var certOut: UnsafeMutablePointer<CChar>?
        var error = [CChar](repeating: 0, count: 1024)
        let san = subject.alternativeNames.joined(separator: ",")
        let status = mc_cert_sign_csr(
            ca.keyPEM, ca.certificatePEM, csrPEM, subject.commonName, subject.department, subject.role, subject.region,
            san.isEmpty ? nil : san, Int(subject.notAfter.components.seconds), &certOut, &error, error.count
        )
        defer { mc_free(certOut) }
        guard status == 0, let certOut else {
            throw IssueError(description: String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return String(cString: certOut)
    }

    /// Writes `name.key` (mode 0600) and `name.pem` into `folder`.
    public static func write(_ issued: Issued, name: String, into folder: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let keyPath = "\(folder)/\(name).key"
        try Data(issued.keyPEM.utf8).write(to: URL(fileURLWithPath: keyPath))
        try fm.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyPath)
        try Data(issued.certificatePEM.utf8).write(to: URL(fileURLWithPath: "\(folder)/\(name).pem"))
    }
}
