/// Variable-length byte records, at most one per dense index, packed into one byte array: the
/// memory behind ``ExposureFilters``. A Swift array costs 32 bytes of header and a user's filter
/// is often tens of bytes, so records share one allocation instead of owning arrays.
///
/// Layout: record i occupies `bytes[start, start + length)`; its slot is the length rounded up to
/// 8 bytes, at an 8-byte aligned start (kept as start / 8 in a `UInt32`, so an arena addresses
/// 32 GiB). A record grows in place while its slot has room or it is the last in the array;
/// otherwise it moves to a new slot, and the old one is freed. Freed slots of at most
/// ``recycledSlotLimit`` bytes go on a free list per size (linked through their first 4 bytes)
/// and are reused before the array grows: records growing one fingerprint at a time hand their
/// slots to the next record of that size. Larger freed slots, and any free slot not reused, are
/// garbage until ``compactIfWasteful()`` finds it at 1/``compactionDivisor`` of the array and
/// copies the live records, in index order, into a new array. The array grows by
/// 1/``headroomDivisor`` at a time (never by Swift's doubling).
///
/// Cost: reads are one bounds-checked byte load each; growing a record moves the bytes after the
/// insertion point, or copies the record when it changes slot (a temporary array: Core has no
/// unsafe copies); a compaction copies every live record.
struct ExposureRecordArena: Sendable {
    /// Garbage (free slots included) may reach 1/16 of the array before a compaction.
    static let compactionDivisor = 16
    /// The array grows, and is compacted into, with 1/16 spare capacity.
    static let headroomDivisor = 16
    /// Freed slots up to this many bytes are kept on free lists by size.
    static let recycledSlotLimit = 2048

    /// The records. The first 8 bytes belong to no record, so that a start of 0 means "none".
    private(set) var bytes: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0]
    /// start / 8 of each index's record; 0 when it has none.
    private var starts: [UInt32] = []
    /// Length in bytes of each index's record.
    private var lengths: [UInt32] = []
    /// For each slot size / 8 up to the limit, start / 8 of the first free slot (0: none).
    private var freeSlots = [UInt32](repeating: 0, count: recycledSlotLimit / 8 + 1)
    /// Bytes of `bytes` that belong to no record (free slots included).
    private(set) var garbageBytes = 0
    /// Indices with a record.
    private(set) var recordCount = 0

    /// One past the largest index that has had a record.
    var indexCount: Int { starts.count }

    @inline(__always) private static func roundUp(_ n: Int) -> Int { (n + 7) & ~7 }

    /// Makes `index` addressable (without a record).
    @inline(__always) mutating func ensureIndex(_ index: Int) {
        guard index >= starts.count else { return }
        let needed = index + 1
        if needed > starts.capacity {
            let capacity = needed + needed / Self.headroomDivisor
            starts.reserveCapacity(capacity)
            lengths.reserveCapacity(capacity)
        }
        starts.append(contentsOf: repeatElement(0, count: needed - starts.count))
        lengths.append(contentsOf: repeatElement(0, count: needed - lengths.count))
    }

    /// The byte offset of `index`'s record in ``bytes``, or nil when it has none.
    @inline(__always) func start(of index: Int) -> Int? {
        guard index < starts.count, starts[index] != 0 else { return nil }
        return Int(starts[index]) &* 8
    }

    /// The length in bytes of `index`'s record (0 without one).
    @inline(__always) func length(of index: Int) -> Int { index < lengths.count ? Int(lengths[index]) : 0 }

    // MARK: Bytes

    @inline(__always) func uint16(at offset: Int) -> UInt16 {
        UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    @inline(__always) func uint32(at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
            | UInt32(bytes[offset + 3]) << 24
    }

    /// A signed 40-bit little-endian integer.
    @inline(__always) func int40(at offset: Int) -> Int64 {
        var value: UInt64 = 0
        for i in 0..<5 { value |= UInt64(bytes[offset + i]) << UInt64(8 * i) }
        return Int64(bitPattern: value << 24) >> 24
    }

    @inline(__always) mutating func setUInt8(_ value: UInt8, at offset: Int) { bytes[offset] = value }

    @inline(__always) mutating func setUInt16(_ value: UInt16, at offset: Int) {
        bytes[offset] = UInt8(truncatingIfNeeded: value)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
    }

    @inline(__always) mutating func setUInt32(_ value: UInt32, at offset: Int) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> UInt32(8 * i)) }
    }

    /// Writes the low 40 bits of `value` (which must fit in them, signed).
    @inline(__always) mutating func setInt40(_ value: Int64, at offset: Int) {
        precondition(value >= -(1 << 39) && value < 1 << 39, "\(value) does not fit in 40 bits")
        let bits = UInt64(bitPattern: value)
        for i in 0..<5 { bytes[offset + i] = UInt8(truncatingIfNeeded: bits >> UInt64(8 * i)) }
    }

    /// ORs `mask` into the byte at `offset`; returns whether that set a new bit.
    @inline(__always) mutating func setBits(_ mask: UInt8, at offset: Int) -> Bool {
        let old = bytes[offset]
        bytes[offset] = old | mask
        return old & mask != mask
    }

    /// Copies `source` into the arena at `offset`.
    mutating func copy(_ source: ArraySlice<UInt8>, to offset: Int) {
        bytes.replaceSubrange(offset..<(offset + source.count), with: source)
    }

    // MARK: Slots

    /// A zeroed slot of `size` bytes (a multiple of 8): a recycled one of that size, or new bytes
    /// at the end of the array.
    private mutating func allocate(_ size: Int) -> Int {
        if size <= Self.recycledSlotLimit {
            let head = freeSlots[size / 8]
            if head != 0 {
                let start = Int(head) * 8
                freeSlots[size / 8] = uint32(at: start)
                for i in start..<(start + 8) { bytes[i] = 0 }
                garbageBytes -= size
                return start
            }
        }
        let needed = bytes.count + size
        if needed > bytes.capacity { bytes.reserveCapacity(needed + needed / Self.headroomDivisor) }
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: size))
        return start
    }

    /// Frees the slot of `size` bytes at `start`: the array shrinks when it is the last one,
    /// otherwise it becomes garbage, recycled if small enough.
    private mutating func release(_ start: Int, size: Int) {
        guard size > 0 else { return }
        if start + size == bytes.count {
            bytes.removeLast(size)
            return
        }
        garbageBytes += size
        if size <= Self.recycledSlotLimit {
            // A recycled slot is zeroed when it is taken, except these 4 bytes: zero the rest now.
            for i in (start + 4)..<(start + size) { bytes[i] = 0 }
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

    /// Frees `index`'s record.
    mutating func free(_ index: Int) {
        guard let start = start(of: index) else { return }
        release(start, size: Self.roundUp(Int(lengths[index])))
        starts[index] = 0
        lengths[index] = 0
        recordCount -= 1
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
            if start + size == bytes.count {
                let needed = bytes.count + newSize - size
                if needed > bytes.capacity { bytes.reserveCapacity(needed + needed / Self.headroomDivisor) }
                bytes.append(contentsOf: repeatElement(0, count: newSize - size))
            } else {
                // A new slot, with the gap already open.
                let record = Array(bytes[start..<(start + length)])
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
        for i in (start + offset)..<(start + offset + count) { bytes[i] = 0 }
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
        release(start + newSize, size: size - newSize)
        lengths[index] = UInt32(newLength)
    }

    /// Copies `count` bytes from `source` to `target` within the array (ranges may overlap).
    private mutating func move(from source: Int, to target: Int, count: Int) {
        guard count > 0, source != target else { return }
        if count > 64 {
            // Through a temporary: one allocation, but bulk copies instead of a byte loop.
            let chunk = Array(bytes[source..<(source + count)])
            bytes.replaceSubrange(target..<(target + count), with: chunk)
        } else if target < source {
            for i in 0..<count { bytes[target + i] = bytes[source + i] }
        } else {
            for i in stride(from: count - 1, through: 0, by: -1) { bytes[target + i] = bytes[source + i] }
        }
    }

    @inline(__always) private static func startUnits(_ start: Int) -> UInt32 {
        precondition(start / 8 <= Int(UInt32.max), "exposure record arena past 32 GiB")
        return UInt32(start / 8)
    }

    /// Compacts when garbage is at least 1/``compactionDivisor`` of the array. Records move.
    mutating func compactIfWasteful() {
        if garbageBytes > 0 && garbageBytes * Self.compactionDivisor >= bytes.count { compact() }
    }

    /// Copies every live record, in index order, into a new array with the headroom spare.
    private mutating func compact() {
        let live = bytes.count - garbageBytes
        var fresh: [UInt8] = []
        fresh.reserveCapacity(live + live / Self.headroomDivisor)
        fresh.append(contentsOf: repeatElement(0, count: 8))
        for index in starts.indices where starts[index] != 0 {
            let start = Int(starts[index]) * 8
            let size = Self.roundUp(Int(lengths[index]))
            starts[index] = Self.startUnits(fresh.count)
            fresh.append(contentsOf: bytes[start..<(start + size)])
        }
        bytes = fresh
        garbageBytes = 0
        for i in freeSlots.indices { freeSlots[i] = 0 }
    }

    /// Every heap byte held: the arrays' capacities and headers.
    var approximateBytes: Int {
        4 * arrayHeaderBytes + bytes.capacity + (starts.capacity + lengths.capacity + freeSlots.capacity) * 4
    }
}
