import Logging
import Synchronization
import UnixSignals

/// A value a service reads on every call and an operator replaces while it serves (the
/// gateway's access table, settlement's benefit policy): replaced whole, so a call uses the
/// value of the moment it reads it and no call is dropped.
public final class Reloadable<Value: Sendable>: Sendable {
    private let state: Mutex<Value>

    public init(_ value: Value) { state = Mutex(value) }

    /// The value in force now; read it once per call.
    public var current: Value { state.withLock { $0 } }

    /// Puts `value` in force for the calls that read after this.
    public func replace(_ value: Value) { state.withLock { $0 = value } }
}

extension ServiceContext {
    /// On each SIGHUP while the service runs, `load`s `value` again (`what` names it in the
    /// log): a value that loads replaces the one in force (logged at notice); one that does not
    /// leaves it (logged at error, with why).
    public func reloadOnHangup<Value>(_ value: Reloadable<Value>, what: String, load: @escaping @Sendable () throws -> Value) {
        let logger = self.logger
        runInBackground {
            for await _ in await UnixSignalsSequence(trapping: .sighup) {
                do {
                    value.replace(try load())
                    logger.notice("\(what) reloaded")
                } catch {
                    logger.error("\(what) not reloaded; the one in force stays", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// On each SIGHUP while the service runs, runs `body` (which logs what it did).
    public func onHangup(_ body: @escaping @Sendable () async -> Void) {
        runInBackground {
            for await _ in await UnixSignalsSequence(trapping: .sighup) { await body() }
        }
    }
}
