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

/// One dedicated thread that takes everything queued for it at once and works through it,
/// in order, off Swift's cooperative pool (its work may block: SQLite statements, fsync, a
/// checkpoint's copy). The store's three threads are this loop: the thread executor (jobs),
/// the WAL syncer (committed batches) and the background checkpointer (nudges).
///
/// `condition` guards the queue and `stopped`; an owner may keep state of its own under the
/// same lock (the syncer's waiters), so that it changes together with the queue.
final class WorkerThread<Item>: @unchecked Sendable {
    // @unchecked: `queue` and `stopped` are guarded by `condition`; `drain` and `finish` run
    // only on the worker's thread.
    let condition = NSCondition()
    private var queue: [Item] = []
    private var stopped = false
    private let ended = DispatchSemaphore(value: 0)

    /// Starts the thread. `drain` gets each batch taken from the queue (never empty); once
    /// stopped and drained, `finish` runs on the thread (with `condition` held: it may settle
    /// the owner's state under the same lock) and the thread ends.
    init(name: String, drain: @escaping @Sendable ([Item]) -> Void, finish: @escaping @Sendable () -> Void = {}) {
        startThread(named: name) { [self] in
            while true {
                condition.lock()
                while queue.isEmpty && !stopped { condition.wait() }
                if queue.isEmpty {
                    finish()
                    condition.unlock()
                    ended.signal()
                    return
                }
                let batch = queue
                queue.removeAll(keepingCapacity: true)
                condition.unlock()
                drain(batch)
            }
        }
    }

    func submit(_ item: Item) {
        condition.lock()
        queue.append(item)
        condition.signal()
        condition.unlock()
    }

    /// With `condition` held: stopped, and nothing queued is left.
    var isFinished: Bool { stopped && queue.isEmpty }

    /// Ends the thread once what is queued has been drained; with `wait`, returns only then.
    func stop(wait: Bool) {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
        if wait { ended.wait() }
    }
}

/// A task executor backed by one dedicated thread: work placed on it runs there, in order,
/// and may block (SQLite's fsync) without starving Swift's cooperative pool.
final class ThreadExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: the worker is set once in init, before any job can arrive.
    private var worker: WorkerThread<UnownedJob>!

    init(name: String) {
        worker = WorkerThread(name: name) { [unowned self] jobs in
            for job in jobs { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        worker.submit(UnownedJob(job))
    }

    /// Ends the thread once the queued jobs have run.
    func stop() {
        worker.stop(wait: false)
    }
}
