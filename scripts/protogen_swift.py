#!/usr/bin/env python3
"""Emit the typed Swift side of the wire from a protoc descriptor set.

Reads a FileDescriptorSet (protoc --descriptor_set_out --include_imports) and writes:
  - one <file>.pb.swift per .proto into the wire module: Swift structs and enums plus the
    glue that copies them to and from the C structs protoc-c generated for the same file;
  - one <file>.services.swift per .proto with services into the contracts module: a service
    protocol, its router registration and a typed client.

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


class Gen:
    def __init__(self, fds):
        self.files = {f.name: f for f in fds.file}
        self.messages = {}  # ".pkg.Name" -> (file, DescriptorProto)
        self.enums = {}
        for f in fds.file:
            for m in f.message_type:
                if m.nested_type or m.enum_type:
                    sys.exit(f"{f.name}: {m.name}: nested types are not supported; declare them at file level")
                self.messages[f".{f.package}.{m.name}"] = (f, m)
            for e in f.enum_type:
                self.enums[f".{f.package}.{e.name}"] = (f, e)

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
        lines = [f"/// `{f.package}.{name}`: an open enum, so that values from newer peers survive a round trip.",
                 f"public struct {name}: RawRepresentable, Hashable, Sendable, CustomStringConvertible {{",
                 "    public var rawValue: Int32",
                 "    public init(rawValue: Int32) { self.rawValue = rawValue }",
                 "    public init() { self.rawValue = 0 }"]
        cases = []
        for v in e.value:
            case = ident(camel(v.name[len(prefix):].lower()))
            cases.append((case, v.number))
            lines.append(f"    public static let {case} = {name}(rawValue: {v.number})")
        lines.append("    public var description: String {")
        lines.append("        switch rawValue {")
        for case, num in cases:
            lines.append(f"        case {num}: \"{case.strip('`')}\"")
        lines.append(f"        default: \"{name}(\\(rawValue))\"")
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
            out.append(f"    public static let {ident(method_name(m.name))} = MethodDescriptor(service: \"{full}\", method: \"{m.name}\")")
        out.append(f"    public static let all: [MethodDescriptor] = [{', '.join(method_name(m.name) for m in s.method)}]")
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

    def run(self, targets, wire_dir, contracts_dir):
        header = "// Generated by scripts/protogen_swift.py from {src}. DO NOT EDIT.\n"
        for fname in targets:
            f = self.files[fname]
            stem = Path(fname).stem
            parts = [header.format(src=f"Proto/{fname}"),
                     "internal import CMedicareProto", "public import NIOCore", ""]
            for e in f.enum_type:
                parts.append(self.enum_swift(f, e))
                parts.append("")
            for m in f.message_type:
                parts.append(self.message_swift(f, m))
                parts.append("")
            (wire_dir / f"{stem}.pb.swift").write_text("\n".join(parts).rstrip() + "\n")
            if f.service:
                sparts = [header.format(src=f"Proto/{fname}"),
                          "public import MedicareRPC", "public import MedicareWire", ""]
                for s in f.service:
                    sparts.append(self.service_swift(f, s))
                    sparts.append("")
                (contracts_dir / f"{stem}.services.swift").write_text("\n".join(sparts).rstrip() + "\n")


def main():
    if len(sys.argv) < 5:
        sys.exit("usage: protogen_swift.py DESCRIPTOR_SET WIRE_DIR CONTRACTS_DIR FILE.proto...")
    fds = d.FileDescriptorSet()
    fds.ParseFromString(Path(sys.argv[1]).read_bytes())
    Gen(fds).run(sys.argv[4:], Path(sys.argv[2]), Path(sys.argv[3]))


if __name__ == "__main__":
    main()
