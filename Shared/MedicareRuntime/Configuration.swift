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

    /// What a key's value is, as its default says: a whole number (`7101`), yes or no
    /// (`true`), or text. A configuration file must give the key a JSON value of that kind.
    public enum Kind: Sendable {
        case integer, boolean, text
    }

    /// The key's kind, from its default value.
    public var kind: Kind {
        if Int(defaultValue) != nil { return .integer }
        if defaultValue == "true" || defaultValue == "false" { return .boolean }
        return .text
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
    ///   without a value, an unreadable or non-object file, a file value of the wrong JSON kind
    ///   (a port must be a number: `true` or `"7101"` is refused), or an unknown key in the
    ///   file, flags or environment (suggesting the nearest declared one). In the environment,
    ///   a `MEDICARE_*` variable within two edits of one of this service's keys, and neither
    ///   one of them nor in ``sharedEnvironment`` (another service's key, or a tool's), is a
    ///   misspelling and stops start-up (`MEDICARE_RPC_PROT`); one that is nobody's key (a
    ///   test harness's `MEDICARE_BIN`) is left alone.
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
                guard let key = known[name] else { throw StartupError(Self.unknown(name, in: "file \(configFile)", keys: keys)) }
                values[name] = (try Self.text(value, for: key, in: configFile), "file \(configFile)")
            }
        }
        let ours = Set(keys.map(\.environmentName))
        for variable in environment.keys.sorted() where variable.hasPrefix("MEDICARE_") && !ours.contains(variable) && !Self.sharedEnvironment.contains(variable) {
            // A misspelt key (within two edits of one) stops start-up; a variable that is
            // nobody's key (a harness's, a script's) is not ours to judge.
            guard let near = keys.min(by: { Self.distance($0.environmentName, variable) < Self.distance($1.environmentName, variable) }),
                  Self.distance(near.environmentName, variable) <= 2 else { continue }
            throw StartupError("unknown environment variable \(variable); did you mean \(near.environmentName) (\(near.name))?")
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

    /// `MEDICARE_*` variables a service accepts without declaring them: the other services'
    /// keys (one environment file may serve the whole stack), and the tools' own variables
    /// (the CLI's, the scripts' and the tests'). A test keeps it equal to the services' keys.
    public static let sharedEnvironment: Set<String> = [
        // the configuration file itself
        "MEDICARE_CONFIG",
        // the other services' keys
        "MEDICARE_UPSTREAM_REGISTRY", "MEDICARE_UPSTREAM_SETTLEMENT", "MEDICARE_UPSTREAM_SUPERVISION", "MEDICARE_CAMPAIGN_FILE",
        "MEDICARE_ACCESS_FILE", "MEDICARE_GATEWAY_MAX_CALLS_PER_CALLER", "MEDICARE_GATEWAY_ROUTE_CACHE_MS", "MEDICARE_GATEWAY_VISIT_CLAIM_MS", "MEDICARE_BRIDGE_PORT",
        "MEDICARE_BRIDGE_ENABLED", "MEDICARE_STORE_SETTLE_WRITERS", "MEDICARE_POLICY_FILE", "MEDICARE_AUDIT_SIGNING_KEY",
        "MEDICARE_AUDIT_CHECKPOINT_SECONDS", "MEDICARE_REVIEW_RULES_FILE", "MEDICARE_REVIEW_RECENT_SECONDS", "MEDICARE_REVIEW_REFRESH_MS", "MEDICARE_POLICY_REFRESH_MS",
        "MEDICARE_BUSINESS_TIME_ZONE", "MEDICARE_STORE_PASSWORD",
        // the tools': the CLI, scripts and tests
        "MEDICARE_CERTS", "MEDICARE_GATEWAY", "MEDICARE_DATA", "MEDICARE_TEST_POSTGRES_URL", "MEDICARE_PG_DIR", "MEDICARE_PG_SETTINGS",
        "MEDICARE_SKIP_POSTGRES", "MEDICARE_REPLICA_STACK", "MEDICARE_BIN", "MEDICARE_PROTO",
    ]

    /// A file value as text, if it is of the key's kind. Errors name the key and the file.
    private static func text(_ value: Any, for key: ConfigKey, in file: String) throws(StartupError) -> String {
        let number = value as? NSNumber, isBool = number.map { String(cString: $0.objCType) == "c" } ?? false
        switch key.kind {
        case .integer:
            if let number, !isBool, let whole = Int(exactly: number.doubleValue) { return String(whole) }
            throw StartupError("configuration key '\(key.name)' (file \(file)) must be a JSON whole number; got \(describe(value))")
        case .boolean:
            if let number, isBool { return number.boolValue ? "true" : "false" }
            throw StartupError("configuration key '\(key.name)' (file \(file)) must be JSON true or false; got \(describe(value))")
        case .text:
            if let text = value as? String { return text }
            throw StartupError("configuration key '\(key.name)' (file \(file)) must be a JSON string; got \(describe(value))")
        }
    }

    private static func describe(_ value: Any) -> String {
        if let number = value as? NSNumber { return String(cString: number.objCType) == "c" ? (number.boolValue ? "true" : "false") : number.stringValue }
        if let text = value as? String { return "\"\(text.prefix(60))\"" }
        if value is NSNull { return "null" }
        return value is [Any] ? "an array" : "\(type(of: value))"
    }

    private static func flatten(_ object: [String: Any], prefix: String = "") -> [(String, Any)] {
        object.flatMap { key, value -> [(String, Any)] in
            let name = prefix.isEmpty ? key : "\(prefix).\(key)"
            if let nested = value as? [String: Any] { return flatten(nested, prefix: name) }
            return [(name, value)]
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
