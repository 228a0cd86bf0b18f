import Foundation

/// One line to standard output, unbuffered: what command-line tools print for people and
/// scripts (`... listening on HOST:PORT`). Services log through swift-log instead.
public enum Console {
    /// Writes `text` and a newline to standard output at once.
    public static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
