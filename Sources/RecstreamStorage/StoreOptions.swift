/// How a ``StateStore`` opens and writes its RocksDB database. The defaults are what recstream
/// runs with: durable commits, checksums verified, LZ4-compressed tables.
///
/// Options not listed here are fixed by the store (see ``StateStore/init(path:options:)``): a
/// 10 bits/key Bloom filter on point lookups, dynamic level sizes, at most 4 info-log files of
/// 16 MiB, and RocksDB's point-in-time WAL recovery, which replays the log up to the last intact
/// record so a torn tail write after a crash is dropped rather than failing the open.
public struct StoreOptions: Sendable, Hashable {
    /// Table compression. `.lz4` is cheap enough to leave on for every level.
    public enum Compression: String, Sendable, Hashable, CaseIterable {
        case none
        case snappy
        case lz4
        case zstd

        /// RocksDB's `rocksdb_*_compression` constant.
        var rocksDBValue: Int32 {
            switch self {
            case .none: 0
            case .snappy: 1
            case .lz4: 4
            case .zstd: 7
            }
        }
    }

    /// Create the directory (and its parents) and an empty database when none exists
    /// (`create_if_missing`). Default true. When false, opening a missing store throws
    /// ``StorageError/Kind/notFound`` or ``StorageError/Kind/invalidArgument``.
    public var createIfMissing = true

    /// RocksDB `paranoid_checks`: fail on damage found while opening (a MANIFEST record that
    /// fails its checksum, a table file whose footer is damaged) instead of trying to carry on, and
    /// refuse further writes after a failed background write. Default true. Data blocks are
    /// checksummed on every read whatever this says. See docs/storage.md for what is detected.
    public var paranoidChecks = true

    /// fsync the write-ahead log before ``StateStore/write(_:)`` returns (`WriteOptions::sync`).
    /// Default true: a commit that returned survives power loss, not only a process crash.
    /// Costs one fsync per commit (about 0.1–10 ms depending on the device), which is why the
    /// runtime commits once per interval rather than once per event.
    public var syncWrites = true

    /// Compression of table files (`compression`). Default `.lz4`. When the installed RocksDB was
    /// built without the requested library, the store opens with `.none` instead; the effective
    /// choice is ``StateStore/compression``.
    public var compression = Compression.lz4

    /// Capacity in bytes of the LRU cache for uncompressed table blocks (`block_cache`).
    /// Default 64 MiB. Must be at least 1 MiB.
    public var blockCacheBytes = 64 << 20

    /// Bytes buffered in a memtable before it is flushed to a table file (`write_buffer_size`).
    /// Default 64 MiB, RocksDB's own default; up to two memtables exist at once. Must be at least
    /// 1 MiB.
    public var writeBufferBytes = 64 << 20

    public init() {}

    /// Checks the numeric limits once, before anything is opened.
    ///
    /// - Throws: ``StorageError/Kind/invalidArgument`` naming the option and its value.
    func validate() throws(StorageError) {
        let minimum = 1 << 20
        if blockCacheBytes < minimum {
            throw StorageError(
                kind: .invalidArgument, message: "blockCacheBytes is \(blockCacheBytes); the minimum is \(minimum)")
        }
        if writeBufferBytes < minimum {
            throw StorageError(
                kind: .invalidArgument, message: "writeBufferBytes is \(writeBufferBytes); the minimum is \(minimum)")
        }
    }
}
