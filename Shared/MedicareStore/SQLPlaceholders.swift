/// Numbered bind placeholders (`$1`, `$2`, ...) for statements whose size depends on the data:
/// `IN` lists and multi-row inserts, so that many values go in one statement (one round trip
/// on PostgreSQL) rather than one statement each.
public enum SQLPlaceholders {
    /// `$first, $first+1, ...`, `count` of them (`count` ≥ 1).
    public static func list(_ count: Int, from first: Int = 1) -> String {
        (first..<(first + count)).map { "$\($0)" }.joined(separator: ", ")
    }

    /// `count` parenthesised rows of `width` consecutive placeholders each, numbered from
    /// `first`: `($1, $2), ($3, $4)` for 2 rows of width 2.
    public static func rows(_ count: Int, width: Int, from first: Int = 1) -> String {
        (0..<count).map { "(" + list(width, from: first + $0 * width) + ")" }.joined(separator: ", ")
    }
}
