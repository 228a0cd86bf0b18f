#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The character encodings a data file arrives in: UTF-8 (with or without a byte-order mark),
/// or GBK as Chinese Windows and spreadsheet exports write it (decoded as GB 18030, its
/// superset, so every GBK file reads the same).
public enum TextEncoding: String, Sendable, CaseIterable {
    /// UTF-8 when the bytes are valid UTF-8, else GBK.
    case auto
    /// UTF-8; a byte-order mark is dropped.
    case utf8 = "utf-8"
    /// GBK (GB 18030).
    case gbk

    /// `bytes` as text. Errors: ``FileError/encoding(_:)`` when the bytes are not valid in the
    /// encoding asked (with `auto`: neither UTF-8 nor GBK), naming the byte offset where
    /// decoding stopped.
    public func decode(_ bytes: [UInt8]) throws(FileError) -> String {
        switch self {
        case .utf8:
            guard let text = Self.utf8(bytes) else { throw .encoding("not valid UTF-8") }
            return text
        case .gbk:
            return try Self.gb18030(bytes)
        case .auto:
            if let text = Self.utf8(bytes) { return text }
            do { return try Self.gb18030(bytes) } catch { throw .encoding("neither UTF-8 nor GBK (\(error.message))") }
        }
    }

    /// Valid UTF-8 as text without its byte-order mark, or nil.
    static func utf8(_ bytes: [UInt8]) -> String? {
        let body = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? bytes.dropFirst(3) : bytes[...]
        return String(validating: body, as: UTF8.self)
    }

    /// GB 18030 (and so GBK) through the C library's iconv.
    static func gb18030(_ bytes: [UInt8]) throws(FileError) -> String {
        let converter = iconv_open("UTF-8", "GB18030")
        guard converter != iconv_t(bitPattern: -1) else { throw .encoding("this system's iconv cannot read GB18030") }
        defer { iconv_close(converter) }
        var input = bytes.map { CChar(bitPattern: $0) }
        // GB 18030 takes 1, 2 or 4 bytes per character and UTF-8 at most 4: twice the input is enough.
        var output = [CChar](repeating: 0, count: bytes.count * 2 + 4)
        let written: Int = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                var inPointer = inBuffer.baseAddress, outPointer = outBuffer.baseAddress
                var inLeft = inBuffer.count, outLeft = outBuffer.count
                let result = iconv(converter, &inPointer, &inLeft, &outPointer, &outLeft)
                return result == -1 ? -(bytes.count - inLeft) - 1 : outBuffer.count - outLeft
            }
        }
        guard written >= 0 else { throw .encoding("not valid GBK at byte \(-written - 1)") }
        return String(decoding: output[..<written].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Why a data file could not be read as a whole (a record's own problems are
/// ``Rejection``s, not errors). `message` is one line, for a person.
public enum FileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes are not text in the encoding asked.
    case encoding(String)
    /// Not CSV (RFC 4180), or its header line is wrong: a column missing, unknown, or twice.
    case format(String)

    /// The problem in one line.
    public var message: String {
        switch self {
        case .encoding(let message), .format(let message): message
        }
    }

    public var description: String { message }
}
