import CSQLite
import Foundation
import Metrics
import Synchronization

/// Copies committed WAL frames into the database file on its own thread and connection, so
/// that the writer's commits do not stall behind a checkpoint's copy and fsync.
///
/// SQLite restarts the WAL from its start only when a write begins with every frame already
/// copied; a copy running beside a busy writer always lags it, so on its own the WAL would
/// grow without bound. The writer therefore still checkpoints when the WAL reaches
/// `restartFrames`, as SQLite's autocheckpoint would, but by then the background has copied
/// nearly everything and only the last few frames are left for it.
final class SQLiteCheckpointer: @unchecked Sendable {
    // @unchecked: the connection and `walOpen` are used only by the checkpoint thread (the
    // connection is closed when it ends).
    private let connection: SQLiteConnection
    private var worker: WorkerThread<Void>!
    /// Frames already copied by the last background pass (SQLite's count for this WAL).
    private let copied = Atomic<Int32>(0)
    /// Frames the background passes have copied in all (a WAL restart does not reset it).
    private let backgroundFrames = Atomic<Int>(0)
    var framesCopiedInBackground: Int { backgroundFrames.load(ordering: .relaxed) }
    private var walOpen = false
    let stepFrames: Int32
    let restartFrames: Int32
    private let writerTime = Metrics.Timer(label: "medicare_store_checkpoint_seconds", dimensions: [("engine", "sqlite"), ("by", "writer")])
    private let backgroundTime = Metrics.Timer(label: "medicare_store_checkpoint_seconds", dimensions: [("engine", "sqlite"), ("by", "background")])

    init(path: String, stepFrames: Int32, restartFrames: Int32) throws(StoreError) {
        connection = try SQLiteConnection(path: path, readOnly: false)
        self.stepFrames = stepFrames
        self.restartFrames = restartFrames
        // Nudges that arrive during a pass are one more pass, however many.
        worker = WorkerThread(name: "sqlite-ckpt", drain: { [unowned self] _ in self.pass() }, finish: { [connection] in connection.close() })
    }

    /// Replaces the writer's autocheckpoint with this checkpointer.
    func install(on writer: SQLiteConnection) {
        guard let handle = writer.handle else { return }
        sqlite3_wal_hook(handle, { context, db, name, frames in
            let checkpointer = Unmanaged<SQLiteCheckpointer>.fromOpaque(context!).takeUnretainedValue()
            checkpointer.committed(frames: frames, db: db, name: name)
            return SQLITE_OK
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Called on the writer's thread after each commit with the frames now in the WAL.
    private func committed(frames: Int32, db: OpaquePointer?, name: UnsafePointer<CChar>?) {
        if frames >= restartFrames {
            // Copies what the background has not, so that the next write restarts the WAL.
            let start = ContinuousClock.now
            sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            writerTime.record(since: start)
            copied.store(0, ordering: .relaxed)
            return
        }
        var done = copied.load(ordering: .relaxed)
        if frames < done {  // the WAL has restarted since the last pass
            done = 0
            copied.store(0, ordering: .relaxed)
        }
        if frames - done >= stepFrames { nudge() }
    }

    private func nudge() {
        worker.submit(())
    }

    /// Ends the thread and closes its connection (before the writer closes the database).
    func stop() {
        worker.stop(wait: true)
    }

    /// One passive checkpoint on the background connection.
    private func pass() {
        guard let handle = connection.handle else { return }
        var log: Int32 = 0, checkpointed: Int32 = 0
        let start = ContinuousClock.now
        defer { backgroundTime.record(since: start) }
        // A connection opens the WAL only when it first reads; until then a checkpoint
        // on it reports no WAL (-1) and copies nothing.
        if !walOpen {
            walOpen = (try? connection.exec("SELECT COUNT(*) FROM sqlite_schema")) != nil
        }
        if sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &checkpointed) == SQLITE_OK, checkpointed >= 0 {
            let before = copied.exchange(checkpointed, ordering: .relaxed)
            backgroundFrames.add(Int(max(0, checkpointed - (checkpointed >= before ? before : 0))), ordering: .relaxed)
        }
    }
}
