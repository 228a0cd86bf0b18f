import Foundation
import Synchronization

/// Starts a thread under `name` as `top` and `perf` show it (Linux keeps 15 bytes; setting
/// `Thread.name` before start leaves the creator's name in place).
func startThread(named name: String, _ body: @escaping @Sendable () -> Void) {
    let thread = Thread {
        #if os(Linux)
        if let comm = FileHandle(forWritingAtPath: "/proc/thread-self/comm") {
            try? comm.write(contentsOf: Data(name.utf8.prefix(15)))
            try? comm.close()
        }
        #endif
        body()
    }
    thread.start()
}

/// A task executor backed by one dedicated thread: work placed on it runs there, in order,
/// and may block (SQLite's fsync) without starving Swift's cooperative pool.
final class ThreadExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `jobs` is guarded by `condition`, the only mutable state.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopped = false

    init(name: String) {
        startThread(named: name) { [unowned self] in self.loop() }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        condition.signal()
        condition.unlock()
    }

    /// Ends the thread once the queued jobs have run.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty && stopped {
                condition.unlock()
                return
            }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }
}
