import Foundation
import MedicareDomain
public import MedicareRPC
public import MedicareWire

/// A message in its JSON form, for people and tools outside the wire: the CLI's generic
/// `medicare call`, rule set documents, `--json` output. Generated for every message
/// (`*.json.swift`, scripts/protogen_swift.py) from the same descriptors as the wire code.
///
/// The form: an object whose keys are the proto's field names (`mdtrt_id`, `med_type`: the
/// national names); zero values are left out when written and may be left out when read;
/// closed sets as their codes (`"general_outpatient"`; also read: the value's number, `11`, or
/// its proto name, `"MED_TYPE_GENERAL_OUTPATIENT"`); 64-bit integers as numbers (also read: a
/// string of digits, which keeps every digit past 2^53); bytes as base64. Reading is strict:
/// an unknown key, a value of the wrong type or an unknown code is an error naming its path
/// (`claim.lines[2].quantity`), so a typo never silently means "not given".
public protocol JSONMessage: WireMessage {
    /// Reads the message's fields from `reader`, then refuses any key left unread.
    init(json reader: inout JSONReader) throws(DomainError)
    /// Writes the message's non-zero fields.
    func json(into writer: inout JSONWriter)
    /// The fields as `medicare describe` shows them: name and type, in declaration order.
    static var jsonFields: [JSONField] { get }
}

extension JSONMessage {
    /// Decodes a JSON document (an object). Errors: ``DomainError`` naming the first bad path.
    public init(jsonData data: Data, path: String = "") throws(DomainError) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw DomainError(field: path.isEmpty ? Self.protoName : path, "is not JSON: \(error.localizedDescription.prefix(200))")
        }
        var reader = try JSONReader(object, path: path, message: Self.protoName)
        try self.init(json: &reader)
    }

    /// The message as a JSON object (``JSONWriter``'s rules).
    public var jsonObject: [String: Any] {
        var writer = JSONWriter()
        json(into: &writer)
        return writer.object
    }

    /// The message as a JSON document: sorted keys, indented, so that two writes of the same
    /// message are byte-identical.
    public func jsonData() -> Data {
        // Every value is a string, number, bool, array or object: serialisation cannot fail.
        (try? JSONSerialization.data(withJSONObject: jsonObject, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
    }
}

/// One field as `medicare describe` shows it.
public struct JSONField: Sendable, CustomStringConvertible {
    public let name: String
    /// `string`, `int64`, `bool`, `bytes`, an enum's or a message's proto name.
    public let type: String
    public let repeated: Bool

    public init(_ name: String, _ type: String, repeated: Bool = false) {
        self.name = name
        self.type = type
        self.repeated = repeated
    }

    public var description: String { "\(name): \(repeated ? "[\(type)]" : type)" }
}

/// Reads one JSON object's keys by type, each read key struck off, so that ``finish(_:)`` can
/// name a key nobody read (a typo, a field of another message).
public struct JSONReader {
    private var values: [String: Any]
    let path: String

    /// `object` must be a JSON object; `message` names it in the error otherwise.
    public init(_ object: Any, path: String, message: String = "") throws(DomainError) {
        guard let values = object as? [String: Any] else { throw DomainError(field: path.isEmpty ? message : path, "must be an object") }
        self.values = values
        self.path = path
    }

    private func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private mutating func take(_ key: String) -> Any? {
        guard let value = values.removeValue(forKey: key), !(value is NSNull) else { return nil }
        return value
    }

    /// The list at `key` (empty when absent), each element read by `read` with its path.
    private mutating func list<T>(_ key: String, _ what: String, _ read: (Any, String) throws(DomainError) -> T) throws(DomainError) -> [T] {
        guard let value = take(key) else { return [] }
        guard let items = value as? [Any] else { throw DomainError(field: field(key), "must be a list of \(what)") }
        var out: [T] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() { out.append(try read(item, "\(field(key))[\(i)]")) }
        return out
    }

    static func string(_ value: Any, _ path: String) throws(DomainError) -> String {
        guard let text = value as? String else { throw DomainError(field: path, "must be a string") }
        return text
    }

    // Each reader below takes the value at `key` (a field's proto name) and strikes it off:
    // absent or null answers the zero value (an empty list for the plural forms); a value of
    // another JSON type is a DomainError naming the path (`lines[2].quantity`).

    /// A string field.
    public mutating func string(_ key: String) throws(DomainError) -> String {
        guard let value = take(key) else { return "" }
        return try Self.string(value, field(key))
    }

    /// A repeated string field.
    public mutating func strings(_ key: String) throws(DomainError) -> [String] { try list(key, "strings", Self.string) }

    /// JSON's true and false: Foundation parses them into NSNumbers of type char ("c"), which
    /// no JSON number becomes.
    static func isBool(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }

    static func bool(_ value: Any, _ path: String) throws(DomainError) -> Bool {
        guard let number = value as? NSNumber, isBool(number) else { throw DomainError(field: path, "must be true or false") }
        return number.boolValue
    }

    /// A bool field: JSON true or false only.
    public mutating func bool(_ key: String) throws(DomainError) -> Bool {
        guard let value = take(key) else { return false }
        return try Self.bool(value, field(key))
    }

    /// A repeated bool field.
    public mutating func bools(_ key: String) throws(DomainError) -> [Bool] { try list(key, "true or false", Self.bool) }

    /// A whole number of `T`: a JSON number exactly representable (up to 2^53), or, for a
    /// 64-bit field, a string of digits for the whole range (as proto3's JSON writes them).
    static func integer<T: FixedWidthInteger>(_ value: Any, _ path: String) throws(DomainError) -> T {
        if T.bitWidth == 64, let text = value as? String, let exact = T(text) { return exact }
        if let number = value as? NSNumber, !isBool(number) {
            let double = number.doubleValue
            if abs(double) <= 9_007_199_254_740_992, let exact = T(exactly: double) { return exact }
        }
        throw DomainError(field: path, "must be a whole number in \(T.min)...\(T.max)")
    }

    /// An integer field of `T`'s range (a number, or for 64 bits a string of digits).
    public mutating func integer<T: FixedWidthInteger>(_ key: String) throws(DomainError) -> T {
        guard let value = take(key) else { return 0 }
        return try Self.integer(value, field(key))
    }

    /// A repeated integer field.
    public mutating func integers<T: FixedWidthInteger>(_ key: String) throws(DomainError) -> [T] {
        guard let value = take(key) else { return [] }
        guard let items = value as? [Any] else { throw DomainError(field: field(key), "must be a list of whole numbers") }
        var out: [T] = []
        for (i, item) in items.enumerated() { out.append(try Self.integer(item, "\(field(key))[\(i)]")) }
        return out
    }

    static func real<T: BinaryFloatingPoint>(_ value: Any, _ path: String) throws(DomainError) -> T {
        guard let number = value as? NSNumber, !isBool(number) else { throw DomainError(field: path, "must be a number") }
        return T(number.doubleValue)
    }

    /// A float or double field: any JSON number.
    public mutating func real<T: BinaryFloatingPoint>(_ key: String) throws(DomainError) -> T {
        guard let value = take(key) else { return 0 }
        return try Self.real(value, field(key))
    }

    /// A repeated float or double field.
    public mutating func reals<T: BinaryFloatingPoint>(_ key: String) throws(DomainError) -> [T] {
        guard let value = take(key) else { return [] }
        guard let items = value as? [Any] else { throw DomainError(field: field(key), "must be a list of numbers") }
        var out: [T] = []
        for (i, item) in items.enumerated() { out.append(try Self.real(item, "\(field(key))[\(i)]")) }
        return out
    }

    static func bytes(_ value: Any, _ path: String) throws(DomainError) -> [UInt8] {
        guard let text = value as? String, let data = Data(base64Encoded: text) else { throw DomainError(field: path, "must be base64") }
        return Array(data)
    }

    /// A bytes field: base64 text.
    public mutating func bytes(_ key: String) throws(DomainError) -> [UInt8] {
        guard let value = take(key) else { return [] }
        return try Self.bytes(value, field(key))
    }

    /// A repeated bytes field.
    public mutating func bytesList(_ key: String) throws(DomainError) -> [[UInt8]] { try list(key, "base64 strings", Self.bytes) }

    /// A closed set's value: its code, its number or its proto name.
    static func code<E: ProtoEnum>(_ value: Any, _ path: String) throws(DomainError) -> E {
        if let text = value as? String {
            if let code = E(code: text) { return code }
            if let named = E.known.first(where: { text == E.valueNamePrefix + $0.code.uppercased() }) { return named }
        } else if let number = value as? NSNumber, !isBool(number), let raw = Int32(exactly: number.doubleValue) {
            let decoded = E(rawValue: raw)
            if decoded.isKnown || raw == 0 { return decoded }
        }
        throw DomainError(field: path, "must be one of \(E.known.map(\.code).joined(separator: ", "))")
    }

    /// An enum field: its code, number or proto name.
    public mutating func code<E: ProtoEnum>(_ key: String) throws(DomainError) -> E {
        guard let value = take(key) else { return E() }
        return try Self.code(value, field(key))
    }

    /// A repeated enum field.
    public mutating func codes<E: ProtoEnum>(_ key: String) throws(DomainError) -> [E] { try list(key, "codes", Self.code) }

    /// A message field (nil when absent), read strictly in turn.
    public mutating func message<M: JSONMessage>(_ key: String) throws(DomainError) -> M? {
        guard let value = take(key) else { return nil }
        var reader = try JSONReader(value, path: field(key))
        return try M(json: &reader)
    }

    /// A repeated message field.
    public mutating func messages<M: JSONMessage>(_ key: String) throws(DomainError) -> [M] {
        try list(key, "objects") { item, path throws(DomainError) in
            var reader = try JSONReader(item, path: path)
            return try M(json: &reader)
        }
    }

    /// Fails on the first key not read (in sorted order, so the error is the same every time).
    public func finish(_ message: String) throws(DomainError) {
        if let key = values.keys.sorted().first { throw DomainError(field: field(key), "is not a field of \(message)") }
    }
}

/// Writes a message's fields into a JSON object, leaving zero values out.
public struct JSONWriter {
    public private(set) var object: [String: Any] = [:]

    public init() {}

    // Each `put` writes a field under its proto name unless it holds the zero value (empty,
    // false, 0, the enum's zero, nil): strings as text, integers as numbers (strings past
    // 2^53), bytes as base64, enums as codes, messages as objects, repeated fields as arrays.

    public mutating func put(_ key: String, _ value: String) { if !value.isEmpty { object[key] = value } }
    public mutating func put(_ key: String, _ value: Bool) { if value { object[key] = true } }
    /// A number; past 2^53 (where a JSON number loses digits) a string of digits, as the reader takes it.
    static func number<T: FixedWidthInteger>(_ value: T) -> Any {
        value.magnitude > 9_007_199_254_740_992 ? String(value) : NSNumber(value: Int64(truncatingIfNeeded: value))
    }

    public mutating func put<T: FixedWidthInteger>(_ key: String, _ value: T) { if value != 0 { object[key] = Self.number(value) } }
    public mutating func put<T: BinaryFloatingPoint>(_ key: String, _ value: T) { if value != 0 { object[key] = Double(value) } }
    public mutating func put(_ key: String, _ value: [UInt8]) { if !value.isEmpty { object[key] = Data(value).base64EncodedString() } }
    public mutating func put<E: ProtoEnum>(_ key: String, _ value: E) { if value.rawValue != 0 { object[key] = value.code } }
    public mutating func put<M: JSONMessage>(_ key: String, _ value: M?) { if let value { object[key] = value.jsonObject } }
    public mutating func put(_ key: String, _ values: [String]) { if !values.isEmpty { object[key] = values } }
    public mutating func put(_ key: String, _ values: [Bool]) { if !values.isEmpty { object[key] = values } }
    public mutating func put<T: FixedWidthInteger>(_ key: String, _ values: [T]) {
        guard !values.isEmpty else { return }
        var out: [Any] = []
        for value in values { out.append(Self.number(value)) }
        object[key] = out
    }
    public mutating func put<T: BinaryFloatingPoint>(_ key: String, _ values: [T]) { if !values.isEmpty { object[key] = values.map { Double($0) } } }
    public mutating func put(_ key: String, _ values: [[UInt8]]) { if !values.isEmpty { object[key] = values.map { Data($0).base64EncodedString() } } }
    public mutating func put<E: ProtoEnum>(_ key: String, _ values: [E]) { if !values.isEmpty { object[key] = values.map(\.code) } }
    public mutating func put<M: JSONMessage>(_ key: String, _ values: [M]) { if !values.isEmpty { object[key] = values.map(\.jsonObject) } }
}

/// A method callable with JSON (the CLI's `medicare call`): its descriptor and its request and
/// response types, from the generated tables (`JSONMethods.all`).
public struct JSONMethod: Sendable {
    public let descriptor: MethodDescriptor
    public let requestType: String
    public let responseType: String
    public let requestFields: [JSONField]
    public let responseFields: [JSONField]
    private let invoke: @Sendable (any RPCChannel, Data, CallOptions) async throws -> Data

    public init<Request: JSONMessage, Response: JSONMessage>(_ descriptor: MethodDescriptor, _ request: Request.Type, _ response: Response.Type) {
        self.descriptor = descriptor
        requestType = Request.protoName
        responseType = Response.protoName
        requestFields = Request.jsonFields
        responseFields = Response.jsonFields
        invoke = { channel, json, options in
            let sent = try Request(jsonData: json)
            return try await channel.unary(descriptor, request: sent, response: Response.self, options: options).jsonData()
        }
    }

    /// Decodes `json` as the request (INVALID_ARGUMENT-kind ``DomainError`` naming the path),
    /// calls the method and answers the response as a JSON document.
    public func call(_ channel: any RPCChannel, json: Data, options: CallOptions = CallOptions()) async throws -> Data {
        try await invoke(channel, json, options)
    }

    /// The method named by its full name (`medicare.v1.Settlement/GetSettlement`) or without
    /// the package (`Settlement/GetSettlement`), case-insensitively.
    public static func named(_ name: String) -> JSONMethod? {
        let wanted = name.lowercased()
        return JSONMethods.all.first { method in
            let full = method.descriptor.fullName.lowercased()
            return full == wanted || full.hasSuffix("." + wanted)
        }
    }
}
