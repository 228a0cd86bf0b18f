import Foundation
import Metrics
import Synchronization

/// Makes the writer's committed batches durable on a thread of its own, so that the writer
/// runs the next batch while the last one's fsync is in flight.
///
/// The writer's connection commits with `synchronous=NORMAL` (its COMMIT writes the WAL but
/// does not fsync it); this thread then fsyncs the WAL file, once for every batch committed
/// since its last fsync, and only then answers those batches' callers. Nothing is
/// acknowledged before an fsync that began after its COMMIT, which is the guarantee
/// `synchronous=FULL` gave, without the writer waiting for the disk.
///
/// A committed batch is visible to readers before it is durable. A read therefore waits,
/// before it returns, until every batch that may have been visible to it is durable: no
/// caller is ever shown a write that a power cut could still take back.
final class WALSyncer: @unchecked Sendable {
    // @unchecked: `waiters` and `failure` are guarded by the worker's `condition`;
    // `descriptor` is confined to the sync thread.
    struct Batch {
        let jobs: [WriteQueue.Job]
        let outcomes: [Result<any Sendable, any Error>]
        let sequence: UInt64
    }

    private let walPath: String
    private var worker: WorkerThread<Batch>!
    private var condition: NSCondition { worker.condition }
    private var waiters: [(sequence: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []  // condition
    private var failure: StoreError?  // condition
    private var descriptor: Int32 = -1  // sync thread
    /// The last batch announced by the writer (announced before its COMMIT).
    private let announced = Atomic<UInt64>(0)
    /// The last batch known durable.
    private let durable = Atomic<UInt64>(0)
    private let syncTime = Metrics.Timer(label: "medicare_store_sync_seconds", dimensions: [("engine", "sqlite")])

    init(databasePath: String) {
        walPath = databasePath + "-wal"
        worker = WorkerThread(name: "sqlite-sync", drain: { [unowned self] batches in self.sync(batches) }, finish: { [unowned self] in
            // Stopped and drained: whoever still waits has nothing left to wait for.
            if self.descriptor >= 0 { close(self.descriptor) }
            let left = self.waiters
            self.waiters.removeAll()
            for waiter in left { waiter.continuation.resume() }
        })
    }

    /// Writer: the sequence number of the batch about to COMMIT. Announced first, so that a
    /// reader who sees the batch's rows also sees a sequence that covers them.
    func announce() -> UInt64 {
        announced.add(1, ordering: .sequentiallyConsistent).newValue
    }

    /// Writer: a batch whose COMMIT returned (or failed: then with its errors); its callers
    /// are answered once it is durable.
    func committed(_ batch: Batch) {
        worker.submit(batch)
    }

    /// Whether writes can still be made durable (false after an fsync failed).
    var failed: StoreError? {
        condition.lock()
        defer { condition.unlock() }
        return failure
    }

    /// Reader: returns once everything committed so far is durable.
    func awaitDurable() async throws {
        let mark = announced.load(ordering: .sequentiallyConsistent)
        if durable.load(ordering: .acquiring) >= mark { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            condition.lock()
            if let failure {
                condition.unlock()
                continuation.resume(throwing: failure)
            } else if durable.load(ordering: .acquiring) >= mark || worker.isFinished {
                condition.unlock()
                continuation.resume()
            } else {
                waiters.append((mark, continuation))
                condition.unlock()
            }
        }
    }

    /// Syncs and answers what is pending, then ends the thread.
    func stop() {
        worker.stop(wait: true)
    }

    /// One fsync for every batch committed since the last, then their callers and the
    /// readers waiting for them are answered.
    private func sync(_ batches: [Batch]) {
        let start = ContinuousClock.now
        let error = sync()
        syncTime.record(since: start)
        let top = batches.last!.sequence
        if error == nil { durable.store(top, ordering: .releasing) }
        for batch in batches {
            for (job, outcome) in zip(batch.jobs, batch.outcomes) {
                switch (error, outcome) {
                case (let error?, _): job.continuation.resume(throwing: error)
                case (nil, .success(let value)): job.continuation.resume(returning: value)
                case (nil, .failure(let failure)): job.continuation.resume(throwing: failure)
                }
            }
        }
        condition.lock()
        if let error { failure = error }
        let ready = waiters.filter { error != nil || $0.sequence <= top }
        waiters.removeAll { error != nil || $0.sequence <= top }
        condition.unlock()
        for waiter in ready {
            if let error { waiter.continuation.resume(throwing: error) } else { waiter.continuation.resume() }
        }
    }

    /// fdatasync of the WAL; nil when the disk confirmed everything written to it so far.
    private func sync() -> StoreError? {
        if descriptor < 0 {
            descriptor = open(walPath, O_RDWR | O_CLOEXEC)
            // No WAL yet: nothing has been written that could be lost.
            if descriptor < 0 { return errno == ENOENT ? nil : StoreHealth.failure(.storageIO, detail: "cannot open the write-ahead log: errno \(errno)") }
        }
        if fdatasync(descriptor) != 0 {
            // After a failed fsync the kernel may have dropped the dirty pages: what was
            // written can no longer be promised, so the store stops taking writes.
            return StoreHealth.failure(.storageIO, detail: "the disk did not confirm a write (fsync errno \(errno)); the store takes no more writes")
        }
        return nil
    }
}
