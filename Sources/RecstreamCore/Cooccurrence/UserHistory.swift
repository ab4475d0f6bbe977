/// One item in a user's history: the item, the latest time the user engaged it, and the strongest
/// engagement type seen for it (by weight; on a tie the later one) with that type's weight.
public struct HistoryEntry: Hashable, Sendable {
    public var item: Int32
    public var type: EventType
    public var time: EventTime
    public var weight: Double

    public init(item: Int32, type: EventType, time: EventTime, weight: Double) {
        self.item = item
        self.type = type
        self.time = time
        self.weight = weight
    }
}

/// What the state keeps per user: every distinct item the user engaged inside the window, ordered
/// by the latest engagement time, up to the pathological-user cap (default 1,000 items).
///
/// - The newest ``CooccurrenceConfiguration/historyLength`` entries (N, default 50) are the LastN
///   history the query returns and the items a new engagement is paired with.
/// - All entries together are the user's distinct items I_u in the window: they decide whether an
///   engagement is the user's first with the item (so a pair counts once per user), and |I_u| feeds
///   the Swing weight, the ItemCF activity penalty and the user filters.
/// - Past the cap the oldest entry is evicted and its time remembered (`evictedThrough`); while
///   that time is inside the window the user has more distinct items than the cap, is treated as
///   pathological and contributes nothing, as the exact recompute leaves such users out.
///
/// Entries older than the window are dropped lazily, when the user engages again. Memory: 16 bytes
/// per entry, so at most 16 KB per user with the default cap.
struct UserHistory: Sendable {
    struct Entry: Sendable, Hashable {
        var time: Int64
        var item: Int32
        var type: EventType
    }

    /// Ascending by time (ties: in order of arrival).
    private(set) var entries: [Entry] = []
    /// The latest time of an entry evicted by the cap; Int64.min when none is inside the window.
    private(set) var evictedThrough = Int64.min

    var isEmpty: Bool { entries.isEmpty && evictedThrough == Int64.min }

    enum Outcome {
        /// The item was not among the user's items in the window.
        case new
        /// The user already engaged the item in the window; its entry was refreshed.
        case repeated
    }

    /// Drops entries at or before `cutoff` (outside the window).
    mutating func expire(cutoff: Int64) {
        if evictedThrough <= cutoff { evictedThrough = Int64.min }
        guard let first = entries.first, first.time <= cutoff else { return }
        var n = 0
        while n < entries.count && entries[n].time <= cutoff { n += 1 }
        entries.removeFirst(n)
    }

    /// Whether the user has had more distinct items than the cap inside the window ending at the
    /// watermark whose cutoff is `cutoff`.
    @inline(__always) func isSaturated(cutoff: Int64) -> Bool { evictedThrough > cutoff }

    /// Records an engagement of `item` at `time`. `cap` is the most entries kept.
    mutating func record(item: Int32, type: EventType, time: Int64, weights: EngagementWeights, cap: Int) -> Outcome {
        var i = entries.count - 1
        while i >= 0 && entries[i].item != item { i -= 1 }
        if i >= 0 {
            var entry = entries[i]
            let old = entry.type
            if weights[type] > weights[old] || (weights[type] == weights[old] && time >= entry.time) {
                entry.type = type
            }
            if time > entry.time {
                entry.time = time
                entries.remove(at: i)
                insertSorted(entry)
            } else {
                entries[i] = entry
            }
            return .repeated
        }
        insertSorted(Entry(time: time, item: item, type: type))
        if entries.count > cap {
            evictedThrough = max(evictedThrough, entries[0].time)
            entries.removeFirst()
        }
        return .new
    }

    private mutating func insertSorted(_ entry: Entry) {
        var position = entries.count
        while position > 0 && entries[position - 1].time > entry.time { position -= 1 }
        entries.insert(entry, at: position)
    }

    /// The index of the first entry after `cutoff`.
    @inline(__always) func firstInWindow(cutoff: Int64) -> Int {
        if entries.isEmpty || entries[0].time > cutoff { return 0 }
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].time <= cutoff { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// |I_u|: the entries after `cutoff`.
    @inline(__always) func distinctCount(cutoff: Int64) -> Int { entries.count - firstInWindow(cutoff: cutoff) }

    /// The positions of the newest `limit` entries after `cutoff`.
    @inline(__always) func newest(_ limit: Int, cutoff: Int64) -> Range<Int> {
        let first = firstInWindow(cutoff: cutoff)
        return max(first, entries.count - limit)..<entries.count
    }

    func encode(into w: inout BinaryWriter) {
        w.appendSignedVarint(evictedThrough == Int64.min ? -1 : evictedThrough)
        w.appendVarint(UInt64(entries.count))
        var previous: Int64 = 0
        for e in entries {
            w.appendVarint(UInt64(e.time - previous))
            w.appendVarint(UInt64(UInt32(bitPattern: e.item)))
            w.append(e.type.rawValue)
            previous = e.time
        }
    }

    static func decode(from r: inout BinaryReader, cap: Int) throws(StateDecodingError) -> UserHistory {
        var h = UserHistory()
        let evicted = try r.readSignedVarint()
        h.evictedThrough = evicted < 0 ? Int64.min : evicted
        let n = try r.readVarint()
        guard n <= UInt64(r.remaining / 3) else { throw StateDecodingError("history of \(n) entries") }
        var time: Int64 = 0
        h.entries.reserveCapacity(Int(n))
        for _ in 0..<Int(n) {
            let dt = try r.readVarint()
            guard dt < UInt64(EventTime.limitMillis), time + Int64(dt) < EventTime.limitMillis else {
                throw StateDecodingError("history time step \(dt)")
            }
            time += Int64(dt)
            let item = try r.readVarint()
            guard item <= UInt64(Int32.max) else { throw StateDecodingError("history item \(item)") }
            let raw = try r.readByte()
            guard let type = EventType(rawValue: raw), type.isEngagement else {
                throw StateDecodingError("history type \(raw)")
            }
            h.entries.append(Entry(time: time, item: Int32(item), type: type))
        }
        // A smaller cap than when written: keep the newest entries, as the cap would have.
        if h.entries.count > cap {
            let drop = h.entries.count - cap
            h.evictedThrough = max(h.evictedThrough, h.entries[drop - 1].time)
            h.entries.removeFirst(drop)
        }
        return h
    }

    var approximateBytes: Int { entries.capacity > 0 ? 32 + entries.capacity * MemoryLayout<Entry>.stride : 0 }
}

/// Every user's ``UserHistory``, by user index, with the users changed since the last drain.
/// Memory: 16 bytes per user slot plus the histories (at most 16 bytes × the pathological cap each).
struct UserHistories: Sendable {
    private(set) var histories: [UserHistory] = []
    var dirty = DirtySet()

    /// User slots (the largest user index seen + 1, rounded up).
    var count: Int { histories.count }

    /// The history of `user`; empty when the user has none.
    @inline(__always) subscript(user: Int32) -> UserHistory {
        Int(user) < histories.count ? histories[Int(user)] : UserHistory()
    }

    /// Moves `user`'s history out (its slot is empty until ``put(_:_:)``), so it can be changed
    /// without copying its entries.
    @inline(__always) mutating func take(_ user: Int32) -> UserHistory {
        let u = Int(user)
        if u >= histories.count {
            histories.append(
                contentsOf: repeatElement(
                    UserHistory(), count: max(u + 1, histories.count + histories.count / 2, 64) - histories.count))
        }
        let h = histories[u]
        histories[u] = UserHistory()
        return h
    }

    /// Puts `user`'s history back and marks it changed.
    @inline(__always) mutating func put(_ user: Int32, _ history: UserHistory) {
        histories[Int(user)] = history
        dirty.insert(user)
    }

    /// Restores a persisted history.
    mutating func restore(_ user: Int32, _ history: UserHistory) {
        let u = Int(user)
        if u >= histories.count {
            histories.append(contentsOf: repeatElement(UserHistory(), count: u + 1 - histories.count))
        }
        histories[u] = history
    }

    var approximateBytes: Int {
        histories.capacity * MemoryLayout<UserHistory>.stride + histories.reduce(0) { $0 + $1.approximateBytes }
    }
}

/// The users kept per item for Swing: the newest R users (by arrival) who engaged the item for the
/// first time in the window, oldest first. Memory: 4 bytes per user, at most R per item.
struct RecentUsers: Sendable {
    private(set) var lists: [[Int32]] = []
    var dirty = DirtySet()

    @inline(__always) func users(of item: Int32) -> [Int32] {
        Int(item) < lists.count ? lists[Int(item)] : []
    }

    /// Appends `user` to `item`'s list (moving it to the newest place if present), evicting the
    /// oldest beyond `cap`. Cost O(cap).
    mutating func append(_ user: Int32, to item: Int32, cap: Int) {
        let i = Int(item)
        if i >= lists.count {
            lists.append(
                contentsOf: repeatElement([], count: max(i + 1, lists.count + lists.count / 2, 16) - lists.count))
        }
        if let p = lists[i].lastIndex(of: user) { lists[i].remove(at: p) }
        if lists[i].count >= cap { lists[i].removeFirst(lists[i].count - cap + 1) }
        if lists[i].isEmpty { lists[i].reserveCapacity(min(cap, 8)) }
        lists[i].append(user)
        dirty.insert(item)
    }

    mutating func restore(_ item: Int32, _ users: [Int32]) {
        let i = Int(item)
        if i >= lists.count { lists.append(contentsOf: repeatElement([], count: i + 1 - lists.count)) }
        lists[i] = users
    }

    var approximateBytes: Int {
        lists.capacity * MemoryLayout<[Int32]>.stride
            + lists.reduce(0) { $0 + ($1.capacity > 0 ? 32 + $1.capacity * 4 : 0) }
    }
}
