internal import COpenSSL

/// Passwords at rest as PBKDF2-HMAC-SHA256 (RFC 8018) from the system OpenSSL, in one text
/// form: `pbkdf2-sha256$ITERATIONS$SALT_HEX$HASH_HEX` (16-byte salt, 32-byte hash). The
/// console's users file holds these; `console --hash-password` makes one.
public enum PasswordHash {
    /// Iterations for new hashes (OWASP's 2023 figure for PBKDF2-HMAC-SHA256 is 600,000).
    public static let iterations = 600_000

    /// A new hash of `password` (its UTF-8 bytes) with a fresh 16-byte random salt, in the
    /// form above. Costs `iterations` rounds of HMAC-SHA256 on the calling thread (a login's
    /// work, deliberately). Traps if OpenSSL fails.
    public static func make(_ password: String, iterations: Int = iterations) -> String {
        let salt = SecureRandom.bytes(16)
        return "pbkdf2-sha256$\(iterations)$\(SM3.hex(salt))$\(SM3.hex(derive(password, salt: salt, iterations: iterations)))"
    }

    /// Whether `password` matches `stored` (compared in constant time). False for a stored
    /// form that is not this one's: another prefix, iterations outside 1,000-10,000,000, salt
    /// or hash not hex, a hash not 32 bytes. Costs the stored iterations on the calling thread.
    public static func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "pbkdf2-sha256", let iterations = Int(parts[1]), (1_000...10_000_000).contains(iterations),
              let salt = bytes(hex: parts[2]), let expected = bytes(hex: parts[3]), expected.count == 32 else { return false }
        let actual = derive(password, salt: salt, iterations: iterations)
        return zip(actual, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func derive(_ password: String, salt: [UInt8], iterations: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let utf8 = Array(password.utf8)
        let status = utf8.withUnsafeBufferPointer { p in
            salt.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { o in
                    p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(p.count, 1)) {
                        mc_pbkdf2_sha256($0, p.count, s.baseAddress, s.count, Int32(iterations), o.baseAddress, 32)
                    }
                }
            }
        }
        precondition(status == 0, "OpenSSL PBKDF2 failed")
        return out
    }

    static func bytes(hex: Substring) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[i...i + 1], as: UTF8.self), radix: 16) else { return nil }
            out.append(byte)
        }
        return out
    }
}

/// Random bytes from the system OpenSSL's CSPRNG (session tokens, salts).
public enum SecureRandom {
    /// `count` random bytes. Traps if the generator fails (it cannot be seeded).
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let status = out.withUnsafeMutableBufferPointer { mc_random($0.baseAddress, $0.count) }
        precondition(status == 0, "OpenSSL RAND_bytes failed")
        return out
    }

    /// `count` random bytes as lower-case hex (2 × `count` characters).
    public static func token(_ count: Int = 32) -> String { SM3.hex(bytes(count)) }
}
