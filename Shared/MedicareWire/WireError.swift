/// Why bytes could not become a message, or a message could not become bytes.
///
/// Every case names what was wrong in words safe to send to a peer; a peer's bad input maps
/// to the RPC status `invalidArgument`.
public enum WireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// protobuf-c could not parse the bytes as this message (truncated, wrong wire types,
    /// a length running past the end).
    case malformed(message: String)
    /// A string field's bytes are not valid UTF-8.
    case invalidUTF8(field: String)
    /// A string field holds a NUL character.
    case embeddedNUL(field: String)
    /// A repeated field says it has elements but has none to read.
    case missingElements(field: String)
    /// Messages nest deeper than `limit` levels (the outermost message is level 1). Checked
    /// on the bytes before they are unpacked, for every message type: unbounded nesting
    /// would exhaust the decoding thread's stack.
    case tooDeep(message: String, limit: Int)

    /// What was wrong, safe to send to a peer.
    public var description: String {
        switch self {
        case .malformed(let message): "bytes are not a valid \(message) message"
        case .invalidUTF8(let field): "field '\(field)' is not valid UTF-8"
        case .embeddedNUL(let field): "field '\(field)' contains a NUL character"
        case .missingElements(let field): "field '\(field)' is malformed"
        case .tooDeep(let message, let limit): "\(message) nests messages more than \(limit) levels deep"
        }
    }
}
