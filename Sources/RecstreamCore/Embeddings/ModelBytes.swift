/// Immutable bytes a model is read from in place: a model file the runtime mapped read-only, or a
/// copy of an array (tests, tools). This is the core's one reader of raw memory: every load checks
/// its bounds (a failed check traps with the offset: the format's validation keeps reads inside,
/// so a trap is a bug, not bad input), works at any alignment, and reads little-endian.
///
/// Cost: a load is one bounds check and one unaligned load; a row of floats is one check for the
/// whole row. Nothing is copied into the heap.
///
/// - Important: The bytes must not change while any copy of the value lives (a published model
///   file is never written again). Copies share the storage; the last one releases it: it frees
///   the copy, or drops the owner that the runtime handed in (whose `deinit` unmaps the file).
public struct ModelBytes: Sendable {
    @safe final class Storage: @unchecked Sendable {
        let base: UnsafeRawPointer
        let count: Int
        /// Keeps the memory valid (the runtime's file mapping); nil for a copy this type allocated.
        let owner: (any AnyObject & Sendable)?

        init(base: UnsafeRawPointer, count: Int, owner: (any AnyObject & Sendable)?) {
            unsafe self.base = base
            self.count = count
            self.owner = owner
        }

        deinit {
            if owner == nil { unsafe UnsafeMutableRawPointer(mutating: base).deallocate() }
        }
    }

    private let storage: Storage

    /// Bytes 0..<count.
    public var count: Int { storage.count }

    /// The `count` bytes at `start`, valid and unchanging for as long as `owner` lives.
    /// - Important: The caller guarantees that; `owner` is retained by every copy of the value.
    @unsafe public init(unsafeStart start: UnsafeRawPointer, count: Int, owner: any AnyObject & Sendable) {
        precondition(count >= 0, "negative byte count \(count)")
        storage = unsafe Storage(base: start, count: count, owner: owner)
    }

    /// A copy of `bytes` in memory this value owns (64-byte aligned, as a mapping's pages are).
    public init(copying bytes: [UInt8]) {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        unsafe bytes.withUnsafeBytes { source in
            if let from = source.baseAddress { unsafe memory.copyMemory(from: from, byteCount: source.count) }
        }
        storage = unsafe Storage(base: UnsafeRawPointer(memory), count: bytes.count, owner: nil)
    }

    @inline(__always) private func check(_ offset: Int, _ length: Int) {
        precondition(
            offset >= 0 && length >= 0 && offset <= storage.count - length,
            "read of \(length) bytes at \(offset) of \(storage.count)")
    }

    @inline(__always) func uint32(at offset: Int) -> UInt32 {
        check(offset, 4)
        return UInt32(littleEndian: unsafe storage.base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always) func int32(at offset: Int) -> Int32 { Int32(bitPattern: uint32(at: offset)) }

    @inline(__always) func uint64(at offset: Int) -> UInt64 {
        check(offset, 8)
        return UInt64(littleEndian: unsafe storage.base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inline(__always) func int64(at offset: Int) -> Int64 { Int64(bitPattern: uint64(at: offset)) }

    /// The 8 floats at `offset` (IEEE-754 binary32, little-endian).
    @inline(__always) func chunk(at offset: Int) -> SIMD8<Float> {
        check(offset, 32)
        return loadChunk(offset)
    }

    /// `chunks` chunks at `offset`, one bounds check for all of them.
    func chunks(at offset: Int, count chunks: Int) -> [SIMD8<Float>] {
        check(offset, 32 * chunks)
        var out: [SIMD8<Float>] = []
        out.reserveCapacity(chunks)
        for k in 0..<chunks { out.append(loadChunk(offset + 32 * k)) }
        return out
    }

    /// Σ a·b of the row of `a` at chunk `ao` and the row of `chunks` chunks at byte `offset`,
    /// with ``VectorMath/dot(_:_:_:_:chunks:)``'s exact order of operations (the same bits as the
    /// same row in an array).
    @inline(__always) func dot(_ a: [SIMD8<Float>], _ ao: Int, at offset: Int, chunks: Int) -> Float {
        check(offset, 32 * chunks)
        if chunks == 4 {
            let s =
                a[ao] * loadChunk(offset) + a[ao + 1] * loadChunk(offset + 32)
                + (a[ao + 2] * loadChunk(offset + 64) + a[ao + 3] * loadChunk(offset + 96))
            return s.sum()
        }
        var acc = SIMD8<Float>()
        for k in 0..<chunks { acc += a[ao + k] * loadChunk(offset + 32 * k) }
        return acc.sum()
    }

    /// Calls `body` with bytes `range` (for hashing in place).
    func withSpan<R>(_ range: Range<Int>, _ body: (Span<UInt8>) throws(StateDecodingError) -> R)
        throws(StateDecodingError) -> R
    {
        check(range.lowerBound, range.count)
        let start = unsafe storage.base.advanced(by: range.lowerBound).assumingMemoryBound(to: UInt8.self)
        let span = unsafe Span<UInt8>(_unsafeStart: start, count: range.count)
        return try body(span)
    }

    /// A copy of bytes `range` in the heap (a header; a format-1 blob to decode).
    func copy(_ range: Range<Int>) -> [UInt8] {
        check(range.lowerBound, range.count)
        return unsafe [UInt8](unsafeUninitializedCapacity: range.count) { buffer, initialized in
            if let target = buffer.baseAddress, range.count > 0 {
                unsafe UnsafeMutableRawPointer(target).copyMemory(
                    from: storage.base.advanced(by: range.lowerBound), byteCount: range.count)
            }
            initialized = range.count
        }
    }

    /// Bounds already checked by the caller.
    @inline(__always) private func loadChunk(_ offset: Int) -> SIMD8<Float> {
        #if _endian(little)
            return unsafe storage.base.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
        #else
            var v = SIMD8<Float>()
            for j in 0..<8 {
                let bits = unsafe storage.base.loadUnaligned(fromByteOffset: offset + 4 * j, as: UInt32.self)
                v[j] = Float(bitPattern: UInt32(littleEndian: bits))
            }
            return v
        #endif
    }
}
