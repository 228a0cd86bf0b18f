public import Foundation
import Synchronization

/// The package's built executables and repository files, for end-to-end tests.
public enum Executables {
    /// The folder holding the test bundle also holds the package's executables.
    public static let folder: URL = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent()
    }()

    public static func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A loopback TCP port nothing listens on now, for a service that others must be told of
    /// before it starts, or a replica that is down. It is chosen below the kernel's ephemeral
    /// range (`ip_local_port_range`): a port from that range may, before the service binds it,
    /// be taken as the source port of some connection on the machine (parallel suites make
    /// many), or even be connected to itself by a client retrying it (TCP simultaneous open);
    /// both failed CI runs with "Address already in use". A random port below the range that
    /// binds now is taken by nothing but another test's pick, and no port is handed out twice
    /// in one test process: parallel suites starting their stacks at once drew the same
    /// random port within the second before either bound it (a CI run failed on it: 40 picks
    /// among 12,768 ports share one in about one run in twenty, if all overlapped).
    public static func unusedPort() throws -> Int {
        let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
            .split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        let ephemeralStart = range?.first ?? 32_768
        let low = 20_000, high = max(low + 1_000, ephemeralStart)
        for _ in 0..<200 {
            let port = Int.random(in: low..<high)
            if bindable(port), handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
        throw CocoaError(.fileReadUnknown)
    }

    /// The ports ``unusedPort()`` has handed out in this process.
    private static let handedOut = Mutex<Set<Int>>([])

    /// Whether a loopback TCP socket can bind `port` now (released at once).
    static func bindable(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 }
        }
    }
}

/// A child process whose output is collected; killed when the test is done with it.
public final class ChildProcess: @unchecked Sendable {
    public let process = Process()
    private let output = Pipe()
    private let errors = Pipe()
    private let lock = NSLock()
    private var stdoutText = ""
    private var stderrText = ""

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Each pipe read by a thread of its own until the child closes it. Not Foundation's
        // readabilityHandler: its dispatch source could outlive the handle it reads, and a
        // closed descriptor under it crashed the test process in libdispatch.
        let open = self.openPipes
        Self.drain(output, done: { open.decrement() }) { [weak self] data in self?.lock.withLock { self?.stdoutText += String(decoding: data, as: UTF8.self) } }
        Self.drain(errors, done: { open.decrement() }) { [weak self] data in self?.lock.withLock { self?.stderrText += String(decoding: data, as: UTF8.self) } }
    }

    /// The pipes whose reader has not reached their end yet.
    private let openPipes = Countdown(2)

    /// Reads `pipe` on a thread of its own until its end, handing each read to `sink`, then
    /// calls `done`; the thread keeps the pipe open until then.
    static func drain(_ pipe: Pipe, done: @escaping @Sendable () -> Void, _ sink: @escaping @Sendable (Data) -> Void) {
        let held = UncheckedBox(pipe)
        let thread = Thread {
            defer { done() }
            let fd = held.value.fileHandleForReading.fileDescriptor
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { break }
                sink(Data(buffer[0..<n]))
            }
            _ = held
        }
        thread.start()
    }

    public var standardOutput: String { lock.withLock { stdoutText } }
    public var standardError: String { lock.withLock { stderrText } }

    /// Waits for a line of standard output matching `prefix`, returning the rest of it.
    public func waitForLine(prefix: String, timeout: Duration = .seconds(30)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = standardOutput.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) {
                return String(line.dropFirst(prefix.count))
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ChildError(description: "no line starting '\(prefix)' from \(process.executableURL!.lastPathComponent); stderr: \(standardError)")
    }

    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Whether the process has not exited yet.
    public var isRunning: Bool { process.isRunning }

    /// Waits for exit and returns the status, with everything the process wrote collected
    /// (the readers are waited for to reach the pipes' ends).
    public func wait(timeout: Duration = .seconds(30)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else { throw ChildError(description: "process did not exit in time") }
            try await Task.sleep(for: .milliseconds(20))
        }
        drainAfterExit()
        return process.terminationStatus
    }

    private var drained = false

    /// After exit, waits (up to 5 s) for the readers to reach the pipes' ends, so that all the
    /// child wrote is in ``standardOutput`` and ``standardError``.
    private func drainAfterExit() {
        guard lock.withLock({ () -> Bool in defer { drained = true }; return !drained }) else { return }
        let deadline = Date().addingTimeInterval(5)
        while openPipes.value > 0, Date() < deadline { usleep(5_000) }
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}

public struct ChildError: Error, CustomStringConvertible {
    public let description: String
}

/// Runs a command to completion with optional standard input.
public func runCommand(
    _ executable: String, _ arguments: [String], input: Data? = nil, closeInputAfter: Duration = .zero, timeout: Duration = .seconds(60)
) async throws -> (status: Int32, output: Data, error: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe(), err = Pipe(), inp = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = inp
    let collected = Collected()
    try process.run()
    // The pipes are read here, without blocking, while the process runs (no readability
    // handler: see ChildProcess.drain), so a chatty child never fills them.
    if let input { try inp.fileHandleForWriting.write(contentsOf: input) }
    try await Task.sleep(for: closeInputAfter)
    try? inp.fileHandleForWriting.close()
    let deadline = ContinuousClock.now + timeout
    while process.isRunning {
        if ContinuousClock.now > deadline { process.terminate() }
        collected.append(out: readAvailable(out.fileHandleForReading))
        collected.append(err: readAvailable(err.fileHandleForReading))
        try await Task.sleep(for: .milliseconds(20))
    }
    // What was left when the process exited.
    collected.append(out: readAvailable(out.fileHandleForReading))
    collected.append(err: readAvailable(err.fileHandleForReading))
    return (process.terminationStatus, collected.output, String(decoding: collected.errors, as: UTF8.self))
}

private final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()
    func append(out data: Data) { lock.withLock { out.append(data) } }
    func append(err data: Data) { lock.withLock { err.append(data) } }
    var output: Data { lock.withLock { out } }
    var errors: Data { lock.withLock { err } }
}

/// What a pipe holds now, without waiting for its end: a process may have left a daemon
/// holding the pipe's write end (`pg_ctl start`), so reading to the end could wait forever.
func readAvailable(_ handle: FileHandle) -> Data {
    let fd = handle.fileDescriptor
    let flags = fcntl(fd, F_GETFL)
    _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = read(fd, &buffer, buffer.count)
        guard n > 0 else { break }
        data.append(contentsOf: buffer[0..<n])
    }
    return data
}

/// A value handed to a thread that only that thread uses.
final class UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// A count that threads bring down to zero.
final class Countdown: @unchecked Sendable {
    private let lock = NSLock()
    private var count: Int
    init(_ count: Int) { self.count = count }
    func decrement() { lock.withLock { count -= 1 } }
    var value: Int { lock.withLock { count } }
}
