/// Free text a caller sends (a reason, a note, a conclusion): checked once, the same way on
/// every path, so that what is stored and chained is bounded and prints on one screen line.
public enum FreeText {
    /// `text` when it is at most `max` characters without control characters (line breaks
    /// allowed) and, when `required`, not empty or blank.
    /// - Throws: ``DomainError`` (`invalid`) naming `field`, with the bounds.
    @discardableResult
    public static func checked(_ text: String, field: String, max: Int = 500, required: Bool = true) throws(DomainError) -> String {
        if required, text.allSatisfy(\.isWhitespace) {
            throw DomainError(field: field, "is required (1-\(max) characters)")
        }
        // Characters as people count them, and bytes (combining marks make long characters).
        guard text.count <= max, text.utf8.count <= max * 4 else { throw DomainError(field: field, "at most \(max) characters, got \(text.count)") }
        guard !text.unicodeScalars.contains(where: { ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || $0.value == 0x7f }) else {
            throw DomainError(field: field, "must not hold control characters")
        }
        return text
    }
}
