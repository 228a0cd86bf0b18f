import NIOCore
import NIOPosix

/// Runs tasks on one NIO event loop: a call's handler starts on the loop that read its
/// request and resumes there, instead of hopping to Swift's cooperative pool and back for
/// every call (two thread wake-ups each way on a busy 2-core machine).
///
/// Handlers must not block: SQLite reads leave the loop (see `SQLiteDatabase.read`; only short
/// indexed lookups stay, `SQLiteDatabase.lookup`). A client
/// whose tasks do little but call (a load generator) gains the same by preferring its
/// connections' loop (`Task(executorPreference:)`).
public final class EventLoopExecutor: TaskExecutor, Sendable {
    /// The loop the jobs run on.
    public let loop: any EventLoop

    /// Runs jobs on `loop`.
    public init(_ loop: any EventLoop) { self.loop = loop }

    /// Runs `job` on the loop (at once in the loop's next turn, in the order enqueued).
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

extension EventLoopExecutor {
    /// One executor for each loop of `group` (by default the one clients and servers share).
    public static func eachLoop(of group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) -> [EventLoopExecutor] {
        group.makeIterator().map(EventLoopExecutor.init)
    }
}
