import Foundation

extension PolicyBook {
    /// Reads and validates a policy file (JSON: `policies` and `catalogue`).
    public static func load(path: String) throws -> PolicyBook {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw DomainError(field: "policy.file", "cannot read '\(path)': \(error.localizedDescription)")
        }
        return try decode(data, source: path)
    }

    /// The shipped example: Zhejiang's 2024 outpatient policy and Quzhou's rules from
    /// 2024-03-01 (no deductible at primary institutions, chronic outpatient 65%).
    public static func bundled() throws -> PolicyBook {
        guard let url = Bundle.module.url(forResource: "zhejiang-2024", withExtension: "json") else {
            throw DomainError(field: "policy.file", "the bundled policy is missing from this build")
        }
        return try decode(try Data(contentsOf: url), source: "bundled zhejiang-2024.json")
    }

    static func decode(_ data: Data, source: String) throws -> PolicyBook {
        let book: PolicyBook
        do {
            book = try JSONDecoder().decode(PolicyBook.self, from: data)
        } catch {
            throw DomainError(field: "policy.file", "'\(source)' is not a valid policy file: \(error)")
        }
        try book.validate()
        return book
    }
}
