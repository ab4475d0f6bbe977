/// The exposure-filter family of a shard: one ``ExposureFilter`` per user, keyed by the user's
/// dense index in the shard (as ``ItemStatistics`` is keyed by item index).
///
/// The shard calls ``recordExposure(user:itemHash:at:watermark:)`` for each accepted exposure
/// (events reach families without a user index, so ``apply(_:)`` is a no-op). Queries take the
/// watermark to evaluate at. Persisted as one record per user: key = the user index as a
/// big-endian `UInt32`, value = the encoded filter; a user whose filter became empty (every slice
/// expired) gets a delete.
///
/// Expiry without a clock or a full scan: a user's own expired slices are dropped when they see
/// an exposure, and every recorded exposure also sweeps ``ExposureFilterConfiguration/sweepUsersPerExposure``
/// users round robin (``expire(watermark:maxUsers:)``), so an idle user's record is deleted within
/// users / sweep exposures after it expired. Which physical slices are held at a moment depends on
/// the sweep position (not persisted); answers never do, because lookups ignore expired slices.
///
/// Per exposure: one filter insert (see ``ExposureFilter``), a dirty mark, and the sweep of a few
/// users (O(1) each unless they have slices to drop).
public struct ExposureFilters: ShardFamily {
    public static let tag: UInt8 = 0x02
    public static let name = "exposure_filter"

    public let configuration: ExposureFilterConfiguration
    private var filters: [ExposureFilter] = []
    private var dirty = DirtySet()
    private var sweepCursor = 0
    /// Users with a non-empty filter.
    public private(set) var entryCount = 0
    /// Heap bytes of every filter (``ExposureFilter/approximateBytes`` minus its inline size).
    private var heapBytes = 0

    /// - Important: The configuration must be valid (``ExposureFilterConfiguration/validate()``
    ///   empty); the runtime validates it at start, so an invalid one here is a programmer error.
    public init(configuration: ExposureFilterConfiguration = ExposureFilterConfiguration()) {
        let problems = configuration.validate()
        precondition(problems.isEmpty, "invalid exposure filter configuration: \(problems)")
        self.configuration = configuration
    }

    @inline(__always) private mutating func ensure(_ user: Int32) {
        let needed = Int(user) + 1
        if filters.count < needed {
            filters.append(
                contentsOf: repeatElement(ExposureFilter(configuration: configuration), count: needed - filters.count))
        }
    }

    @inline(__always) private func heap(_ u: Int) -> Int {
        filters[u].approximateBytes - MemoryLayout<ExposureFilter>.stride
    }

    /// Books the change of user `u`'s filter: entry count, bytes, and a fresh value for an emptied
    /// filter so that its arrays are freed.
    private mutating func account(_ u: Int, wasEmpty: Bool, heapBefore: Int) {
        if filters[u].isEmpty { filters[u] = ExposureFilter(configuration: configuration) }
        let isEmpty = filters[u].isEmpty
        if wasEmpty && !isEmpty { entryCount += 1 }
        if !wasEmpty && isEmpty { entryCount -= 1 }
        heapBytes += heap(u) - heapBefore
        dirty.insert(Int32(u))
    }

    // MARK: ShardFamily

    /// Does nothing: a ``ShardEvent`` carries no user index. The shard calls
    /// ``recordExposure(user:itemHash:at:watermark:)`` for exposures instead.
    public mutating func apply(_ event: ShardEvent) {}

    /// Does nothing: the shard offers late exposures to ``recordExposure(user:itemHash:at:watermark:)``
    /// itself (the filter keeps every exposure inside its retention, late or not).
    public mutating func recordLateDrop(_ event: ShardEvent) {}

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

    /// Remembers that `user` was shown the item at `time`. `watermark` is the shard's watermark
    /// including this event. Then sweeps a few users for expired slices.
    ///
    /// - Important: `user` must be non-negative (a dense index); a negative one traps.
    public mutating func recordExposure(user: Int32, itemHash: ExposureHash, at time: EventTime, watermark: EventTime) {
        precondition(user >= 0, "exposure for negative user index \(user)")
        ensure(user)
        let u = Int(user)
        let wasEmpty = filters[u].isEmpty
        let heapBefore = heap(u)
        let oldestBefore = filters[u].slices.first?.index
        let outcome = filters[u].insert(itemHash, at: time, watermark: watermark, configuration: configuration)
        // Dropping slices always changes the oldest slice's index: a dropped index is expired and
        // cannot be recreated.
        if outcome == .inserted || filters[u].slices.first?.index != oldestBefore {
            account(u, wasEmpty: wasEmpty, heapBefore: heapBefore)
        }
        expire(watermark: max(time, watermark), maxUsers: configuration.sweepUsersPerExposure)
    }

    /// Drops every slice that starts after `time`, in every user's filter; changed users are
    /// written by the next drain. Returns how many slices were dropped.
    public mutating func removeSlices(after time: EventTime) -> Int {
        var removed = 0
        for u in filters.indices {
            let heapBefore = heap(u)
            let n = filters[u].removeSlices(after: time)
            guard n > 0 else { continue }
            removed += n
            account(u, wasEmpty: false, heapBefore: heapBefore)
        }
        return removed
    }

    /// Drops expired slices of up to `maxUsers` users from the sweep position on (round robin).
    /// Returns how many users became empty; their records are deleted by the next drain.
    @discardableResult
    public mutating func expire(watermark: EventTime, maxUsers: Int) -> Int {
        var emptied = 0
        for _ in 0..<min(max(maxUsers, 0), filters.count) {
            if sweepCursor >= filters.count { sweepCursor = 0 }
            let u = sweepCursor
            sweepCursor += 1
            guard filters[u].hasExpiredSlices(watermark: watermark) else { continue }
            let heapBefore = heap(u)
            filters[u].expire(watermark: watermark)
            if filters[u].isEmpty { emptied += 1 }
            account(u, wasEmpty: false, heapBefore: heapBefore)
        }
        return emptied
    }

    /// Whether `user` was shown the item in the retention before `watermark` (see
    /// ``ExposureFilter/contains(_:watermark:)``). False for an unknown user.
    public func contains(user: Int32, itemHash: ExposureHash, watermark: EventTime) -> Bool {
        guard user >= 0, Int(user) < filters.count else { return false }
        return filters[Int(user)].contains(itemHash, watermark: watermark)
    }

    /// The user's live slices at `watermark`, or nil if none are live.
    public func summary(user: Int32, watermark: EventTime) -> ExposureSummary? {
        guard user >= 0, Int(user) < filters.count else { return nil }
        let summary = filters[Int(user)].summary(watermark: watermark)
        return summary.slices.isEmpty ? nil : summary
    }

    /// The user's filter, or nil if it is empty.
    public func filter(of user: Int32) -> ExposureFilter? {
        guard user >= 0, Int(user) < filters.count, !filters[Int(user)].isEmpty else { return nil }
        return filters[Int(user)]
    }

    public mutating func drainChanges(into changes: inout FamilyChanges) {
        for user in dirty.drain() {
            var key = BinaryWriter(capacity: 4)
            key.appendBigEndian(UInt32(bitPattern: user))
            let filter = filters[Int(user)]
            if filter.isEmpty {
                changes.delete(key.bytes)
            } else {
                var value = BinaryWriter(capacity: filter.encodedByteCount)
                filter.encode(into: &value)
                changes.put(key.bytes, value.bytes)
            }
        }
    }

    /// Restores one user's record.
    ///
    /// - Throws: ``StateDecodingError`` if the key is not a 4-byte non-negative index or the value
    ///   is not a complete, non-empty encoded filter.
    public mutating func restore(key: [UInt8], value: [UInt8]) throws(StateDecodingError) {
        var keyReader = BinaryReader(key)
        let user = Int32(bitPattern: try keyReader.readBigEndianUInt32())
        try keyReader.expectEnd()
        guard user >= 0 else { throw StateDecodingError("negative user index \(user)") }
        var reader = BinaryReader(value)
        let decoded = try ExposureFilter.decode(from: &reader)
        try reader.expectEnd()
        guard !decoded.isEmpty else { throw StateDecodingError("empty exposure filter for user \(user)") }
        ensure(user)
        let u = Int(user)
        let wasEmpty = filters[u].isEmpty
        let heapBefore = heap(u)
        filters[u] = decoded
        if wasEmpty { entryCount += 1 }
        heapBytes += heap(u) - heapBefore
    }

    public var approximateBytes: Int {
        arrayHeaderBytes + filters.capacity * MemoryLayout<ExposureFilter>.stride + heapBytes
    }
}
