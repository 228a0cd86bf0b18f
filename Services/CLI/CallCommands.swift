import ArgumentParser
import Foundation
import MedicareContracts
import MedicareDomain
import MedicareRPC
import MedicareTransport
import MedicareWire

/// `medicare call`: any public method through the gateway, its request and answer in JSON
/// (the generated JSON form of every message: keys are the proto's field names, closed sets
/// their codes). Every method the access table grants the caller is reachable without a
/// dedicated subcommand.
struct Call: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Call any method through the gateway with a JSON request; print the JSON answer.",
        discussion: """
            medicare call Settlement/GetInstitutionAccount --data '{"fixmedins_code": "H33080200101"}' --as supervisor-33
            medicare call Supervision/TakeCaseAction --data-file action.json --key case-7-recovery
            medicare describe Supervision/TakeCaseAction      the request's and answer's fields
            """
    )
    @OptionGroup var connection: Connection
    @Argument(help: "The method: Service/Method (Settlement/GetSettlement) or its full name (medicare.v1.Settlement/GetSettlement).") var method: String
    @Option(help: "The request as JSON (default {}).") var data = ""
    @Option(help: "A file holding the request as JSON ('-' reads standard input).") var dataFile = ""
    @Option(help: "The idempotency key (metadata idempotency-key), for methods that take one.") var key = ""

    func run() async throws {
        guard let found = JSONMethod.named(method) else {
            throw fail(ValidationError("no method \(method): `medicare describe` lists them"))
        }
        guard data.isEmpty || dataFile.isEmpty else { throw fail(ValidationError("give --data or --data-file, not both")) }
        let request: Data
        do {
            if dataFile == "-" {
                request = FileHandle.standardInput.readDataToEndOfFile()
            } else if !dataFile.isEmpty {
                request = try Data(contentsOf: URL(fileURLWithPath: dataFile))
            } else {
                request = Data((data.isEmpty ? "{}" : data).utf8)
            }
        } catch {
            throw fail(ValidationError("cannot read \(dataFile): \((error as NSError).localizedDescription)"))
        }
        var options = CallOptions()
        if !key.isEmpty { options.metadata[Metadata.idempotencyKey] = key }
        try await withGateway(connection) { client in
            let answer = try await found.call(client, json: request, options: options)
            Console.line(String(decoding: answer, as: UTF8.self))
        }
    }
}

/// `medicare describe`: the services, their methods (with what each requires of its caller)
/// and the fields of their messages, from the same descriptors the wire code is built from.
struct Describe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every method, or show one method's request and answer fields.",
        discussion: """
            medicare describe                          every method: its national transaction, retry safety, who may call it
            medicare describe Supervision/OpenCase     its request and answer, field by field
            """
    )
    @Argument(help: "A method (Service/Method); empty lists them all.") var method = ""
    @Flag(help: "Print JSON instead of text.") var json = false

    func run() async throws {
        if method.isEmpty {
            let rows = JSONMethods.all.map { m -> [String: Any] in
                let p = m.descriptor.policy
                return ["method": m.descriptor.fullName, "request": m.requestType, "response": m.responseType, "national_code": p.nationalCode ?? "",
                        "idempotency": "\(p.idempotency)", "caller_scope": "\(p.callerScope)", "keyed": p.keyed,
                        "served_via": p.servedVia ?? "", "only_callers": p.onlyCallers.sorted()]
            }
            emit(json, JSONMethods.all.map { m in
                let p = m.descriptor.policy
                var notes = ["\(p.idempotency)", "scope \(p.callerScope)"]
                if let code = p.nationalCode { notes.insert(code, at: 0) }
                if p.keyed { notes.append("needs --key") }
                if let via = p.servedVia { notes.append("through \(via)") }
                if !p.onlyCallers.isEmpty { notes.append("callers: \(p.onlyCallers.sorted().joined(separator: ","))") }
                return "\(m.descriptor.fullName)(\(m.requestType)) -> \(m.responseType)  [\(notes.joined(separator: ", "))]"
            }.joined(separator: "\n"), ["methods": rows])
            return
        }
        guard let found = JSONMethod.named(method) else {
            throw fail(ValidationError("no method \(method): `medicare describe` lists them"))
        }
        emit(json, (["\(found.descriptor.fullName)", "  request \(found.requestType)"] + found.requestFields.map { "    \($0)" }
                     + ["  answer \(found.responseType)"] + found.responseFields.map { "    \($0)" }).joined(separator: "\n"),
             ["method": found.descriptor.fullName, "request": found.requestType, "response": found.responseType,
              "request_fields": found.requestFields.map { ["name": $0.name, "type": $0.type, "repeated": $0.repeated] },
              "response_fields": found.responseFields.map { ["name": $0.name, "type": $0.type, "repeated": $0.repeated] }])
    }
}

/// `medicare health`: whether the gateway serves, and its release.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "health", abstract: "Ask the gateway whether it serves (Health/Check); exit 1 unless it does.")
    @OptionGroup var connection: Connection

    func run() async throws {
        var serving = false
        try await withGateway(connection) { client in
            let answer = try await HealthClient(client).check(HealthCheckRequest())
            emit(connection.json, "\(answer.server) \(answer.version): \(answer.status.code)", answer.jsonObject)
            serving = answer.status == .serving
        }
        if !serving { throw ExitCode(1) }
    }
}
