/// Variable-length byte records, at most one per dense index, packed into fixed-size segments:
/// the memory behind ``ExposureFilters``. A Swift array costs 32 bytes of header and a user's
/// filter is often tens of bytes, so records share segments instead of owning arrays.
///
/// Layout: the arena is one byte address space cut into segments of ``segmentBytes``, each its
/// own array, allocated once and never outgrown (a record may straddle two segments; every access
/// goes through the arena). Growing the arena appends a segment, so no buffer is ever copied into
/// a larger one: with glibc, an outgrown buffer below its mmap threshold stays resident after it
/// is freed, which made a single growing array cost about twice its size in resident memory.
/// Record i occupies `[start, start + length)`; its slot is the length rounded up to 8 bytes, at
/// an 8-byte aligned start (kept as start / 8 in a `UInt32`, so an arena addresses 32 GiB). A
/// record grows in place while its slot has room or it is the last in the arena; otherwise it
/// moves to a new slot, and the old one is freed. Freed slots of at most ``recycledSlotLimit``
/// bytes go on a free list per size (linked through their first 4 bytes) and are reused before
/// the arena grows. Larger freed slots, and any free slot not reused, are garbage until
/// ``compactIfWasteful()`` finds it at 1/``compactionDivisor`` of the arena and slides the live
/// records down in address order, in place, then frees the segments left empty.
///
/// Cost: an access is two bounds-checked loads (the segment, then the byte); growing a record
/// moves the bytes after the insertion point, or copies the record when it changes slot (a
/// temporary array: Core has no unsafe copies); a compaction sorts the live records by address
/// and moves each once. Spare memory: at most one segment's unused tail.
struct ExposureRecordArena: Sendable {
    /// Garbage (free slots included) may reach 1/16 of the arena before a compaction.
    static let compactionDivisor = 16
    /// Freed slots up to this many bytes are kept on free lists by size.
    static let recycledSlotLimit = 2048
    /// log2 of ``segmentBytes``.
    static let segmentShift = 15
    /// Bytes per segment (32 KiB: below glibc's mmap threshold, so segments come from the heap and
    /// a freed one is reused whole by the next).
    static let segmentBytes = 1 << segmentShift
    private static let segmentMask = segmentBytes - 1

    /// The arena's bytes, ``segmentBytes`` per segment. Bytes past ``end`` are zero.
    private var segments: [[UInt8]] = []
    /// One past the last byte in use. The first 8 bytes belong to no record, so that a start of 0
    /// means "none".
    private var end = 8
    /// start / 8 of each index's record; 0 when it has none.
    private var starts: [UInt32] = []
    /// Length in bytes of each index's record.
    private var lengths: [UInt32] = []
    /// For each slot size / 8 up to the limit, start / 8 of the first free slot (0: none).
    private var freeSlots = [UInt32](repeating: 0, count: recycledSlotLimit / 8 + 1)
    /// Bytes below ``end`` that belong to no record (free slots included).
    private(set) var garbageBytes = 0
    /// Indices with a record.
    private(set) var recordCount = 0

    /// One past the largest index that has had a record.
    var indexCount: Int { starts.count }

    @inline(__always) private static func roundUp(_ n: Int) -> Int { (n + 7) & ~7 }

    /// Makes `index` addressable (without a record). The offsets and lengths grow by 1/16.
    @inline(__always) mutating func ensureIndex(_ index: Int) {
        guard index >= starts.count else { return }
        let needed = index + 1
        if needed > starts.capacity {
            let capacity = needed + needed / 16
            starts.reserveCapacity(capacity)
            lengths.reserveCapacity(capacity)
        }
        starts.append(contentsOf: repeatElement(0, count: needed - starts.count))
        lengths.append(contentsOf: repeatElement(0, count: needed - lengths.count))
    }

    /// The byte offset of `index`'s record, or nil when it has none.
    @inline(__always) func start(of index: Int) -> Int? {
        guard index < starts.count, starts[index] != 0 else { return nil }
        return Int(starts[index]) &* 8
    }

    /// The length in bytes of `index`'s record (0 without one).
    @inline(__always) func length(of index: Int) -> Int { index < lengths.count ? Int(lengths[index]) : 0 }

    // MARK: Bytes

    /// The byte at `offset` (below the arena's end).
    @inline(__always) subscript(offset: Int) -> UInt8 {
        get { segments[offset >> Self.segmentShift][offset & Self.segmentMask] }
        set { segments[offset >> Self.segmentShift][offset & Self.segmentMask] = newValue }
    }

    /// A copy of the bytes in `range`.
    func bytes(in range: Range<Int>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(range.count)
        var offset = range.lowerBound
        while offset < range.upperBound {
            let segment = offset >> Self.segmentShift
            let within = offset & Self.segmentMask
            let n = min(Self.segmentBytes - within, range.upperBound - offset)
            out.append(contentsOf: segments[segment][within..<(within + n)])
            offset += n
        }
        return out
    }

    @inline(__always) func uint16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) | UInt16(self[offset + 1]) << 8
    }

    @inline(__always) func uint32(at offset: Int) -> UInt32 {
        UInt32(self[offset]) | UInt32(self[offset + 1]) << 8 | UInt32(self[offset + 2]) << 16
            | UInt32(self[offset + 3]) << 24
    }

    /// A signed 40-bit little-endian integer.
    @inline(__always) func int40(at offset: Int) -> Int64 {
        var value: UInt64 = 0
        for i in 0..<5 { value |= UInt64(self[offset + i]) << UInt64(8 * i) }
        return Int64(bitPattern: value << 24) >> 24
    }

    @inline(__always) mutating func setUInt8(_ value: UInt8, at offset: Int) { self[offset] = value }

    @inline(__always) mutating func setUInt16(_ value: UInt16, at offset: Int) {
        self[offset] = UInt8(truncatingIfNeeded: value)
        self[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
    }

    @inline(__always) mutating func setUInt32(_ value: UInt32, at offset: Int) {
        for i in 0..<4 { self[offset + i] = UInt8(truncatingIfNeeded: value >> UInt32(8 * i)) }
    }

    /// Writes the low 40 bits of `value` (which must fit in them, signed).
    @inline(__always) mutating func setInt40(_ value: Int64, at offset: Int) {
        precondition(value >= -(1 << 39) && value < 1 << 39, "\(value) does not fit in 40 bits")
        let bits = UInt64(bitPattern: value)
        for i in 0..<5 { self[offset + i] = UInt8(truncatingIfNeeded: bits >> UInt64(8 * i)) }
    }

    /// ORs `mask` into the byte at `offset`; returns whether that set a new bit.
    @inline(__always) mutating func setBits(_ mask: UInt8, at offset: Int) -> Bool {
        let old = self[offset]
        self[offset] = old | mask
        return old & mask != mask
    }

    /// Copies `source` into the arena at `offset`, a segment's run at a time.
    mutating func copy(_ source: ArraySlice<UInt8>, to offset: Int) {
        var from = source.startIndex
        var to = offset
        while from < source.endIndex {
            let segment = to >> Self.segmentShift
            let within = to & Self.segmentMask
            let n = min(Self.segmentBytes - within, source.endIndex - from)
            segments[segment].replaceSubrange(within..<(within + n), with: source[from..<(from + n)])
            from += n
            to += n
        }
    }

    /// Zeroes `count` bytes at `offset`.
    private mutating func zero(_ count: Int, at offset: Int) {
        for i in offset..<(offset + count) { self[i] = 0 }
    }

    // MARK: Slots

    /// Moves ``end`` to `newEnd`, appending zeroed segments as needed.
    private mutating func extend(to newEnd: Int) {
        while segments.count << Self.segmentShift < newEnd {
            segments.append([UInt8](repeating: 0, count: Self.segmentBytes))
        }
        end = newEnd
    }

    /// A zeroed slot of `size` bytes (a multiple of 8): a recycled one of that size, or new bytes
    /// at the end of the arena.
    private mutating func allocate(_ size: Int) -> Int {
        if size <= Self.recycledSlotLimit {
            let head = freeSlots[size / 8]
            if head != 0 {
                let start = Int(head) * 8
                freeSlots[size / 8] = uint32(at: start)
                zero(8, at: start)
                garbageBytes -= size
                return start
            }
        }
        let start = end
        extend(to: end + size)
        return start
    }

    /// Frees the slot of `size` bytes at `start`: the arena's end moves back when it is the last
    /// one, otherwise it becomes garbage, recycled if small enough. Freed bytes are zeroed (a
    /// recycled slot except the 4 bytes of its link, zeroed when it is taken).
    private mutating func release(_ start: Int, size: Int) {
        guard size > 0 else { return }
        if start + size == end {
            zero(size, at: start)
            end = start
            return
        }
        garbageBytes += size
        if size <= Self.recycledSlotLimit {
            zero(size - 4, at: start + 4)
            setUInt32(freeSlots[size / 8], at: start)
            freeSlots[size / 8] = Self.startUnits(start)
        }
    }

    // MARK: Records

    /// Gives `index` (which must have no record) a zeroed record of `length` bytes. Returns its
    /// start.
    @discardableResult
    mutating func create(_ index: Int, length: Int) -> Int {
        precondition(start(of: index) == nil && length > 0, "record \(index) exists or is empty")
        precondition(length <= Int(UInt32.max), "record \(index) of \(length) bytes exceeds 4 GiB")
        ensureIndex(index)
        let start = allocate(Self.roundUp(length))
        starts[index] = Self.startUnits(start)
        lengths[index] = UInt32(length)
        recordCount += 1
        return start
    }

    /// Frees `index`'s record; the last record freed frees every segment.
    mutating func free(_ index: Int) {
        guard let start = start(of: index) else { return }
        release(start, size: Self.roundUp(Int(lengths[index])))
        starts[index] = 0
        lengths[index] = 0
        recordCount -= 1
        if recordCount == 0 {
            segments = []
            end = 8
            garbageBytes = 0
            for i in freeSlots.indices { freeSlots[i] = 0 }
        }
    }

    /// Inserts `count` zero bytes at `offset` (relative to the record, at most its length) into
    /// `index`'s record, moving the bytes after it. The record may move: returns its new start.
    @discardableResult
    mutating func insertZeros(_ count: Int, at offset: Int, in index: Int) -> Int {
        guard let start = start(of: index) else { preconditionFailure("no record \(index)") }
        let length = Int(lengths[index])
        precondition(count >= 0 && offset >= 0 && offset <= length, "insert \(count) at \(offset) of \(length)")
        let newLength = length + count
        precondition(newLength <= Int(UInt32.max), "record \(index) would exceed 4 GiB")
        let size = Self.roundUp(length)
        let newSize = Self.roundUp(newLength)
        if newSize > size {
            if start + size == end {
                extend(to: end + newSize - size)
            } else {
                // A new slot, with the gap already open.
                let record = bytes(in: start..<(start + length))
                release(start, size: size)
                let moved = allocate(newSize)
                copy(record[0..<offset], to: moved)
                copy(record[offset...], to: moved + offset + count)
                starts[index] = Self.startUnits(moved)
                lengths[index] = UInt32(newLength)
                return moved
            }
        }
        move(from: start + offset, to: start + offset + count, count: length - offset)
        zero(count, at: start + offset)
        lengths[index] = UInt32(newLength)
        return start
    }

    /// Removes `count` bytes at `offset` (relative to the record) from `index`'s record, moving
    /// the bytes after them back. The record stays where it is; its slot's unused tail is freed.
    mutating func remove(_ count: Int, at offset: Int, in index: Int) {
        guard let start = start(of: index) else { preconditionFailure("no record \(index)") }
        let length = Int(lengths[index])
        precondition(count >= 0 && offset >= 0 && offset + count <= length, "remove \(count) at \(offset) of \(length)")
        move(from: start + offset + count, to: start + offset, count: length - offset - count)
        let newLength = length - count
        let size = Self.roundUp(length)
        let newSize = Self.roundUp(newLength)
        // The bytes between the new length and the slot's end are no longer the record's.
        zero(newSize - newLength, at: start + newLength)
        release(start + newSize, size: size - newSize)
        lengths[index] = UInt32(newLength)
    }

    /// Copies `count` bytes from `source` to `target` within the arena (ranges may overlap).
    private mutating func move(from source: Int, to target: Int, count: Int) {
        guard count > 0, source != target else { return }
        if count > 64 {
            // Through a temporary: one allocation, but bulk copies instead of a byte loop.
            let chunk = bytes(in: source..<(source + count))
            copy(chunk[...], to: target)
        } else if target < source {
            for i in 0..<count { self[target + i] = self[source + i] }
        } else {
            for i in stride(from: count - 1, through: 0, by: -1) { self[target + i] = self[source + i] }
        }
    }

    @inline(__always) private static func startUnits(_ start: Int) -> UInt32 {
        precondition(start / 8 <= Int(UInt32.max), "exposure record arena past 32 GiB")
        return UInt32(start / 8)
    }

    /// Compacts when garbage is at least 1/``compactionDivisor`` of the arena. Records move.
    mutating func compactIfWasteful() {
        if garbageBytes > 0 && garbageBytes * Self.compactionDivisor >= end { compact() }
    }

    /// Slides every live record down to the lowest free address, in address order (so a record
    /// only moves down and never over one not yet moved), then frees the segments past the new
    /// end. In place: the only extra memory is the list of live indices.
    private mutating func compact() {
        // Start (in 8-byte units) above, index below: one plain integer sort, in address order
        // (starts are distinct).
        var order: [UInt64] = []
        order.reserveCapacity(recordCount)
        for index in starts.indices where starts[index] != 0 { order.append(UInt64(starts[index]) << 32 | UInt64(index)) }
        order.sort()
        var cursor = 8
        for index in order.lazy.map({ Int(truncatingIfNeeded: UInt32(truncatingIfNeeded: $0)) }) {
            let start = Int(starts[index]) * 8
            let size = Self.roundUp(Int(lengths[index]))
            if start != cursor {
                move(from: start, to: cursor, count: size)
                starts[index] = Self.startUnits(cursor)
            }
            cursor += size
        }
        zero(end - cursor, at: cursor)
        end = cursor
        let kept = (end + Self.segmentMask) >> Self.segmentShift
        segments.removeLast(segments.count - kept)
        garbageBytes = 0
        for i in freeSlots.indices { freeSlots[i] = 0 }
    }

    /// Every heap byte held: the segments, the arrays' capacities and headers.
    var approximateBytes: Int {
        4 * arrayHeaderBytes + segments.capacity * MemoryLayout<[UInt8]>.stride
            + segments.count * (arrayHeaderBytes + Self.segmentBytes)
            + (starts.capacity + lengths.capacity + freeSlots.capacity) * 4
    }
}
