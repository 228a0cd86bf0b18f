import Foundation
import MedicareContracts
import MedicareCrypto
import MedicareWire
import Synchronization

/// Signs the audit chain's head at intervals with an SM2 key kept outside the database, so
/// that a chain truncated, edited and re-hashed from its start no longer matches what was
/// signed (settlement keeps the checkpoints it is answered with; `VerifyAudit` checks them).
public final class AuditCheckpointer: Sendable {
    let privateKey: String
    let publicKey: String
    let interval: Duration
    private let latest = Mutex<(checkpoint: AuditCheckpoint?, signedAt: ContinuousClock.Instant?)>((nil, nil))

    /// `privateKey`: SM2, PEM. `interval`: the least time between two checkpoints.
    public init(privateKey: String, interval: Duration = .seconds(1)) throws {
        self.privateKey = privateKey
        self.publicKey = try SM2.publicKey(of: privateKey)
        self.interval = interval
    }

    /// The bytes a checkpoint's signature covers.
    public static func message(seq: UInt64, hash: String, at: String) -> [UInt8] {
        Array("medicare.audit.checkpoint\n\(seq)\n\(hash)\n\(at)".utf8)
    }

    /// After records were appended: a new checkpoint of `head` (the last record appended) if
    /// the interval has passed, else the latest one. Nil before the first.
    func after(head: AuditRecord?) -> AuditCheckpoint? {
        let now = ContinuousClock.now
        let (current, due) = latest.withLock { state -> (AuditCheckpoint?, Bool) in
            let due = state.signedAt.map { now - $0 >= interval } ?? true
            return (state.checkpoint, due)
        }
        guard due, let head, head.seq > (current?.seq ?? 0) else { return current }
        let at = Date().formatted(.iso8601)
        guard let signature = try? SM2.sign(Self.message(seq: head.seq, hash: head.hash, at: at), privateKey: privateKey) else { return current }
        let checkpoint = AuditCheckpoint(seq: head.seq, hash: head.hash, at: at, signature: signature)
        return latest.withLock { state in
            // Another batch may have signed a later head meanwhile: keep the later.
            if (state.checkpoint?.seq ?? 0) < checkpoint.seq { state = (checkpoint, now) }
            return state.checkpoint
        }
    }

    /// Whether `checkpoint` is signed by this chain's key.
    func isSigned(_ checkpoint: AuditCheckpoint) -> Bool {
        SM2.verify(checkpoint.signature, of: Self.message(seq: checkpoint.seq, hash: checkpoint.hash, at: checkpoint.at), key: publicKey)
    }
}
