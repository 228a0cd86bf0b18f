/// A configuration or start-up failure: the message says what to fix, and the process
/// exits with it (status 78, EX_CONFIG, for configuration; 1 otherwise).
public struct StartupError: Error, CustomStringConvertible, Sendable {
    /// What to fix, in one line.
    public let message: String
    /// Whether it is a configuration error (exit status 78) rather than another failure (1).
    public let isConfiguration: Bool

    /// Makes an error; a configuration error unless `configuration` is false.
    public init(_ message: String, configuration: Bool = true) {
        self.message = message
        self.isConfiguration = configuration
    }

    /// The message.
    public var description: String { message }
}
