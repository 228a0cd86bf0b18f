import Foundation

/// The versioned data files the services read (a policy book, the campaign's dates): JSON from
/// a configured path, or the copy bundled with the build when the path is empty.
enum DataFile {
    /// Decodes `T` from `path`, or from the bundled resource `bundled` (a `.json` in this
    /// module's resources) when `path` is empty.
    /// - Throws: ``DomainError`` naming `key` (the configuration key) when the file cannot be
    ///   read or is not a valid `kind`.
    static func read<T: Decodable>(_ type: T.Type, path: String, bundled: String, key: String, kind: String) throws -> T {
        let data: Data, source: String
        if path.isEmpty {
            guard let url = Bundle.module.url(forResource: bundled, withExtension: "json") else {
                throw DomainError(field: key, "the bundled \(kind) is missing from this build")
            }
            source = "bundled \(bundled).json"
            do { data = try Data(contentsOf: url) } catch { throw DomainError(field: key, "cannot read \(source): \(error.localizedDescription)") }
        } else {
            source = path
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch { throw DomainError(field: key, "cannot read '\(path)': \(error.localizedDescription)") }
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw DomainError(field: key, "'\(source)' is not a valid \(kind): \(error)")
        }
    }
}
