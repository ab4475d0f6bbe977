import CRocksDB

/// An ordered list of puts and deletes that ``StateStore/write(_:)`` applies atomically: after a
/// crash either every operation of the batch is visible or none is. The runtime puts a commit's
/// state changes and the Kafka offsets they reflect into one batch.
///
/// Operations apply in the order they were added; a later operation on the same key wins.
/// Building a batch costs one copy of each key and value into RocksDB's buffer; memory grows with
/// ``byteSize`` until the batch is written or dropped.
///
/// - Important: A batch has exactly one owner (it is `~Copyable`); writing it consumes it and
///   dropping it unwritten discards every operation. It is `Sendable` so a commit can be handed to
///   the storage executor; being non-copyable, it can only be moved, never shared.
public struct WriteBatch: ~Copyable, @unchecked Sendable {
    /// The owned `rocksdb_writebatch_t`; freed in `deinit`.
    let handle: OpaquePointer

    /// An empty batch.
    public init() {
        // Ownership: rocksdb_writebatch_create returns a new batch owned by the caller; it is
        // released in deinit with rocksdb_writebatch_destroy.
        handle = rocksdb_writebatch_create()
    }

    deinit {
        // Ownership: this struct is the batch's only owner, so this is the one destroy.
        rocksdb_writebatch_destroy(handle)
    }

    /// Sets `key` to `value`, replacing any earlier value. Both are copied.
    public mutating func put(_ key: [UInt8], _ value: [UInt8]) {
        key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in put(k, v) }
        }
    }

    /// Sets `key` to `value` without building arrays first. Both are copied.
    public mutating func put(_ key: Span<UInt8>, _ value: Span<UInt8>) {
        key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in put(k, v) }
        }
    }

    /// Sets `key` to `value` from raw memory. Both are copied before this returns, so the buffers
    /// may be reused immediately.
    public mutating func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        withCBytes(key) { kp, kn in
            withCBytes(value) { vp, vn in
                // Ownership: RocksDB copies key and value into the batch's buffer; it keeps no pointer.
                rocksdb_writebatch_put(handle, kp, kn, vp, vn)
            }
        }
    }

    /// Removes `key`. Removing an absent key is not an error.
    public mutating func delete(_ key: [UInt8]) {
        withCBytes(key) { kp, kn in
            // Ownership: the key is copied into the batch.
            rocksdb_writebatch_delete(handle, kp, kn)
        }
    }

    /// Removes every key in the half-open range `[from, to)`. Cost: one range tombstone, whatever
    /// the number of keys covered; reads skip covered keys until compaction drops them.
    ///
    /// - Important: `from` must not sort after `to`; an inverted range is rejected by
    ///   ``StateStore/write(_:)`` with ``StorageError/Kind/invalidArgument``.
    public mutating func deleteRange(from: [UInt8], to: [UInt8]) {
        withCBytes(from) { fp, fn in
            withCBytes(to) { tp, tn in
                // Ownership: both bounds are copied into the batch.
                rocksdb_writebatch_delete_range(handle, fp, fn, tp, tn)
            }
        }
    }

    /// Removes every key that starts with `prefix` (a ``deleteRange(from:to:)`` up to the prefix's
    /// end; with an empty or all-`0xFF` prefix, deletes from `prefix` up to the end of the
    /// keyspace as far as ``KeyBuilder/prefixEnd(_:)`` allows).
    public mutating func deletePrefix(_ prefix: [UInt8]) {
        let end = KeyBuilder.prefixEnd(prefix) ?? prefix + [UInt8](repeating: 0xFF, count: 256)
        deleteRange(from: prefix, to: end)
    }

    /// The number of operations added (puts, deletes and range deletes).
    public var count: Int { Int(rocksdb_writebatch_count(handle)) }

    /// The size in bytes of the batch's serialized form, about the keys and values plus a few
    /// bytes per operation. This is what the write-ahead log receives.
    public var byteSize: Int {
        var size = 0
        // Ownership: the returned pointer is the batch's internal buffer; only its length is read.
        _ = rocksdb_writebatch_data(handle, &size)
        return size
    }
}

/// Calls `body` with a `const char *` and length for `bytes`, using a valid one-byte address for
/// an empty buffer (whose base address may be nil) so RocksDB never sees a null pointer.
@inline(__always)
func withCBytes<R, E: Error>(
    _ bytes: UnsafeRawBufferPointer, _ body: (UnsafePointer<CChar>, Int) throws(E) -> R
) throws(E) -> R {
    if let base = bytes.baseAddress, bytes.count > 0 {
        return try body(base.assumingMemoryBound(to: CChar.self), bytes.count)
    }
    var empty: CChar = 0
    return try withUnsafePointer(to: &empty) { (p) throws(E) -> R in try body(p, 0) }
}

/// `withCBytes` over an array's bytes, keeping `body`'s typed error.
@inline(__always)
func withCBytes<R, E: Error>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>, Int) throws(E) -> R) throws(E) -> R {
    let result: Result<R, E> = bytes.withUnsafeBytes { raw in
        do throws(E) {
            return .success(try withCBytes(raw, body))
        } catch {
            return .failure(error)
        }
    }
    return try result.get()
}
