import NIOCore

/// Runs tasks on one NIO event loop: a call's handler starts on the loop that read its
/// request and resumes there, instead of hopping to Swift's cooperative pool and back for
/// every call (two thread wake-ups each way on a busy 2-core machine).
///
/// Handlers must not block: SQLite reads leave the loop (see `SQLiteDatabase.read`).
final class EventLoopExecutor: TaskExecutor, Sendable {
    let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
