import MedicareWire

extension Receivable {
    /// The largest recovery or withholding settlement posts, and the largest amount a
    /// supervision case's action or finding names: 10^12 fen (ten billion yuan).
    public static let maxAmount: Int64 = 1_000_000_000_000
}
