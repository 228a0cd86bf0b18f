internal import COpenSSL

/// A configured OpenSSL context (SSL_CTX) shared by every connection of a server or client.
///
/// `@unchecked Sendable`: once configured, an SSL_CTX is only read by SSL_new, which
/// OpenSSL documents as safe from many threads (the context is reference counted and locked).
public final class TLSContext: @unchecked Sendable {
    let raw: OpaquePointer
    /// Whether the context serves (and requires client certificates) or calls.
    public let isServer: Bool
    /// How long a handshake may take on a connection made with this context.
    public let handshakeTimeout: Duration

    /// Loads the certificate, key and CA files into a new OpenSSL context for a server or a client.
    /// - Throws: ``TLSError/configuration(_:)`` when a file cannot be read or OpenSSL refuses
    ///   them (a bad or mismatched key, certificate or CA).
    public init(configuration: TLSConfiguration, isServer: Bool) throws(TLSError) {
        for (what, path) in [
            ("certificate", configuration.certificatePath), ("private key", configuration.privateKeyPath),
            ("CA certificate", configuration.trustRootsPath),
        ] {
            guard access(path, R_OK) == 0 else { throw .configuration("cannot read the \(what) file '\(path)'") }
        }
        var error = [CChar](repeating: 0, count: 1024)
        guard let raw = mc_tls_context_new(
            isServer ? 1 : 0, configuration.certificatePath, configuration.privateKeyPath, configuration.trustRootsPath,
            &error, error.count
        ) else {
            throw .configuration(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        self.raw = raw
        self.isServer = isServer
        self.handshakeTimeout = configuration.handshakeTimeout
    }

    deinit { mc_tls_context_free(raw) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
