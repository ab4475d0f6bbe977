import RecstreamCore
import RecstreamTesting
import Testing

@Suite("IdInterner")
struct IdInternerTests {
    @Test func assignsDenseIndicesInFirstSeenOrder() {
        var interner = IdInterner()
        #expect(interner.intern("i1") == (0, true))
        #expect(interner.intern("i2") == (1, true))
        #expect(interner.intern("i1") == (0, false))
        #expect(interner.lookup("i2") == 1)
        #expect(interner.lookup("i3") == nil)
        #expect(interner.string(of: 1) == "i2")
        #expect(interner.count == 2)
    }

    @Test func agreesWithADictionaryOnManyIds() {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("IdInterner seed \(seed)")
        var rng = SplitMix64(seed: seed)
        var interner = IdInterner()
        var reference: [String: Int32] = [:]
        for _ in 0..<50_000 {
            let id = "u\(rng.next() % 20_000)-\(String(repeating: "x", count: Int(rng.next() % 40)))"
            let expected = reference[id] ?? Int32(reference.count)
            reference[id] = expected
            #expect(interner.intern(id).index == expected)
        }
        for (id, index) in reference {
            #expect(interner.lookup(id) == index)
            #expect(interner.string(of: index) == id)
        }
    }

    @Test func restoreRequiresIndexOrder() throws {
        var interner = IdInterner()
        try interner.restore(index: 0, bytes: Array("a".utf8))
        #expect(throws: StateDecodingError.self) { try interner.restore(index: 2, bytes: Array("b".utf8)) }
        #expect(throws: StateDecodingError.self) { try interner.restore(index: 1, bytes: Array("a".utf8)) }
        #expect(interner.newIDs.isEmpty)
    }
}

@Suite("EventDeduplicator")
struct EventDeduplicatorTests {
    func key(_ s: String) -> Hash128 {
        let bytes = Array(s.utf8)
        return EventDeduplicator.key(for: bytes.span)
    }

    @Test func remembersWithinWindowAndForgetsWholeMinutesAfter() {
        var d = EventDeduplicator(windowMillis: 600_000)
        // Event at minute 0 (second 30).
        d.insert(key("e1"), at: EventTime(millis: 30_000))
        // Watermark 10:59: horizon 0:59, minute 0 is not entirely before it → kept.
        d.expire(watermark: EventTime(millis: 659_000))
        #expect(d.contains(key("e1")))
        // Watermark 11:00: horizon 1:00, minute 0 ends at 1:00 <= horizon → forgotten.
        d.expire(watermark: EventTime(millis: 660_000))
        #expect(!d.contains(key("e1")))
        #expect(d.count == 0)
        #expect(d.expiredThroughMinute == 0)
    }

    @Test func agreesWithASetUnderRandomInsertsAndExpiry() {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("EventDeduplicator seed \(seed)")
        var rng = SplitMix64(seed: seed)
        var d = EventDeduplicator(windowMillis: 120_000, expectedCount: 4)
        var reference: [Hash128: Int64] = [:]
        var watermark: Int64 = 0
        for step in 0..<40_000 {
            let time = watermark + Int64(rng.next() % 2_000) - 500
            let k = key("e\(rng.next() % 30_000)")
            let expectedNew = reference[k] == nil
            #expect(d.contains(k) == !expectedNew, "step \(step)")
            if expectedNew && time >= 0 {
                d.insert(k, at: EventTime(millis: time))
                reference[k] = time
            }
            watermark += Int64(rng.next() % 40)
            d.expire(watermark: EventTime(millis: watermark))
            let horizon = watermark - 120_000
            reference = reference.filter { (($0.value / 60_000) + 1) * 60_000 > horizon }
            #expect(d.count == reference.count, "step \(step)")
        }
        for k in reference.keys { #expect(d.contains(k)) }
    }
}
