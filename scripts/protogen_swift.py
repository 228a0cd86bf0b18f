#!/usr/bin/env python3
"""Emit the typed Swift side of the wire from a protoc descriptor set.

Reads a FileDescriptorSet (protoc --descriptor_set_out --include_imports --include_source_info)
and writes:
  - one <file>.pb.swift per .proto into the wire module: Swift structs and enums plus the
    glue that copies them to and from the C structs protoc-c generated for the same file;
  - one <file>.services.swift per .proto with services into the contracts module: each
    method's descriptor with its policy (the `medicare.v1.policy` option and the standard
    `idempotency_level`, see Proto/medicare/v1/options.proto), a service protocol, its router
    registration and a typed client;
  - one <file>.scope.swift per .proto whose messages name regions or institutions (fields
    marked `scope_key`, directly or through a nested message): how to list those values;
  - docs/transactions.md, the table of every method and what it is, from the same options;
  - docs/openapi.json, the JSON bridge's methods and message forms as OpenAPI 3.1;
  - the descriptor set again with our options stripped, for protoc-c (which never sees them).

Nothing here is hand-written per message: a new message or service needs only
scripts/generate-proto.sh. Unsupported constructs (oneof, map, proto2 groups) stop the
generator with a message naming the field.
"""
import sys
from pathlib import Path

from google.protobuf import descriptor_pb2 as d

F = d.FieldDescriptorProto
SCALARS = {
    F.TYPE_INT32: ("Int32", "0"), F.TYPE_SINT32: ("Int32", "0"), F.TYPE_SFIXED32: ("Int32", "0"),
    F.TYPE_INT64: ("Int64", "0"), F.TYPE_SINT64: ("Int64", "0"), F.TYPE_SFIXED64: ("Int64", "0"),
    F.TYPE_UINT32: ("UInt32", "0"), F.TYPE_FIXED32: ("UInt32", "0"),
    F.TYPE_UINT64: ("UInt64", "0"), F.TYPE_FIXED64: ("UInt64", "0"),
    F.TYPE_FLOAT: ("Float", "0"), F.TYPE_DOUBLE: ("Double", "0"),
}
SWIFT_KEYWORDS = {
    "associatedtype", "class", "deinit", "enum", "extension", "func", "import", "init", "inout",
    "internal", "let", "operator", "private", "protocol", "public", "static", "struct",
    "subscript", "typealias", "var", "break", "case", "continue", "default", "defer", "do",
    "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return", "switch", "where",
    "while", "as", "catch", "false", "is", "nil", "rethrows", "super", "self", "Self", "throw",
    "throws", "true", "try", "Type", "some", "any",
}
ACRONYMS = {"id": "ID", "url": "URL", "uuid": "UUID", "ip": "IP"}


def camel(name, upper_first=False):
    parts = [p for p in name.split("_") if p]
    out = []
    for i, p in enumerate(parts):
        low = p.lower()
        if i == 0 and not upper_first:
            out.append(low)
        elif low in ACRONYMS:
            out.append(ACRONYMS[low])
        else:
            out.append(low[:1].upper() + low[1:])
    return "".join(out)


def method_name(name):
    """ImportPersons -> importPersons (RPC names are already CamelCase)."""
    return name[:1].lower() + name[1:]


def ident(name):
    return f"`{name}`" if name in SWIFT_KEYWORDS else name


def c_lower(full):
    """medicare.v1.EchoMessage -> medicare__v1__echo_message (protoc-c's function prefix)."""
    pkg, _, name = full.rpartition(".")
    snake = ""
    for i, ch in enumerate(name):
        if ch.isupper() and i > 0 and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower())):
            snake += "_"
        snake += ch.lower()
    return "__".join(pkg.split(".") + [snake])


def c_type(full):
    """medicare.v1.EchoMessage -> Medicare__V1__EchoMessage."""
    parts = full.split(".")
    return "__".join(p[:1].upper() + p[1:] for p in parts)


OPTIONS_FILE = "medicare/v1/options.proto"

# The common names of string fields that stay strings: values from open sets (identifiers,
# codes of catalogues and divisions, rule ids), dates and times, hashes, and free text. A
# string field with another name must be marked `[(medicare.v1.open_text) = true]` in its proto;
# any other stops the generator: a closed set is an enum (with a zero UNSPECIFIED value that
# validation refuses), so that the compiler checks every use of it.
FREE_TEXT = {
    # identifiers and codes from open sets: persons, visits, settlements, institutions,
    # divisions, catalogue items, ICD-10 codes, rules and versions, calls and keys
    "psn_no", "certno", "mdtrt_id", "setl_id", "reversal_id", "fixmedins_code", "fixmedins_name", "settle_via", "ide_fixmedins_no",
    "code", "parent_code", "division_code", "institution", "region", "insu_admdvs", "insuplc_admdvs", "item_code", "diagnoses",
    "rule_id", "rule_version", "policy_version", "session_id", "subject", "pending", "key", "service", "method",
    "server", "version", "by",
    # dates and times (YYYY-MM-DD, ISO 8601)
    "at", "birthday", "date", "on_date", "effective_date", "relationship_end", "setl_date", "visit_date", "psn_insu_date", "paus_insu_date",
    # hashes and digests (hex)
    "hash", "prev_hash", "digest",
    # free text: names, reasons, messages, evidence; metadata values; the echo test message
    "name", "reason", "refusal", "evidence", "message", "status_message", "problems", "value", "text", "tags",
}


class Gen:
    def __init__(self, fds, opts):
        self.opts = opts
        self.files = {f.name: f for f in fds.file}
        self.messages = {}  # ".pkg.Name" -> (file, DescriptorProto)
        self.enums = {}
        for f in fds.file:
            if f.name == OPTIONS_FILE or f.package.startswith("google."):
                continue
            for m in f.message_type:
                if m.nested_type or m.enum_type:
                    sys.exit(f"{f.name}: {m.name}: nested types are not supported; declare them at file level")
                for fld in m.field:
                    if fld.type == F.TYPE_STRING and fld.name not in FREE_TEXT and not fld.options.Extensions[opts.open_text]:
                        sys.exit(f"{f.package}.{m.name}.{fld.name}: a string field that is neither a common open-set name (FREE_TEXT) "
                                 "nor marked [(medicare.v1.open_text) = true]: make a closed set an enum")
                self.messages[f".{f.package}.{m.name}"] = (f, m)
            for e in f.enum_type:
                self.enums[f".{f.package}.{e.name}"] = (f, e)
                zero = e.value[0].name
                # gRPC's status codes and the health protocol's statuses keep their own zero values.
                if not zero.endswith("_UNSPECIFIED") and e.name not in ("StatusCode", "ServingStatus"):
                    sys.exit(f"{f.package}.{e.name}: the zero value must be *_UNSPECIFIED (it means 'not given' and is refused)")
        self.keyed = self.keyed_messages()

    @staticmethod
    def swift_name(full):
        return full.rsplit(".", 1)[-1]

    def field_info(self, msg_full, fld):
        """(swift type of one element, default literal, kind)"""
        where = f"{msg_full[1:]}.{fld.name}"
        if fld.HasField("oneof_index"):
            sys.exit(f"{where}: oneof is not supported; model presence with a wrapper message")
        if fld.type in SCALARS:
            t, dflt = SCALARS[fld.type]
            return t, dflt, "scalar"
        if fld.type == F.TYPE_BOOL:
            return "Bool", "false", "bool"
        if fld.type == F.TYPE_STRING:
            return "String", '""', "string"
        if fld.type == F.TYPE_BYTES:
            return "[UInt8]", "[]", "bytes"
        if fld.type == F.TYPE_ENUM:
            return self.swift_name(fld.type_name), ".init()", "enum"
        if fld.type == F.TYPE_MESSAGE:
            if fld.type_name not in self.messages:
                sys.exit(f"{where}: unknown message type {fld.type_name} (map fields are not supported)")
            return self.swift_name(fld.type_name), "nil", "message"
        sys.exit(f"{where}: field type {fld.type} is not supported")

    # ---------------------------------------------------------------- enums
    def enum_swift(self, f, e):
        name = e.name
        prefix = ""
        # FRAME_KIND_REQUEST in enum FrameKind -> request
        upper = "".join(("_" + ch if ch.isupper() and i else ch) for i, ch in enumerate(name)).upper() + "_"
        if all(v.name.startswith(upper) for v in e.value):
            prefix = upper
        doc = self.comment(f, [5, list(f.enum_type).index(e)])
        lines = [f"/// `{f.package}.{name}`." + (" " + doc if doc else ""),
                 "///",
                 "/// A value a newer peer sends that this build does not know decodes as `unrecognized` and",
                 "/// survives a round trip; validation refuses it, as it refuses the zero value.",
                 f"public enum {name}: ProtoEnum {{"]
        cases = []
        for v in e.value:
            code = v.name[len(prefix):].lower()
            case = ident(camel(code))
            cases.append((case, v.number, code))
            vdoc = self.comment(f, [5, list(f.enum_type).index(e), 2, list(e.value).index(v)])
            if vdoc:
                lines.append(f"    /// {vdoc}")
            lines.append(f"    case {case}")
        lines.append("    case unrecognized(Int32)")
        lines.append("")
        lines.append("    public init(rawValue: Int32) {")
        lines.append("        switch rawValue {")
        for case, num, _ in cases:
            lines.append(f"        case {num}: self = .{case}")
        lines.append("        default: self = .unrecognized(rawValue)")
        lines.append("        }")
        lines.append("    }")
        lines.append("")
        lines.append(f"    public init() {{ self = .{cases[0][0]} }}")
        lines.append("")
        lines.append("    public var rawValue: Int32 {")
        lines.append("        switch self {")
        for case, num, _ in cases:
            lines.append(f"        case .{case}: {num}")
        lines.append("        case .unrecognized(let value): value")
        lines.append("        }")
        lines.append("    }")
        lines.append("")
        lines.append(f"    public static var protoName: String {{ \"{f.package}.{name}\" }}")
        lines.append("")
        lines.append(f"    public static var valueNamePrefix: String {{ \"{prefix}\" }}")
        lines.append("")
        lines.append("    /// Every value this build knows except the zero value, in declaration order.")
        lines.append(f"    public static let known: [{name}] = [{', '.join('.' + c for c, n, _ in cases if n != cases[0][1])}]")
        lines.append("")
        lines.append("    /// The value's name without the enum's prefix, lower case: a stable code for text forms.")
        lines.append("    public var code: String {")
        lines.append("        switch self {")
        for case, num, code in cases:
            lines.append(f"        case .{case}: \"{code}\"")
        lines.append("        case .unrecognized(let value): String(value)")
        lines.append("        }")
        lines.append("    }")
        lines.append("}")
        return "\n".join(lines)

    # ---------------------------------------------------------------- messages
    def message_swift(self, f, m):
        full = f".{f.package}.{m.name}"
        name = m.name
        ctype = c_type(full[1:])
        cfun = c_lower(full[1:])
        fields = []
        for fld in m.field:
            t, dflt, kind = self.field_info(full, fld)
            rep = fld.label == F.LABEL_REPEATED
            sw = ident(camel(fld.name))
            swift_t = f"[{t}]" if rep else (f"{t}?" if kind == "message" else t)
            fields.append(dict(fld=fld, t=t, dflt="[]" if rep else dflt, kind=kind, rep=rep,
                               sw=sw, swift_t=swift_t, c=fld.name, qual=f"{f.package}.{name}.{fld.name}"))
        out = []
        out.append(f"/// `{f.package}.{name}`")
        out.append(f"public struct {name}: WireMessage {{")
        for x in fields:
            out.append(f"    public var {x['sw']}: {x['swift_t']}")
        params = ", ".join(f"{x['sw'].strip('`')}: {x['swift_t']} = {x['dflt']}" for x in fields)
        out.append("")
        out.append(f"    public init({params}) {{")
        for x in fields:
            out.append(f"        self.{x['sw']} = {x['sw']}")
        out.append("    }")
        out.append("")
        out.append(f"    public static var protoName: String {{ \"{f.package}.{name}\" }}")
        out.append("")
        out.append("    public func encode(into buffer: inout ByteBuffer) throws(WireError) {")
        out.append("        try WireCodec.encode(self, into: &buffer)")
        out.append("    }")
        out.append("")
        out.append("    public init(decoding bytes: UnsafeRawBufferPointer) throws(WireError) {")
        out.append("        self = try WireCodec.decode(Self.self, from: bytes)")
        out.append("    }")
        out.append("}")
        out.append("")
        out.append(f"extension {name}: CMessage {{")
        out.append(f"    typealias CStruct = {ctype}")
        out.append(f"    static func cInit(_ c: UnsafeMutablePointer<CStruct>) {{ {cfun}__init(c) }}")
        out.append(f"    static func cPackedSize(_ c: UnsafePointer<CStruct>) -> Int {{ {cfun}__get_packed_size(c) }}")
        out.append(f"    static func cPack(_ c: UnsafePointer<CStruct>, _ out: UnsafeMutablePointer<UInt8>) -> Int {{ {cfun}__pack(c, out) }}")
        out.append(f"    static func cUnpack(_ allocator: UnsafeMutablePointer<ProtobufCAllocator>, _ count: Int, _ bytes: UnsafePointer<UInt8>) -> UnsafeMutablePointer<CStruct>? {{")
        out.append(f"        {cfun}__unpack(allocator, count, bytes)")
        out.append("    }")
        out.append("")
        # decode
        out.append("    init(c: UnsafePointer<CStruct>, arena: WireArena) throws(WireError) {")
        if not fields:
            out.append("        self.init()")
        for x in fields:
            out.append("        " + self.decode_line(x))
        out.append("    }")
        out.append("")
        # encode
        out.append("    func fill(_ c: UnsafeMutablePointer<CStruct>, arena: WireArena) throws(WireError) {")
        for x in fields:
            for line in self.encode_lines(x):
                out.append("        " + line)
        out.append("    }")
        out.append("}")
        return "\n".join(out)

    def decode_line(self, x):
        sw, c, k, q, t = x["sw"], x["c"], x["kind"], x["qual"], x["t"]
        src = f"c.pointee.{c}"
        if not x["rep"]:
            if k == "scalar":
                return f"self.{sw} = {src}"
            if k == "bool":
                return f"self.{sw} = {src} != 0"
            if k == "enum":
                return f"self.{sw} = {t}(rawValue: Int32(truncatingIfNeeded: {src}.rawValue))"
            if k == "string":
                return f"self.{sw} = try arena.string({src}, field: \"{q}\")"
            if k == "bytes":
                return f"self.{sw} = arena.bytes({src})"
            if k == "message":
                return f"if let p = {src} {{ self.{sw} = try {t}(c: p, arena: arena) }} else {{ self.{sw} = nil }}"
        n = f"c.pointee.n_{c}"
        if k == "scalar":
            return f"self.{sw} = try arena.array({src}, {n}, field: \"{q}\") {{ $0 }}"
        if k == "bool":
            return f"self.{sw} = try arena.array({src}, {n}, field: \"{q}\") {{ $0 != 0 }}"
        if k == "enum":
            return f"self.{sw} = try arena.array({src}, {n}, field: \"{q}\") {{ {t}(rawValue: Int32(truncatingIfNeeded: $0.rawValue)) }}"
        if k == "bytes":
            return f"self.{sw} = try arena.array({src}, {n}, field: \"{q}\") {{ arena.bytes($0) }}"
        if k == "string":
            return f"self.{sw} = try arena.stringArray({src}, {n}, field: \"{q}\")"
        if k == "message":
            return f"self.{sw} = try arena.messageArray({src}, {n}, field: \"{q}\", as: {t}.self)"

    def encode_lines(self, x):
        sw, c, k, q, t = x["sw"], x["c"], x["kind"], x["qual"], x["t"]
        dst = f"c.pointee.{c}"
        if not x["rep"]:
            if k == "scalar":
                return [f"{dst} = self.{sw}"]
            if k == "bool":
                return [f"{dst} = self.{sw} ? 1 : 0"]
            if k == "enum":
                return [f"{dst} = .init(rawValue: .init(truncatingIfNeeded: self.{sw}.rawValue))"]
            if k == "string":
                return [f"{dst} = try arena.cString(self.{sw}, field: \"{q}\")"]
            if k == "bytes":
                return [f"{dst} = arena.binary(self.{sw})"]
            if k == "message":
                return [f"if let v = self.{sw} {{ {dst} = try arena.cMessage(v) }}"]
        n = f"c.pointee.n_{c}"
        if k == "scalar":
            conv = "{ $0 }"
        elif k == "bool":
            conv = "{ $0 ? 1 : 0 }"
        elif k == "enum":
            conv = "{ .init(rawValue: .init(truncatingIfNeeded: $0.rawValue)) }"
        elif k == "bytes":
            conv = "{ arena.binary($0) }"
        elif k == "string":
            return [f"({n}, {dst}) = try arena.cStringArray(self.{sw}, field: \"{q}\")"]
        elif k == "message":
            return [f"({n}, {dst}) = try arena.cMessageArray(self.{sw})"]
        return [f"({n}, {dst}) = arena.cArray(self.{sw}) {conv}"]

    # ---------------------------------------------------------------- services
    def service_swift(self, f, s):
        name = s.name
        full = f"{f.package}.{name}"
        out = []
        out.append(f"/// The methods of `{full}`, by their full names.")
        out.append(f"public enum {name}Methods {{")
        for m in s.method:
            if m.client_streaming or m.server_streaming:
                sys.exit(f"{full}/{m.name}: streaming methods are not supported by this generator")
            out.append(f"    public static let {ident(method_name(m.name))} = MethodDescriptor(")
            out.append(f"        service: \"{full}\", method: \"{m.name}\",")
            out.extend("        " + line for line in self.descriptor_args(f, s, m))
            out.append("    )")
        out.append(f"    public static let all: [MethodDescriptor] = [{', '.join(method_name(m.name) for m in s.method)}]")
        out.append("    /// Every method with its request and response types, for calls in JSON (`medicare call`).")
        out.append("    public static let json: [JSONMethod] = [")
        for m in s.method:
            req, resp = self.swift_name(m.input_type), self.swift_name(m.output_type)
            out.append(f"        JSONMethod({ident(method_name(m.name))}, {req}.self, {resp}.self),")
        out.append("    ]")
        out.append("}")
        out.append("")
        out.append(f"/// `{full}`: implement one async method per RPC, then register it with a router.")
        out.append(f"public protocol {name}Service: Sendable {{")
        for m in s.method:
            req, resp = self.swift_name(m.input_type), self.swift_name(m.output_type)
            out.append(f"    func {ident(method_name(m.name))}(_ request: {req}, context: CallContext) async throws -> {resp}")
        out.append("}")
        out.append("")
        out.append(f"extension {name}Service {{")
        out.append("    /// Adds every method of this service to `router`.")
        out.append("    public func register(with router: inout RPCRouter) {")
        for m in s.method:
            req, resp = self.swift_name(m.input_type), self.swift_name(m.output_type)
            out.append(f"        router.register({name}Methods.{method_name(m.name)}, request: {req}.self, response: {resp}.self) {{ request, context in")
            out.append(f"            try await self.{ident(method_name(m.name))}(request, context: context)")
            out.append("        }")
        out.append("    }")
        out.append("}")
        out.append("")
        out.append(f"/// A typed client of `{full}` over any RPC channel (a TLS connection, a pool, in-process).")
        out.append(f"public struct {name}Client: Sendable {{")
        out.append("    public let channel: any RPCChannel")
        out.append("")
        out.append("    public init(_ channel: any RPCChannel) { self.channel = channel }")
        for m in s.method:
            req, resp = self.swift_name(m.input_type), self.swift_name(m.output_type)
            out.append("")
            out.append(f"    public func {ident(method_name(m.name))}(_ request: {req}, options: CallOptions = CallOptions()) async throws -> {resp} {{")
            out.append(f"        try await channel.unary({name}Methods.{method_name(m.name)}, request: request, response: {resp}.self, options: options)")
            out.append("    }")
        out.append("}")
        return "\n".join(out)

    # ---------------------------------------------------------------- JSON
    READS = {"string": "string", "bool": "bool", "bytes": "bytes", "enum": "code", "message": "message"}
    READS_REPEATED = {"string": "strings", "bool": "bools", "bytes": "bytesList", "enum": "codes", "message": "messages"}
    TYPE_NAMES = {F.TYPE_INT32: "int32", F.TYPE_SINT32: "int32", F.TYPE_SFIXED32: "int32", F.TYPE_INT64: "int64",
                  F.TYPE_SINT64: "int64", F.TYPE_SFIXED64: "int64", F.TYPE_UINT32: "uint32", F.TYPE_FIXED32: "uint32",
                  F.TYPE_UINT64: "uint64", F.TYPE_FIXED64: "uint64", F.TYPE_FLOAT: "float", F.TYPE_DOUBLE: "double",
                  F.TYPE_BOOL: "bool", F.TYPE_STRING: "string", F.TYPE_BYTES: "bytes"}

    def json_swift(self, f, m):
        """The message's JSON form (Shared/MedicareContracts/JSONMessage.swift): keys are the
        proto's field names, read strictly, zero values left out when written."""
        full = f".{f.package}.{m.name}"
        out = [f"extension {m.name}: JSONMessage {{",
               "    public init(json reader: inout JSONReader) throws(DomainError) {",
               "        self.init()"]
        shape = []
        for fld in m.field:
            t, _, kind = self.field_info(full, fld)
            rep = fld.label == F.LABEL_REPEATED
            sw = ident(camel(fld.name))
            if kind == "scalar":
                read = ("reals" if rep else "real") if t in ("Float", "Double") else ("integers" if rep else "integer")
            else:
                read = (self.READS_REPEATED if rep else self.READS)[kind]
            out.append(f"        self.{sw} = try reader.{read}(\"{fld.name}\")")
            tname = fld.type_name[1:] if kind in ("enum", "message") else self.TYPE_NAMES[fld.type]
            shape.append(f"JSONField(\"{fld.name}\", \"{tname}\"" + (", repeated: true)" if rep else ")"))
        out.append(f"        try reader.finish(\"{full[1:]}\")")
        out.append("    }")
        out.append("")
        out.append("    public func json(into writer: inout JSONWriter) {")
        for fld in m.field:
            out.append(f"        writer.put(\"{fld.name}\", self.{ident(camel(fld.name))})")
        out.append("    }")
        out.append("")
        out.append(f"    public static let jsonFields: [JSONField] = [{', '.join(shape)}]")
        out.append("}")
        return "\n".join(out)

    # ---------------------------------------------------------------- options
    def comment(self, f, path):
        """The leading comment of the element at `path`, as one line."""
        for loc in f.source_code_info.location:
            if list(loc.path) == path:
                text = " ".join(l.strip() for l in loc.leading_comments.strip().splitlines())
                return text
        return ""

    def policy(self, m):
        return m.options.Extensions[self.opts.policy]

    def idempotency(self, m):
        level = m.options.idempotency_level
        return {d.MethodOptions.NO_SIDE_EFFECTS: "noSideEffects", d.MethodOptions.IDEMPOTENT: "idempotent"}.get(level, "unknown")

    SCOPES = {0: "all", 1: "request", 2: "answer", 3: "any", 4: "handler"}

    def descriptor_args(self, f, s, m):
        full = f"{f.package}.{s.name}/{m.name}"
        p = self.policy(m)
        scope = self.SCOPES.get(p.caller_scope)
        if scope is None:
            sys.exit(f"{full}: unknown caller_scope {p.caller_scope}")
        args = [f"idempotency: .{self.idempotency(m)}", f"callerScope: .{scope}"]
        if p.invalidates_routes:
            args.append("invalidatesRoutes: true")
        if p.national_code:
            args.append(f"nationalCode: \"{p.national_code}\"")
        if p.served_via:
            args.append(f"servedVia: \"{p.served_via}\"")
        if p.keyed:
            args.append("keyed: true")
        if p.only_callers:
            args.append("onlyCallers: [" + ", ".join(f'\"{c}\"' for c in p.only_callers) + "]")
        if p.diagnostic:
            args.append("diagnostic: true")
        if p.not_found:
            args.append(f"notFound: \"{p.not_found}\"")
        if p.roles:
            args.append("roles: [" + ", ".join(f'\"{r}\"' for r in p.roles) + "]")
        req, resp = m.input_type, m.output_type
        if scope == "request" and req not in self.keyed:
            sys.exit(f"{full}: caller_scope REQUEST, but {req[1:]} has no scope_key field")
        if scope == "answer" and resp not in self.keyed:
            sys.exit(f"{full}: caller_scope ANSWER, but {resp[1:]} has no scope_key field")
        if scope == "answer" and not p.not_found:
            sys.exit(f"{full}: caller_scope ANSWER needs not_found, the message for something that does not exist")
        out = ["policy: MethodPolicy(" + ", ".join(args) + ")"]
        if scope == "request":
            out[-1] += ","
            out.append(f"requestKeys: {{ try {self.swift_name(req)}(decoding: $0).scopeKeys() }}")
        if scope == "answer":
            out[-1] += ","
            out.append(f"answerKeys: {{ try {self.swift_name(resp)}(decoding: $0).scopeKeys() }}")
        return out

    def keyed_messages(self):
        """Messages with a scope_key field, directly or through a message field (fixpoint)."""
        keyed = set()
        changed = True
        while changed:
            changed = False
            for full, (f, m) in self.messages.items():
                if full in keyed:
                    continue
                for fld in m.field:
                    k = fld.options.Extensions[self.opts.scope_key]
                    if k:
                        if fld.type != F.TYPE_STRING:
                            sys.exit(f"{full[1:]}.{fld.name}: scope_key is only for string fields")
                    if k or (fld.type == F.TYPE_MESSAGE and fld.type_name in keyed):
                        keyed.add(full)
                        changed = True
                        break
        return keyed

    def scope_swift(self, f, m):
        full = f".{f.package}.{m.name}"
        out = [f"extension {m.name}: ScopeKeyed {{",
               "    public func scopeKeys(_ path: String, into keys: inout [ScopeKeyValue]) {"]
        for fld in m.field:
            sw = ident(camel(fld.name))
            rep = fld.label == F.LABEL_REPEATED
            k = fld.options.Extensions[self.opts.scope_key]
            if k:
                kind = {1: "division", 2: "institution"}.get(k)
                if kind is None:
                    sys.exit(f"{full[1:]}.{fld.name}: unknown scope_key {k}")
                if rep:
                    out.append(f"        for (i, value) in {sw}.enumerated() {{ keys.append(ScopeKeyValue(.{kind}, field: \"\\(path){fld.name}[\\(i)]\", value: value)) }}")
                else:
                    out.append(f"        keys.append(ScopeKeyValue(.{kind}, field: path + \"{fld.name}\", value: {sw}))")
            elif fld.type == F.TYPE_MESSAGE and fld.type_name in self.keyed:
                if rep:
                    out.append(f"        for (i, value) in {sw}.enumerated() {{ value.scopeKeys(\"\\(path){fld.name}[\\(i)].\", into: &keys) }}")
                else:
                    out.append(f"        {sw}?.scopeKeys(path + \"{fld.name}.\", into: &keys)")
        out.append("    }")
        out.append("}")
        return "\n".join(out)

    def transactions_md(self, targets):
        rows = []
        for fname in targets:
            f = self.files[fname]
            for si, s in enumerate(f.service):
                for mi, m in enumerate(s.method):
                    p = self.policy(m)
                    full = f"{f.package}.{s.name}/{m.name}"
                    national = f"{p.national_code} {p.national_name}".strip()
                    retry = {"noSideEffects": "read", "idempotent": "idempotent", "unknown": "once"}[self.idempotency(m)]
                    if p.keyed:
                        retry = "once per key"
                    scope = {"all": "all only", "request": "by request", "answer": "by answer", "any": "any", "handler": "by handler"}[self.SCOPES[p.caller_scope]]
                    notes = []
                    if p.served_via:
                        notes.append(f"outside callers: through `{p.served_via}`")
                    if p.only_callers:
                        notes.append("callers: " + ", ".join(p.only_callers))
                    if p.roles:
                        notes.append("roles: " + ", ".join("every caller" if r == "*" else r for r in p.roles))
                    if p.invalidates_routes:
                        notes.append("clears cached routes")
                    if p.diagnostic:
                        notes.append("diagnostic")
                    doc = self.comment(f, [6, si, 2, mi]).replace("|", "\\|")
                    rows.append(f"| `{full}` | {national} | {retry} | {scope} | {'; '.join(notes)} | {doc} |")
        head = (Path(__file__).parent / "transactions-head.md").read_text()
        # Every string field that stays a string, by message: what the generator let through
        # (a common open-set name, or marked open_text). Every other field of a closed set is an enum.
        strings = []
        for full, (f, m) in sorted(self.messages.items(), key=lambda kv: kv[1][1].name):
            names = [fld.name for fld in m.field if fld.type == F.TYPE_STRING]
            if names:
                strings.append(f"- `{m.name}`: " + ", ".join(f"`{n}`" for n in names))
        return (head.rstrip() + "\n\n| method | national transaction | retry | caller scope | notes | what it does |\n|---|---|---|---|---|---|\n"
                + "\n".join(rows) + "\n\n## Fields that stay strings\n\n"
                + "Identifiers and codes of open sets, dates and times, hashes and free text; every closed set is an enum "
                + "(scripts/protogen_swift.py stops on any other string field).\n\n" + "\n".join(strings) + "\n")

    # ---------------------------------------------------------------- OpenAPI
    def openapi_json(self, targets):
        """docs/openapi.json: the JSON bridge (JSONBridgeServer) as OpenAPI 3.1, every method a
        POST of its request's JSON form (JSONMessage's rules) answering its response's."""
        import json
        ints64 = {F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64, F.TYPE_UINT64, F.TYPE_FIXED64}
        ints = {F.TYPE_INT32: "int32", F.TYPE_SINT32: "int32", F.TYPE_SFIXED32: "int32", F.TYPE_UINT32: "int32", F.TYPE_FIXED32: "int32"}
        schemas = {"Error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string", "description": "gRPC status name in snake case: invalid_argument, not_found, permission_denied, ..."},
            "message": {"type": "string", "description": "what was wrong, naming the field first (claim.lines[2].quantity: ...)"}}}}

        def enum_values(e):
            upper = "".join(("_" + ch if ch.isupper() and i else ch) for i, ch in enumerate(e.name)).upper() + "_"
            prefix = upper if all(v.name.startswith(upper) for v in e.value) else ""
            return [(v.name[len(prefix):].lower(), v.number) for v in e.value if v.number != 0]

        def field_schema(fld):
            if fld.type == F.TYPE_MESSAGE:
                one = {"$ref": "#/components/schemas/" + fld.type_name.rsplit(".", 1)[1]}
            elif fld.type == F.TYPE_ENUM:
                f, e = self.enums[fld.type_name]
                values = enum_values(e)
                one = {"description": f"{e.name}: its code, or its number", "oneOf": [
                    {"type": "string", "enum": [c for c, _ in values]}, {"type": "integer", "enum": [n for _, n in values]}]}
            elif fld.type in ints64:
                one = {"type": ["integer", "string"], "format": "int64", "description": "a number, or a string of digits (past 2^53)"}
            elif fld.type in ints:
                one = {"type": "integer", "format": ints[fld.type]}
            elif fld.type in (F.TYPE_FLOAT, F.TYPE_DOUBLE):
                one = {"type": "number"}
            elif fld.type == F.TYPE_BOOL:
                one = {"type": "boolean"}
            elif fld.type == F.TYPE_BYTES:
                one = {"type": "string", "contentEncoding": "base64"}
            else:
                one = {"type": "string"}
            return {"type": "array", "items": one} if fld.label == F.LABEL_REPEATED else one

        for full, (f, m) in sorted(self.messages.items()):
            if f.name == OPTIONS_FILE:
                continue
            doc = self.comment(f, [4, list(f.message_type).index(m)])
            schema = {"type": "object", "additionalProperties": False,
                      "properties": {fld.name: field_schema(fld) for fld in m.field}}
            if doc:
                schema["description"] = doc
            schemas[m.name] = schema
        paths = {}
        for fname in targets:
            f = self.files[fname]
            for si, sv in enumerate(f.service):
                if sv.name in ("Health", "Echo"):
                    continue  # served by every RPC port itself, not through the bridge
                for mi, m in enumerate(sv.method):
                    p = self.policy(m)
                    if p.diagnostic:
                        continue
                    doc = self.comment(f, [6, si, 2, mi])
                    facts = []
                    if p.national_code:
                        facts.append(f"National transaction {p.national_code} {p.national_name}.".replace("  ", " "))
                    facts.append({"noSideEffects": "Reads only.", "idempotent": "Idempotent.", "unknown": "Not retried by the gateway."}[self.idempotency(m)])
                    if p.keyed:
                        facts.append("Runs once per Idempotency-Key (required).")
                    params = [{"name": "Idempotency-Key", "in": "header", "required": bool(p.keyed), "schema": {"type": "string"},
                               "description": "the call's idempotency key (metadata idempotency-key)"},
                              {"name": "X-Trace-Id", "in": "header", "required": False, "schema": {"type": "string"}},
                              {"name": "X-Timeout-Ms", "in": "header", "required": False, "schema": {"type": "integer", "minimum": 1},
                               "description": "the call's deadline in milliseconds (at most the server's longest)"}]
                    error = {"description": "an error: the gRPC code's HTTP status (400, 401, 403, 404, 409, 429, 501, 503, 504, 500)",
                             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                    paths[f"/v1/{sv.name}/{m.name}"] = {"post": {
                        "operationId": f"{sv.name}_{m.name}", "tags": [sv.name], "summary": f"{f.package}.{sv.name}/{m.name}",
                        "description": (doc + " " if doc else "") + " ".join(facts), "parameters": params,
                        "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/" + m.input_type.rsplit(".", 1)[1]}}}},
                        "responses": {"200": {"description": "the answer", "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/" + m.output_type.rsplit(".", 1)[1]}}}}, "default": error}}}
        document = {
            "openapi": "3.1.0",
            "info": {"title": "Medicare JSON bridge", "version": "v1",
                     "description": "Every public method as HTTPS + JSON, with the caller's client certificate (mutual TLS). "
                                    "Generated by scripts/protogen_swift.py from Proto/; see docs/bridge.md."},
            "servers": [{"url": "https://127.0.0.1:7180"}],
            "security": [{"clientCertificate": []}],
            "paths": paths,
            "components": {"schemas": schemas, "securitySchemes": {"clientCertificate": {"type": "mutualTLS"}}},
        }
        return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"

    def run(self, targets, wire_dir, contracts_dir):
        header = "// Generated by scripts/protogen_swift.py from {src}. DO NOT EDIT.\n"
        for fname in targets:
            if fname == OPTIONS_FILE:
                continue
            f = self.files[fname]
            stem = Path(fname).stem
            keyed = [m for m in f.message_type if f".{f.package}.{m.name}" in self.keyed]
            if keyed:
                kparts = [header.format(src=f"Proto/{fname}"), "public import MedicareRPC", "public import MedicareWire", ""]
                for m in keyed:
                    kparts.append(self.scope_swift(f, m))
                    kparts.append("")
                (contracts_dir / f"{stem}.scope.swift").write_text("\n".join(kparts).rstrip() + "\n")
            parts = [header.format(src=f"Proto/{fname}"),
                     "internal import CMedicareProto", "public import NIOCore", ""]
            for e in f.enum_type:
                parts.append(self.enum_swift(f, e))
                parts.append("")
            for m in f.message_type:
                parts.append(self.message_swift(f, m))
                parts.append("")
            (wire_dir / f"{stem}.pb.swift").write_text("\n".join(parts).rstrip() + "\n")
            if f.message_type:
                jparts = [header.format(src=f"Proto/{fname}"), "public import MedicareDomain", "public import MedicareWire", ""]
                for m in f.message_type:
                    jparts.append(self.json_swift(f, m))
                    jparts.append("")
                (contracts_dir / f"{stem}.json.swift").write_text("\n".join(jparts).rstrip() + "\n")
            if f.service:
                sparts = [header.format(src=f"Proto/{fname}"),
                          "public import MedicareRPC", "public import MedicareWire", ""]
                for s in f.service:
                    sparts.append(self.service_swift(f, s))
                    sparts.append("")
                (contracts_dir / f"{stem}.services.swift").write_text("\n".join(sparts).rstrip() + "\n")
        services = [s.name for fname in targets if fname != OPTIONS_FILE for s in self.files[fname].service]
        (contracts_dir / "methods.json.swift").write_text("\n".join([
            header.format(src="Proto/"), "/// Every service's methods, for calls in JSON (`medicare call`, `medicare describe`).",
            "public enum JSONMethods {",
            "    public static let all: [JSONMethod] = " + " + ".join(f"{n}Methods.json" for n in services),
            "}", ""]))


def stripped(fds, opts):
    """The set as protoc-c may see it: without options.proto and without our options."""
    out = d.FileDescriptorSet()
    for f in fds.file:
        if f.name == OPTIONS_FILE:
            continue
        g = out.file.add()
        g.CopyFrom(f)
        deps = [x for x in g.dependency if x != OPTIONS_FILE]
        del g.dependency[:]
        g.dependency.extend(deps)
        for s in g.service:
            for m in s.method:
                m.options.ClearExtension(opts.policy)
                m.options.ClearField("idempotency_level")
                if not m.options.ListFields():
                    m.ClearField("options")
        for m in g.message_type:
            for fld in m.field:
                fld.options.ClearExtension(opts.scope_key)
                fld.options.ClearExtension(opts.open_text)
                if not fld.options.ListFields():
                    fld.ClearField("options")
    return out


def main():
    if len(sys.argv) < 7:
        sys.exit("usage: protogen_swift.py DESCRIPTOR_SET WIRE_DIR CONTRACTS_DIR TRANSACTIONS_MD STRIPPED_SET FILE.proto...")
    # The options module (protoc --python_out of options.proto) must be imported before the
    # set is parsed, so that the extensions are known and not kept as unknown bytes.
    from medicare.v1 import options_pb2 as opts
    fds = d.FileDescriptorSet()
    fds.ParseFromString(Path(sys.argv[1]).read_bytes())
    targets = sys.argv[6:]
    gen = Gen(fds, opts)
    gen.run(targets, Path(sys.argv[2]), Path(sys.argv[3]))
    Path(sys.argv[4]).write_text(gen.transactions_md(targets))
    Path(sys.argv[4]).with_name("openapi.json").write_text(gen.openapi_json(targets))
    Path(sys.argv[5]).write_bytes(stripped(fds, opts).SerializeToString())


if __name__ == "__main__":
    main()
