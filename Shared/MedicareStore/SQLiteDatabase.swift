import Foundation
import Logging
import Metrics
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Embedded SQLite: a file in WAL mode, one writer that commits concurrent transactions in
/// groups, a sync thread that makes them durable, a checkpoint thread, and a few readers.
///
/// Group commit: writes queue up while the writer is busy; the writer takes them all (up
/// to `maxBatch`), runs each in its own savepoint inside one transaction (a write alone runs
/// without one), and commits once. A write that throws is rolled back to its savepoint (alone:
/// the transaction is) and fails alone. The COMMIT does not
/// wait for the disk: `WALSyncer` fsyncs the WAL behind the writer, once for all batches
/// committed since its last fsync, and answers their callers only then, so nothing is
/// acknowledged before it is durable, and a read that may have seen a batch waits for it
/// too. `SQLiteCheckpointer` copies the WAL into the database file off the writer's path.
public final class SQLiteDatabase: SQLDatabase, Service {
    /// Where the database file is and how the writer and readers work.
    public struct Configuration: Sendable {
        /// The database file (its folder is created if missing); the WAL is `path-wal`.
        public var path: String
        /// The number of read-only connections (at least one is opened).
        public var readers: Int
        /// The most writes the writer commits together in one transaction.
        public var maxBatch: Int
        /// WAL frames the writer may add before the background checkpointer copies them.
        public var checkpointStep: Int32
        /// WAL length at which the writer itself finishes the checkpoint so the WAL restarts.
        public var walRestartFrames: Int32

        /// The writer's page cache, MiB (the readers keep 8 MiB each).
        public var cacheMiB: Int

        /// Makes a configuration with the given file and the defaults for the rest.
        public init(path: String, readers: Int = 4, maxBatch: Int = 256, checkpointStep: Int32 = 500, walRestartFrames: Int32 = 4000, cacheMiB: Int = 16) {
            self.path = path
            self.cacheMiB = cacheMiB
            self.readers = readers
            self.maxBatch = maxBatch
            self.checkpointStep = checkpointStep
            self.walRestartFrames = walRestartFrames
        }
    }

    /// Always ``SQLDialect/sqlite``.
    public let dialect = SQLDialect.sqlite
    /// The configuration the database was opened with.
    public let configuration: Configuration
    private let writer: SQLiteConnection
    private let writerExecutor: ThreadExecutor
    private let checkpointer: SQLiteCheckpointer
    private let syncer: WALSyncer
    private let readers: ReaderPool
    private let queue = WriteQueue()
    private let logger: Logger
    private let batchSize = Recorder(label: "medicare_store_batch_size", dimensions: [("engine", "sqlite")])
    private let commitTime = Metrics.Timer(label: "medicare_store_commit_seconds", dimensions: [("engine", "sqlite")])
    private let closed = Atomic<Bool>(false)
    /// Commit and transaction counters of the writer.
    public let statistics = StoreStatistics()
    /// WAL frames copied into the database file by the background checkpoint thread.
    public var framesCheckpointedInBackground: Int { checkpointer.framesCopiedInBackground }

    /// Creates the data folder if needed, opens the file in WAL mode (`synchronous=NORMAL`,
    /// foreign keys on) and the readers, and starts the checkpoint and sync threads; writes run
    /// once ``run()`` runs.
    /// - Throws: ``StoreError`` when the folder cannot be made or the file cannot be opened or set up.
    public init(configuration: Configuration, logger: Logger) throws(StoreError) {
        self.configuration = configuration
        self.logger = logger
        let folder = (configuration.path as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw .unavailable("cannot create the data folder '\(folder)': \(error.localizedDescription)")
            }
        }
        writer = try SQLiteConnection(path: configuration.path, readOnly: false)
        try writer.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-\(max(1, configuration.cacheMiB) * 1024); PRAGMA temp_store=MEMORY;")
        checkpointer = try SQLiteCheckpointer(
            path: configuration.path, stepFrames: configuration.checkpointStep, restartFrames: configuration.walRestartFrames
        )
        checkpointer.install(on: writer)
        syncer = WALSyncer(databasePath: configuration.path)
        writerExecutor = ThreadExecutor(name: "sqlite-writer")
        var connections: [SQLiteConnection] = []
        for _ in 0..<max(1, configuration.readers) {
            let reader = try SQLiteConnection(path: configuration.path, readOnly: true)
            try reader.exec("PRAGMA query_only=ON; PRAGMA cache_size=-8192;")
            connections.append(reader)
        }
        readers = ReaderPool(connections)
    }

    // MARK: SQLDatabase

    /// Queues `body` for the writer, which runs it in its own savepoint inside a group commit,
    /// and returns once the commit is durable (fsynced).
    /// - Throws: what `body` throws (only its savepoint is rolled back); ``StoreError/closed``
    ///   once the store is closing; ``StoreError/resources(_:detail:)`` when the disk is full,
    ///   fails or did not confirm an fsync (then no further writes are taken).
    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T {
        let value = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<any Sendable, any Error>) in
            let job = WriteQueue.Job(body: { try await body($0) }, continuation: continuation)
            if !queue.submit(job) { continuation.resume(throwing: StoreError.closed) }
        }
        return value as! T
    }

    /// Runs `body` in a read transaction on a pooled reader, moved off an event loop when called
    /// on one, and returns once every batch it may have seen is durable.
    /// - Throws: what `body` throws; ``StoreError/closed`` after close.
    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T {
        guard !closed.load(ordering: .relaxed) else { throw StoreError.closed }
        // RPC handlers run on their connection's event loop; a read (a nation-wide coverage
        // query, an audit-chain walk) must not hold the loop's other connections up, so it
        // moves to the cooperative pool. Elsewhere it runs right here on the caller's thread.
        if MultiThreadedEventLoopGroup.currentEventLoop != nil {
            return try await withTaskExecutorPreference(globalConcurrentExecutor) { try await self.readHere(body) }
        }
        return try await readHere(body)
    }

    /// Runs `body` on a pooled reader on the caller's thread (for short indexed reads), and
    /// returns once every batch it may have seen is durable.
    /// - Throws: what `body` throws; ``StoreError/closed`` after close.
    public func lookup<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T {
        guard !closed.load(ordering: .relaxed) else { throw StoreError.closed }
        return try await readHere(body)
    }

    private func readHere<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T {
        let result = try await onReader(body)
        // What the read saw may include a batch still waiting for its fsync; the connection
        // is already back in the pool while this waits.
        try await syncer.awaitDurable()
        return result
    }

    private func onReader<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T {
        let reader = await readers.acquire()
        defer { readers.release(reader) }
        // The leased connection is ours alone until released, so the read runs on this
        // thread instead of hopping to another one and back.
        try reader.connection.run("BEGIN")
        do {
            let result = try await body(SQLiteTransaction(connection: reader.connection))
            try reader.connection.run("COMMIT")
            return result
        } catch {
            try? reader.connection.run("ROLLBACK")
            throw error
        }
    }

    // MARK: Service

    /// Runs the writer until graceful shutdown (or cancellation), commits what is queued,
    /// then closes the database.
    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await withTaskExecutorPreference(writerExecutor) { await self.writeLoop() }
            } onCancel: {
                self.queue.finish()
            }
        } onGracefulShutdown: {
            self.queue.finish()
        }
        queue.failRemaining(StoreError.closed)
        closed.store(true, ordering: .relaxed)
        // Both stops wait for their thread to end: they block, so they run on the writer's
        // thread, never on a cooperative one.
        await withTaskExecutorPreference(writerExecutor) {
            syncer.stop()
            checkpointer.stop()
            writer.close()
        }
        writerExecutor.stop()
        await readers.closeAll()
        logger.info("store closed", metadata: ["store.path": "\(configuration.path)"])
    }

    private func writeLoop() async {
        let transaction = SQLiteTransaction(connection: writer)
        // A job in its own savepoint beside others: a bulk insert stays one statement per
        // chunk (``SQLiteTransaction/insert(into:columns:rows:tail:)``).
        let grouped = SQLiteTransaction(connection: writer, inSavepoint: true)
        while let batch = await queue.nextBatch(max: configuration.maxBatch) {
            let start = ContinuousClock.now
            var outcomes: [Result<any Sendable, any Error>] = []
            outcomes.reserveCapacity(batch.count)
            if let failure = syncer.failed {
                for job in batch { job.continuation.resume(throwing: failure) }
                continue
            }
            do {
                try writer.run("BEGIN IMMEDIATE")
            } catch {
                for job in batch { job.continuation.resume(throwing: error) }
                continue
            }
            var lost: (any Error)?
            // A job alone in its transaction runs without a savepoint: its failure rolls the
            // transaction back, which is the same, and a large job (an import of thousands of
            // rows) does not pay for the savepoint's in-memory sub-journal, which SQLite walks
            // from its start as it grows (temp_store=MEMORY): a bulk import ran 2-3x slower.
            if batch.count == 1, let job = batch.first {
                do {
                    let value = try await job.body(transaction)
                    outcomes.append(.success(value))
                } catch {
                    if writer.inTransaction { try? writer.run("ROLLBACK") }
                    job.continuation.resume(throwing: error)
                    continue
                }
            } else {
                for job in batch {
                    do {
                        try writer.run("SAVEPOINT job")
                        let value = try await job.body(grouped)
                        try writer.run("RELEASE job")
                        outcomes.append(.success(value))
                    } catch {
                        guard writer.inTransaction else {
                            // SQLite rolled the whole transaction back (a full disk, an I/O
                            // error): the jobs before this one are lost with it, and the ones
                            // after must not run outside a transaction.
                            lost = error
                            break
                        }
                        try? writer.run("ROLLBACK TO job")
                        try? writer.run("RELEASE job")
                        outcomes.append(.failure(error))
                    }
                }
            }
            if let lost {
                logger.error("write transaction rolled back by the engine", metadata: ["store.error": "\(lost)", "store.batch": "\(batch.count)"])
                for job in batch { job.continuation.resume(throwing: lost) }
                continue
            }
            // Announced before COMMIT: a reader that sees these rows waits for their fsync.
            let sequence = syncer.announce()
            do {
                try writer.run("COMMIT")
            } catch {
                logger.error("group commit failed", metadata: ["store.error": "\(error)", "store.batch": "\(batch.count)"])
                try? writer.run("ROLLBACK")
                syncer.committed(WALSyncer.Batch(jobs: batch, outcomes: batch.map { _ in .failure(error) }, sequence: sequence))
                continue
            }
            batchSize.record(batch.count)
            statistics.recordCommit(transactions: outcomes.count)
            StoreHealth.recordCommit(outcomes)
            commitTime.record(since: start)
            // Answered by the syncer once durable; meanwhile the next batch runs.
            syncer.committed(WALSyncer.Batch(jobs: batch, outcomes: outcomes, sequence: sequence))
        }
    }
}

/// Statements on one SQLite connection, run synchronously on its owner's thread.
struct SQLiteTransaction: SQLTransaction {
    let connection: SQLiteConnection
    /// Whether the writer runs this job in a savepoint among others (a group commit).
    var inSavepoint = false
    var dialect: SQLDialect { .sqlite }

    func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
        try connection.query(sql, binds)
    }

    func execute(_ sql: String, _ binds: [SQLValue]) async throws {
        if binds.isEmpty && sql.contains(";") {
            try connection.exec(sql)
        } else {
            _ = try connection.query(sql, binds)
        }
    }

    /// One single-row `INSERT` prepared once and run for each row (``SQLiteConnection/executeEach(_:_:)``),
    /// `tail` after its row. A row refused by a constraint throws ``StoreError/constraint(sql:message:)``;
    /// the rows before it are in the transaction, which the job's failure rolls back.
    ///
    /// In a savepoint beside other jobs, several rows go as multi-row `VALUES` instead
    /// (``SQLTransaction/insertValues(into:columns:rows:tail:)``): a statement that fires a
    /// trigger (the closed sets' checks) copies the pages it changes into the sub-journal,
    /// which under an open savepoint only grows until the transaction ends: a row a statement
    /// would copy them once per row.
    func insert(into table: String, columns: [String], rows: [[SQLValue]], tail: String) async throws {
        guard !rows.isEmpty else { return }
        if inSavepoint && rows.count > 1 {
            return try await insertValues(into: table, columns: columns, rows: rows, tail: tail)
        }
        let sql = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES \(SQLPlaceholders.rows(1, width: columns.count))"
            + (tail.isEmpty ? "" : " " + tail)
        try connection.executeEach(sql, rows)
    }
}

/// Read-only connections, leased one caller at a time.
final class ReaderPool: Sendable {
    struct Reader: Sendable {
        let connection: SQLiteConnection
    }

    private let readers: [Reader]
    private let state: Mutex<(free: [Int], waiters: [CheckedContinuation<Int, Never>])>

    init(_ connections: [SQLiteConnection]) {
        readers = connections.map { Reader(connection: $0) }
        state = Mutex((Array(readers.indices), []))
    }

    func acquire() async -> Reader {
        let index = await withCheckedContinuation { continuation in
            let free = state.withLock { state -> Int? in
                if let index = state.free.popLast() { return index }
                state.waiters.append(continuation)
                return nil
            }
            if let free { continuation.resume(returning: free) }
        }
        return readers[index]
    }

    func release(_ reader: Reader) {
        let index = readers.firstIndex { $0.connection === reader.connection }!
        let waiter = state.withLock { state -> CheckedContinuation<Int, Never>? in
            if state.waiters.isEmpty {
                state.free.append(index)
                return nil
            }
            return state.waiters.removeFirst()
        }
        waiter?.resume(returning: index)
    }

    func closeAll() async {
        // Waiting to lease each connection lets reads in progress finish first.
        for _ in readers {
            await acquire().connection.close()
        }
    }
}
