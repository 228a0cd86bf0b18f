internal import COpenSSL

/// SM3 (GB/T 32905), from the system OpenSSL's EVP interface.
public enum SM3 {
    /// The 32-byte SM3 digest of `bytes`. Traps if the system OpenSSL has no SM3.
    public static func digest(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let status = bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBufferPointer { mc_sm3(input.baseAddress, input.count, $0.baseAddress) }
        }
        precondition(status == 0, "OpenSSL has no SM3")
        return out
    }

    /// `bytes` as lower-case hexadecimal, two digits a byte.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
