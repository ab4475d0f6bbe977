/// A value a ``PagedTable`` keeps: encodable to its store record, and able to say what it costs.
public protocol PagedEntry: Sendable {
    /// The store record. An empty entry is written as a delete instead.
    func encoded() -> [UInt8]
    static func decode(_ bytes: [UInt8]) throws(StateDecodingError) -> Self
    /// Whether the entry holds nothing (its record is deleted, its slot freed).
    var isEmpty: Bool { get }
    /// Approximate heap bytes held by the entry.
    var approximateBytes: Int { get }
}

/// One family's entries, keyed by id bytes, at home in the store and held in memory as a cache.
///
/// Residency: an entry is *resident* when the table knows its current value (a decoded entry, or
/// "absent from the store"). Updates need the entry resident: the runtime reads the committed
/// records of a batch's keys from the store before it applies the batch (``install(_:record:)``),
/// so the store is never read while the engine lock is held. A table created ``complete`` has no
/// store behind it (everything is resident: tests, tools, a state rebuilt in memory).
///
/// Write-back: a changed entry is *dirty* until ``drainChanges(into:)`` hands its record (or its
/// delete) to the commit; only clean entries are evicted. Eviction is the CLOCK policy: each
/// access sets a reference bit, the hand clears bits and evicts the first unreferenced clean
/// entry it meets, so an entry used since the last pass survives one more. Every key of the ring
/// is visited at most twice per pass.
///
/// Cost: one hash of the key bytes per access; memory per resident entry is its
/// ``PagedEntry/approximateBytes`` plus the key and about 80 bytes of table bookkeeping.
public struct PagedTable<Entry: PagedEntry>: Sendable {
    struct Slot: Sendable {
        /// nil: known to be absent from the store.
        var entry: Entry?
        var dirty: Bool
        var referenced: Bool
        var bytes: Int
    }

    /// Per-entry bookkeeping counted against the budget besides the entry and its key.
    public static var slotOverhead: Int { 80 }

    private var slots: [[UInt8]: Slot] = [:]
    private var dirtyKeys: [[UInt8]] = []
    /// Keys in the order they became resident: the clock's ring (stale keys are skipped).
    private var ring: [[UInt8]] = []
    private var hand = 0
    /// True when there is no store behind the table: a missing key is absent.
    public let complete: Bool
    /// Bytes held by resident entries, keys and bookkeeping.
    public private(set) var residentBytes = 0
    /// Resident entries that are not empty.
    public private(set) var residentEntries = 0
    public private(set) var misses = 0
    public private(set) var evictions = 0

    public init(complete: Bool) { self.complete = complete }

    @inline(__always) private static func cost(_ key: [UInt8], _ entry: Entry?) -> Int {
        key.count + slotOverhead + (entry?.approximateBytes ?? 0)
    }

    /// Whether `key`'s current value is known here.
    @inline(__always) public func isResident(_ key: [UInt8]) -> Bool { complete || slots.index(forKey: key) != nil }

    /// Makes `key` resident with its committed record (nil: absent from the store), unless it is
    /// resident already (a resident value is newer than the store's).
    /// - Throws: the record does not decode.
    public mutating func install(_ key: [UInt8], record: [UInt8]?) throws(StateDecodingError) {
        guard slots[key] == nil else { return }
        let entry = try record.map { (bytes) throws(StateDecodingError) -> Entry in try Entry.decode(bytes) }
        misses += 1
        let bytes = Self.cost(key, entry)
        slots[key] = Slot(entry: entry, dirty: false, referenced: true, bytes: bytes)
        ring.append(key)
        residentBytes += bytes
        if let entry, !entry.isEmpty { residentEntries += 1 }
    }

    /// The entry of `key`, if resident and present (nil for absent or not resident).
    public func peek(_ key: [UInt8]) -> Entry? { slots[key]?.entry }

    /// Updates `key`'s entry (created by `make` when absent) with `body`, marking it dirty.
    ///
    /// - Important: `key` must be resident (see the type's note); otherwise this traps, since
    ///   updating an entry whose stored value was never read would overwrite it.
    @discardableResult
    public mutating func update<R>(_ key: [UInt8], make: () -> Entry, _ body: (inout Entry) -> R) -> R {
        // One hash of the key for a resident entry: its position, then the value mutated in place
        // through it (no copy of the entry's arrays).
        var position = slots.index(forKey: key)
        if position == nil {
            precondition(complete, "PagedTable: update of a key that is not resident (\(key.count) bytes); the batch was not prefetched")
            let bytes = Self.cost(key, nil)
            slots[key] = Slot(entry: nil, dirty: false, referenced: true, bytes: bytes)
            ring.append(key)
            residentBytes += bytes
            position = slots.index(forKey: key)
        }
        var becameDirty = false
        var delta = 0
        var entriesDelta = 0
        let result: R = Self.mutate(&slots.values[position!]) { slot in
            let wasEmpty = slot.entry?.isEmpty ?? true
            if slot.entry == nil { slot.entry = make() }
            let result = body(&slot.entry!)
            let isEmpty = slot.entry!.isEmpty
            if isEmpty { slot.entry = nil }
            if wasEmpty && !isEmpty { entriesDelta = 1 }
            if !wasEmpty && isEmpty { entriesDelta = -1 }
            let bytes = key.count + Self.slotOverhead + (slot.entry?.approximateBytes ?? 0)
            delta = bytes - slot.bytes
            slot.bytes = bytes
            slot.referenced = true
            if !slot.dirty {
                slot.dirty = true
                becameDirty = true
            }
            return result
        }
        residentBytes += delta
        residentEntries += entriesDelta
        if becameDirty { dirtyKeys.append(key) }
        return result
    }

    @inline(__always) private static func mutate<R>(_ slot: inout Slot, _ body: (inout Slot) -> R) -> R { body(&slot) }

    /// Marks `key` recently used (a read), so the clock keeps it one pass longer.
    public mutating func touch(_ key: [UInt8]) { slots[key]?.referenced = true }

    /// Every resident key with a present entry, in no particular order (queries over what is in
    /// memory; a complete table holds everything).
    public var residentKeys: [[UInt8]] { slots.compactMap { $0.value.entry == nil ? nil : $0.key } }

    /// Hands every dirty entry's record (or delete) to `changes`, keyed by `prefix` + key, and marks
    /// them clean.
    public mutating func drainChanges(prefix: [UInt8], into changes: inout StateChanges) {
        for key in dirtyKeys {
            // In place: copying the slot out and back would copy the entry's arrays' references.
            guard let position = slots.index(forKey: key), slots.values[position].dirty else { continue }
            if let record = slots.values[position].entry?.encoded() {
                changes.put(prefix + key, record)
            } else {
                changes.delete(prefix + key)
            }
            slots.values[position].dirty = false
        }
        dirtyKeys.removeAll(keepingCapacity: true)
    }

    /// Evicts clean entries by the CLOCK policy until at most `budget` bytes are resident or
    /// nothing more can go. Returns the bytes freed. A complete table never evicts.
    @discardableResult
    public mutating func evict(toBytes budget: Int) -> Int {
        guard !complete, residentBytes > budget else { return 0 }
        let before = residentBytes
        var visited = 0
        let limit = ring.count * 2
        while residentBytes > budget && visited < limit && !ring.isEmpty {
            if hand >= ring.count { compactRing() }
            if ring.isEmpty { break }
            let key = ring[hand]
            visited += 1
            guard var slot = slots[key] else {
                hand += 1
                continue
            }
            if slot.dirty {
                hand += 1
                continue
            }
            if slot.referenced {
                slot.referenced = false
                slots[key] = slot
                hand += 1
                continue
            }
            slots[key] = nil
            residentBytes -= slot.bytes
            if let entry = slot.entry, !entry.isEmpty { residentEntries -= 1 }
            evictions += 1
            hand += 1
        }
        if ring.count > 2 * max(slots.count, 16) { compactRing() }
        return before - residentBytes
    }

    /// Drops ring positions of keys no longer resident and restarts the hand.
    private mutating func compactRing() {
        ring = ring.filter { slots[$0] != nil }
        var seen = Set<[UInt8]>()
        ring = ring.filter { seen.insert($0).inserted }
        hand = 0
    }

    /// Whether any entry awaits a commit.
    public var hasDirtyEntries: Bool { !dirtyKeys.isEmpty }
}
