import Foundation

/// A documented configuration key with its default.
public struct ConfigKey: Sendable, Hashable {
    /// The key's name, dotted and lower case (`rpc.port`); also its flag, `--rpc.port`.
    public let name: String
    /// The value used when no file, environment variable or flag sets one, as text.
    public let defaultValue: String
    /// One line of help for `--help`.
    public let help: String

    /// Declares a key with its default value (as text) and help.
    public init(_ name: String, default defaultValue: String, _ help: String) {
        self.name = name
        self.defaultValue = defaultValue
        self.help = help
    }

    /// `rpc.max-frame-bytes` -> `MEDICARE_RPC_MAX_FRAME_BYTES`.
    public var environmentName: String {
        "MEDICARE_" + name.uppercased().map { $0 == "." || $0 == "-" ? "_" : $0 }.map(String.init).joined()
    }
}

/// Configuration values from, in rising precedence: defaults, a JSON file (`--config FILE`,
/// or `MEDICARE_CONFIG`), environment variables (`MEDICARE_RPC_PORT`) and command-line
/// flags (`--rpc.port 7101` or `--rpc.port=7101`). Every key is declared; an unknown key
/// or a bad value stops start-up with a message naming the key and its source.
public struct Configuration: Sendable {
    /// Every declared key, in declaration order.
    public let keys: [ConfigKey]
    private var values: [String: (value: String, source: String)]

    /// Reads `--config FILE` (or `MEDICARE_CONFIG`: a JSON object whose nested objects make dotted
    /// names), then each key's environment variable, then the `--KEY VALUE` / `--KEY=VALUE` flags,
    /// each overriding the one before.
    /// - Throws: ``StartupError`` (configuration) for an argument that is not a flag, a flag
    ///   without a value, an unreadable or non-object file, or an unknown key in the file or
    ///   flags (suggesting the nearest declared one). Unknown environment variables are ignored.
    public init(keys: [ConfigKey], arguments: [String], environment: [String: String]) throws(StartupError) {
        self.keys = keys
        let known = Dictionary(uniqueKeysWithValues: keys.map { ($0.name, $0) })
        values = Dictionary(uniqueKeysWithValues: keys.map { ($0.name, ($0.defaultValue, "default")) })

        var flags: [(String, String)] = []
        var configFile = environment["MEDICARE_CONFIG"]
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            guard argument.hasPrefix("--") else {
                throw StartupError("unexpected argument '\(argument)'; flags look like --rpc.port 7101 (see --help)")
            }
            var name = String(argument.dropFirst(2))
            var value: String
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            } else {
                index += 1
                guard index < arguments.count else { throw StartupError("flag --\(name) needs a value") }
                value = arguments[index]
            }
            if name == "config" { configFile = value } else { flags.append((name, value)) }
            index += 1
        }

        if let configFile {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: configFile))
            } catch {
                throw StartupError("cannot read the configuration file '\(configFile)': \(error.localizedDescription)")
            }
            guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                throw StartupError("the configuration file '\(configFile)' is not a JSON object")
            }
            for (name, value) in Self.flatten(object) {
                guard known[name] != nil else { throw StartupError(Self.unknown(name, in: "file \(configFile)", keys: keys)) }
                values[name] = (value, "file \(configFile)")
            }
        }
        for key in keys {
            if let value = environment[key.environmentName] { values[key.name] = (value, "environment \(key.environmentName)") }
        }
        for (name, value) in flags {
            guard known[name] != nil else { throw StartupError(Self.unknown(name, in: "flag --\(name)", keys: keys)) }
            values[name] = (value, "flag --\(name)")
        }
    }

    /// The value of a key as text. Traps if the key is not declared.
    public func string(_ name: String) -> String {
        guard let entry = values[name] else { preconditionFailure("configuration key '\(name)' is not declared") }
        return entry.value
    }

    /// The value of a key as a whole number within `range`. Traps if the key is not declared.
    /// - Throws: ``StartupError`` (configuration) naming the key and its source otherwise.
    public func int(_ name: String, in range: ClosedRange<Int>) throws(StartupError) -> Int {
        let raw = string(name)
        guard let value = Int(raw), range.contains(value) else {
            throw StartupError("configuration key '\(name)' (\(source(name))) must be a whole number in \(range.lowerBound)...\(range.upperBound); got '\(raw)'")
        }
        return value
    }

    /// The value of a key, which must be one of `allowed`. Traps if the key is not declared.
    /// - Throws: ``StartupError`` (configuration) naming the key and its source otherwise.
    public func oneOf(_ name: String, _ allowed: [String]) throws(StartupError) -> String {
        let raw = string(name)
        guard allowed.contains(raw) else {
            throw StartupError("configuration key '\(name)' (\(source(name))) must be one of \(allowed.joined(separator: ", ")); got '\(raw)'")
        }
        return raw
    }

    /// Where a key's value came from (`default`, `file PATH`, `environment NAME`, `flag --NAME`),
    /// for error messages; `undeclared` for an unknown key.
    public func source(_ name: String) -> String { values[name]?.source ?? "undeclared" }

    /// The keys, defaults and help, for --help and the README.
    public static func help(for keys: [ConfigKey]) -> String {
        keys.map { key in
            "  --\(key.name) (\(key.environmentName), default '\(key.defaultValue)')\n      \(key.help)"
        }.joined(separator: "\n")
    }

    private static func unknown(_ name: String, in source: String, keys: [ConfigKey]) -> String {
        let near = keys.map(\.name).min { distance($0, name) < distance($1, name) }
        return "unknown configuration key '\(name)' (from \(source))" + (near.map { "; did you mean '\($0)'?" } ?? "")
    }

    private static func flatten(_ object: [String: Any], prefix: String = "") -> [(String, String)] {
        object.flatMap { key, value -> [(String, String)] in
            let name = prefix.isEmpty ? key : "\(prefix).\(key)"
            switch value {
            case let nested as [String: Any]: return flatten(nested, prefix: name)
            case let number as NSNumber: return [(name, number.stringValue)]
            default: return [(name, "\(value)")]
            }
        }
    }

    private static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
}
