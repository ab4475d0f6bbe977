/// State that is not partition-local: the co-occurrence family (ItemCF, Swing, LastN histories)
/// and its engagement log. A user's events stay on one partition, but item-to-item similarity
/// pairs users across partitions, so this state is kept once per instance and fed, in each
/// partition's offset order, with the engagements every owned shard applied.
///
/// It is committed in the same write batch as the shards (so state, log and offsets always agree)
/// and restored at start. Because it aggregates every owned partition, it assumes one instance
/// owns all partitions of the events topic; the scale-out design moves it to an item-keyed stage.
///
/// Keys: `'G' 'm'` metadata, `'G' 'u' idx` user ids, `'G' 'i' idx` item ids, `'G' 'c' …`
/// co-occurrence records, `'G' 'l' day seq` engagement-log chunks, `'G' 's' …` look-alike seed
/// lists (``SeedLists``; see docs/lookalike.md).
public struct InstanceState: Sendable {
    public static let marker: UInt8 = 0x47  // "G"
    static let metaKind: UInt8 = 0x6d  // "m"
    static let userKind: UInt8 = 0x75  // "u"
    static let itemKind: UInt8 = 0x69  // "i"
    static let cooccurrenceKind: UInt8 = 0x63  // "c"
    public static let logKind: UInt8 = 0x6c  // "l"
    public static let seedKind: UInt8 = 0x73  // "s"

    public let configuration: CooccurrenceConfiguration
    public private(set) var users = IdInterner()
    public private(set) var items = IdInterner()
    public private(set) var cooccurrence: CooccurrenceState
    /// The look-alike seed lists, fed with the same engagements as the co-occurrence state.
    public private(set) var seeds: SeedLists
    private var log = EngagementLogBuffer()
    /// The largest event time of any engagement applied.
    public private(set) var watermark: EventTime?
    /// Incremented by every drain that writes; numbers the log chunks.
    public private(set) var commitSequence: UInt64 = 0
    private var persistedLogExpiry: [UInt8]? = nil
    /// Two-stage pipeline: the next offset of the engagement topic's partition to apply, and the
    /// largest source offset applied per events partition (see ``ForwardedEvent``).
    public private(set) var nextOffset: Int64?
    public private(set) var sources = SourceHighWaterMarks()
    private var metaDirty = false

    /// Which of the engagement families are kept; a switched-off one costs nothing per event.
    public let families: EngagementFamilies

    public init(
        configuration: CooccurrenceConfiguration, lookalike: LookalikeConfiguration = .default, families: EngagementFamilies = .all
    ) {
        self.configuration = configuration
        self.families = families
        cooccurrence = CooccurrenceState(configuration: configuration)
        seeds = SeedLists(configuration: lookalike)
    }

    /// Whether `type` feeds this state: an engagement with a positive weight, and some engagement
    /// family is kept.
    @inline(__always) public func isEngagement(_ type: EventType) -> Bool {
        families.any && configuration.weights.isEngagement(type)
    }

    /// Applies one engagement that a shard has accepted. `userID`/`itemID` index `idBytes`.
    public mutating func apply(type: EventType, time: EventTime, userID: Span<UInt8>, itemID: Span<UInt8>) {
        guard isEngagement(type) else { return }
        let user = users.intern(userID).index
        let item = items.intern(itemID).index
        let engagement = Engagement(user: user, item: item, type: type, time: time)
        let mark = max(watermark ?? time, time)
        watermark = mark
        if families.log { log.append(engagement) }
        if families.cooccurrence { cooccurrence.apply(engagement, watermark: mark) }
        if families.seeds { seeds.apply(engagement, watermark: mark) }
    }

    /// Whether an engagement of `userID` with `itemID` would intern no new id beyond `maxIDs` per
    /// dictionary (see ``Shard/admits(_:idBytes:maxIDs:)``).
    public func admits(type: EventType, userID: Span<UInt8>, itemID: Span<UInt8>, maxIDs: Int) -> Bool {
        guard isEngagement(type) else { return true }
        return users.admits(userID, maxCount: maxIDs) && items.admits(itemID, maxCount: maxIDs)
    }

    /// Moves past a record of the engagement topic without applying it (its ids do not fit the
    /// dictionaries; the runtime counts and logs it).
    public mutating func skip(offset: Int64) {
        if let next = nextOffset, offset < next { return }
        nextOffset = offset + 1
        metaDirty = true
    }

    /// Two-stage pipeline: applies a record of the engagement topic read at `offset`. A record whose
    /// source offset was applied before (re-forwarded after an upstream restart) is ignored.
    @discardableResult
    public mutating func applyForwarded(_ event: ForwardedEvent, offset: Int64) -> ApplyOutcome {
        if let next = nextOffset, offset < next { return .alreadyApplied }
        nextOffset = offset + 1
        metaDirty = true
        guard sources.accept(partition: event.sourcePartition, offset: event.sourceOffset) else { return .duplicate }
        guard !event.late, isEngagement(event.type) else { return .late }
        apply(type: event.type, time: event.time, userID: event.userID.span, itemID: event.itemID.span)
        return .applied
    }

    /// Applies an owned engagement (tests, tools).
    public mutating func apply(type: EventType, time: EventTime, userID: String, itemID: String) {
        let u = Array(userID.utf8)
        let i = Array(itemID.utf8)
        apply(type: type, time: time, userID: u.span, itemID: i.span)
    }

    /// Moves a watermark that a far-future engagement pushed past `limit` back to `limit` (see
    /// ``Shard/repairClock(notAfter:)``); entries stamped after it age out of histories and seed
    /// lists by their caps and windows, and an exact recompute rebuilds similarities. Returns the
    /// old watermark when it moved.
    public mutating func repairClock(notAfter limit: EventTime) -> EventTime? {
        guard let current = watermark, current > limit else { return nil }
        watermark = limit
        metaDirty = true
        return current
    }

    /// Per-family entry counts and approximate bytes held in memory, for status and metrics: the
    /// engagement dictionaries, ItemCF/Swing with the LastN histories, the seed lists, and the
    /// engagements buffered for the next commit (the log itself lives in the store).
    public var sizes: [(family: String, entries: Int, bytes: Int)] {
        [
            ("engagement_dictionary", users.count + items.count, users.approximateBytes + items.approximateBytes),
            ("cooccurrence", families.cooccurrence ? cooccurrence.userCount : 0, families.cooccurrence ? cooccurrence.approximateBytes : 0),
            ("seeds", seeds.totalSeeds, seeds.approximateBytes),
            ("engagement_log_buffer", log.count, log.count * MemoryLayout<Engagement>.stride),
        ]
    }

    // MARK: Exact recompute

    /// Takes a cut for an exact recompute right after a commit: the engagements up to the cut are
    /// exactly the log chunks with sequence at most the returned one.
    public mutating func beginExactRecompute() -> (cut: CooccurrenceCut, logSequence: UInt64) {
        if cooccurrence.outstandingCut != nil { cooccurrence.abandonExactRecompute() }
        return (cooccurrence.beginExactRecompute(), commitSequence)
    }

    /// Swaps in an exact result for the outstanding cut; false if it is stale.
    public mutating func replaceWithExact(_ result: ExactSimilarities) -> Bool { cooccurrence.replaceWithExact(result) }

    /// Gives up the outstanding cut (the job failed).
    public mutating func abandonExactRecompute() { cooccurrence.abandonExactRecompute() }

    // MARK: Queries

    /// The top `k` neighbours of `itemID` by `method`, with ids; nil if the item is unknown.
    public func similar(itemID: String, method: SimilarityMethod, k: Int) -> [(itemID: String, score: Double)]? {
        guard let index = items.lookup(itemID) else { return nil }
        return cooccurrence.similar(item: index, method: method, k: k).map { (items.string(of: $0.item), $0.score) }
    }

    /// The LastN history of `userID`, newest first; nil if the user is unknown.
    public func history(userID: String) -> [(itemID: String, type: EventType, time: EventTime, weight: Double)]? {
        guard let index = users.lookup(userID) else { return nil }
        return cooccurrence.history(user: index).map { (items.string(of: $0.item), $0.type, $0.time, $0.weight) }
    }

    // MARK: Persistence

    static func key(_ kind: UInt8, _ rest: [UInt8] = []) -> [UInt8] { [marker, kind] + rest }

    /// Everything changed since the last call, with global keys: new dictionary ids, the
    /// engagements applied since (one log chunk per day), expired log days, co-occurrence records
    /// and the metadata.
    public mutating func drainChanges() -> StateChanges {
        var changes = StateChanges()
        for index in users.newIDs {
            var w = BinaryWriter()
            w.appendBigEndian(UInt32(bitPattern: index))
            changes.put(Self.key(Self.userKind, w.bytes), Array(users.bytes(of: index)))
        }
        users.markPersisted()
        for index in items.newIDs {
            var w = BinaryWriter()
            w.appendBigEndian(UInt32(bitPattern: index))
            changes.put(Self.key(Self.itemKind, w.bytes), Array(items.bytes(of: index)))
        }
        items.markPersisted()
        if !log.isEmpty {
            commitSequence += 1
            for chunk in log.drain(sequence: commitSequence) { changes.put(Self.key(Self.logKind, chunk.key), chunk.value) }
        }
        if let watermark, let expired = EngagementLog.expiredKeyRange(watermark: watermark, windowMillis: configuration.windowMillis),
            expired.to != persistedLogExpiry
        {
            changes.deleteRange(from: Self.key(Self.logKind, expired.from), to: Self.key(Self.logKind, expired.to))
            persistedLogExpiry = expired.to
        }
        var family = FamilyChanges()
        cooccurrence.drainChanges(into: &family)
        for record in family.records {
            let key = Self.key(Self.cooccurrenceKind, record.key)
            if let value = record.value { changes.put(key, value) } else { changes.delete(key) }
        }
        var seedRecords = FamilyChanges()
        seeds.drainChanges(into: &seedRecords)
        // Summary marks are not persisted: summaries are derived, held in memory and rebuilt for
        // every item after a restart, so a mark would only add a write per engaged item.
        for record in seedRecords.records where record.key.first != LookalikeKeys.summaryPending {
            let key = Self.key(Self.seedKind, record.key)
            if let value = record.value { changes.put(key, value) } else { changes.delete(key) }
        }
        if !changes.isEmpty || metaDirty {
            var w = BinaryWriter()
            w.append(2)
            w.appendVarint(commitSequence)
            w.appendSignedVarint(watermark?.millis ?? -1)
            w.appendSignedVarint(nextOffset ?? -1)
            sources.encode(into: &w)
            changes.put(Self.key(Self.metaKind), w.bytes)
            metaDirty = false
        }
        return changes
    }

    /// Restores one persisted record (keys in ascending order, as a prefix scan gives them).
    /// Log chunks are skipped here: the exact recompute reads them from the store.
    public mutating func restore(key: [UInt8], value: [UInt8]) throws(StateDecodingError) {
        guard key.count >= 2, key[0] == Self.marker else { throw StateDecodingError("not an instance-state key") }
        let rest = Array(key[2...])
        switch key[1] {
        case Self.metaKind:
            var r = BinaryReader(value)
            let version = try r.readByte()
            guard version == 1 || version == 2 else { throw StateDecodingError("instance meta version \(version)") }
            commitSequence = try r.readVarint()
            let mark = try r.readSignedVarint()
            watermark = mark >= 0 ? EventTime(millis: mark) : nil
            if version >= 2 {
                let next = try r.readSignedVarint()
                nextOffset = next >= 0 ? next : nil
                try sources.decode(from: &r)
            }
            try r.expectEnd()
        case Self.userKind:
            var r = BinaryReader(rest)
            try users.restore(index: Int32(bitPattern: try r.readBigEndianUInt32()), bytes: value)
        case Self.itemKind:
            var r = BinaryReader(rest)
            try items.restore(index: Int32(bitPattern: try r.readBigEndianUInt32()), bytes: value)
        case Self.cooccurrenceKind:
            try cooccurrence.restore(key: rest, value: value)
        case Self.seedKind:
            try seeds.restore(key: rest, value: value)
        case Self.logKind:
            break
        default:
            throw StateDecodingError("unknown instance record kind \(key[1])")
        }
    }

    /// Whether a key belongs to the engagement log, and the commit sequence of its chunk.
    public static func logChunkSequence(_ key: [UInt8]) -> UInt64? {
        guard key.count > 2, key[0] == marker, key[1] == logKind,
            let parsed = try? EngagementLog.parseChunkKey(Array(key[2...]))
        else { return nil }
        return parsed.sequence
    }
}

// MARK: Look-alike seeds

extension InstanceState {
    /// The seeds of `itemID`, newest first, at most `limit`, with user ids; nil if the item is
    /// unknown. Cost: O(seeds held for the item).
    public func seeds(itemID: String, limit: Int = Int.max) -> (seeds: [(userID: String, time: EventTime)], count: Int, passesGate: Bool)? {
        guard let item = items.lookup(itemID) else { return nil }
        // Ties in time by user id: the engagement topic interleaves partitions differently from run
        // to run, and the answer must not depend on that.
        let list = seeds.seeds(of: item).map { (userID: users.string(of: $0.user), time: $0.time) }
            .sorted { $0.time != $1.time ? $0.time > $1.time : $0.userID < $1.userID }
            .prefix(limit).map { $0 }
        return (list, seeds.seedCount(of: item), seeds.passesGate(item))
    }

    /// Takes the items whose seeds changed since their last summary (every item with seeds when
    /// `everyItem`, after a new model version or a restart), first dropping expired seeds. The
    /// batch is built outside the engine lock, then handed to ``completeSeedSummaryBatch(_:)``.
    /// Cost: O(items with seeds + copied seeds).
    public mutating func takeSeedSummaryBatch(everyItem: Bool) -> SeedSummaryBatch {
        seeds.expireSeeds()
        if everyItem { seeds.markAllForSummary() }
        return seeds.summaryBatch()
    }

    /// Drops expired seeds everywhere (the summary job without a model). Cost: O(items with seeds).
    public mutating func expireSeedsOnly() { seeds.expireSeeds() }

    /// Clears the marks of the batch's items that did not change while it was built.
    public mutating func completeSeedSummaryBatch(_ batch: SeedSummaryBatch) { seeds.completeSummaryBatch(batch) }

    /// The canonical dump of the seed lists: one line per item with seeds, by item id, each seed as
    /// `user:time` newest first (expired seeds excluded; ties in time by user id, so the line does
    /// not depend on how partitions interleaved).
    public func seedDumpLines() -> [String] {
        var lines: [(String, String)] = []
        for i in 0..<Int32(clamping: min(items.count, seeds.itemSlots)) {
            let list = seeds.seeds(of: i)
            guard !list.isEmpty else { continue }
            let named = list.map { (users.string(of: $0.user), $0.time.millis) }
                .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
            let id = items.string(of: i)
            lines.append((id, "seeds item=\(id) n=\(named.count) [\(named.map { "\($0.0):\($0.1)" }.joined(separator: " "))]"))
        }
        return lines.sorted { $0.0 < $1.0 }.map(\.1)
    }
}

/// Which families the engagement state keeps (`cooccurrence.enabled`, `lookalike.enabled`, and the
/// engagement log whenever co-occurrence or embeddings need it).
public struct EngagementFamilies: Sendable, Hashable {
    /// ItemCF, Swing and the LastN histories they pair with.
    public var cooccurrence: Bool
    /// Look-alike seed lists.
    public var seeds: Bool
    /// The engagement log, read by the exact recompute and by embedding training.
    public var log: Bool

    public init(cooccurrence: Bool, seeds: Bool, log: Bool) {
        self.cooccurrence = cooccurrence
        self.seeds = seeds
        self.log = log
    }

    public static let all = EngagementFamilies(cooccurrence: true, seeds: true, log: true)

    /// Whether any is kept (otherwise engagements are not even interned).
    public var any: Bool { cooccurrence || seeds || log }
}
