public import MedicareRPC

/// Why a TLS connection failed. Descriptions carry OpenSSL's reasons for the local log.
public enum TLSError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The context could not be built: a missing or mismatched certificate, key or CA file.
    case configuration(String)
    /// The handshake failed: a refused or unverifiable certificate, a wrong host name, a protocol error.
    case handshakeFailed(String)
    /// The handshake did not finish within the configured time.
    case handshakeTimeout
    /// The connection closed before the handshake finished.
    case closedDuringHandshake
    /// A record could not be read or written after the handshake.
    case protocolError(String)

    /// What failed, with OpenSSL's reason, for the local log.
    public var description: String {
        switch self {
        case .configuration(let reason): "TLS configuration: \(reason)"
        case .handshakeFailed(let reason): "TLS handshake failed: \(reason)"
        case .handshakeTimeout: "TLS handshake timed out"
        case .closedDuringHandshake: "the connection closed during the TLS handshake"
        case .protocolError(let reason): "TLS error: \(reason)"
        }
    }
}

/// Fired inbound once the handshake has completed and the peer's certificate is verified.
public struct TLSHandshakeCompleted: Sendable {
    /// Who the peer is, read from its verified certificate's subject.
    public let peer: PeerIdentity
}
