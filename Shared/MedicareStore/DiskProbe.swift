import Foundation

/// The disk's single-writer fsync rate: one 4 KiB write and fsync at a time, in a folder.
/// The baseline the storage benchmarks report their figures against, measured in the same run.
public enum DiskProbe {
    /// Writes and fsyncs one 4 KiB block at a time (cycling over the first 1 MiB of a scratch
    /// file in `folder`, removed afterwards) for about `seconds`, and returns fsyncs per second;
    /// NaN when the file cannot be created. Write and fsync failures are not checked.
    public static func fsyncRate(in folder: String, seconds: Double = 2) -> Double {
        let path = "\(folder)/fsync-probe-\(getpid())"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { return .nan }
        defer { close(fd); unlink(path) }
        let block = [UInt8](repeating: 0x42, count: 4096)
        let start = Date()
        var count = 0
        while Date().timeIntervalSince(start) < seconds {
            _ = block.withUnsafeBytes { pwrite(fd, $0.baseAddress, 4096, off_t((count % 256) * 4096)) }
            fsync(fd)
            count += 1
        }
        return Double(count) / Date().timeIntervalSince(start)
    }
}
