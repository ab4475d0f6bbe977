/// An event decided by ``EventGenerator`` but not yet emitted: numbers only, so no strings are
/// built until the event leaves the generator.
struct PendingEvent: Sendable, Hashable {
    /// When, in event-time milliseconds, the generator emits it. Equal to `time` except for a
    /// retried copy, which is emitted after its original but carries the original's `ts`.
    var emitAt: Int64
    /// Push order: breaks ties in `emitAt` so the order is total and deterministic.
    var sequence: UInt64
    /// The `ts` the event carries (before a late shift, which is applied when it is emitted).
    var time: Int64
    var user: Int32
    var item: Int32
    /// `dwell_ms`, or −1 when absent.
    var dwellMillis: Int64
    /// The number in `e-<n>`, assigned when first emitted; a retried copy carries its original's.
    var id: Int64
    var type: EventType
    /// A producer retry: emitted as it is, never shifted late or duplicated again.
    var isRetry: Bool

    @inline(__always)
    func precedes(_ other: PendingEvent) -> Bool {
        emitAt != other.emitAt ? emitAt < other.emitAt : sequence < other.sequence
    }
}

/// A binary min-heap of ``PendingEvent`` ordered by (`emitAt`, `sequence`).
///
/// Cost: O(log n) per push and pop, where n is bounded by the events of the sessions open at one
/// time (about `eventsPerSecond` × session length), not by the stream length. The array keeps its
/// capacity, so a steady stream allocates nothing.
struct PendingEvents: Sendable, Hashable {
    private var heap: [PendingEvent] = []
    private var nextSequence: UInt64 = 0

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }
    var first: PendingEvent? { heap.first }

    /// Adds `event`, stamping its `sequence`.
    mutating func push(_ event: PendingEvent) {
        var event = event
        event.sequence = nextSequence
        nextSequence += 1
        heap.append(event)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the earliest event.
    mutating func popFirst() -> PendingEvent? {
        guard !heap.isEmpty else { return nil }
        let first = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                guard left < heap.count else { break }
                let right = left + 1
                let smaller = right < heap.count && heap[right].precedes(heap[left]) ? right : left
                guard heap[smaller].precedes(heap[parent]) else { break }
                heap.swapAt(parent, smaller)
                parent = smaller
            }
        }
        return first
    }
}
