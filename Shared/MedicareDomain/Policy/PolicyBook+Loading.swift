import Foundation

extension PolicyBook {
    /// Reads and validates a policy file (JSON: `policies` and `catalogue`).
    /// - Throws: ``DomainError`` (`policy.file`) when it cannot be read or is invalid.
    public static func load(path: String) throws -> PolicyBook {
        try validated(try DataFile.read(PolicyBook.self, path: path, bundled: "zhejiang-2024", key: "policy.file", kind: "policy file"))
    }

    /// The shipped example: Zhejiang's 2024 outpatient policy and Quzhou's rules from
    /// 2024-03-01 (no deductible at primary institutions, chronic outpatient 65%).
    public static func bundled() throws -> PolicyBook { try load(path: "") }

    static func validated(_ book: PolicyBook) throws -> PolicyBook {
        try book.validate()
        return book
    }
}
