internal import COpenSSL
import Foundation

/// SM2 signatures (GB/T 32918) with SM3 and the standard distinguishing ID, from the system
/// OpenSSL. Keys are PEM text: a private key (PKCS#8) signs, its public key verifies.
public enum SM2 {
    /// Why OpenSSL could not make, read, use or store an SM2 key or signature.
    public struct Failure: Error, CustomStringConvertible {
        /// What failed (may name a file path: for the local log).
        public let description: String
    }

    /// A new private key, PEM.
    public static func generateKey() throws(Failure) -> String {
        var pem: UnsafeMutablePointer<CChar>?
        guard mc_sm2_generate(&pem) == 0, let pem else { throw Failure(description: "OpenSSL cannot make an SM2 key") }
        defer { mc_free(pem) }
        return String(cString: pem)
    }

    /// The public key of a private key, PEM.
    public static func publicKey(of privateKey: String) throws(Failure) -> String {
        var pem: UnsafeMutablePointer<CChar>?
        guard mc_sm2_public(privateKey, &pem) == 0, let pem else { throw Failure(description: "not an SM2 key") }
        defer { mc_free(pem) }
        return String(cString: pem)
    }

    /// A DER signature of `message` by `privateKey`.
    public static func sign(_ message: [UInt8], privateKey: String) throws(Failure) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: 128)
        var length = 0
        let status = message.withUnsafeBytes { bytes in
            signature.withUnsafeMutableBufferPointer { out in
                mc_sm2_sign(privateKey, bytes.baseAddress, bytes.count, out.baseAddress, out.count, &length)
            }
        }
        guard status == 0 else { throw Failure(description: "SM2 signing failed (not an SM2 private key?)") }
        return Array(signature.prefix(length))
    }

    /// Whether `signature` is `key`'s (public or private PEM) over `message`.
    public static func verify(_ signature: [UInt8], of message: [UInt8], key: String) -> Bool {
        message.withUnsafeBytes { bytes in
            signature.withUnsafeBytes { sig in
                mc_sm2_verify(key, bytes.baseAddress, bytes.count, sig.bindMemory(to: UInt8.self).baseAddress, sig.count) == 0
            }
        }
    }

    /// The private key in `path`, made (mode 0600, exclusively: two starts cannot both write
    /// one) only when no file is there. A file that exists but cannot be read or is not an SM2
    /// key is an error, never replaced: every checkpoint signed with it would stop verifying.
    public static func loadOrCreateKey(at path: String) throws -> String {
        if FileManager.default.fileExists(atPath: path) {
            guard let pem = try? String(contentsOfFile: path, encoding: .utf8) else { throw Failure(description: "cannot read \(path)") }
            _ = try publicKey(of: pem)
            return pem
        }
        let pem = try generateKey()
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            // Another process made it first: use that one.
            if errno == EEXIST, let theirs = try? String(contentsOfFile: path, encoding: .utf8), (try? publicKey(of: theirs)) != nil { return theirs }
            throw Failure(description: "cannot create \(path)")
        }
        defer { close(fd) }
        let bytes = Array(pem.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count, fsync(fd) == 0 else { throw Failure(description: "cannot write \(path)") }
        return pem
    }
}
