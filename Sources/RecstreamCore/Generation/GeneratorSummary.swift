/// Counts over an event sequence: per type, distinct users and items, duplicates, late events and
/// the `ts` range. Meant for tests, the CLI and sanity checks of saved streams.
///
/// Definitions, which match how ``EventGenerator`` injects its faults:
/// - a **duplicate** is an event whose `event_id` appeared earlier in the sequence;
/// - a **late** event is a first occurrence whose `ts` is below the largest `ts` seen before it;
/// - per-type counts, distinct users and items count first occurrences only.
///
/// Cost: one pass; memory grows with the number of distinct event, user and item ids.
public struct GeneratorSummary: Sendable, Hashable {
    /// Every event in the sequence, duplicates included.
    public var events = 0
    /// Events with an id not seen before.
    public var distinctEvents = 0
    /// First occurrences per ``EventType``, indexed by ``EventType/index``.
    public var countsByType = [Int](repeating: 0, count: EventType.count)
    public var distinctUsers = 0
    public var distinctItems = 0
    /// Repeated event ids (producer retries).
    public var duplicates = 0
    /// First occurrences that arrived after a later `ts`.
    public var late = 0
    /// The largest amount by which a late event's `ts` was below the largest `ts` before it.
    public var maxLatenessMillis: Int64 = 0
    /// The smallest and largest `ts`; nil for an empty sequence.
    public var timeRange: ClosedRange<EventTime>?

    /// Summarises `events` in one pass.
    public init(_ events: some Sequence<Event>) {
        var eventIDs = Set<String>()
        var users = Set<String>()
        var items = Set<String>()
        var latest: EventTime?
        var earliest: EventTime?
        for event in events {
            self.events += 1
            earliest = min(earliest ?? event.time, event.time)
            guard eventIDs.insert(event.eventID).inserted else {
                duplicates += 1
                continue
            }
            distinctEvents += 1
            countsByType[event.type.index] += 1
            users.insert(event.userID)
            items.insert(event.itemID)
            if let latest, event.time < latest {
                late += 1
                maxLatenessMillis = max(maxLatenessMillis, latest.millis - event.time.millis)
            }
            latest = max(latest ?? event.time, event.time)
        }
        distinctUsers = users.count
        distinctItems = items.count
        if let earliest, let latest {
            timeRange = earliest...latest
        }
    }

    /// First occurrences of `type`.
    public func count(_ type: EventType) -> Int { countsByType[type.index] }

    /// Clicks per exposure; 0 without exposures.
    public var clickThroughRate: Double {
        count(.exposure) == 0 ? 0 : Double(count(.click)) / Double(count(.exposure))
    }
}
