import Foundation
import MedicareCrypto
import MedicareRPC
import Synchronization

/// A console user, from the users file: who they are to the access table, as a certificate's
/// subject says it (`role`: operator, supervisor, ... as in the access table; `department`:
/// nhsa or nhc; `region`: the division code prefix they act for, "" for all), and their
/// password hash (`PasswordHash`'s form, never the password).
public struct ConsoleUser: Codable, Sendable, Equatable {
    public var name: String
    public var role: String
    public var department: String
    public var region: String
    public var password: String

    /// The user as the access table sees a caller.
    public var identity: PeerIdentity { PeerIdentity(commonName: name, department: department, role: role, region: region) }
}

/// The users file: `{"users": [{"name", "role", "department", "region", "password"}]}`.
public struct ConsoleUsers: Codable, Sendable {
    public var users: [ConsoleUser]

    /// Reads and checks the file. Errors: unreadable or malformed JSON; a user without a name,
    /// twice, or whose password is not a `pbkdf2-sha256$...` hash (a plain password in the
    /// file is refused).
    public static func load(path: String) throws -> ConsoleUsers {
        let table = try JSONDecoder().decode(ConsoleUsers.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        var seen = Set<String>()
        for (i, user) in table.users.enumerated() {
            guard !user.name.isEmpty, user.name.count <= 64 else { throw ConsoleError("users[\(i)].name: must be 1-64 characters") }
            guard seen.insert(user.name).inserted else { throw ConsoleError("users[\(i)].name: '\(user.name)' appears twice") }
            guard user.password.hasPrefix("pbkdf2-sha256$") else {
                throw ConsoleError("users[\(i)].password: must be a hash made by `console --hash-password`, not the password")
            }
        }
        return table
    }

    /// The user whose name and password these are, or nil (the same work whether or not the
    /// name exists, so a wrong name and a wrong password take as long).
    public func authenticate(name: String, password: String) -> ConsoleUser? {
        let user = users.first { $0.name == name }
        let ok = PasswordHash.verify(password, against: user?.password ?? Self.decoy)
        return ok ? user : nil
    }

    private static let decoy = PasswordHash.make("decoy")
}

/// A console error for start-up (one line).
public struct ConsoleError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Signed-in sessions: a random token in an HttpOnly, SameSite=Strict cookie, each with its
/// own token for forms (a POST without it is refused). In memory (a restart signs everyone
/// out), at most 10,000, each for `lifetime` from sign-in.
public final class ConsoleSessions: Sendable {
    public struct Session: Sendable {
        public let user: ConsoleUser
        public let formToken: String
        public let expires: ContinuousClock.Instant
    }

    private let sessions = Mutex<[String: Session]>([:])
    private let lifetime: Duration

    public init(lifetime: Duration) { self.lifetime = lifetime }

    /// Signs `user` in: the cookie's token.
    public func open(_ user: ConsoleUser) -> String {
        let token = SecureRandom.token(), now = ContinuousClock.now
        sessions.withLock { sessions in
            if sessions.count >= 10_000 { sessions = sessions.filter { $0.value.expires > now } }
            if sessions.count >= 10_000, let oldest = sessions.min(by: { $0.value.expires < $1.value.expires })?.key { sessions[oldest] = nil }
            sessions[token] = Session(user: user, formToken: SecureRandom.token(16), expires: now + lifetime)
        }
        return token
    }

    /// The session of a cookie's token, if signed in and not expired.
    public func session(_ token: String?) -> Session? {
        guard let token else { return nil }
        return sessions.withLock { sessions in
            guard let found = sessions[token] else { return nil }
            guard found.expires > .now else {
                sessions[token] = nil
                return nil
            }
            return found
        }
    }

    /// Signs out.
    public func close(_ token: String?) {
        guard let token else { return }
        _ = sessions.withLock { $0.removeValue(forKey: token) }
    }
}
