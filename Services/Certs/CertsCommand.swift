import ArgumentParser
import Foundation
import MedicareDomain
import MedicareRPC
import MedicareTransport

/// The development PKI (`medicare-certs -o certs`), and certificates for new institutions and
/// systems signed by its CA (`medicare-certs issue`).
@main
struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "medicare-certs",
        abstract: "Create a development CA and certificates for every service and sample caller; issue certificates for new callers.",
        version: MedicareRelease.version,
        subcommands: [Create.self, Issue.self],
        defaultSubcommand: Create.self
    )

    /// The development set.
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Create the CA and every service's and sample caller's certificate (--ca-dir keeps the CA's key apart from what services mount)."
        )

        @Option(name: .shortAndLong, help: "Folder to write into.")
        var output = "certs"

        @Option(name: .long, parsing: .upToNextOption, help: "Extra host names or IP addresses the service certificates are valid for.")
        var host: [String] = []

        @Flag(help: "Replace existing files, including the CA.")
        var force = false

        @Option(help: "Keep the CA's key in this folder, not beside the certificates (a deployment: services mount the certificate folder, never this one).")
        var caDir = ""

        func run() throws {
            do {
                let written = try DevCertificates.ensure(in: output, caFolder: caDir.isEmpty ? nil : caDir, extraHosts: host, force: force)
                if written.isEmpty {
                    Console.line("certificates in \(output) already exist; nothing written (use --force to replace them)")
                } else {
                    Console.line("wrote \(written.count) certificates to \(output)\(caDir.isEmpty ? "" : " (the CA's key in \(caDir))"): \(written.joined(separator: ", "))")
                }
            } catch {
                throw ValidationError("cannot create certificates in \(output): \(error)")
            }
        }
    }

    /// A certificate for one new caller: a clinic, a township centre, a province's system, an
    /// operator or supervisor. Its subject is the caller's identity (docs/protocol.md).
    struct Issue: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "issue",
            abstract: "Issue a certificate for a new institution or system, signed by the CA (with a new key, or for a CSR).",
            discussion: """
                medicare-certs issue --role clinic --code H33080200105 --region 330802 -o certs
                medicare-certs issue --role province-system --code zj-village-clinic-system --department nhc --region 33 --csr request.pem -o certs
                """
        )

        @Option(help: "clinic, township-centre, province-system, operator or supervisor.") var role: String
        @Option(help: "The institution's code (fixmedins_code: H and 11 digits) for a clinic or centre; the system's or person's name otherwise.") var code: String
        @Option(help: "The region it acts for: a division code prefix (2, 4, 6, 9 or 12 digits).") var region: String
        @Option(help: "nhsa (medical insurance) or nhc (health commission); default nhc for institutions and province systems, nhsa otherwise.") var department = ""
        @Option(help: "A PEM certificate signing request: the holder keeps its key; only the certificate is written.") var csr = ""
        @Option(name: .shortAndLong, help: "Folder to write NAME.pem (and NAME.key without --csr) into.") var output = "certs"
        @Option(help: "Where the CA's key is (default: beside the certificates, else OUTPUT-ca).") var caFolder = ""
        @Option(help: "Days the certificate is valid (1-825).") var days = 825

        func run() throws {
            let roles = ["clinic": PeerIdentity.Role.clinic, "township-centre": PeerIdentity.Role.townshipCentre,
                         "province-system": PeerIdentity.Role.provinceSystem, "operator": PeerIdentity.Role.operator, "supervisor": PeerIdentity.Role.supervisor]
            guard let ouRole = roles[role] else { throw ValidationError("--role must be one of \(roles.keys.sorted().joined(separator: ", "))") }
            let institution = role == "clinic" || role == "township-centre"
            if institution {
                do { _ = try InstitutionCode(code, field: "code") } catch { throw ValidationError("--code: \(error)") }
                guard region.count == 6, code.dropFirst().hasPrefix(region) else {
                    throw ValidationError("--region: an institution acts for its county, the 6 digits after H in its code (\(code.dropFirst().prefix(6)))")
                }
            } else {
                guard (1...64).contains(code.count), code.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                    throw ValidationError("--code: 1-64 letters, digits, - or _")
                }
            }
            guard [2, 4, 6, 9, 12].contains(region.count), region.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw ValidationError("--region: a division code prefix of 2, 4, 6, 9 or 12 digits")
            }
            let dept = department.isEmpty ? (institution || role == "province-system" ? PeerIdentity.Department.healthCommission : PeerIdentity.Department.medicalInsurance) : department
            guard [PeerIdentity.Department.healthCommission, PeerIdentity.Department.medicalInsurance].contains(dept) else { throw ValidationError("--department must be nhsa or nhc") }
            guard (1...825).contains(days) else { throw ValidationError("--days must be 1-825") }
            guard let ca = try DevCertificates.authority(of: output, caFolder: caFolder.isEmpty ? nil : caFolder) else {
                throw ValidationError("no CA: \(output)/ca.pem and its key (in \(caFolder.isEmpty ? "\(output) or \(DevCertificates.caFolder(for: output))" : caFolder))")
            }
            let subject = CertificateIssuer.Subject(commonName: code, department: dept, role: ouRole, region: region, notAfter: .seconds(days * 86_400))
            let name = institution ? "\(role == "clinic" ? "clinic" : "township")-\(code)" : "\(role)-\(code)"
            do {
                if csr.isEmpty {
                    try CertificateIssuer.write(try CertificateIssuer.issue(subject, signedBy: ca), name: name, into: output)
                    Console.line("wrote \(output)/\(name).pem and \(name).key (\(role) \(code), region \(region))")
                } else {
                    let request = try String(contentsOfFile: csr, encoding: .utf8)
                    let certificate = try CertificateIssuer.sign(csrPEM: request, as: subject, by: ca)
                    try Data(certificate.utf8).write(to: URL(fileURLWithPath: "\(output)/\(name).pem"))
                    Console.line("wrote \(output)/\(name).pem for the key in \(csr) (\(role) \(code), region \(region))")
                }
            } catch let error as ValidationError {
                throw error
            } catch {
                throw ValidationError("cannot issue: \(error)")
            }
        }
    }
}
