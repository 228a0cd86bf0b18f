import Foundation
import MedicareCrypto
import MedicareRPC

/// The development PKI: one CA, a certificate per service (valid for `localhost`,
/// `127.0.0.1` and its own name, for both serving and calling), and sample callers.
public enum DevCertificates {
    /// One certificate to write: its file name and subject.
    public struct Peer: Sendable {
        /// The file name without extension (`registry` → `registry.pem`, `registry.key`).
        public let name: String
        /// The subject and validity to issue.
        public let subject: CertificateIssuer.Subject
    }

    /// The services that get a certificate (role `service`, `O=nhsa`, region 33).
    public static let services = ["registry", "settlement", "supervision", "gateway", "echo"]

    /// Everyone the development folder holds.
    public static func peers(extraHosts: [String] = []) -> [Peer] {
        let hosts = ["DNS:localhost", "IP:127.0.0.1", "IP:::1"] + extraHosts.map { $0.first?.isNumber == true ? "IP:\($0)" : "DNS:\($0)" }
        var peers = services.map { service in
            Peer(name: service, subject: .init(
                commonName: service, department: PeerIdentity.Department.medicalInsurance, role: PeerIdentity.Role.service,
                region: "33", alternativeNames: ["DNS:\(service)"] + hosts
            ))
        }
        peers += [
            // Zhejiang provincial health commission's village-clinic system (总对总).
            Peer(name: "province-nhc-33", subject: .init(
                commonName: "zj-village-clinic-system", department: PeerIdentity.Department.healthCommission,
                role: PeerIdentity.Role.provinceSystem, region: "33"
            )),
            // A township health centre in Quzhou's Kecheng district and one of its village clinics.
            Peer(name: "township-H33080200001", subject: .init(
                commonName: "H33080200001", department: PeerIdentity.Department.healthCommission,
                role: PeerIdentity.Role.townshipCentre, region: "330802"
            )),
            Peer(name: "clinic-H33080200101", subject: .init(
                commonName: "H33080200101", department: PeerIdentity.Department.healthCommission,
                role: PeerIdentity.Role.clinic, region: "330802"
            )),
            Peer(name: "operator", subject: .init(
                commonName: "ops-console", department: PeerIdentity.Department.medicalInsurance,
                role: PeerIdentity.Role.operator, region: "33"
            )),
            Peer(name: "supervisor-33", subject: .init(
                commonName: "zj-fund-supervision", department: PeerIdentity.Department.medicalInsurance,
                role: PeerIdentity.Role.supervisor, region: "33"
            )),
        ]
        return peers
    }

    /// The sibling folder a CA's key may be kept in, apart from `folder` (`certs` → `certs-ca`):
    /// what `medicare-certs create --ca-dir` suggests for a deployment, so that the folder
    /// services mount holds the CA's certificate (their trust root) but not its key.
    public static func caFolder(for folder: String) -> String {
        let trimmed = folder.hasSuffix("/") ? String(folder.dropLast()) : folder
        return trimmed + "-ca"
    }

    /// The CA of `folder`: its certificate from `folder/ca.pem`, its key from `caFolder` when
    /// given, else beside the certificates, else in ``caFolder(for:)``; nil when there is none.
    public static func authority(of folder: String, caFolder: String? = nil) throws -> CertificateIssuer.Issued? {
        let fm = FileManager.default
        let caCert = "\(folder)/ca.pem"
        let keys = caFolder.map { ["\($0)/ca.key"] } ?? ["\(folder)/ca.key", "\(Self.caFolder(for: folder))/ca.key"]
        guard fm.fileExists(atPath: caCert), let key = keys.first(where: { fm.fileExists(atPath: $0) }) else { return nil }
        return CertificateIssuer.Issued(keyPEM: try String(contentsOfFile: key, encoding: .utf8), certificatePEM: try String(contentsOfFile: caCert, encoding: .utf8))
    }

    /// Creates the CA (unless it exists: ``authority(of:caFolder:)``) and every missing peer
    /// certificate. The CA's key goes to `caFolder` when given (apart from what services mount:
    /// a deployment), else beside the certificates (a development folder, which tools and tests
    /// use to mint callers). Returns the names written.
    @discardableResult
    public static func ensure(in folder: String, caFolder: String? = nil, extraHosts: [String] = [], force: Bool = false) throws -> [String] {
        let fm = FileManager.default
        var written: [String] = []
        let ca: CertificateIssuer.Issued
        if !force, let existing = try authority(of: folder, caFolder: caFolder) {
            ca = existing
        } else {
            ca = try CertificateIssuer.certificateAuthority(commonName: "Medicare Development CA")
            try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
            if let apart = caFolder {
                try CertificateIssuer.write(ca, name: "ca", into: apart)
                try fm.setAttributes([.posixPermissions: 0o700], ofItemAtPath: apart)
                _ = try? fm.removeItem(atPath: "\(folder)/ca.key")
                _ = try? fm.removeItem(atPath: "\(folder)/ca.pem")
                try Data(ca.certificatePEM.utf8).write(to: URL(fileURLWithPath: "\(folder)/ca.pem"))
            } else {
                try CertificateIssuer.write(ca, name: "ca", into: folder)
            }
            written.append("ca")
        }
        for peer in peers(extraHosts: extraHosts) {
            if !force, written.isEmpty, fm.fileExists(atPath: "\(folder)/\(peer.name).pem") { continue }
            try CertificateIssuer.write(try CertificateIssuer.issue(peer.subject, signedBy: ca), name: peer.name, into: folder)
            written.append(peer.name)
        }
        // Supervision's SM2 key for signing the audit chain's checkpoints (not a certificate:
        // it lives beside them, outside every database).
        if force || !fm.fileExists(atPath: "\(folder)/audit-signing.key") {
            _ = try? fm.removeItem(atPath: "\(folder)/audit-signing.key")
            _ = try SM2.loadOrCreateKey(at: "\(folder)/audit-signing.key")
            written.append("audit-signing")
        }
        return written
    }
}
