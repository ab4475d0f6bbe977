/// Counts of what ``SeedLists`` did, for metrics and benchmarks. Process-lifetime: not persisted.
public struct SeedListCounters: Hashable, Sendable {
    /// Engagements that added a seed or moved one to the newest place.
    public var applied: UInt64 = 0
    /// Engagements that changed nothing (not newer than the user's latest one for the item).
    public var unchanged: UInt64 = 0
    /// Engagements at or before the expiry cutoff when they arrived.
    public var tooOld: UInt64 = 0
    /// Events ignored because they are exposures.
    public var notEngagements: UInt64 = 0
    /// Seeds evicted by the cap S.
    public var evicted: UInt64 = 0
    /// Seeds dropped by expiry.
    public var expired: UInt64 = 0

    public init() {}
}

/// The look-alike seeds of every item (RALM's seed users): per item index, the most recent
/// ``LookalikeConfiguration/seedsPerItem`` distinct users who engaged it, each with the time of
/// their latest engagement, expiring by event time.
///
/// - Update: ``apply(_:watermark:)`` per engagement, O(1) amortised (see ``SeedList`` for the
///   layout; a late engagement costs O(seeds newer than it)).
/// - Expiry: a seed whose latest engagement is at or before `watermark − seedExpiryMillis` is no
///   seed: queries skip it at once, the item's list drops it on its next engagement, and
///   ``expireSeeds()`` (called by the summary job, O(items + dropped)) drops it everywhere and marks
///   the item changed.
/// - Summaries: every change marks the item as needing a summary; ``summaryBatch(limit:)`` hands
///   the marked items to the summary job and ``completeSummaryBatch(_:)`` clears the marks of the
///   items that did not change while it ran. The marks are persisted, so a restart loses none.
/// - Persistence: like a shard family, ``drainChanges(into:)`` yields the records changed since the
///   last call and ``restore(key:value:)`` loads them (keys in ``LookalikeKeys``).
public struct SeedLists: Sendable {
    /// Name used in status output and metric labels.
    public static let name = "seeds"

    public let configuration: LookalikeConfiguration
    /// The largest watermark (or engagement time) seen; nil before the first engagement.
    public private(set) var watermark: EventTime?
    public private(set) var counters = SeedListCounters()

    private var lists: [SeedList] = []
    private var dirty = DirtySet()
    private var pending = ItemMarks()
    private var pendingDirty = DirtySet()
    private var metaDirty = false

    /// - Important: Traps when ``LookalikeConfiguration/validate()`` reports a problem.
    public init(configuration: LookalikeConfiguration = .default) {
        let problems = configuration.validate()
        precondition(problems.isEmpty, "invalid LookalikeConfiguration: \(problems.joined(separator: "; "))")
        self.configuration = configuration
    }

    /// The latest time that is expired: seeds at or before it are no longer seeds.
    public var cutoff: Int64 {
        guard let watermark else { return Int64.min }
        return watermark.millis - configuration.seedExpiryMillis
    }

    // MARK: Apply

    /// Applies one engagement: its user becomes (or stays, moved to the newest place) a seed of its
    /// item, evicting the oldest seed beyond S. `watermark` is the instance watermark including this
    /// event; the lists keep the largest they have seen. Exposures and engagements already expired
    /// are ignored. Cost: O(1) amortised.
    public mutating func apply(_ engagement: Engagement, watermark: EventTime) {
        precondition(engagement.user >= 0 && engagement.item >= 0, "negative index in \(engagement)")
        guard engagement.type.isEngagement else {
            counters.notEngagements += 1
            return
        }
        let now = max(self.watermark ?? watermark, watermark, engagement.time)
        if now != self.watermark {
            self.watermark = now
            metaDirty = true
        }
        let cutoff = now.millis - configuration.seedExpiryMillis
        guard engagement.time.millis > cutoff else {
            counters.tooOld += 1
            return
        }
        let i = Int(engagement.item)
        if i >= lists.count {
            lists.append(
                contentsOf: repeatElement(SeedList(), count: max(i + 1, lists.count + lists.count / 2, 16) - lists.count))
        }
        let expired = lists[i].expire(cutoff: cutoff)
        let outcome = lists[i].record(user: engagement.user, time: engagement.time.millis, cap: configuration.seedsPerItem)
        counters.expired += UInt64(expired)
        counters.evicted += UInt64(outcome.evicted)
        if outcome.changed {
            counters.applied += 1
        } else {
            counters.unchanged += 1
        }
        if outcome.changed || expired > 0 { markChanged(engagement.item) }
    }

    /// Applies an engagement with its own time as the watermark (tests, tools).
    public mutating func apply(_ engagement: Engagement) {
        apply(engagement, watermark: max(watermark ?? engagement.time, engagement.time))
    }

    /// Drops every expired seed and marks the items that lost some as changed.
    /// Cost: O(items with seeds + seeds dropped).
    /// - Returns: the number of seeds dropped.
    @discardableResult
    public mutating func expireSeeds() -> Int {
        let cutoff = self.cutoff
        guard cutoff > Int64.min else { return 0 }
        var total = 0
        for i in lists.indices where !lists[i].isEmpty {
            guard let oldest = lists[i].oldestTime, oldest <= cutoff else { continue }
            let n = lists[i].expire(cutoff: cutoff)
            if n > 0 {
                total += n
                markChanged(Int32(i))
            }
        }
        counters.expired += UInt64(total)
        return total
    }

    private mutating func markChanged(_ item: Int32) {
        dirty.insert(item)
        if pending.insert(item) { pendingDirty.insert(item) }
    }

    // MARK: Queries

    /// The seeds of `item`, newest first, at most `limit` (expired ones excluded).
    public func seeds(of item: Int32, limit: Int = Int.max) -> [Seed] {
        guard item >= 0, Int(item) < lists.count else { return [] }
        return lists[Int(item)].newest(after: cutoff, limit: limit)
    }

    /// The seed users of `item`, newest first (expired ones excluded).
    public func seedUsers(of item: Int32) -> [Int32] {
        guard item >= 0, Int(item) < lists.count else { return [] }
        return lists[Int(item)].users(after: cutoff)
    }

    /// The number of seeds of `item` (expired ones excluded). Cost: O(1) plus the expired seeds
    /// still held.
    public func seedCount(of item: Int32) -> Int {
        guard item >= 0, Int(item) < lists.count else { return 0 }
        return lists[Int(item)].count(after: cutoff)
    }

    /// Whether `user` is a seed of `item` (ignoring expiry not yet applied).
    public func isSeed(_ user: Int32, of item: Int32) -> Bool {
        guard item >= 0, Int(item) < lists.count else { return false }
        return lists[Int(item)].contains(user)
    }

    /// Whether `item` passes the cold-start gate: at least ``LookalikeConfiguration/minimumSeeds``
    /// seeds.
    public func passesGate(_ item: Int32) -> Bool { seedCount(of: item) >= configuration.minimumSeeds }

    /// Item slots (the largest item index seen + 1, rounded up).
    public var itemSlots: Int { lists.count }

    /// Items with at least one seed held.
    public var itemCount: Int { lists.reduce(0) { $0 + ($1.isEmpty ? 0 : 1) } }

    /// Seeds held in all lists (expired ones not yet dropped included).
    public var totalSeeds: Int { lists.reduce(0) { $0 + $1.live } }

    /// Items whose seeds changed since their last summary.
    public var pendingSummaryCount: Int { pending.count }

    /// Approximate heap bytes held.
    public var approximateBytes: Int {
        lists.capacity * MemoryLayout<SeedList>.stride + lists.reduce(0) { $0 + $1.approximateBytes }
            + pending.approximateBytes
    }

    // MARK: Summary runs

    /// Takes up to `limit` items whose seeds changed since their last summary (first changed
    /// first), with a snapshot of their seeds, for the summary job to build outside the lock.
    /// Items stay marked until ``completeSummaryBatch(_:)``. Cost: O(marked items + copied seeds).
    public func summaryBatch(limit: Int = Int.max) -> SeedSummaryBatch {
        var tasks: [SeedSummaryTask] = []
        let cutoff = self.cutoff
        for item in pending.items {
            if tasks.count >= limit { break }
            let i = Int(item)
            let list = i < lists.count ? lists[i] : SeedList()
            let count = list.count(after: cutoff)
            let users = count >= configuration.minimumSeeds ? list.users(after: cutoff) : []
            tasks.append(SeedSummaryTask(item: item, seedCount: count, users: users, changeStamp: list.changeCount))
        }
        return SeedSummaryBatch(builtAt: watermark ?? EventTime(millis: 0), tasks: tasks)
    }

    /// Clears the summary marks of the batch's items whose seeds did not change since the batch was
    /// taken (the others stay marked for the next run).
    public mutating func completeSummaryBatch(_ batch: SeedSummaryBatch) {
        for task in batch.tasks {
            let i = Int(task.item)
            let stamp = i < lists.count ? lists[i].changeCount : 0
            if stamp == task.changeStamp && pending.remove(task.item) { pendingDirty.insert(task.item) }
        }
    }

    /// Marks every item with seeds as needing a summary: after a new embedding model version, whose
    /// vectors live in another space. Cost: O(items).
    public mutating func markAllForSummary() {
        for i in lists.indices where !lists[i].isEmpty {
            if pending.insert(Int32(i)) { pendingDirty.insert(Int32(i)) }
        }
    }

    // MARK: Persistence

    /// Moves every record changed since the last call into `changes` (keys family-relative, see
    /// ``LookalikeKeys``): the seed lists of changed items, summary marks set or cleared, and the
    /// metadata. Cost: O(changed items × their seeds).
    public mutating func drainChanges(into changes: inout FamilyChanges) {
        for item in dirty.drain() {
            let key = LookalikeKeys.key(LookalikeKeys.seeds, item)
            let list = lists[Int(item)]
            if list.isEmpty {
                changes.delete(key)
            } else {
                var w = BinaryWriter(capacity: 4 + list.live * 6)
                list.encode(into: &w)
                changes.put(key, w.bytes)
            }
        }
        for item in pendingDirty.drain() {
            let key = LookalikeKeys.key(LookalikeKeys.summaryPending, item)
            if pending.contains(item) { changes.put(key, []) } else { changes.delete(key) }
        }
        if metaDirty {
            var w = BinaryWriter(capacity: 12)
            w.append(LookalikeKeys.metaVersion)
            w.appendSignedVarint(watermark?.millis ?? -1)
            changes.put([LookalikeKeys.meta], w.bytes)
            metaDirty = false
        }
    }

    /// Restores one persisted record of kinds meta, seeds or summary mark (any order); summary
    /// records belong to ``SeedSummaries``.
    /// - Throws: ``StateDecodingError`` when the key or value is malformed or of another kind.
    public mutating func restore(key: [UInt8], value: [UInt8]) throws(StateDecodingError) {
        guard let kind = key.first else { throw StateDecodingError("empty look-alike key") }
        var r = BinaryReader(value)
        switch kind {
        case LookalikeKeys.meta:
            guard key.count == 1 else { throw StateDecodingError("look-alike meta key of \(key.count) bytes") }
            let version = try r.readByte()
            guard version == LookalikeKeys.metaVersion else { throw StateDecodingError("look-alike meta version \(version)") }
            let mark = try r.readSignedVarint()
            watermark = mark >= 0 ? EventTime(millis: mark) : nil
        case LookalikeKeys.seeds:
            let item = try LookalikeKeys.readItem(key)
            let list = try SeedList.decode(from: &r, cap: configuration.seedsPerItem)
            let i = Int(item)
            if i >= lists.count { lists.append(contentsOf: repeatElement(SeedList(), count: i + 1 - lists.count)) }
            lists[i] = list
        case LookalikeKeys.summaryPending:
            let item = try LookalikeKeys.readItem(key)
            _ = pending.insert(item)
        default:
            throw StateDecodingError("look-alike seed record kind \(kind)")
        }
        try r.expectEnd()
    }
}

/// One item of a summary batch: the seeds it had when the batch was taken.
public struct SeedSummaryTask: Sendable, Hashable {
    public var item: Int32
    /// The item's seeds when the batch was taken.
    public var seedCount: Int
    /// The seed users, newest first; empty when the item is below the cold-start gate (its summary,
    /// if any, is to be removed).
    public var users: [Int32]
    /// The list's change counter then: the mark is cleared only if it is unchanged at completion.
    public var changeStamp: UInt32

    public init(item: Int32, seedCount: Int, users: [Int32], changeStamp: UInt32) {
        self.item = item
        self.seedCount = seedCount
        self.users = users
        self.changeStamp = changeStamp
    }
}

/// The items a summary run rebuilds, with their seeds, taken by ``SeedLists/summaryBatch(limit:)``.
public struct SeedSummaryBatch: Sendable {
    /// The seed lists' watermark when the batch was taken: the event time the summaries describe.
    public var builtAt: EventTime
    public var tasks: [SeedSummaryTask]

    public init(builtAt: EventTime, tasks: [SeedSummaryTask]) {
        self.builtAt = builtAt
        self.tasks = tasks
    }
}

/// The layout of the look-alike records, relative to the family's keyspace (the runtime prefixes
/// them, e.g. with the instance-state marker and a kind byte of its own). The first byte names the
/// record kind; items are big-endian 32-bit indices, so a prefix scan yields items in order.
///
/// | kind | key after the kind byte | value |
/// |---|---|---|
/// | `0x00` meta | — | version (1), watermark (zig-zag varint, −1 for none) |
/// | `0x01` seeds | item (BE32) | count, then each seed oldest first: user (varint), time gap from the previous (varint, the first from 0) |
/// | `0x02` summary pending | item (BE32) | empty: the item's seeds changed since its last summary |
/// | `0x03` summary | item (BE32) | a ``SeedSummary`` (see ``SeedSummary/encode(into:)``) |
///
/// This layout is persisted: change it only with a format version bump.
public enum LookalikeKeys {
    public static let meta: UInt8 = 0x00
    public static let seeds: UInt8 = 0x01
    public static let summaryPending: UInt8 = 0x02
    public static let summary: UInt8 = 0x03

    public static let metaVersion: UInt8 = 1

    public static func key(_ kind: UInt8, _ item: Int32) -> [UInt8] {
        var w = BinaryWriter(capacity: 5)
        w.append(kind)
        w.appendBigEndian(UInt32(bitPattern: item))
        return w.bytes
    }

    static func readItem(_ key: [UInt8]) throws(StateDecodingError) -> Int32 {
        var r = BinaryReader(key)
        _ = try r.readByte()
        let item = Int32(bitPattern: try r.readBigEndianUInt32())
        try r.expectEnd()
        guard item >= 0 else { throw StateDecodingError("negative item in a look-alike key") }
        return item
    }
}

/// A set of item indices with O(1) insert, remove and membership, iterated in first-inserted order
/// (removed items are skipped, and compacted away once they are half the list).
struct ItemMarks: Sendable {
    private var flags: [Bool] = []
    private var order: [Int32] = []
    private(set) var count = 0

    func contains(_ item: Int32) -> Bool { Int(item) < flags.count && flags[Int(item)] }

    /// Returns whether the item was newly inserted.
    @discardableResult
    mutating func insert(_ item: Int32) -> Bool {
        let i = Int(item)
        if i >= flags.count { flags.append(contentsOf: repeatElement(false, count: max(i + 1 - flags.count, flags.count))) }
        guard !flags[i] else { return false }
        flags[i] = true
        order.append(item)
        count += 1
        return true
    }

    /// Returns whether the item was present.
    @discardableResult
    mutating func remove(_ item: Int32) -> Bool {
        guard contains(item) else { return false }
        flags[Int(item)] = false
        count -= 1
        if order.count > 2 * count + 64 {
            var seen = Set<Int32>()
            order = order.filter { flags[Int($0)] && seen.insert($0).inserted }
        }
        return true
    }

    /// The marked items, first inserted first.
    var items: [Int32] {
        var seen = Set<Int32>()
        var out: [Int32] = []
        out.reserveCapacity(count)
        for item in order where flags[Int(item)] && seen.insert(item).inserted { out.append(item) }
        return out
    }

    var approximateBytes: Int { flags.capacity + order.capacity * 4 }
}
