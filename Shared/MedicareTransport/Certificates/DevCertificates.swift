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

    /// Creates the CA (unless `ca.pem` and `ca.key` exist) and every missing peer certificate.
    /// Returns the names written.
    @discardableResult
    public static func ensure(in folder: String, extraHosts: [String] = [], force: Bool = false) throws -> [String] {
        let fm = FileManager.default
        let caKey = "\(folder)/ca.key", caCert = "\(folder)/ca.pem"
        var written: [String] = []
        let ca: CertificateIssuer.Issued
        if !force, fm.fileExists(atPath: caKey), fm.fileExists(atPath: caCert) {
            ca = CertificateIssuer.Issued(
                keyPEM: try String(contentsOfFile: caKey, encoding: .utf8),
                certificatePEM: try String(contentsOfFile: caCert, encoding: .utf8)
            )
        } else {
            ca = try CertificateIssuer.certificateAuthority(commonName: "Medicare Development CA")
            try CertificateIssuer.write(ca, name: "ca", into: folder)
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
