import ArgumentParser
import Foundation
import MedicareContracts
import MedicareRPC
import MedicareTransport

/// A subcommand per service with one verb per public method, its request's fields as flags:
/// `medicare registry get-institution --fixmedins-code H33080200101`,
/// `medicare supervision list-alerts --region 330802 --limit 10 --json`. Flags are the
/// proto's field names (`--fixmedins-code` or `--fixmedins_code`); a repeated field takes the
/// flag again or a comma list; a message field takes JSON; an enum its code or number. The
/// answer prints as `field: value` lines (or JSON with `--json`). Built from the same
/// descriptors as `medicare call`, so every method the protos declare is here.
enum MethodCommand {
    static func run(service: String, method: String, arguments: [String], connection: Connection) async throws {
        let wanted = method.replacingOccurrences(of: "-", with: "").lowercased()
        guard let found = JSONMethods.all.first(where: {
            $0.descriptor.fullName.hasPrefix("medicare.v1.\(service)/") && $0.descriptor.fullName.split(separator: "/").last?.lowercased() == wanted
        }) else {
            let verbs = JSONMethods.all.filter { $0.descriptor.fullName.hasPrefix("medicare.v1.\(service)/") }
                .map { kebab(String($0.descriptor.fullName.split(separator: "/").last ?? "")) }
            throw fail(ValidationError("\(service) has no method \(method); it has: \(verbs.joined(separator: ", "))"))
        }
        var connection = connection, key = "", object: [String: Any] = [:]
        var i = 0
        func value(_ flag: String) throws -> String {
            i += 1
            guard i < arguments.count else { throw fail(ValidationError("\(flag) needs a value")) }
            return arguments[i]
        }
        while i < arguments.count {
            let argument = arguments[i]
            guard argument.hasPrefix("--") else { throw fail(ValidationError("unexpected '\(argument)': fields are flags, --name value")) }
            let name = String(argument.dropFirst(2))
            switch name {
            case "json": connection.json = true
            case "key": key = try value(argument)
            case "as": connection.identity = try value(argument)
            case "gateway": connection.gateway = try value(argument)
            case "certs": connection.certs = try value(argument)
            default:
                let fieldName = name.replacingOccurrences(of: "-", with: "_")
                guard let field = found.requestFields.first(where: { $0.name == fieldName }) else {
                    throw fail(ValidationError("--\(name): not a field of \(found.requestType) (\(found.requestFields.map { "--" + $0.name.replacingOccurrences(of: "_", with: "-") }.joined(separator: ", ")))"))
                }
                let parts = field.repeated ? (try value(argument)).split(separator: ",").map(String.init) : [try value(argument)]
                let converted = try parts.map { try convert($0, type: field.type, flag: "--\(name)") }
                if field.repeated {
                    object[fieldName] = ((object[fieldName] as? [Any]) ?? []) + converted
                } else {
                    object[fieldName] = converted[0]
                }
            }
            i += 1
        }
        var options = CallOptions()
        if !key.isEmpty { options.metadata[Metadata.idempotencyKey] = key }
        let request = try JSONSerialization.data(withJSONObject: object)
        try await withGateway(connection) { client in
            let answer = try await found.call(client, json: request, options: options)
            if connection.json {
                Console.line(String(decoding: answer, as: UTF8.self))
            } else {
                let parsed = try JSONSerialization.jsonObject(with: answer)
                let lines = flatten(parsed, prefix: "")
                Console.line(lines.isEmpty ? "(an empty answer)" : lines.joined(separator: "\n"))
            }
        }
    }

    /// A flag's text as the JSON form of its field's type.
    static func convert(_ text: String, type: String, flag: String) throws -> Any {
        switch type {
        case "string", "bytes": return text
        case "bool":
            guard let bool = ["true": true, "false": false, "1": true, "0": false][text.lowercased()] else { throw fail(ValidationError("\(flag): true or false")) }
            return bool
        case "int32", "int64", "uint32", "uint64":
            guard let number = Int64(text) else { throw fail(ValidationError("\(flag): a whole number, got '\(text.prefix(30))'")) }
            return number
        case "float", "double":
            guard let number = Double(text) else { throw fail(ValidationError("\(flag): a number, got '\(text.prefix(30))'")) }
            return number
        default:
            // An enum (its code, or its number) or a message (JSON).
            if text.hasPrefix("{") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) else { throw fail(ValidationError("\(flag): not JSON")) }
                return object
            }
            return Int64(text).map { $0 as Any } ?? text
        }
    }

    /// `path: value` lines of a JSON answer, arrays by index.
    static func flatten(_ value: Any, prefix: String) -> [String] {
        switch value {
        case let object as [String: Any]:
            return object.keys.sorted().flatMap { flatten(object[$0]!, prefix: prefix.isEmpty ? $0 : "\(prefix).\($0)") }
        case let array as [Any]:
            return array.enumerated().flatMap { flatten($0.element, prefix: "\(prefix)[\($0.offset)]") }
        default:
            return ["\(prefix): \(value)"]
        }
    }

    static func kebab(_ name: String) -> String {
        var out = ""
        for (i, character) in name.enumerated() {
            if character.isUppercase, i > 0 { out += "-" }
            out += character.lowercased()
        }
        return out
    }
}

/// A service whose methods are verbs: its proto name and an example for `--help`.
protocol VerbService {
    static var name: String { get }
    static var example: String { get }
}

/// One subcommand per service (`ServiceVerbs<Registry>` is `medicare registry`), each with
/// one verb per method.
struct ServiceVerbs<Service: VerbService>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        let verbs = JSONMethods.all.filter { $0.descriptor.fullName.hasPrefix("medicare.v1.\(Service.name)/") }
            .map { MethodCommand.kebab(String($0.descriptor.fullName.split(separator: "/").last ?? "")) }
        return CommandConfiguration(
            commandName: MethodCommand.kebab(Service.name),
            abstract: "Call a \(Service.name) method, its fields as flags: \(Service.example)",
            discussion: "Methods: \(verbs.joined(separator: ", ")). Fields: medicare describe \(Service.name)/METHOD. --key K for keyed methods, --json for JSON."
        )
    }
    @OptionGroup var connection: Connection
    @Argument(help: "The method, in kebab-case (get-institution) or as in the proto.") var method: String
    @Argument(parsing: .captureForPassthrough, help: "Its fields: --name value ...") var fields: [String] = []

    func run() async throws { try await MethodCommand.run(service: Service.name, method: method, arguments: fields, connection: connection) }
}

enum RegistryVerbs: VerbService {
    static let name = "Registry", example = "medicare registry get-institution --fixmedins-code H33080200101"
}
enum SettlementVerbs: VerbService {
    static let name = "Settlement", example = "medicare settlement get-settlement --setl-id S..."
}
enum SettlementReportsVerbs: VerbService {
    static let name = "SettlementReports", example = "medicare settlement-reports get-day-totals --region 330802 --date 2024-06-01"
}
enum SupervisionVerbs: VerbService {
    static let name = "Supervision", example = "medicare supervision list-alerts --region 330802 --limit 10"
}
enum SupervisionReportsVerbs: VerbService {
    static let name = "SupervisionReports", example = "medicare supervision-reports get-review-stats --region 330802 --date 2024-06-01"
}
enum GatewayVerbs: VerbService {
    static let name = "Gateway", example = "medicare gateway verify-audit-trail"
}
