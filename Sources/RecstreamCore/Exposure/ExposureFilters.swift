/// The exposure-filter family of a shard: one user's ``ExposureFilter`` per dense user index (as
/// ``ItemStatistics`` is keyed by item index), held compactly and persisted one record per
/// (user, slice).
///
/// The shard calls ``recordExposure(user:itemHash:at:watermark:)`` for each accepted exposure
/// (events reach families without a user index, so ``apply(_:)`` is a no-op). Queries take the
/// watermark to evaluate at. Every answer, and every bit and count, is the one a plain
/// ``ExposureFilter`` per user would give for the same calls; only the representation differs.
///
/// **Memory.** Each user's filter is one byte record in an ``ExposureRecordArena`` (no Swift
/// array per user, slice or sub-filter), with fixed-width headers so that bits and counts are
/// updated in place; payloads (Bloom bits, packed fingerprints) are the persisted bytes:
///
///     record     u16 retention days (bit 15: the user is queued for the next drain)
///                u16 slice count s, u32 offset of the newest slice, then the slices ascending
///     slice      5 bytes index (signed, little-endian), u8 flags: bits 0-5 sub-filters − 1,
///                bit 6 changed since the last drain, bit 7 a store record exists; the sub-filters
///     sub-filter fingerprints: u8 f (1...32), u8 capacity − 1, u8 count, ⌈count·f/8⌉ bytes
///                Bloom: u8 0x80, u8 k, u32 m, u32 capacity, u32 count, u32 blob id (its m/8
///                bytes of bits are a record of a second arena, so they never move with the user's)
///
/// ``approximateBytes`` counts every heap byte: the arena (records, garbage left by moved
/// records, spare capacity), 8 bytes of offset and length per user index, and the drain queues.
///
/// **Persistence.** Key = user index (big-endian `UInt32`) + slice index (big-endian `Int64` with
/// the sign bit flipped, so key order is slice order); value = ``recordVersion``, the filter's
/// retention days and slice count (varints) and the slice's ``ScalableBloomFilter`` encoding.
/// A drain writes the slices that changed since the previous one and deletes the stored slices
/// dropped since (expired, or removed by ``removeSlices(after:)``); a repeat exposure writes
/// nothing.
///
/// Expiry without a clock or a full scan: a user's own expired slices are dropped when they see
/// an exposure, and every recorded exposure also sweeps ``ExposureFilterConfiguration/sweepUsersPerExposure``
/// users round robin (``expire(watermark:maxUsers:)``), so an idle user's records are deleted
/// within users / sweep exposures after they expired. Which physical slices are held at a moment
/// depends on the sweep position (not persisted); answers never do, because lookups ignore expired
/// slices.
///
/// **Paging.** Created `paged` (a store behind it), the family is a cache of the store. A user of
/// the dictionary restored at start is not resident (``markNotResident(_:)``): before its first
/// exposure the runtime reads its slice records and ``install(user:records:)``s them, with the
/// engine lock released; a query for a user who is not resident reads the records into
/// ``stored(user:records:configuration:)`` and leaves the cache as it is. After each commit,
/// ``evict(toBytes:)`` frees clean users by the CLOCK policy (an exposure sets the user's
/// reference bit). An evicted user's expiry is kept as one minute number, so the sweep deletes
/// its records (a range delete) once every slice it had has expired, without reading them. Users
/// restored at start and never seen again keep their expired records until they are next read.
/// Paged bookkeeping: 5 bytes per user index (residency and that minute).
///
/// Per exposure: one filter insert on the user's newest slice for an in-order event (a walk over
/// the slice headers for a late one), and the sweep of a few users (O(1) each unless they have
/// slices to drop). A record that grows past its 8-byte boundary and is not last in the arena is
/// copied to a new slot (a recycled one of its size, or the arena's end).
public struct ExposureFilters: ShardFamily {
    public static let tag: UInt8 = 0x02
    public static let name = "exposure_filter"
    /// The leading byte of a slice record. (Version 1 was ``ExposureFilter/encode(into:)``, a
    /// whole filter per user record.)
    public static let recordVersion: UInt8 = 2

    public let configuration: ExposureFilterConfiguration
    private var arena = ExposureRecordArena()
    /// The bits of every Bloom sub-filter, one record per blob id: fixed-size, so they never move
    /// when a user's record grows.
    private var blobs = ExposureRecordArena()
    /// Blob ids free for reuse.
    private var freeBlobs: [UInt32] = []
    /// Users with changed slices since the last drain, each queued once per record.
    private var changedUsers: [Int32] = []
    /// Stored slices dropped since the last drain.
    private var droppedSlices: [DroppedSlice] = []
    private var sweepCursor = 0
    private let configured: Geometry

    /// Whether a store stands behind the filters: they are then a cache (see "Paging" in the
    /// type's documentation).
    public let paged: Bool
    /// Paged only, per user index (indices past the end are resident): ``notResidentFlag``,
    /// ``referencedFlag``.
    private var residency: [UInt8] = []
    /// Paged only, per user index: for a user evicted in this incarnation, the first minute of
    /// watermark at which every slice it had is expired (0: unknown, or nothing stored).
    private var storedUntilMinute: [UInt32] = []
    /// Users evicted while holding slices that have all expired since: their stored slices are
    /// deleted by the next drain (a range delete per user).
    private var expiredEvictedUsers: [Int32] = []
    private var evictHand = 0
    /// Users read from the store (paged).
    public private(set) var loads = 0
    /// Users evicted (paged).
    public private(set) var evictions = 0
    private static let notResidentFlag: UInt8 = 1
    private static let referencedFlag: UInt8 = 2

    private struct DroppedSlice: Sendable {
        var user: Int32
        var index: Int64
    }

    /// A filter's geometry: N (days), s, and the derived lengths.
    private struct Geometry: Sendable {
        var retentionDays: Int
        var sliceCount: Int
        var sliceLength: Int64
        var retention: Int64

        init(retentionDays: Int, sliceCount: Int) {
            self.retentionDays = retentionDays
            self.sliceCount = sliceCount
            sliceLength = ExposureFilterConfiguration.sliceLengthMillis(
                retentionDays: retentionDays, sliceCount: sliceCount)
            retention = Int64(retentionDays) * ExposureFilterConfiguration.millisPerDay
        }

        /// W − N, saturating: slices ending at or before it are expired.
        @inline(__always) func cutoff(_ watermark: Int64) -> Int64 {
            let (value, overflow) = watermark.subtractingReportingOverflow(retention)
            return overflow ? Int64.min : value
        }

        @inline(__always) func isLive(_ index: Int64, cutoff: Int64) -> Bool { (index + 1) * sliceLength > cutoff }
    }

    // Offsets and values of the in-memory layout (see the type's documentation).
    private static let recordHeaderBytes = 8
    private static let sliceHeaderBytes = 6
    private static let fingerprintHeaderBytes = 3
    private static let bloomHeaderBytes = 18
    private static let bloomKind: UInt8 = 0x80
    private static let queuedBit: UInt16 = 0x8000
    private static let changedBit: UInt8 = 0x40
    private static let storedBit: UInt8 = 0x80
    private static let subFilterCountMask: UInt8 = 0x3f

    /// - Important: The configuration must be valid (``ExposureFilterConfiguration/validate()``
    ///   empty); the runtime validates it at start, so an invalid one here is a programmer error.
    public init(configuration: ExposureFilterConfiguration = ExposureFilterConfiguration(), paged: Bool = false) {
        let problems = configuration.validate()
        precondition(problems.isEmpty, "invalid exposure filter configuration: \(problems)")
        self.configuration = configuration
        self.paged = paged
        configured = Geometry(retentionDays: configuration.retentionDays, sliceCount: configuration.sliceCount)
    }

    /// Users with a non-empty filter.
    public var entryCount: Int { arena.recordCount }

    /// Every heap byte held (see the type's documentation).
    public var approximateBytes: Int {
        arena.approximateBytes + blobs.approximateBytes + 6 * arrayHeaderBytes
            + (changedUsers.capacity + freeBlobs.capacity + expiredEvictedUsers.capacity + storedUntilMinute.capacity)
            * MemoryLayout<UInt32>.stride
            + droppedSlices.capacity * MemoryLayout<DroppedSlice>.stride + residency.capacity
    }

    /// The bytes counted against the cache budget: ``approximateBytes`` less the arenas' garbage
    /// (freed slots a compaction returns once they reach 1/16 of an arena), so an eviction counts
    /// at once and the heap stays within 17/16 of this.
    public var cachedBytes: Int { approximateBytes - arena.garbageBytes - blobs.garbageBytes }

    // MARK: Paging

    /// Whether `user`'s filter is known here (always, unless paged: then false for a user whose
    /// slices are in the store only, until ``install(user:records:)``).
    @inline(__always) public func isResident(_ user: Int32) -> Bool {
        !paged || Int(user) >= residency.count || residency[Int(user)] & Self.notResidentFlag == 0
    }

    private mutating func ensureResidency(_ u: Int) {
        guard u >= residency.count else { return }
        let n = max(u + 1, residency.count + residency.count / 8)
        residency.append(contentsOf: repeatElement(0, count: n - residency.count))
        storedUntilMinute.append(contentsOf: repeatElement(0, count: n - storedUntilMinute.count))
    }

    /// Marks `user` as having slices in the store only (a user of the dictionary restored at
    /// start): its first exposure or query reads them. Paged only; otherwise nothing.
    public mutating func markNotResident(_ user: Int32) {
        guard paged, user >= 0 else { return }
        ensureResidency(Int(user))
        residency[Int(user)] = Self.notResidentFlag
        storedUntilMinute[Int(user)] = 0
    }

    /// Makes `user` resident with its committed slice records (keyed as under
    /// ``userPrefix(_:)``: the slice part of ``key(user:slice:)``), unless it is resident already
    /// (a resident filter is newer than the store's).
    /// - Throws: a record does not decode.
    public mutating func install(user: Int32, records: [(key: [UInt8], value: [UInt8])]) throws(StateDecodingError) {
        guard !isResident(user) else { return }
        let prefix = Self.userPrefix(user)
        for record in records { try restore(key: prefix + record.key, value: record.value) }
        residency[Int(user)] = Self.referencedFlag
        storedUntilMinute[Int(user)] = 0
        loads += 1
    }

    /// The family key prefix of `user`'s slice records (big-endian index).
    public static func userPrefix(_ user: Int32) -> [UInt8] {
        var w = BinaryWriter(capacity: 4)
        w.appendBigEndian(UInt32(bitPattern: user))
        return w.bytes
    }

    /// A complete (not paged) set holding only `user`'s committed slices (keyed as for
    /// ``install(user:records:)``): how a query reads the filter of a user who is not resident,
    /// without changing the cache.
    public static func stored(
        user: Int32, records: [(key: [UInt8], value: [UInt8])], configuration: ExposureFilterConfiguration
    ) throws(StateDecodingError) -> ExposureFilters {
        var filters = ExposureFilters(configuration: configuration)
        let prefix = userPrefix(user)
        for record in records { try filters.restore(key: prefix + record.key, value: record.value) }
        return filters
    }

    /// Evicts clean users' filters by the CLOCK policy (an exposure sets a user's reference bit;
    /// the hand clears it, and evicts a user met with the bit clear) until ``cachedBytes`` is at
    /// most `budget` or every user was visited twice. Users with changes not yet drained stay.
    /// Returns the bytes freed. Not paged: nothing.
    @discardableResult
    public mutating func evict(toBytes budget: Int) -> Int {
        let before = cachedBytes
        guard paged, before > budget else { return 0 }
        var excess = before - budget
        let n = arena.indexCount
        if n > 0 { ensureResidency(n - 1) }
        var visited = 0
        while excess > 0 && visited < 2 * n {
            if evictHand >= n { evictHand = 0 }
            let u = evictHand
            evictHand += 1
            visited += 1
            guard let base = arena.start(of: u), arena.uint16(at: base) & Self.queuedBit == 0 else { continue }
            if residency[u] & Self.referencedFlag != 0 {
                residency[u] &= ~Self.referencedFlag
                continue
            }
            excess -= evictRecord(user: u, base: base)
            evictions += 1
        }
        arena.compactIfWasteful()
        blobs.compactIfWasteful()
        return max(0, before - cachedBytes)
    }

    /// Frees a clean user's record and blobs (its slices are all stored) and notes when they all
    /// expire. Returns the bytes freed.
    private mutating func evictRecord(user u: Int, base: Int) -> Int {
        let g = geometry(ofRecordAt: base)
        let end = base + arena.length(of: u)
        var freed = (arena.length(of: u) + 7) & ~7
        var slice = base + Self.recordHeaderBytes
        while slice < end {
            var sub = slice + Self.sliceHeaderBytes
            for _ in 0..<subFilterCount(at: slice) {
                if isBloom(sub) {
                    let blob = arena.uint32(at: sub + 14)
                    freed += (payloadBytes(at: sub) + 7) & ~7
                    blobs.free(Int(blob))
                    freeBlobs.append(blob)
                }
                sub += subFilterSize(at: sub)
            }
            slice = sub
        }
        // Every slice is expired once W − N ≥ (newest + 1) · L.
        let newest = sliceIndex(at: newestSlice(ofRecordAt: base))
        let (deadAt, overflow) = ((newest + 1) * g.sliceLength).addingReportingOverflow(g.retention)
        let minute = overflow ? Int64(UInt32.max) : (deadAt + 59_999) / 60_000
        storedUntilMinute[u] = minute <= 0 ? 1 : UInt32(clamping: minute)
        arena.free(u)
        residency[u] = Self.notResidentFlag
        return freed
    }

    // MARK: Reading the layout

    @inline(__always) private func geometry(ofRecordAt base: Int) -> Geometry {
        let days = Int(arena.uint16(at: base) & ~Self.queuedBit)
        let s = Int(arena.uint16(at: base + 2))
        if days == configured.retentionDays && s == configured.sliceCount { return configured }
        return Geometry(retentionDays: days, sliceCount: s)
    }

    @inline(__always) private func newestSlice(ofRecordAt base: Int) -> Int { base + Int(arena.uint32(at: base + 4)) }
    @inline(__always) private func sliceIndex(at slice: Int) -> Int64 { arena.int40(at: slice) }
    @inline(__always) private func sliceFlags(at slice: Int) -> UInt8 { arena[slice + 5] }
    @inline(__always) private func subFilterCount(at slice: Int) -> Int {
        Int(arena[slice + 5] & Self.subFilterCountMask) + 1
    }

    @inline(__always) private func isBloom(_ sub: Int) -> Bool { arena[sub] == Self.bloomKind }

    /// Bytes of the sub-filter at `sub` in the user's record (a Bloom filter's bits are a blob).
    @inline(__always) private func subFilterSize(at sub: Int) -> Int {
        if isBloom(sub) { return Self.bloomHeaderBytes }
        return Self.fingerprintHeaderBytes + (Int(arena[sub + 2]) * Int(arena[sub]) + 7) / 8
    }

    /// The start of the Bloom sub-filter at `sub`'s bits in ``blobs``.
    @inline(__always) private func bloomBits(at sub: Int) -> Int { blobs.start(of: Int(arena.uint32(at: sub + 14)))! }

    @inline(__always) private func subFilterCapacity(at sub: Int) -> Int {
        isBloom(sub) ? Int(arena.uint32(at: sub + 6)) : Int(arena[sub + 1]) + 1
    }

    @inline(__always) private func subFilterItems(at sub: Int) -> Int {
        isBloom(sub) ? Int(arena.uint32(at: sub + 10)) : Int(arena[sub + 2])
    }

    /// Bytes of bits or fingerprints.
    @inline(__always) private func payloadBytes(at sub: Int) -> Int {
        isBloom(sub) ? Int(arena.uint32(at: sub + 2)) / 8 : subFilterSize(at: sub) - Self.fingerprintHeaderBytes
    }

    /// A copy of the payload: the bytes of bits (in ``blobs``) or of fingerprints (in the record).
    private func payload(at sub: Int) -> [UInt8] {
        if isBloom(sub) {
            let bits = bloomBits(at: sub)
            return blobs.bytes(in: bits..<(bits + payloadBytes(at: sub)))
        }
        let start = sub + Self.fingerprintHeaderBytes
        return arena.bytes(in: start..<(start + payloadBytes(at: sub)))
    }

    /// The offset one past the slice at `slice`.
    private func sliceEnd(at slice: Int) -> Int {
        var sub = slice + Self.sliceHeaderBytes
        for _ in 0..<subFilterCount(at: slice) { sub += subFilterSize(at: sub) }
        return sub
    }

    /// The offset of the newest sub-filter of the slice at `slice`.
    private func lastSubFilter(at slice: Int) -> Int {
        var sub = slice + Self.sliceHeaderBytes
        for _ in 1..<subFilterCount(at: slice) { sub += subFilterSize(at: sub) }
        return sub
    }

    /// Distinct insertions over the slice's sub-filters.
    private func items(inSliceAt slice: Int) -> Int {
        var sub = slice + Self.sliceHeaderBytes
        var n = 0
        for _ in 0..<subFilterCount(at: slice) {
            n += subFilterItems(at: sub)
            sub += subFilterSize(at: sub)
        }
        return n
    }

    /// Whether the sub-filter at `sub` holds the item: all k bits set, or its fingerprint stored.
    @inline(__always) private func subFilterContains(_ hash: ExposureHash, at sub: Int) -> Bool {
        if arena[sub] == Self.bloomKind {
            let m = Int(arena.uint32(at: sub + 2))
            let k = Int(arena[sub + 1])
            let bits = bloomBits(at: sub)
            for i in 0..<k {
                let p = hash.position(i, bits: m)
                if blobs[bits + p >> 3] & (1 << UInt8(p & 7)) == 0 { return false }
            }
            return true
        }
        let f = Int(arena[sub])
        let count = Int(arena[sub + 2])
        let wanted = UInt64(hash.fingerprint(bits: f))
        let mask: UInt64 = (1 << UInt64(f)) - 1
        // Fingerprints are packed least-significant bit first: stream the bytes through a buffer.
        var next = sub + Self.fingerprintHeaderBytes
        var buffer: UInt64 = 0
        var available = 0
        for _ in 0..<count {
            while available < f {
                buffer |= UInt64(arena[next]) << UInt64(available)
                next += 1
                available += 8
            }
            if buffer & mask == wanted { return true }
            buffer >>= UInt64(f)
            available -= f
        }
        return false
    }

    /// Whether any sub-filter of the slice at `slice` holds the item.
    private func sliceContains(_ hash: ExposureHash, at slice: Int) -> Bool {
        var sub = slice + Self.sliceHeaderBytes
        for _ in 0..<subFilterCount(at: slice) {
            if subFilterContains(hash, at: sub) { return true }
            sub += subFilterSize(at: sub)
        }
        return false
    }

    // MARK: Updates

    /// Whether an exposure at `time` is inside the retention at `watermark` (with the
    /// configuration's geometry): its slice ends after W − N. An exposure outside it would be
    /// forgotten at once, so the shard neither records it nor interns its user.
    public func retains(_ time: EventTime, watermark: EventTime) -> Bool {
        let length = configuration.sliceLengthMillis
        let q = time.millis / length
        let slice = (time.millis % length != 0 && time.millis < 0) ? q - 1 : q
        let (cutoff, overflow) = watermark.millis.subtractingReportingOverflow(configuration.retentionMillis)
        return overflow || (slice + 1) * length > cutoff
    }

    /// Remembers that `user` was shown the item at `time` (as ``ExposureFilter/insert(_:at:watermark:configuration:)``
    /// does for one filter). `watermark` is the shard's watermark including this event. Then
    /// sweeps a few users for expired slices.
    ///
    /// - Important: `user` must be non-negative (a dense index) and `time` within
    ///   ±``EventTime/limitMillis``; otherwise this traps.
    public mutating func recordExposure(user: Int32, itemHash: ExposureHash, at time: EventTime, watermark: EventTime) {
        precondition(user >= 0, "exposure for negative user index \(user)")
        precondition(
            time.millis > -EventTime.limitMillis && time.millis < EventTime.limitMillis,
            "exposure time \(time) is outside ±\(EventTime.limitMillis) ms")
        arena.ensureIndex(Int(user))
        if paged {
            precondition(isResident(user), "ExposureFilters: exposure for user \(user), who is not resident")
            if Int(user) < residency.count { residency[Int(user)] = Self.referencedFlag }
        }
        insert(itemHash, user: Int(user), at: time.millis, watermark: watermark.millis)
        expire(watermark: max(time, watermark), maxUsers: configuration.sweepUsersPerExposure)
    }

    private mutating func insert(_ hash: ExposureHash, user u: Int, at time: Int64, watermark: Int64) {
        var now = max(time, watermark)
        if let base = arena.start(of: u) {
            let held = geometry(ofRecordAt: base)
            now = max(now, sliceIndex(at: newestSlice(ofRecordAt: base)) * held.sliceLength)
            dropExpired(user: u, cutoff: held.cutoff(now))
        }
        let base = arena.start(of: u)
        let g = base.map { geometry(ofRecordAt: $0) } ?? configured
        let j = Self.floorDivide(time, g.sliceLength)
        guard g.isLive(j, cutoff: g.cutoff(now)) else { return }

        // Find slice j, or where it goes and its predecessor.
        var position: Int? = nil
        var found = false
        var previous: Int? = nil
        if let base {
            let end = base + arena.length(of: u)
            let newest = newestSlice(ofRecordAt: base)
            let newestIndex = sliceIndex(at: newest)
            if newestIndex == j {
                position = newest
                found = true
            } else if newestIndex < j {
                position = end
                previous = newest
            } else {
                var slice = base + Self.recordHeaderBytes
                while slice < end && sliceIndex(at: slice) < j {
                    previous = slice
                    slice = sliceEnd(at: slice)
                }
                position = slice
                found = sliceIndex(at: slice) == j
            }
        }
        let adaptive = configuration.capacityPolicy == .adaptive

        if found, let base, let slice = position {
            if sliceContains(hash, at: slice) { return }
            let n = subFilterCount(at: slice)
            let last = lastSubFilter(at: slice)
            if subFilterItems(at: last) >= subFilterCapacity(at: last) && n < ScalableBloomFilter.maximumFilterCount {
                let parameters = configuration.sliceParameters(sliceCount: g.sliceCount)
                let hint =
                    adaptive
                    ? Self.capacityHint(
                        slice: j, length: g.sliceLength, now: now, items: items(inSliceAt: slice), previousItems: nil)
                    : nil
                let capacity = ScalableBloomFilter.capacity(
                    ofFilter: n, after: subFilterCapacity(at: last), hint: hint, parameters: parameters)
                let shape = ScalableBloomFilter.SubFilter.shape(
                    capacity: capacity, errorRate: parameters.errorRate(ofFilter: n))
                let sliceOffset = slice - base
                let subOffset = sliceEnd(at: slice) - base
                let newBase = insertBytes(Self.size(of: shape), at: subOffset, user: u, newSliceIsNewest: false)
                writeHeader(of: shape, at: newBase + subOffset)
                arena.setUInt8(
                    (sliceFlags(at: newBase + sliceOffset) & ~Self.subFilterCountMask) | UInt8(n),
                    at: newBase + sliceOffset + 5)
                add(hash, subFilter: newBase + subOffset, slice: newBase + sliceOffset, user: u)
            } else {
                add(hash, subFilter: last, slice: slice, user: u)
            }
            return
        }

        // A new slice.
        let previousItems = previous.flatMap { sliceIndex(at: $0) == j - 1 ? items(inSliceAt: $0) : nil }
        let hint =
            adaptive
            ? Self.capacityHint(slice: j, length: g.sliceLength, now: now, items: nil, previousItems: previousItems)
            : nil
        let parameters = configuration.sliceParameters(sliceCount: g.sliceCount)
        let capacity = ScalableBloomFilter.capacity(ofFilter: 0, after: nil, hint: hint, parameters: parameters)
        let shape = ScalableBloomFilter.SubFilter.shape(capacity: capacity, errorRate: parameters.errorRate(ofFilter: 0))
        let size = Self.sliceHeaderBytes + Self.size(of: shape)
        let sliceBase: Int
        let sliceOffset: Int
        if let base, let position {
            sliceOffset = position - base
            sliceBase = insertBytes(
                size, at: sliceOffset, user: u, newSliceIsNewest: position == base + arena.length(of: u))
        } else {
            sliceOffset = Self.recordHeaderBytes
            sliceBase = arena.create(u, length: Self.recordHeaderBytes + size)
            arena.setUInt16(UInt16(g.retentionDays), at: sliceBase)
            arena.setUInt16(UInt16(g.sliceCount), at: sliceBase + 2)
            arena.setUInt32(UInt32(Self.recordHeaderBytes), at: sliceBase + 4)
        }
        let slice = sliceBase + sliceOffset
        arena.setInt40(j, at: slice)
        arena.setUInt8(0, at: slice + 5)
        writeHeader(of: shape, at: slice + Self.sliceHeaderBytes)
        add(hash, subFilter: slice + Self.sliceHeaderBytes, slice: slice, user: u)
    }

    /// The adaptive size of the sub-filter about to be added to slice `j` (see
    /// ``ExposureFilter``): the exposures expected in the rest of the slice, extrapolated from the
    /// adjacent previous slice for a new one (`items` nil) or from its own rate so far.
    private static func capacityHint(slice j: Int64, length: Int64, now: Int64, items: Int?, previousItems: Int?) -> Int? {
        let start = j * length
        let end = start + length
        let clock = min(max(now, start), end)
        let remaining = Double(end - clock)
        let expected: Double
        if let items {
            let elapsed = Double(clock - start)
            guard elapsed > 0 else { return nil }
            expected = Double(items) * remaining / elapsed
        } else {
            guard let previousItems else { return nil }
            expected = Double(previousItems) * remaining / Double(length)
        }
        return Int(min(expected.rounded(.up), Double(BloomFilter.maximumCapacity)))
    }

    @inline(__always) private static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    /// Bytes of an empty sub-filter of `shape` in a user's record.
    private static func size(of shape: ScalableBloomFilter.SubFilter.Shape) -> Int {
        switch shape {
        case .bloom: bloomHeaderBytes
        case .fingerprints: fingerprintHeaderBytes
        }
    }

    /// A zeroed blob of `byteCount` bytes; returns its id.
    private mutating func newBlob(byteCount: Int) -> UInt32 {
        let id = freeBlobs.popLast() ?? UInt32(blobs.indexCount)
        blobs.create(Int(id), length: byteCount)
        return id
    }

    /// Writes an empty sub-filter of `shape` at `sub` (a Bloom filter's bits in a new blob).
    private mutating func writeHeader(of shape: ScalableBloomFilter.SubFilter.Shape, at sub: Int) {
        switch shape {
        case .bloom(let bitCount, let hashCount, let capacity):
            let blob = newBlob(byteCount: bitCount / 8)
            arena.setUInt8(Self.bloomKind, at: sub)
            arena.setUInt8(UInt8(hashCount), at: sub + 1)
            arena.setUInt32(UInt32(bitCount), at: sub + 2)
            arena.setUInt32(UInt32(capacity), at: sub + 6)
            arena.setUInt32(0, at: sub + 10)
            arena.setUInt32(blob, at: sub + 14)
        case .fingerprints(let width, let capacity):
            arena.setUInt8(UInt8(width), at: sub)
            arena.setUInt8(UInt8(capacity - 1), at: sub + 1)
            arena.setUInt8(0, at: sub + 2)
        }
    }

    /// Opens `count` zero bytes at `offset` of `user`'s record and keeps the newest-slice offset
    /// right: it moves when the bytes go before it, and points at them when they are a new slice
    /// after it. Returns the record's (possibly new) start.
    private mutating func insertBytes(_ count: Int, at offset: Int, user u: Int, newSliceIsNewest: Bool) -> Int {
        let base = arena.insertZeros(count, at: offset, in: u)
        let newest = Int(arena.uint32(at: base + 4))
        if newSliceIsNewest {
            arena.setUInt32(UInt32(offset), at: base + 4)
        } else if offset <= newest {
            arena.setUInt32(UInt32(newest + count), at: base + 4)
        }
        return base
    }

    /// Adds the item to the sub-filter at `sub` (the newest of the slice at `slice`, which does
    /// not hold the item) and marks the slice changed.
    private mutating func add(_ hash: ExposureHash, subFilter sub: Int, slice: Int, user u: Int) {
        var base = arena.start(of: u)!
        let subOffset = sub - base
        let sliceOffset = slice - base
        if isBloom(sub) {
            let m = Int(arena.uint32(at: sub + 2))
            let k = Int(arena[sub + 1])
            let bits = bloomBits(at: sub)
            var changed = false
            for i in 0..<k {
                let p = hash.position(i, bits: m)
                if blobs.setBits(1 << UInt8(p & 7), at: bits + p >> 3) { changed = true }
            }
            let count = arena.uint32(at: sub + 10)
            if changed && count < UInt32.max { arena.setUInt32(count + 1, at: sub + 10) }
        } else {
            let f = Int(arena[sub])
            let count = Int(arena[sub + 2])
            precondition(count < 255, "fingerprint set past its capacity")
            let held = (count * f + 7) / 8
            let needed = ((count + 1) * f + 7) / 8
            if needed > held {
                base = insertBytes(
                    needed - held, at: subOffset + Self.fingerprintHeaderBytes + held, user: u, newSliceIsNewest: false)
            }
            let payload = base + subOffset + Self.fingerprintHeaderBytes
            let bit = count * f
            var value = UInt64(hash.fingerprint(bits: f)) << UInt64(bit & 7)
            var byte = payload + bit >> 3
            var remaining = (bit & 7) + f
            while remaining > 0 {
                _ = arena.setBits(UInt8(truncatingIfNeeded: value), at: byte)
                value >>= 8
                byte += 1
                remaining -= 8
            }
            arena.setUInt8(UInt8(count + 1), at: base + subOffset + 2)
        }
        markChanged(sliceAt: base + sliceOffset, recordAt: base, user: u)
    }

    private mutating func markChanged(sliceAt slice: Int, recordAt base: Int, user u: Int) {
        arena.setUInt8(sliceFlags(at: slice) | Self.changedBit, at: slice + 5)
        let word = arena.uint16(at: base)
        if word & Self.queuedBit == 0 {
            arena.setUInt16(word | Self.queuedBit, at: base)
            changedUsers.append(Int32(u))
        }
    }

    /// Drops `user`'s leading slices that are expired at `limit` (= W − N); frees the record when
    /// none is left. Stored slices are deleted by the next drain. Returns how many were dropped.
    @discardableResult
    private mutating func dropExpired(user u: Int, cutoff limit: Int64) -> Int {
        guard let base = arena.start(of: u) else { return 0 }
        let g = geometry(ofRecordAt: base)
        let end = base + arena.length(of: u)
        var slice = base + Self.recordHeaderBytes
        var dropped = 0
        while slice < end && !g.isLive(sliceIndex(at: slice), cutoff: limit) {
            release(sliceAt: slice, user: u)
            slice = sliceEnd(at: slice)
            dropped += 1
        }
        guard dropped > 0 else { return 0 }
        if slice == end {
            arena.free(u)
        } else {
            let removed = slice - base - Self.recordHeaderBytes
            let newest = Int(arena.uint32(at: base + 4))
            arena.remove(removed, at: Self.recordHeaderBytes, in: u)
            arena.setUInt32(UInt32(newest - removed), at: base + 4)
        }
        return dropped
    }

    /// Frees the blobs of the slice at `slice`, which is being dropped, and notes its record for
    /// deletion if it has one.
    private mutating func release(sliceAt slice: Int, user u: Int) {
        if sliceFlags(at: slice) & Self.storedBit != 0 {
            droppedSlices.append(DroppedSlice(user: Int32(u), index: sliceIndex(at: slice)))
        }
        var sub = slice + Self.sliceHeaderBytes
        for _ in 0..<subFilterCount(at: slice) {
            if isBloom(sub) {
                let blob = arena.uint32(at: sub + 14)
                blobs.free(Int(blob))
                freeBlobs.append(blob)
            }
            sub += subFilterSize(at: sub)
        }
    }

    /// Drops every slice that starts after `time`, in every user's filter (repairing a state a
    /// far-future exposure reached); the next drain deletes them. Returns how many were dropped.
    public mutating func removeSlices(after time: EventTime) -> Int {
        var removed = 0
        for u in 0..<arena.indexCount {
            guard let base = arena.start(of: u) else { continue }
            let g = geometry(ofRecordAt: base)
            let end = base + arena.length(of: u)
            var slice = base + Self.recordHeaderBytes
            var last = slice
            while slice < end && sliceIndex(at: slice) * g.sliceLength <= time.millis {
                last = slice
                slice = sliceEnd(at: slice)
            }
            guard slice < end else { continue }
            let cut = slice
            while slice < end {
                release(sliceAt: slice, user: u)
                slice = sliceEnd(at: slice)
                removed += 1
            }
            if cut == base + Self.recordHeaderBytes {
                arena.free(u)
            } else {
                arena.setUInt32(UInt32(last - base), at: base + 4)
                arena.remove(end - cut, at: cut - base, in: u)
            }
        }
        arena.compactIfWasteful()
        blobs.compactIfWasteful()
        return removed
    }

    /// Drops expired slices of up to `maxUsers` users from the sweep position on (round robin).
    /// Returns how many users became empty; their records are deleted by the next drain.
    @discardableResult
    public mutating func expire(watermark: EventTime, maxUsers: Int) -> Int {
        var emptied = 0
        for _ in 0..<min(max(maxUsers, 0), arena.indexCount) {
            if sweepCursor >= arena.indexCount { sweepCursor = 0 }
            let u = sweepCursor
            sweepCursor += 1
            guard let base = arena.start(of: u) else {
                if paged && u < residency.count && residency[u] & Self.notResidentFlag != 0 && storedUntilMinute[u] != 0
                    && watermark.millis >= Int64(storedUntilMinute[u]) * 60_000
                {
                    // Evicted, and everything it had stored has expired since: delete it unread.
                    expiredEvictedUsers.append(Int32(u))
                    residency[u] = 0
                    storedUntilMinute[u] = 0
                    emptied += 1
                }
                continue
            }
            let g = geometry(ofRecordAt: base)
            let limit = g.cutoff(watermark.millis)
            guard !g.isLive(sliceIndex(at: base + Self.recordHeaderBytes), cutoff: limit) else { continue }
            dropExpired(user: u, cutoff: limit)
            if arena.start(of: u) == nil { emptied += 1 }
        }
        arena.compactIfWasteful()
        blobs.compactIfWasteful()
        return emptied
    }

    // MARK: Lookups

    /// Whether `user` was shown the item in the retention before `watermark` (see
    /// ``ExposureFilter/contains(_:watermark:)``). False for an unknown user.
    public func contains(user: Int32, itemHash: ExposureHash, watermark: EventTime) -> Bool {
        guard user >= 0, let base = arena.start(of: Int(user)) else { return false }
        let g = geometry(ofRecordAt: base)
        let limit = g.cutoff(watermark.millis)
        let end = base + arena.length(of: Int(user))
        var slice = base + Self.recordHeaderBytes
        while slice < end {
            if g.isLive(sliceIndex(at: slice), cutoff: limit) && sliceContains(itemHash, at: slice) { return true }
            slice = sliceEnd(at: slice)
        }
        return false
    }

    /// The user's live slices at `watermark`, or nil if none are live. A slice's `byteCount` is
    /// the bytes of bits and fingerprints it holds.
    public func summary(user: Int32, watermark: EventTime) -> ExposureSummary? {
        guard user >= 0, let base = arena.start(of: Int(user)) else { return nil }
        let g = geometry(ofRecordAt: base)
        let limit = g.cutoff(watermark.millis)
        let end = base + arena.length(of: Int(user))
        var slices: [ExposureSummary.Slice] = []
        var slice = base + Self.recordHeaderBytes
        while slice < end {
            let index = sliceIndex(at: slice)
            if g.isLive(index, cutoff: limit) {
                var items = 0
                var capacity = 0
                var bytes = 0
                var survival = 1.0
                var sub = slice + Self.sliceHeaderBytes
                for _ in 0..<subFilterCount(at: slice) {
                    items += subFilterItems(at: sub)
                    capacity += subFilterCapacity(at: sub)
                    bytes += payloadBytes(at: sub)
                    survival *= 1 - estimatedFalsePositiveRate(ofSubFilterAt: sub)
                    sub += subFilterSize(at: sub)
                }
                slices.append(
                    ExposureSummary.Slice(
                        start: EventTime(millis: index * g.sliceLength), end: EventTime(millis: (index + 1) * g.sliceLength),
                        estimatedCount: items, capacity: capacity, subFilterCount: subFilterCount(at: slice),
                        byteCount: bytes, estimatedFalsePositiveRate: 1 - survival))
            }
            slice = sliceEnd(at: slice)
        }
        guard !slices.isEmpty else { return nil }
        return ExposureSummary(
            retentionDays: g.retentionDays, sliceLengthMillis: g.sliceLength, slices: slices,
            estimatedCount: slices.reduce(0) { $0 + $1.estimatedCount },
            byteCount: slices.reduce(0) { $0 + $1.byteCount },
            estimatedFalsePositiveRate: 1 - slices.reduce(1.0) { $0 * (1 - $1.estimatedFalsePositiveRate) })
    }

    /// ``BloomFilter/estimatedFalsePositiveRate`` or ``FingerprintSet/estimatedFalsePositiveRate``
    /// of the sub-filter at `sub`.
    private func estimatedFalsePositiveRate(ofSubFilterAt sub: Int) -> Double {
        if isBloom(sub) {
            let m = Int(arena.uint32(at: sub + 2))
            var set = 0
            for byte in payload(at: sub) { set += byte.nonzeroBitCount }
            return BloomFilter.rate(
                fill: Double(set) / Double(m), bitCount: m, hashCount: Int(arena[sub + 1]),
                insertions: subFilterItems(at: sub))
        }
        var rate = Double(subFilterItems(at: sub))
        for _ in 0..<Int(arena[sub]) { rate /= 2 }
        return rate
    }

    /// The user's filter as a plain ``ExposureFilter`` (every held slice, expired ones not yet
    /// dropped included), or nil if it is empty. Cost: a copy of the user's bytes into arrays;
    /// for inspection and tests, not the hot path.
    public func filter(of user: Int32) -> ExposureFilter? {
        guard user >= 0, let base = arena.start(of: Int(user)) else { return nil }
        let g = geometry(ofRecordAt: base)
        let end = base + arena.length(of: Int(user))
        var slices: [ExposureFilter.Slice] = []
        var slice = base + Self.recordHeaderBytes
        while slice < end {
            var filters: [ScalableBloomFilter.SubFilter] = []
            var sub = slice + Self.sliceHeaderBytes
            for _ in 0..<subFilterCount(at: slice) {
                filters.append(materialize(subFilterAt: sub))
                sub += subFilterSize(at: sub)
            }
            slices.append(ExposureFilter.Slice(index: sliceIndex(at: slice), filter: ScalableBloomFilter(filters: filters)))
            slice = sub
        }
        return ExposureFilter(retentionDays: g.retentionDays, sliceCount: g.sliceCount, slices: slices)
    }

    private func materialize(subFilterAt sub: Int) -> ScalableBloomFilter.SubFilter {
        let bytes = payload(at: sub)
        var words = [UInt64](repeating: 0, count: (bytes.count + 7) / 8)
        for (i, byte) in zip(0..., bytes) { words[i >> 3] |= UInt64(byte) << UInt64(8 * (i & 7)) }
        if isBloom(sub) {
            return .bloom(
                BloomFilter(
                    words: words, bits: arena.uint32(at: sub + 2), capacity: arena.uint32(at: sub + 6),
                    inserted: arena.uint32(at: sub + 10), hashes: arena[sub + 1]))
        }
        let f = Int(arena[sub])
        let count = Int(arena[sub + 2])
        // FingerprintSet keeps ⌈count·f/64⌉ words.
        words.removeLast(words.count - (count * f + 63) / 64)
        return .fingerprints(
            FingerprintSet(words: words, width: UInt8(f), capacity: UInt32(subFilterCapacity(at: sub)), stored: UInt32(count)))
    }

    // MARK: ShardFamily

    /// Does nothing: a ``ShardEvent`` carries no user index. The shard calls
    /// ``recordExposure(user:itemHash:at:watermark:)`` for exposures instead.
    public mutating func apply(_ event: ShardEvent) {}

    /// Does nothing: the shard offers late exposures to ``recordExposure(user:itemHash:at:watermark:)``
    /// itself (the filter keeps every exposure inside its retention, late or not).
    public mutating func recordLateDrop(_ event: ShardEvent) {}

    /// The family key of a slice record: user index (BE32), slice index (BE64, sign bit flipped).
    public static func key(user: Int32, slice index: Int64) -> [UInt8] {
        var key = BinaryWriter(capacity: 12)
        key.appendBigEndian(UInt32(bitPattern: user))
        key.appendBigEndian(UInt64(bitPattern: index) ^ (1 << 63))
        return key.bytes
    }

    /// The slice records that replace one user's record of state format 2 or earlier (key = user
    /// index, big-endian `UInt32`; value = ``ExposureFilter/encode(into:)``, a whole filter), for
    /// migrating a state directory in place. They equal the records a drain of the same filter
    /// writes. nil for a slice key (user and slice index), so a migration interrupted after
    /// rewriting some users can run again over every record. Cost: decodes the filter, then
    /// copies each slice's bytes once.
    ///
    /// - Throws: ``StateDecodingError`` if the key is neither a user key nor a slice key, or the
    ///   value is not a whole-filter record.
    public static func sliceRecords(replacingUserRecord key: [UInt8], value: [UInt8]) throws(StateDecodingError) -> [(
        key: [UInt8], value: [UInt8]
    )]? {
        if key.count == 12 { return nil }
        var keyReader = BinaryReader(key)
        let user = Int32(bitPattern: try keyReader.readBigEndianUInt32())
        try keyReader.expectEnd()
        guard user >= 0 else { throw StateDecodingError("negative user index \(user)") }
        var reader = BinaryReader(value)
        let filter = try ExposureFilter.decode(from: &reader)
        try reader.expectEnd()
        return filter.slices.map { slice in
            var w = BinaryWriter(capacity: slice.filter.encodedByteCount + 8)
            appendRecordHeader(retentionDays: filter.retentionDays, sliceCount: filter.sliceCount, to: &w)
            slice.filter.encode(into: &w)
            return (Self.key(user: user, slice: slice.index), w.bytes)
        }
    }

    /// ``recordVersion``, N and s (varints): how every slice record begins.
    private static func appendRecordHeader(retentionDays: Int, sliceCount: Int, to w: inout BinaryWriter) {
        w.append(recordVersion)
        w.appendVarint(UInt64(retentionDays))
        w.appendVarint(UInt64(sliceCount))
    }

    /// Deletes of the stored slices dropped since the last call, then puts of the slices changed
    /// since, users in the order they first changed and slices ascending.
    public mutating func drainChanges(into changes: inout FamilyChanges) {
        for dropped in droppedSlices { changes.delete(Self.key(user: dropped.user, slice: dropped.index)) }
        droppedSlices = []
        for user in expiredEvictedUsers {
            let prefix = Self.userPrefix(user)
            changes.deleteRange(from: prefix, to: ShardKeys.end(of: prefix))
        }
        expiredEvictedUsers = []
        for user in changedUsers {
            let u = Int(user)
            guard let base = arena.start(of: u) else { continue }
            let header = arena.uint16(at: base)
            guard header & Self.queuedBit != 0 else { continue }
            arena.setUInt16(header & ~Self.queuedBit, at: base)
            let end = base + arena.length(of: u)
            var slice = base + Self.recordHeaderBytes
            while slice < end {
                let flags = sliceFlags(at: slice)
                if flags & Self.changedBit != 0 {
                    changes.put(Self.key(user: user, slice: sliceIndex(at: slice)), encode(sliceAt: slice, recordAt: base))
                    arena.setUInt8((flags & ~Self.changedBit) | Self.storedBit, at: slice + 5)
                }
                slice = sliceEnd(at: slice)
            }
        }
        changedUsers = []
    }

    /// The record of the slice at `slice`: ``recordVersion``, N and s (varints), then the
    /// ``ScalableBloomFilter`` encoding of its sub-filters.
    private func encode(sliceAt slice: Int, recordAt base: Int) -> [UInt8] {
        let g = geometry(ofRecordAt: base)
        var w = BinaryWriter(capacity: sliceEnd(at: slice) - slice + 16)
        Self.appendRecordHeader(retentionDays: g.retentionDays, sliceCount: g.sliceCount, to: &w)
        let n = subFilterCount(at: slice)
        w.appendVarint(UInt64(n))
        var sub = slice + Self.sliceHeaderBytes
        for _ in 0..<n {
            if isBloom(sub) {
                w.append(0)
                w.appendVarint(UInt64(arena.uint32(at: sub + 2)))
                w.append(arena[sub + 1])
            } else {
                w.append(1)
                w.append(arena[sub])
            }
            w.appendVarint(UInt64(subFilterCapacity(at: sub)))
            w.appendVarint(UInt64(subFilterItems(at: sub)))
            w.append(contentsOf: payload(at: sub))
            sub += subFilterSize(at: sub)
        }
        return w.bytes
    }

    /// Restores one slice record. Records may come in any order; in key order each user's record
    /// grows at the end of the arena without moving.
    ///
    /// - Throws: ``StateDecodingError`` if the key is not a user index and a slice index, the
    ///   value is not a complete slice record (checked before anything is allocated), its
    ///   geometry differs from the user's other slices, the slice is already held, or the user
    ///   would hold more than s + 1 slices.
    public mutating func restore(key: [UInt8], value: [UInt8]) throws(StateDecodingError) {
        var keyReader = BinaryReader(key)
        let user = Int32(bitPattern: try keyReader.readBigEndianUInt32())
        let index = Int64(bitPattern: try keyReader.readBigEndianUInt64() ^ (1 << 63))
        try keyReader.expectEnd()
        guard user >= 0 else { throw StateDecodingError("negative user index \(user)") }
        var reader = BinaryReader(value)
        var (g, slice, bloomBits) = try Self.decodeSlice(index: index, from: &reader)
        try reader.expectEnd()

        let u = Int(user)
        arena.ensureIndex(u)
        guard let base = arena.start(of: u) else {
            placeBlobs(bloomBits, of: &slice, value: value)
            let start = arena.create(u, length: Self.recordHeaderBytes + slice.count)
            arena.setUInt16(UInt16(g.retentionDays), at: start)
            arena.setUInt16(UInt16(g.sliceCount), at: start + 2)
            arena.setUInt32(UInt32(Self.recordHeaderBytes), at: start + 4)
            arena.copy(slice[...], to: start + Self.recordHeaderBytes)
            return
        }
        let held = geometry(ofRecordAt: base)
        guard held.retentionDays == g.retentionDays && held.sliceCount == g.sliceCount else {
            throw StateDecodingError(
                "slice \(index) of user \(user) has geometry \(g.retentionDays)/\(g.sliceCount), "
                    + "its other slices \(held.retentionDays)/\(held.sliceCount)")
        }
        let end = base + arena.length(of: u)
        var position = base + Self.recordHeaderBytes
        var slices = 0
        var before = true
        var scan = position
        while scan < end {
            let existing = sliceIndex(at: scan)
            guard existing != index else { throw StateDecodingError("slice \(index) of user \(user) restored twice") }
            if before && existing > index {
                before = false
                position = scan
            }
            slices += 1
            scan = sliceEnd(at: scan)
        }
        if before { position = end }
        guard slices + 1 <= g.sliceCount + 1 else {
            throw StateDecodingError("user \(user) has more than \(g.sliceCount + 1) slices")
        }
        placeBlobs(bloomBits, of: &slice, value: value)
        let offset = position - base
        let newBase = insertBytes(slice.count, at: offset, user: u, newSliceIsNewest: position == end)
        arena.copy(slice[...], to: newBase + offset)
        arena.compactIfWasteful()
    }

    /// Copies each Bloom filter's bits from the record `value` into a new blob and writes its id
    /// into the decoded slice's header.
    private mutating func placeBlobs(_ bits: [(header: Int, bytes: Range<Int>)], of slice: inout [UInt8], value: [UInt8]) {
        for (header, range) in bits {
            let blob = newBlob(byteCount: range.count)
            blobs.copy(value[range], to: blobs.start(of: Int(blob))!)
            for i in 0..<4 { slice[header + 14 + i] = UInt8(truncatingIfNeeded: blob >> UInt32(8 * i)) }
        }
    }

    /// Decodes a slice record into the in-memory layout (slice header with the flag "stored"),
    /// and where each Bloom filter's header is in it and its bits in the record (the blobs are
    /// made once every check has passed).
    private static func decodeSlice(index: Int64, from reader: inout BinaryReader) throws(StateDecodingError) -> (
        Geometry, [UInt8], [(header: Int, bytes: Range<Int>)]
    ) {
        let version = try reader.readByte()
        guard version == recordVersion else { throw StateDecodingError("exposure slice record version \(version)") }
        let (days, s) = try ExposureFilter.decodeGeometry(from: &reader)
        let g = Geometry(retentionDays: days, sliceCount: s)
        // Slices cover event times within ±EventTime.limitMillis, so (index + 1) · L cannot overflow.
        let bound = EventTime.limitMillis / g.sliceLength + 1
        guard index >= -bound, index <= bound else { throw StateDecodingError("slice index \(index)") }
        let n = try reader.readVarint()
        guard n >= 1, n <= UInt64(ScalableBloomFilter.maximumFilterCount) else {
            throw StateDecodingError("\(n) sub-filters in slice \(index)")
        }
        var out: [UInt8] = []
        out.reserveCapacity(min(reader.remaining + sliceHeaderBytes, 1 << 20))
        for i in 0..<5 { out.append(UInt8(truncatingIfNeeded: UInt64(bitPattern: index) >> UInt64(8 * i))) }
        out.append(storedBit | UInt8(n - 1))
        var bloomBits: [(header: Int, bytes: Range<Int>)] = []
        var lastIsFingerprints = false
        for _ in 0..<Int(n) {
            let kind = try reader.readByte()
            switch kind {
            case 0:
                let (m, k, capacity, count) = try BloomFilter.decodeParameters(from: &reader)
                let byteCount = Int(m / 8)
                guard byteCount <= reader.remaining else {
                    throw StateDecodingError("Bloom filter of \(byteCount) bytes, \(reader.remaining) left")
                }
                bloomBits.append((out.count, reader.position..<(reader.position + byteCount)))
                out.append(bloomKind)
                out.append(k)
                for value in [m, capacity, count, 0] {
                    for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: value >> UInt32(8 * i))) }
                }
                try reader.skip(byteCount)
                lastIsFingerprints = false
            case 1:
                let f = try reader.readByte()
                guard f >= 1, Int(f) <= FingerprintSet.maximumWidth else {
                    throw StateDecodingError("fingerprint width \(f)")
                }
                let capacity = try reader.readVarint()
                guard capacity >= 1, capacity <= UInt64(FingerprintSet.maximumCapacity) else {
                    throw StateDecodingError("fingerprint set capacity \(capacity)")
                }
                let count = try reader.readVarint()
                guard count <= capacity else { throw StateDecodingError("\(count) fingerprints in a set of \(capacity)") }
                let bits = Int(count) * Int(f)
                let byteCount = (bits + 7) / 8
                guard byteCount <= reader.remaining else {
                    throw StateDecodingError("\(count) fingerprints need \(byteCount) bytes, \(reader.remaining) left")
                }
                if bits % 8 != 0, reader.span[reader.position + byteCount - 1] >> UInt8(bits % 8) != 0 {
                    throw StateDecodingError("fingerprint padding bits set")
                }
                out.append(f)
                out.append(UInt8(capacity - 1))
                out.append(UInt8(count))
                out.append(contentsOf: reader.span[reader.position..<(reader.position + byteCount)])
                try reader.skip(byteCount)
                lastIsFingerprints = true
            default:
                throw StateDecodingError("sub-filter kind \(kind)")
            }
        }
        // Only the last allowed sub-filter takes items past its capacity, which a fingerprint set
        // cannot (and never is: growth ≥ 1.25 makes sub-filter 63 hold about 10⁶ items).
        if n == UInt64(ScalableBloomFilter.maximumFilterCount) && lastIsFingerprints {
            throw StateDecodingError("a slice of \(n) sub-filters ending in a fingerprint set")
        }
        return (g, out, bloomBits)
    }
}
