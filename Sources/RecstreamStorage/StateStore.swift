import CRocksDB

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A durable, ordered byte-key/byte-value store in one directory, backed by RocksDB.
///
/// Guarantees: ``write(_:)`` applies a ``WriteBatch`` atomically (after a crash, all of it or none
/// of it is visible) and, with ``StoreOptions/syncWrites`` (the default), durably: when it returns,
/// the batch is fsynced in the write-ahead log. Reads see every write that returned before they
/// started. Keys sort by unsigned bytewise comparison; build them with ``KeyBuilder``.
///
/// Only one store may have a directory open: RocksDB's `LOCK` file makes a second opener, in this
/// process or another, fail with ``StorageError/Kind/lockHeld``.
///
/// Thread safety: every method may be called from any thread concurrently. RocksDB's `DB` handle
/// is documented thread-safe for `Write`, `Get`, `NewIterator`, `GetProperty`,
/// `GetApproximateSizes` and `Flush`; the only shared Swift state is the handle itself, which a
/// read-write lock guards so that ``close()`` waits for calls in flight and later calls throw.
///
/// - Important: These calls block (a synced write waits for fsync, a flush for a table file).
///   Call them from a dedicated thread or executor, never from the cooperative pool's hot path.
public final class StateStore: @unchecked Sendable {
    /// The directory of the database, with symbolic links resolved.
    public let path: String

    /// The table compression in effect: ``StoreOptions/compression``, or `.none` when the
    /// installed RocksDB lacks the requested library.
    public let compression: StoreOptions.Compression

    /// The options the store was opened with (`compression` as requested).
    public let options: StoreOptions

    /// Guards `db`: shared around each call, exclusive in ``close()``.
    private let lock = ReadWriteLock()
    /// The owned `rocksdb_t`; nil once closed.
    private var db: OpaquePointer?
    /// Owned `rocksdb_readoptions_t` for point reads (checksums verified, RocksDB's default).
    private let readOptions: OpaquePointer
    /// Owned `rocksdb_writeoptions_t` with `sync` set from ``StoreOptions/syncWrites``.
    private let writeOptions: OpaquePointer

    /// Opens the database at `path`, creating the directory and its parents when
    /// ``StoreOptions/createIfMissing`` is set.
    ///
    /// Recovery happens here: RocksDB replays the write-ahead log into the memtable, so every
    /// batch whose ``write(_:)`` returned before a crash is visible. Cost: proportional to the
    /// unflushed log (at most about two write buffers) plus opening every table file.
    ///
    /// - Throws: ``StorageError`` — ``StorageError/Kind/lockHeld`` when another process or another
    ///   store in this process has the directory open; ``StorageError/Kind/invalidArgument`` when
    ///   `path` is not a directory or an option is out of range; ``StorageError/Kind/readOnly``
    ///   when the directory cannot be written; ``StorageError/Kind/corruption`` when the MANIFEST,
    ///   a table file or the log fails its checks.
    public init(path: String, options: StoreOptions = .init()) throws(StorageError) {
        try options.validate()
        if options.createIfMissing {
            try Self.createDirectories(path)
        }
        let resolved = Self.resolve(path)
        var compression = options.compression
        let db: OpaquePointer
        do throws(StorageError) {
            db = try Self.openDatabase(path: resolved, options: options, compression: compression)
        } catch {
            // RocksDB refuses at open a compression library it was built without.
            guard compression != .none, error.message.contains("is not linked with the binary") else { throw error }
            compression = .none
            db = try Self.openDatabase(path: resolved, options: options, compression: .none)
        }
        self.db = db
        self.path = resolved
        self.options = options
        self.compression = compression
        // Ownership: both option objects are created here, owned by this store and destroyed in
        // deinit; RocksDB only reads them during each call.
        readOptions = rocksdb_readoptions_create()
        writeOptions = rocksdb_writeoptions_create()
        rocksdb_writeoptions_set_sync(writeOptions, options.syncWrites ? 1 : 0)
    }

    deinit {
        close()
        // Ownership: the store created these in init and is their only owner.
        rocksdb_readoptions_destroy(readOptions)
        rocksdb_writeoptions_destroy(writeOptions)
    }

    /// Applies every operation of `batch` atomically, in order, and consumes the batch.
    ///
    /// With ``StoreOptions/syncWrites`` the write-ahead log is fsynced before this returns. An
    /// empty batch returns at once without touching the log. Cost: one log append (one fsync when
    /// syncing) plus memtable inserts proportional to ``WriteBatch/byteSize``.
    ///
    /// - Throws: ``StorageError`` — ``StorageError/Kind/noSpace``, ``StorageError/Kind/io`` or
    ///   ``StorageError/Kind/readOnly`` when the log cannot be written (with paranoid checks the
    ///   store then refuses further writes until reopened); ``StorageError/Kind/invalidArgument``
    ///   for an inverted range delete or a closed store. On a throw nothing of the batch is applied.
    public func write(_ batch: consuming WriteBatch) throws(StorageError) {
        let count = batch.count
        if count == 0 { return }
        let db = try acquire()
        defer { lock.unlock() }
        try batch.withHandle { (handle) throws(StorageError) in
            try rocksCall("write a batch of \(count) operations to \(path)") { error in
                // Ownership: RocksDB reads the batch during the call and keeps no reference; the
                // batch stays owned by `batch`, which frees it when this function returns.
                rocksdb_write(db, writeOptions, handle, error)
            }
        }
    }

    /// The value stored under `key`, or nil when there is none.
    ///
    /// Cost: a memtable lookup, then at most one table block read per level, skipped when the
    /// level's Bloom filter rules the key out; one copy of the value.
    ///
    /// - Throws: ``StorageError`` — ``StorageError/Kind/corruption`` when a block read fails its
    ///   checksum; ``StorageError/Kind/io`` on read errors; ``StorageError/Kind/invalidArgument``
    ///   when the store is closed.
    public func get(_ key: [UInt8]) throws(StorageError) -> [UInt8]? {
        let db = try acquire()
        defer { lock.unlock() }
        let slice = try withCBytes(key) { (kp, kn) throws(StorageError) in
            try rocksCall("read a key from \(path)") { error in
                // Ownership: returns a new pinnable slice owned by the caller (nil when the key is
                // absent); destroyed below with rocksdb_pinnableslice_destroy.
                rocksdb_get_pinned(db, readOptions, kp, kn, error)
            }
        }
        guard let slice else { return nil }
        defer { rocksdb_pinnableslice_destroy(slice) }
        var length = 0
        // Ownership: the value pointer belongs to the slice and is valid until it is destroyed.
        guard let value = rocksdb_pinnableslice_value(slice, &length), length > 0 else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: value, count: length))
    }

    /// Visits every key that starts with `prefix`, in ascending byte order, until `body` returns
    /// false.
    ///
    /// The scan reads a consistent snapshot taken when it starts: writes that land during the
    /// scan are not seen. Cost: one seek, then about one step per visited key; blocks are read
    /// through the block cache.
    ///
    /// - Important: The key and value spans are valid only during the call to `body`; copy what
    ///   you keep. `body` must not call ``close()`` on this store (it would deadlock).
    /// - Throws: whatever `body` throws, unchanged (the scan stops); ``StorageError`` when the
    ///   iteration fails (``StorageError/Kind/corruption`` for a bad block) or the store is closed.
    public func scan(prefix: [UInt8], _ body: (Span<UInt8>, Span<UInt8>) throws -> Bool) throws {
        try scanRange(lower: prefix, upper: KeyBuilder.prefixEnd(prefix), body)
    }

    /// Visits every key in the half-open range `[from, to)`, in ascending byte order, until
    /// `body` returns false. An empty or inverted range visits nothing.
    ///
    /// Same snapshot, cost and lifetime rules as ``scan(prefix:_:)``.
    ///
    /// - Throws: whatever `body` throws, unchanged; ``StorageError`` when the iteration fails.
    public func scan(from lower: [UInt8], to upper: [UInt8], _ body: (Span<UInt8>, Span<UInt8>) throws -> Bool)
        throws
    {
        try scanRange(lower: lower, upper: upper, fillCache: true, body)
    }

    /// ``scan(from:to:_:)`` whose blocks do not enter the block cache (`fillCache` false): a
    /// sweep over the whole store (a verification) leaves the cache to the hot keys.
    public func scan(
        from lower: [UInt8], to upper: [UInt8], fillCache: Bool, _ body: (Span<UInt8>, Span<UInt8>) throws -> Bool
    ) throws {
        try scanRange(lower: lower, upper: upper, fillCache: fillCache, body)
    }

    private func scanRange(
        lower: [UInt8], upper: [UInt8]?, fillCache: Bool = true, _ body: (Span<UInt8>, Span<UInt8>) throws -> Bool
    ) throws {
        let db = try acquire()
        defer { lock.unlock() }
        // Ownership: per-scan read options owned here, destroyed after the iterator that uses them.
        let scanOptions = rocksdb_readoptions_create()
        defer { rocksdb_readoptions_destroy(scanOptions) }
        if !fillCache { rocksdb_readoptions_set_fill_cache(scanOptions, 0) }
        // RocksDB keeps a pointer to the upper bound (not a copy), so the bound's bytes stay
        // pinned by this closure for the whole life of the iterator.
        try withCBytes(upper ?? []) { (bp, bn) in
            if upper != nil {
                rocksdb_readoptions_set_iterate_upper_bound(scanOptions, bp, bn)
            }
            // Ownership: a new iterator owned here; destroyed before the read options and the
            // bound it points into.
            let iterator = rocksdb_create_iterator(db, scanOptions)
            defer { rocksdb_iter_destroy(iterator) }
            withCBytes(lower) { lp, ln in
                // Ownership: the seek key is read during the call only.
                rocksdb_iter_seek(iterator, lp, ln)
            }
            while rocksdb_iter_valid(iterator) != 0 {
                var keyLength = 0
                var valueLength = 0
                // Ownership: key and value point into the iterator's current block; they are valid
                // until the iterator moves, which is why the spans must not escape `body`.
                let keyPointer = rocksdb_iter_key(iterator, &keyLength)
                let valuePointer = rocksdb_iter_value(iterator, &valueLength)
                let keyBuffer = UnsafeBufferPointer(
                    start: UnsafeRawPointer(keyPointer)?.assumingMemoryBound(to: UInt8.self), count: keyLength)
                let valueBuffer = UnsafeBufferPointer(
                    start: UnsafeRawPointer(valuePointer)?.assumingMemoryBound(to: UInt8.self), count: valueLength)
                if try !body(Span(_unsafeElements: keyBuffer), Span(_unsafeElements: valueBuffer)) { return }
                rocksdb_iter_next(iterator)
            }
            try rocksCall("scan \(path)") { error in
                // Ownership: sets *error to a new string (freed by rocksCall) when iteration stopped
                // on an error rather than at the end of the range.
                rocksdb_iter_get_error(iterator, error)
            }
        }
    }

    /// The value of a RocksDB property such as `rocksdb.estimate-num-keys`,
    /// `rocksdb.estimate-live-data-size`, `rocksdb.live-sst-files-size` or `rocksdb.stats`; nil
    /// when the name is unknown or the store is closed.
    public func property(_ name: String) -> String? {
        guard let db = try? acquire() else { return nil }
        defer { lock.unlock() }
        // Ownership: returns a malloc'ed string owned by the caller (nil for an unknown name).
        guard let value = name.withCString({ rocksdb_property_value(db, $0) }) else { return nil }
        defer { rocksdb_free(value) }
        return String(cString: value)
    }

    /// RocksDB's estimate of the on-disk bytes of keys in `[from, to)`, from table-file index
    /// positions: no data is read. Writes still in the memtable (not yet flushed) are not counted.
    ///
    /// - Throws: ``StorageError`` when RocksDB reports an error or the store is closed.
    public func approximateSize(from lower: [UInt8], to upper: [UInt8]) throws(StorageError) -> UInt64 {
        let db = try acquire()
        defer { lock.unlock() }
        return try withCBytes(lower) { (lp, ln) throws(StorageError) in
            try withCBytes(upper) { (up, un) throws(StorageError) in
                var starts: [UnsafePointer<CChar>?] = [lp]
                var startLengths = [ln]
                var limits: [UnsafePointer<CChar>?] = [up]
                var limitLengths = [un]
                var sizes: [UInt64] = [0]
                try rocksCall("estimate a range size in \(path)") { error in
                    // Ownership: all arrays are read or written during the call only.
                    rocksdb_approximate_sizes(db, 1, &starts, &startLengths, &limits, &limitLengths, &sizes, error)
                }
                return sizes[0]
            }
        }
    }

    /// ``approximateSize(from:to:)`` over the keys starting with `prefix`. An empty prefix
    /// answers with `rocksdb.live-sst-files-size` (the whole store's table files).
    ///
    /// - Throws: ``StorageError`` when RocksDB reports an error or the store is closed.
    public func approximateSize(prefix: [UInt8]) throws(StorageError) -> UInt64 {
        if prefix.isEmpty {
            return property("rocksdb.live-sst-files-size").flatMap { UInt64($0) } ?? 0
        }
        let end = KeyBuilder.prefixEnd(prefix) ?? prefix + [UInt8](repeating: 0xFF, count: 256)
        return try approximateSize(from: prefix, to: end)
    }

    /// Writes the memtable to a table file and waits for it. Not needed for durability (the
    /// write-ahead log already has every write); useful before measuring sizes, in tests, and at
    /// shutdown to shorten the next recovery.
    ///
    /// - Throws: ``StorageError`` when the table file cannot be written or the store is closed.
    public func flush() throws(StorageError) {
        let db = try acquire()
        defer { lock.unlock() }
        // Ownership: flush options created and destroyed here.
        let flushOptions = rocksdb_flushoptions_create()
        defer { rocksdb_flushoptions_destroy(flushOptions) }
        rocksdb_flushoptions_set_wait(flushOptions, 1)
        try rocksCall("flush \(path)") { error in rocksdb_flush(db, flushOptions, error) }
    }

    /// Writes a consistent, openable copy of the store to `directory` (which must not exist):
    /// table files are hard-linked where the file system allows, so it is cheap. The copy holds
    /// every write that returned before the call, and nothing half-written: opening it as a
    /// `StateStore` gives the state of some complete commit.
    ///
    /// - Throws: ``StorageError`` when the directory exists or cannot be written.
    public func checkpoint(to directory: String) throws(StorageError) {
        let db = try acquire()
        defer { lock.unlock() }
        // Ownership: the checkpoint object is ours to rocksdb_checkpoint_object_destroy().
        var checkpoint: OpaquePointer? = nil
        try rocksCall("prepare a checkpoint of \(path)") { error in checkpoint = rocksdb_checkpoint_object_create(db, error) }
        guard let checkpoint else { throw StorageError(kind: .other, message: "RocksDB returned no checkpoint object") }
        defer { rocksdb_checkpoint_object_destroy(checkpoint) }
        // log_size_for_flush 0: flush the memtable first so the copy needs no log replay.
        try rocksCall("write a checkpoint of \(path) to \(directory)") { error in
            rocksdb_checkpoint_create(checkpoint, directory, 0, error)
        }
    }

    /// Closes and opens the database again at the same path with the same options: how a store
    /// recovers after a write failed for lack of space or a read-only file system (RocksDB then
    /// refuses every further write until reopened; the C API has no `Resume`). What was written
    /// before the failure is recovered from the log as on any open.
    ///
    /// - Throws: ``StorageError`` when the open fails (the store is then closed; call again).
    public func reopen() throws(StorageError) {
        lock.lockExclusive()
        defer { lock.unlock() }
        if let db {
            // Ownership: rocksdb_close frees the handle and releases the LOCK file.
            rocksdb_close(db)
            self.db = nil
        }
        db = try Self.openDatabase(path: path, options: options, compression: compression)
    }

    /// Closes the database and releases its `LOCK`, after waiting for calls in flight. Later
    /// calls throw ``StorageError/Kind/invalidArgument``; closing twice does nothing. `deinit`
    /// closes too.
    ///
    /// Every write that returned is already in the log, so nothing is lost by closing without a
    /// ``flush()``. Cost: waits for running background flushes and compactions to stop.
    public func close() {
        lock.lockExclusive()
        defer { lock.unlock() }
        guard let db else { return }
        // Ownership: the store is the handle's only owner; rocksdb_close frees it and releases
        // the LOCK file. The pointer is dropped so nothing can use it afterwards.
        rocksdb_close(db)
        self.db = nil
    }

    /// Takes the shared side of the lock and returns the open handle.
    ///
    /// - Important: On success the caller must call `lock.unlock()` (use `defer`).
    private func acquire() throws(StorageError) -> OpaquePointer {
        lock.lockShared()
        guard let db else {
            lock.unlock()
            throw StorageError(kind: .invalidArgument, message: "the state store at \(path) is closed")
        }
        return db
    }

    /// Opens RocksDB with recstream's fixed settings plus `options`.
    ///
    /// - Important: Every options handle made here is destroyed before returning. That is safe
    ///   because RocksDB copies what it keeps: `rocksdb_open` copies the `Options`, the table
    ///   factory copies the table options, and the block cache and filter policy are held by
    ///   shared pointers inside them.
    private static func openDatabase(
        path: String, options: StoreOptions, compression: StoreOptions.Compression
    ) throws(StorageError) -> OpaquePointer {
        // Ownership: created here, destroyed by the defer; rocksdb_open copies it.
        let dbOptions = rocksdb_options_create()
        defer { rocksdb_options_destroy(dbOptions) }
        rocksdb_options_set_create_if_missing(dbOptions, options.createIfMissing ? 1 : 0)
        rocksdb_options_set_paranoid_checks(dbOptions, options.paranoidChecks ? 1 : 0)
        rocksdb_options_set_compression(dbOptions, compression.rocksDBValue)
        rocksdb_options_set_write_buffer_size(dbOptions, options.writeBufferBytes)
        // Level sizes follow the data, so space amplification stays near 1.1 as the store grows.
        rocksdb_options_set_level_compaction_dynamic_level_bytes(dbOptions, 1)
        // Bound the info log: at most 4 files of 16 MiB.
        rocksdb_options_set_keep_log_file_num(dbOptions, 4)
        rocksdb_options_set_max_log_file_size(dbOptions, 16 << 20)
        // Write table files back to disk in 1 MiB steps instead of one burst at the end.
        rocksdb_options_set_bytes_per_sync(dbOptions, 1 << 20)

        // Ownership: created here, destroyed by the defer; the table factory copies it.
        let tableOptions = rocksdb_block_based_options_create()
        defer { rocksdb_block_based_options_destroy(tableOptions) }
        // Ownership: the table options take a shared reference to the cache, so this handle can
        // be destroyed at once; the cache lives as long as the database uses it.
        let cache = rocksdb_cache_create_lru(options.blockCacheBytes)
        rocksdb_block_based_options_set_block_cache(tableOptions, cache)
        rocksdb_cache_destroy(cache)
        // Ownership: set_filter_policy takes ownership of the policy; it must not be destroyed here.
        rocksdb_block_based_options_set_filter_policy(tableOptions, rocksdb_filterpolicy_create_bloom_full(10))
        // Index and filter blocks live in the block cache (high priority, level 0 pinned) instead
        // of beside it, so the table readers' memory is bounded by the cache rather than growing
        // with the files on disk during a long run.
        rocksdb_block_based_options_set_cache_index_and_filter_blocks(tableOptions, 1)
        rocksdb_block_based_options_set_cache_index_and_filter_blocks_with_high_priority(tableOptions, 1)
        rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(tableOptions, 1)
        rocksdb_options_set_block_based_table_factory(dbOptions, tableOptions)

        let db = try rocksCall("open the state store at \(path)") { error in
            // Ownership: returns a new database handle owned by the caller, or nil with *error set.
            path.withCString { rocksdb_open(dbOptions, $0, error) }
        }
        guard let db else {
            throw StorageError(kind: .other, message: "open the state store at \(path): RocksDB returned no handle")
        }
        return db
    }

    /// `mkdir -p`: creates `path` and any missing parents with mode 0755.
    ///
    /// - Throws: ``StorageError/Kind/invalidArgument`` when a component exists and is not a
    ///   directory; otherwise the kind of the failing `mkdir`'s errno.
    private static func createDirectories(_ path: String) throws(StorageError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += component
            if mkdir(prefix, 0o755) != 0 {
                let code = errno
                if code == EEXIST {
                    var info = stat()
                    if stat(prefix, &info) == 0, (info.st_mode & S_IFMT) != S_IFDIR {
                        throw StorageError(
                            kind: .invalidArgument,
                            message: "open the state store at \(path): \(prefix) exists and is not a directory")
                    }
                } else {
                    throw StorageError(errno: code, context: "create the state directory \(prefix)")
                }
            }
            prefix += "/"
        }
    }

    /// `path` with symbolic links and `.`/`..` resolved, so two spellings of one directory open
    /// the same store and meet the same lock; `path` unchanged when it does not exist yet.
    private static func resolve(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        // Ownership: realpath with a nil buffer returns a malloc'ed string the caller frees.
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

extension WriteBatch {
    /// Runs `body` with the batch's handle while the batch is borrowed, so the batch cannot be
    /// destroyed before `body` returns.
    borrowing func withHandle<R>(_ body: (OpaquePointer) throws(StorageError) -> R) throws(StorageError) -> R {
        try body(handle)
    }
}
