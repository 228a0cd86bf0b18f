import Foundation
import SwiftCSV

/// A CSV file (RFC 4180) as spreadsheets and other systems export it: fields quoted or not
/// (a quoted field may hold commas, doubled quotes and line breaks), LF or CRLF line ends, a
/// byte-order mark, UTF-8 or GBK, and columns found by their header name in any order.
/// Parsing is SwiftCSV's; this type adds the encodings and the header's checks.
public struct CSVTable: Sendable {
    /// The column names of the header line, trimmed.
    public let header: [String]
    /// The data records in file order. A short record is padded with empty fields; one longer
    /// than the header keeps its extra fields (``extraFields(_:)``).
    public let records: [[String]]

    /// Reads `bytes` in `encoding`. Errors: ``FileError/encoding(_:)``, or
    /// ``FileError/format(_:)`` when it is not CSV, has no header line, or a header name is
    /// empty or appears twice.
    public init(bytes: [UInt8], encoding: TextEncoding = .auto) throws(FileError) {
        let text = try encoding.decode(bytes)
        let parsed: EnumeratedCSV
        do {
            parsed = try EnumeratedCSV(string: text, delimiter: .comma, loadColumns: false)
        } catch {
            throw .format("not CSV: \(error)")
        }
        header = parsed.header.map { $0.trimmingCharacters(in: .whitespaces) }
        guard !header.isEmpty, header != [""] else { throw .format("no header line") }
        var seen = Set<String>()
        for (i, name) in header.enumerated() {
            guard !name.isEmpty else { throw .format("header column \(i + 1) has no name") }
            guard seen.insert(name).inserted else { throw .format("header column '\(name)' appears twice") }
        }
        // A blank line (a trailing line break, or an empty line between records) is no record.
        records = parsed.rows.filter { !$0.allSatisfy(\.isEmpty) }
    }

    /// How many fields `record` has beyond the header's columns (SwiftCSV pads every record to
    /// the longest, so trailing empty fields do not count).
    public func extraFields(_ record: [String]) -> Int {
        guard let last = record.lastIndex(where: { !$0.isEmpty }), last >= header.count else { return 0 }
        return last + 1 - header.count
    }

    /// The columns of a kind of record, found in the header by name. Errors:
    /// ``FileError/format(_:)`` naming a required column that is missing, or a header column
    /// that is not one of `required` or `optional` (a misspelt name would otherwise be
    /// dropped without a word).
    public func columns(required: [String], optional: [String] = []) throws(FileError) -> Columns {
        let known = Set(required + optional)
        if let unknown = header.first(where: { !known.contains($0) }) {
            throw .format("header column '\(unknown)' is not one of \((required + optional).joined(separator: ", "))")
        }
        let missing = required.filter { !header.contains($0) }
        guard missing.isEmpty else { throw .format("header has no column \(missing.joined(separator: ", "))") }
        return Columns(index: Dictionary(uniqueKeysWithValues: header.enumerated().map { ($1, $0) }))
    }

    /// Where each named column is in the file's records.
    public struct Columns: Sendable {
        let index: [String: Int]

        /// The field `name` of `record`, trimmed of spaces; "" for a column the file does not have.
        public func field(_ name: String, of record: [String]) -> String {
            guard let i = index[name], i < record.count else { return "" }
            return record[i].trimmingCharacters(in: .whitespaces)
        }
    }
}

/// Writes CSV as RFC 4180 does: CRLF line ends, a field quoted when it holds a comma, a quote
/// or a line break, quotes inside doubled.
public enum CSVWriter {
    /// One record's line, with its CRLF.
    public static func line(_ fields: [String]) -> String {
        fields.map(quoted).joined(separator: ",") + "\r\n"
    }

    /// `field` as it stands in a record.
    public static func quoted(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
