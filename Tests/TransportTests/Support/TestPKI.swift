import Foundation
import MedicareTransport

/// Certificates made at test time, once per test process, in a temporary folder: the
/// development set plus the bad ones each refusal test needs.
enum TestPKI {
    static let folder: String = {
        let folder = NSTemporaryDirectory() + "medicare-pki-\(getpid())-\(UUID().uuidString.prefix(8))"
        do {
            try DevCertificates.ensure(in: folder)
            guard let ca = try DevCertificates.authority(of: folder) else { fatalError("no CA in \(folder)") }
            // A client whose certificate expired yesterday.
            try CertificateIssuer.write(
                try CertificateIssuer.issue(.init(
                    commonName: "expired-client", department: "nhsa", role: "operator", region: "33",
                    notBefore: .seconds(-10 * 86_400), notAfter: .seconds(-86_400)
                ), signedBy: ca),
                name: "expired", into: folder
            )
            // A client from another CA.
            let rogueCA = try CertificateIssuer.certificateAuthority(commonName: "Rogue CA")
            try CertificateIssuer.write(rogueCA, name: "rogue-ca", into: folder)
            try CertificateIssuer.write(
                try CertificateIssuer.issue(.init(commonName: "rogue", department: "nhsa", role: "operator"), signedBy: rogueCA),
                name: "rogue", into: folder
            )
        } catch {
            fatalError("cannot create test certificates: \(error)")
        }
        return folder
    }()

    static func tls(_ name: String) -> TLSConfiguration {
        .devCertificates(in: folder, name: name)
    }
}
