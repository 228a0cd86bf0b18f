/// A configuration or start-up failure: the message says what to fix, and the process
/// exits with it (status 78, EX_CONFIG, for configuration; 1 otherwise).
public struct StartupError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let isConfiguration: Bool

    public init(_ message: String, configuration: Bool = true) {
        self.message = message
        self.isConfiguration = configuration
    }

    public var description: String { message }
}
