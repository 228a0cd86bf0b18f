import MedicareRPC
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a connection to a server failed, in words safe to send to a peer.
///
/// A client's errors travel: a gateway forwards them (wrapped by its upstream pool) to
/// clinics and province systems. NIO's and OpenSSL's own descriptions name addresses,
/// ports, errno values and type names, so they go into the error's `cause` and the log,
/// and the message says only what kind of failure it was.
enum ConnectionFailure {
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as NIOConnectionError:
            if let first = error.connectionErrors.first { return describe(first.error) }
            if error.dnsAError != nil || error.dnsAAAAError != nil { return "the server's name could not be resolved" }
            return "cannot connect"
        case let error as IOError:
            switch error.errnoCode {
            case ECONNREFUSED: return "connection refused"
            case ETIMEDOUT: return "connection timed out"
            case ECONNRESET, EPIPE: return "connection reset"
            case EHOSTUNREACH, ENETUNREACH, ENETDOWN: return "server unreachable"
            default: return "connection failed"
            }
        case let error as ChannelError:
            switch error {
            case .connectTimeout: return "connection timed out"
            default: return "connection failed"
            }
        case let error as TLSError:
            // OpenSSL's reasons ("certificate verify failed (hostname mismatch)", "tlsv13
            // alert certificate required") name no address and tell an operator what to
            // mend; the file paths of a configuration error stay out.
            switch error {
            case .handshakeTimeout, .closedDuringHandshake, .handshakeFailed, .protocolError: return error.description
            case .configuration: return "TLS is misconfigured"
            }
        case let error as NotConnected:
            return describe(error.underlying)
        case let error as ConnectionLost:
            return error.underlying.map(describe) ?? "the connection closed"
        case is MalformedFrame:
            return "the server sent a malformed frame"
        case let error as RPCError:
            return error.message  // made peer-safe where it was made
        default:
            return "connection failed"
        }
    }
}
