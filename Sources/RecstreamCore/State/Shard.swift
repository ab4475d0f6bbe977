/// All state derived from one input partition: the unit of ownership, commit and hand-over.
///
/// A shard applies the partition's records in offset order and keeps, next to its families, what
/// makes that exactly-once and replayable: the next offset to apply, the event-time watermark, the
/// dedup memory, the item dictionary and input counters. ``drainChanges()`` yields everything
/// changed since the previous call, metadata included, for one atomic commit; replaying the same
/// records from a restored shard yields the same state as never stopping.
///
/// Per event: one dedup probe and insert, one dictionary lookup, one call per family. No I/O, no
/// clock; `apply` never allocates for an item it has seen before except to grow a bucket list.
public struct Shard: Sendable {
    public let stage: UInt8
    public let partition: Int32
    public let configuration: ShardConfiguration
    /// The offset of the next record to apply; nil before the first record.
    public private(set) var nextOffset: Int64?
    /// The largest event time applied; nil before the first event.
    public private(set) var watermark: EventTime?
    public private(set) var counters = ShardCounters()
    /// Incremented on every drain; orders dedup chunks.
    public private(set) var commitSequence: UInt64 = 0

    public private(set) var users = IdInterner()
    public private(set) var dedup: EventDeduplicator
    public private(set) var itemStatistics: ItemStatistics
    public private(set) var exposureFilters: ExposureFilters

    /// Item-keyed stage only: the largest source offset applied per source partition.
    public private(set) var sources = SourceHighWaterMarks()

    private var metaDirty = false
    private var persistedDedupExpiry: UInt32? = nil
    /// After a clock repair: persisted dedup chunks of minutes after this one are deleted by the
    /// next drain.
    private var dedupDeleteAfterMinute: UInt32? = nil

    /// Whether a store stands behind the shard: its item statistics are then paged (held in memory
    /// as a cache, read from the store on demand; see ``PagedTable``). False: everything in memory.
    public let paged: Bool

    public init(stage: UInt8 = ShardKeys.eventsStage, partition: Int32, configuration: ShardConfiguration, paged: Bool = false) {
        self.paged = paged
        self.itemStatistics = ItemStatistics(complete: !paged)
        self.stage = stage
        self.partition = partition
        self.configuration = configuration
        self.dedup = EventDeduplicator(windowMillis: configuration.dedupWindowMillis)
        self.exposureFilters = ExposureFilters(configuration: configuration.exposure, paged: paged)
    }

    /// `body` over this shard in place. For a shard held in a collection of optionals,
    /// `shards[p]?.borrow { $0.read() }` reads without the copy (a retain and a release of every
    /// stored reference) that `shards[p]!.read()` makes for a non-mutating method.
    @inline(__always) public mutating func borrow<R>(_ body: (inout Shard) -> R) -> R { body(&self) }

    /// This shard's key prefix in the store.
    public var keyPrefix: [UInt8] { ShardKeys.prefix(stage: stage, partition: partition) }

    /// Whether a record at `offset` is already reflected here.
    @inline(__always) public func hasApplied(offset: Int64) -> Bool {
        guard let next = nextOffset else { return false }
        return offset < next
    }

    /// Applies a decoded event read at `offset`. `idBytes` is the decoder's id buffer the event's
    /// ranges point into.
    public mutating func apply(_ event: DecodedEvent, idBytes: [UInt8], offset: Int64) -> ApplyOutcome {
        if hasApplied(offset: offset) { return .alreadyApplied }
        let ids = idBytes.span
        // The item's id bytes, extracted once per event; checked for residency before anything
        // changes, so a shard that must first read the entry can be asked again.
        let item = configuration.keepsItemStatistics ? Array(ids.extracting(event.itemID)) : []
        if configuration.keepsItemStatistics && !itemStatistics.table.isResident(item) { return .needsItem(item) }
        // The user's index, looked up once for the exposure filter (nil: not an exposure the
        // filter takes, or a user it does not know yet).
        let filtered =
            configuration.exposureFiltersEnabled
            && (event.type == .exposure || (configuration.clickImpliesExposure && event.type == .click))
        let knownUser = filtered ? users.lookup(ids.extracting(event.userID)) : nil
        if let knownUser, !exposureFilters.isResident(knownUser) { return .needsUser(knownUser) }
        nextOffset = offset + 1
        metaDirty = true
        let key = EventDeduplicator.key(for: ids.extracting(event.eventID))
        var probe = dedup.probe(key)
        if case .present = probe {
            counters.duplicates += 1
            return .duplicate
        }
        let previous = watermark ?? event.time
        if event.time.millis < previous.millis - configuration.allowedLatenessMillis {
            // Late for the windowed families, whose exactness rests on the dedup memory (it spans
            // the allowed lateness only). The exposure filter is a set: remembering an exposure
            // twice changes nothing, so it keeps every exposure inside its own retention.
            counters.late += 1
            if filtered && rememberExposure(event, ids: ids, user: knownUser, watermark: previous) { counters.lateExposuresKept += 1 }
            guard configuration.keepsItemStatistics else { return .late }
            itemStatistics.recordLateDrop(item: item, type: event.type)
            return .late
        }
        let newWatermark = max(previous, event.time)
        if newWatermark != watermark {
            watermark = newWatermark
            if dedup.expire(watermark: newWatermark) { probe = dedup.probe(key) }
        }
        dedup.insert(key, at: event.time, probe: probe)
        counters.applied[event.type.index] += 1
        if configuration.keepsItemStatistics {
            itemStatistics.apply(item: item, type: event.type, time: event.time, watermark: newWatermark)
        }
        if filtered { rememberExposure(event, ids: ids, user: knownUser, watermark: newWatermark) }
        return .applied
    }

    /// Records an exposure (or, with `clickImpliesExposure`, a click on an item the filter does
    /// not hold) in the user's filter, evaluated at `watermark`; the caller has checked the type.
    /// Returns whether the filter took it: false for a click on an item the filter holds and for
    /// an exposure older than the filter's retention. `knownUser` is the user's dictionary index
    /// when it has one (the caller looked it up).
    @discardableResult
    private mutating func rememberExposure(_ event: DecodedEvent, ids: Span<UInt8>, user knownUser: Int32?, watermark: EventTime) -> Bool {
        let hash = ExposureHash(ids.extracting(event.itemID))
        if event.type == .click, let knownUser, exposureFilters.contains(user: knownUser, itemHash: hash, watermark: watermark) {
            return false
        }
        guard exposureFilters.retains(event.time, watermark: watermark) else { return false }
        let user = knownUser ?? users.intern(ids.extracting(event.userID)).index
        exposureFilters.recordExposure(user: user, itemHash: hash, at: event.time, watermark: watermark)
        return true
    }

    /// Whether applying `event` would intern no new id beyond `maxIDs` per dictionary (nor past
    /// the 4 GiB of id bytes a dictionary can address). The runtime refuses an event that fails
    /// this (dead-letter reason `dictionary_full`) instead of letting a dictionary trap; events
    /// naming known ids always pass. O(1) while the dictionaries have room.
    public func admits(_ event: DecodedEvent, idBytes: [UInt8], maxIDs: Int) -> Bool {
        let ids = idBytes.span
        if configuration.exposureFiltersEnabled
            && (event.type == .exposure || (configuration.clickImpliesExposure && event.type == .click))
        {
            return users.admits(ids.extracting(event.userID), maxCount: maxIDs)
        }
        return true
    }

    /// Makes `item`'s entry resident with its committed record (nil: none).
    public mutating func installItem(_ item: [UInt8], record: [UInt8]?) throws(StateDecodingError) {
        try itemStatistics.install(item: item, record: record)
    }

    /// Makes `user`'s exposure filter resident with its committed slice records (keys relative to
    /// ``exposureRecordPrefix(_:)``).
    public mutating func installUser(_ user: Int32, records: [(key: [UInt8], value: [UInt8])]) throws(StateDecodingError) {
        try exposureFilters.install(user: user, records: records)
    }

    /// The store key prefix of the family records of exposure filters.
    public var exposureFamilyPrefix: [UInt8] { keyPrefix + [ShardKeys.familyKind, ExposureFilters.tag] }

    /// The store key prefix of `user`'s exposure slice records.
    public func exposureRecordPrefix(_ user: Int32) -> [UInt8] { exposureFamilyPrefix + ExposureFilters.userPrefix(user) }

    /// The store key of `item`'s statistics record.
    public func itemRecordKey(_ item: [UInt8]) -> [UInt8] { keyPrefix + [ShardKeys.familyKind, ItemStatistics.tag] + item }

    /// Evicts clean paged entries until at most `budget` bytes of them are resident, each family
    /// down to its share in proportion to what it holds.
    @discardableResult
    public mutating func evict(toBytes budget: Int) -> Int {
        let items = itemStatistics.table.residentBytes
        let exposures = exposureFilters.paged ? exposureFilters.cachedBytes : 0
        let total = items + exposures
        guard total > budget, total > 0 else { return 0 }
        let ratio = Double(budget) / Double(total)
        return itemStatistics.evict(toBytes: Int(Double(items) * ratio))
            + exposureFilters.evict(toBytes: Int(Double(exposures) * ratio))
    }

    /// Bytes held by this shard's paged entries.
    public var pagedBytes: Int {
        itemStatistics.table.residentBytes + (exposureFilters.paged ? exposureFilters.cachedBytes : 0)
    }

    /// Item-keyed stage: applies a record of the item repartition topic read at `offset`. A record
    /// whose source offset was applied before (re-forwarded after an upstream restart) is a
    /// duplicate; lateness was decided upstream, so a late record only counts as a late drop.
    public mutating func applyForwarded(_ event: ForwardedEvent, offset: Int64) -> ApplyOutcome {
        if hasApplied(offset: offset) { return .alreadyApplied }
        if configuration.itemStatisticsEnabled && !itemStatistics.table.isResident(event.itemID) { return .needsItem(event.itemID) }
        nextOffset = offset + 1
        metaDirty = true
        guard sources.accept(partition: event.sourcePartition, offset: event.sourceOffset) else {
            counters.duplicates += 1
            return .duplicate
        }
        let mark = max(watermark ?? event.time, event.time)
        if event.late {
            counters.late += 1
            itemStatistics.recordLateDrop(item: event.itemID, type: event.type)
            return .late
        }
        watermark = mark
        counters.applied[event.type.index] += 1
        itemStatistics.apply(item: event.itemID, type: event.type, time: event.time, watermark: mark)
        return .applied
    }

    /// Records that the record at `offset` was refused by the decoder (and sent to the
    /// dead-letter topic), so the shard's offset moves past it.
    public mutating func reject(offset: Int64, reason: RejectReason) -> ApplyOutcome {
        if hasApplied(offset: offset) { return .alreadyApplied }
        nextOffset = offset + 1
        metaDirty = true
        counters.rejected[reason, default: 0] += 1
        return .applied
    }

    /// Moves the next offset forward without applying anything, after records between were lost
    /// (the log start moved past them). Returns how many offsets were skipped.
    public mutating func skipLost(to offset: Int64) -> Int64 {
        let from = nextOffset ?? 0
        guard offset > from else { return 0 }
        nextOffset = offset
        metaDirty = true
        return offset - from
    }

    /// What ``repairClock(notAfter:)`` changed.
    public struct ClockRepair: Sendable, Hashable, Codable {
        public var partition: Int32
        public var stage: UInt8
        public var watermarkMillis: Int64
        public var repairedWatermarkMillis: Int64
        public var statisticsEventsRemoved: UInt64
        public var exposureSlicesRemoved: Int
        public var dedupIDsForgotten: Int
    }

    /// The way out for a state that an earlier version let a far-future event poison: when the
    /// watermark is after `limit`, moves it back to `limit`, removes what was recorded after
    /// `limit` (statistics buckets and totals, exposure slices, dedup ids) and moves the dedup
    /// horizon back. What the poisoned watermark already made the state forget (windows pruned,
    /// slices expired, on-time events dropped as late) cannot come back: a replay can
    /// (docs/reliability.md, Client clocks). Returns nil when the watermark is not after `limit`.
    public mutating func repairClock(notAfter limit: EventTime) -> ClockRepair? {
        guard let current = watermark, current > limit else { return nil }
        watermark = limit
        let removed = itemStatistics.removeEvents(after: limit)
        let slices = exposureFilters.removeSlices(after: limit)
        let forgotten = dedup.rewind(to: limit)
        persistedDedupExpiry = dedup.expiredThroughMinute
        dedupDeleteAfterMinute = UInt32(clamping: max(limit.millis, 0) / 60_000)
        metaDirty = true
        return ClockRepair(
            partition: partition, stage: stage, watermarkMillis: current.millis, repairedWatermarkMillis: limit.millis,
            statisticsEventsRemoved: removed, exposureSlicesRemoved: slices, dedupIDsForgotten: forgotten)
    }

    /// Whether this shard remembers `userID` being shown `itemHash` (evaluated at the shard's
    /// watermark). False for a user the shard does not know.
    public func wasExposed(userID: String, itemHash: ExposureHash) -> Bool {
        guard let user = users.lookup(userID), let watermark else { return false }
        return exposureFilters.contains(user: user, itemHash: itemHash, watermark: watermark)
    }

    /// The user's exposure summary in this shard, if it has one.
    public func exposureSummary(userID: String) -> ExposureSummary? {
        guard let user = users.lookup(userID), let watermark else { return nil }
        return exposureFilters.summary(user: user, watermark: watermark)
    }

    /// The item counters for `itemID` in this shard, if it has any.
    public func itemCounters(_ itemID: String) -> ItemCounters? {
        itemStatistics.counters(of: Array(itemID.utf8))
    }

    // MARK: Persistence

    /// Everything changed since the last call, with global keys, metadata included. After the
    /// caller has written these together with nothing else in between, the store holds exactly
    /// this shard's state as of ``nextOffset``.
    public mutating func drainChanges() -> StateChanges {
        var changes = StateChanges()
        let prefix = keyPrefix
        commitSequence += 1

        for index in users.newIDs {
            var key = BinaryWriter(capacity: prefix.count + 5)
            key.append(contentsOf: prefix)
            key.append(ShardKeys.userDictionaryKind)
            key.appendBigEndian(UInt32(bitPattern: index))
            changes.put(key.bytes, Array(users.bytes(of: index)))
        }
        users.markPersisted()

        if let expired = dedup.expiredThroughMinute, persistedDedupExpiry.map({ $0 < expired }) ?? true {
            var from = BinaryWriter()
            from.append(contentsOf: prefix)
            from.append(ShardKeys.dedupKind)
            var to = from
            to.appendBigEndian(expired + 1)
            changes.deleteRange(from: from.bytes, to: expired == UInt32.max ? ShardKeys.end(of: from.bytes) : to.bytes)
            persistedDedupExpiry = expired
        }
        if let after = dedupDeleteAfterMinute, after < UInt32.max {
            var from = BinaryWriter()
            from.append(contentsOf: prefix)
            from.append(ShardKeys.dedupKind)
            let kind = from.bytes
            from.appendBigEndian(after + 1)
            changes.deleteRange(from: from.bytes, to: ShardKeys.end(of: kind))
            dedupDeleteAfterMinute = nil
        }
        for chunk in dedup.drainNew() {
            var key = BinaryWriter(capacity: prefix.count + 13)
            key.append(contentsOf: prefix)
            key.append(ShardKeys.dedupKind)
            key.appendBigEndian(chunk.minute)
            key.appendBigEndian(commitSequence)
            var value = BinaryWriter(capacity: chunk.keys.count * 16)
            for k in chunk.keys {
                value.appendLittleEndian(k.low)
                value.appendLittleEndian(k.high)
            }
            changes.put(key.bytes, value.bytes)
        }

        itemStatistics.drainChanges(prefix: prefix + [ShardKeys.familyKind, ItemStatistics.tag], into: &changes)
        var exposureChanges = FamilyChanges()
        exposureFilters.drainChanges(into: &exposureChanges)
        append(exposureChanges, tag: ExposureFilters.tag, prefix: prefix, to: &changes)

        if metaDirty || !changes.isEmpty {
            var key = prefix
            key.append(ShardKeys.metaKind)
            changes.put(key, encodeMeta())
            metaDirty = false
        }
        return changes
    }

    private func append(_ familyChanges: FamilyChanges, tag: UInt8, prefix: [UInt8], to changes: inout StateChanges) {
        for range in familyChanges.deletedRanges {
            let family = prefix + [ShardKeys.familyKind, tag]
            changes.deleteRange(from: family + range.from, to: family + range.to)
        }
        for record in familyChanges.records {
            var key = prefix
            key.append(ShardKeys.familyKind)
            key.append(tag)
            key.append(contentsOf: record.key)
            if let value = record.value { changes.put(key, value) } else { changes.delete(key) }
        }
    }

    private func encodeMeta() -> [UInt8] {
        var w = BinaryWriter(capacity: 96)
        w.append(3)  // meta record version
        w.appendSignedVarint(nextOffset ?? -1)
        w.appendSignedVarint(watermark?.millis ?? -1)
        w.appendVarint(commitSequence)
        w.appendSignedVarint(dedup.expiredThroughMinute.map { Int64($0) } ?? -1)
        for n in counters.applied { w.appendVarint(n) }
        w.appendVarint(counters.duplicates)
        w.appendVarint(counters.late)
        let rejected = counters.rejected.sorted { $0.key.rawValue < $1.key.rawValue }
        w.appendVarint(UInt64(rejected.count))
        for (reason, n) in rejected {
            w.appendLengthPrefixed(Array(reason.rawValue.utf8))
            w.appendVarint(n)
        }
        sources.encode(into: &w)
        w.appendVarint(counters.lateExposuresKept)
        return w.bytes
    }

    private mutating func restoreMeta(_ value: [UInt8]) throws(StateDecodingError) {
        var r = BinaryReader(value)
        let version = try r.readByte()
        guard (1...3).contains(version) else { throw StateDecodingError("shard meta version \(version)") }
        let offset = try r.readSignedVarint()
        nextOffset = offset >= 0 ? offset : nil
        let mark = try r.readSignedVarint()
        watermark = mark >= 0 ? EventTime(millis: mark) : nil
        commitSequence = try r.readVarint()
        let expired = try r.readSignedVarint()
        let expiredMinute: UInt32? = expired >= 0 ? UInt32(clamping: expired) : nil
        dedup.restore(expiredThroughMinute: expiredMinute)
        persistedDedupExpiry = expiredMinute
        for i in 0..<EventType.count { counters.applied[i] = try r.readVarint() }
        counters.duplicates = try r.readVarint()
        counters.late = try r.readVarint()
        let n = try r.readVarint()
        guard n <= UInt64(RejectReason.allCases.count) else { throw StateDecodingError("\(n) reject reasons") }
        for _ in 0..<Int(n) {
            let name = String(decoding: try r.readLengthPrefixed(), as: UTF8.self)
            guard let reason = RejectReason(rawValue: name) else { throw StateDecodingError("unknown reject reason \(name)") }
            counters.rejected[reason] = try r.readVarint()
        }
        if version >= 2 { try sources.decode(from: &r) }
        if version >= 3 { counters.lateExposuresKept = try r.readVarint() }
        try r.expectEnd()
    }

    /// Restores one persisted record; `key` is the full key (prefix included). Records may arrive
    /// in any order except that item-dictionary records must come in ascending index order (a
    /// prefix scan delivers them so).
    public mutating func restore(key: [UInt8], value: [UInt8]) throws(StateDecodingError) {
        let prefixLength = 6
        guard key.count > prefixLength, Array(key[0..<prefixLength]) == keyPrefix else {
            throw StateDecodingError("key outside shard \(partition)")
        }
        let kind = key[prefixLength]
        let rest = Array(key[(prefixLength + 1)...])
        switch kind {
        case ShardKeys.metaKind:
            try restoreMeta(value)
        case ShardKeys.itemDictionaryKind:
            throw StateDecodingError("an item-dictionary record of store format 1 (item statistics are keyed by item id since format 2)")
        case ShardKeys.userDictionaryKind:
            var r = BinaryReader(rest)
            let index = Int32(bitPattern: try r.readBigEndianUInt32())
            try users.restore(index: index, bytes: value)
            // Paged: the user's slices (if any) stay in the store until first needed.
            exposureFilters.markNotResident(index)
        case ShardKeys.dedupKind:
            var r = BinaryReader(rest)
            let minute = try r.readBigEndianUInt32()
            guard value.count % 16 == 0 else { throw StateDecodingError("dedup chunk of \(value.count) bytes") }
            var v = BinaryReader(value)
            var keys: [Hash128] = []
            keys.reserveCapacity(value.count / 16)
            while !v.isAtEnd {
                keys.append(Hash128(low: try v.readLittleEndianUInt64(), high: try v.readLittleEndianUInt64()))
            }
            dedup.restore(minute: minute, keys: keys)
        case ShardKeys.familyKind:
            guard let tag = rest.first else { throw StateDecodingError("family record without a tag") }
            let familyKey = Array(rest.dropFirst())
            switch tag {
            case ItemStatistics.tag: try itemStatistics.install(item: familyKey, record: value)
            case ExposureFilters.tag: try exposureFilters.restore(key: familyKey, value: value)
            default: throw StateDecodingError("unknown family tag \(tag)")
            }
        default:
            throw StateDecodingError("unknown record kind \(kind)")
        }
    }

    /// Whether the store held a metadata record for this shard (it has committed state).
    public var hasCommittedState: Bool { nextOffset != nil }

    // MARK: Inspection

    /// Per-family entry counts and approximate bytes, dictionary and dedup included.
    public var sizes: [(family: String, entries: Int, bytes: Int)] {
        [
            ("dedup", dedup.count, dedup.approximateBytes),
            (ItemStatistics.name, itemStatistics.entryCount, itemStatistics.approximateBytes),
            ("user_dictionary", users.count, users.approximateBytes),
            (ExposureFilters.name, exposureFilters.entryCount, exposureFilters.approximateBytes),
        ]
    }
}
