/// One seed of an item: a user and the time of their latest engagement with it.
public struct Seed: Hashable, Sendable {
    public var user: Int32
    public var time: EventTime

    public init(user: Int32, time: EventTime) {
        self.user = user
        self.time = time
    }
}

/// One item's seeds: the most recent distinct users who engaged it, in ascending order of their
/// latest engagement time (ties: in order of arrival).
///
/// Layout: a log of (user, time) entries in that order, from `head` to the end, in which an entry
/// is either live or stale (user −1: superseded by the user's newer engagement, or evicted), plus
/// an open-addressing table (linear probing, load <= 1/2) from user to the position of its live
/// entry. An engagement is O(1) amortised: look the user up, mark its old entry stale, append; the
/// log is compacted once it holds more than twice the live entries (plus 32), which costs
/// O(live) after at least `live + 32` appends. A late engagement (older than the newest entry) is
/// inserted in time order, costing O(entries newer than it).
///
/// Memory: 12 bytes per log entry (at most 2S + 32 of them) and 4 bytes per table slot (at most
/// 4S), so about 40 bytes per seed at worst and 20 when compact.
struct SeedList: Sendable {
    private(set) var users: [Int32] = []
    private(set) var times: [Int64] = []
    private(set) var head = 0
    private(set) var live = 0
    private var table: [Int32] = []
    /// Bumped by every change; a summary task remembers it to tell whether the list changed since.
    private(set) var changeCount: UInt32 = 0

    private static let empty: Int32 = -1

    var isEmpty: Bool { live == 0 }

    /// The time of the oldest live entry.
    var oldestTime: Int64? {
        var p = head
        while p < users.count {
            if users[p] >= 0 { return times[p] }
            p += 1
        }
        return nil
    }

    @inline(__always) private func slot(of user: Int32, mask: Int) -> Int {
        Int(truncatingIfNeeded: SplitMix64.mix(UInt64(UInt32(bitPattern: user)))) & mask
    }

    /// The table slot holding `user`, or nil.
    private func find(_ user: Int32) -> Int? {
        guard !table.isEmpty else { return nil }
        let mask = table.count - 1
        var s = slot(of: user, mask: mask)
        while true {
            let p = table[s]
            if p == Self.empty { return nil }
            if users[Int(p)] == user { return s }
            s = (s + 1) & mask
        }
    }

    private mutating func insertIntoTable(user: Int32, position: Int) {
        let mask = table.count - 1
        var s = slot(of: user, mask: mask)
        while table[s] != Self.empty { s = (s + 1) & mask }
        table[s] = Int32(position)
    }

    /// Backward-shift deletion: keeps every probe sequence unbroken without tombstones.
    private mutating func removeFromTable(slot: Int) {
        let mask = table.count - 1
        var hole = slot
        var s = (slot + 1) & mask
        while table[s] != Self.empty {
            let home = self.slot(of: users[Int(table[s])], mask: mask)
            // Move the entry at s into the hole if its home is not cyclically in (hole, s].
            let distanceToHole = (s - home) & mask
            let distanceToEntry = (s - hole) & mask
            if distanceToHole >= distanceToEntry {
                table[hole] = table[s]
                hole = s
            }
            s = (s + 1) & mask
        }
        table[hole] = Self.empty
    }

    /// Records an engagement of `user` at `time`, keeping at most `cap` live entries.
    /// - Returns: whether the list changed (an engagement older than the user's latest one does
    ///   not change it), and how many users were evicted by the cap.
    mutating func record(user: Int32, time: Int64, cap: Int) -> (changed: Bool, evicted: Int) {
        if let s = find(user) {
            let p = Int(table[s])
            // Not newer than the user's latest engagement: nothing to change.
            if time <= times[p] { return (false, 0) }
            if p == users.count - 1 {
                // Already the newest entry: refresh its time in place.
                times[p] = time
                changeCount &+= 1
                return (true, 0)
            }
            users[p] = Self.empty
            removeFromTable(slot: s)
            live -= 1
        }
        if (live + 1) * 2 > table.count { growTable(minimum: (live + 1) * 2) }
        let position = insertPosition(time)
        if position == users.count {
            users.append(user)
            times.append(time)
        } else {
            users.insert(user, at: position)
            times.insert(time, at: position)
            // Entries after the insertion point moved up by one.
            for s in table.indices where table[s] != Self.empty && Int(table[s]) >= position { table[s] += 1 }
        }
        insertIntoTable(user: user, position: position)
        live += 1
        var evicted = 0
        while live > cap {
            evictOldest()
            evicted += 1
        }
        changeCount &+= 1
        compactIfSparse()
        return (true, evicted)
    }

    /// Where an entry at `time` goes: after every entry at or before `time`.
    private func insertPosition(_ time: Int64) -> Int {
        var p = users.count
        while p > head && times[p - 1] > time { p -= 1 }
        return p
    }

    private mutating func evictOldest() {
        while head < users.count && users[head] == Self.empty { head += 1 }
        guard head < users.count, let s = find(users[head]) else { return }
        removeFromTable(slot: s)
        users[head] = Self.empty
        head += 1
        live -= 1
    }

    /// Drops entries at or before `cutoff`. Returns how many live ones were dropped.
    mutating func expire(cutoff: Int64) -> Int {
        var dropped = 0
        while head < users.count && times[head] <= cutoff {
            if users[head] != Self.empty {
                if let s = find(users[head]) { removeFromTable(slot: s) }
                users[head] = Self.empty
                live -= 1
                dropped += 1
            }
            head += 1
        }
        if dropped > 0 {
            changeCount &+= 1
            compactIfSparse()
        }
        return dropped
    }

    private mutating func compactIfSparse() {
        if live == 0 {
            users = []
            times = []
            table = []
            head = 0
            return
        }
        guard users.count > 2 * live + 32 else { return }
        var newUsers: [Int32] = []
        var newTimes: [Int64] = []
        newUsers.reserveCapacity(live * 2)
        newTimes.reserveCapacity(live * 2)
        for p in head..<users.count where users[p] != Self.empty {
            newUsers.append(users[p])
            newTimes.append(times[p])
        }
        users = newUsers
        times = newTimes
        head = 0
        rebuildTable(capacity: table.count)
    }

    private mutating func growTable(minimum: Int) {
        var capacity = max(table.count, 8)
        while capacity < minimum { capacity *= 2 }
        rebuildTable(capacity: capacity)
    }

    private mutating func rebuildTable(capacity: Int) {
        var c = 8
        while c < max(capacity, live * 2) { c *= 2 }
        table = [Int32](repeating: Self.empty, count: c)
        for p in head..<users.count where users[p] != Self.empty { insertIntoTable(user: users[p], position: p) }
    }

    /// Live entries, oldest first.
    func forEachOldestFirst(_ body: (Int32, Int64) -> Void) {
        for p in head..<users.count where users[p] != Self.empty { body(users[p], times[p]) }
    }

    /// Live entries after `cutoff`, newest first, at most `limit`.
    func newest(after cutoff: Int64, limit: Int = Int.max) -> [Seed] {
        var out: [Seed] = []
        out.reserveCapacity(min(live, limit))
        var p = users.count - 1
        while p >= head && out.count < limit {
            if users[p] != Self.empty {
                guard times[p] > cutoff else { break }
                out.append(Seed(user: users[p], time: EventTime(millis: times[p])))
            }
            p -= 1
        }
        return out
    }

    /// The users of the live entries after `cutoff`, newest first.
    func users(after cutoff: Int64) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(live)
        var p = users.count - 1
        while p >= head {
            if users[p] != Self.empty {
                guard times[p] > cutoff else { break }
                out.append(users[p])
            }
            p -= 1
        }
        return out
    }

    /// Live entries after `cutoff`.
    func count(after cutoff: Int64) -> Int {
        var n = live
        var p = head
        while p < users.count && times[p] <= cutoff {
            if users[p] != Self.empty { n -= 1 }
            p += 1
        }
        return n
    }

    /// Whether `user` is a live seed.
    func contains(_ user: Int32) -> Bool { find(user) != nil }

    // MARK: Persistence

    /// Varint count, then the live entries oldest first: user, then the time as a gap from the
    /// previous entry's (the first from 0).
    func encode(into w: inout BinaryWriter) {
        w.appendVarint(UInt64(live))
        var previous: Int64 = 0
        forEachOldestFirst { user, time in
            w.appendVarint(UInt64(UInt32(bitPattern: user)))
            w.appendVarint(UInt64(time - previous))
            previous = time
        }
    }

    /// Decodes what ``encode(into:)`` wrote, keeping the newest `cap` entries.
    static func decode(from r: inout BinaryReader, cap: Int) throws(StateDecodingError) -> SeedList {
        let n = try r.readVarint()
        guard n <= UInt64(r.remaining / 2) else { throw StateDecodingError("seed list of \(n) entries") }
        var list = SeedList()
        var time: Int64 = 0
        var seen = Set<Int32>()
        for _ in 0..<Int(n) {
            let user = try r.readVarint()
            guard user <= UInt64(Int32.max) else { throw StateDecodingError("seed user \(user)") }
            let gap = try r.readVarint()
            guard gap < UInt64(EventTime.limitMillis), time + Int64(gap) < EventTime.limitMillis else {
                throw StateDecodingError("seed time gap \(gap)")
            }
            time += Int64(gap)
            guard seen.insert(Int32(user)).inserted else { throw StateDecodingError("seed user \(user) twice") }
            list.users.append(Int32(user))
            list.times.append(time)
        }
        list.live = list.users.count
        list.rebuildTable(capacity: list.live * 2)
        while list.live > cap { list.evictOldest() }
        list.compactIfSparse()
        return list
    }

    var approximateBytes: Int {
        users.capacity * 4 + times.capacity * 8 + table.capacity * 4 + (users.capacity > 0 ? 96 : 0)
    }
}
