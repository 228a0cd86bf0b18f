import ArgumentParser
import MedicareRPC
import MedicareTransport

/// Creates the development PKI: a CA, a certificate per service and sample callers.
@main
struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "medicare-certs",
        abstract: "Create a development CA and certificates for every service and sample caller.",
        version: MedicareRelease.version
    )

    @Option(name: .shortAndLong, help: "Folder to write into.")
    var output = "certs"

    @Option(name: .long, parsing: .upToNextOption, help: "Extra host names or IP addresses the service certificates are valid for.")
    var host: [String] = []

    @Flag(help: "Replace existing files, including the CA.")
    var force = false

    func run() throws {
        do {
            let written = try DevCertificates.ensure(in: output, extraHosts: host, force: force)
            if written.isEmpty {
                Console.line("certificates in \(output) already exist; nothing written (use --force to replace them)")
            } else {
                Console.line("wrote \(written.count) certificates to \(output): \(written.joined(separator: ", "))")
            }
        } catch {
            throw ValidationError("cannot create certificates in \(output): \(error)")
        }
    }
}
