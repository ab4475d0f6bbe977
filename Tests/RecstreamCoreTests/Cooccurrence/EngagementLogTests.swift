import RecstreamCore
import Testing

@Suite("Engagement log")
struct EngagementLogTests {
    func randomEngagements(seed: UInt64, count: Int) -> [Engagement] {
        var rng = SplitMix64(seed: seed)
        var time = cooccurrenceDay0
        var user: Int32 = 0
        return (0..<count).map { _ in
            time += Int64(rng.next() % 5_000)
            if rng.next() % 3 == 0 { user = Int32(rng.next() % 1_000_000) }
            let late = rng.next() % 50 == 0 ? Int64(rng.next() % 600_000) : 0
            let type = EventType(rawValue: UInt8(rng.next() % 6))!
            return Engagement(
                user: user, item: Int32(rng.next() % 200_000), type: type, time: EventTime(millis: time - late))
        }
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func chunkRoundTrips(seed: UInt64) throws {
        print("engagement log round trip seed \(seed)")
        let engagements = randomEngagements(seed: seed, count: 2_000)
        let bytes = EngagementLogChunk(engagements).encode()
        #expect(try EngagementLogChunk.decode(bytes).engagements == engagements)
        // Compact: far below the 17 bytes of the raw fields.
        let perEngagement = Double(bytes.count) / Double(engagements.count)
        print("engagement log: \(perEngagement) bytes per engagement")
        #expect(perEngagement < 9)
    }

    @Test func extremeValuesRoundTrip() throws {
        let engagements = [
            Engagement(user: 0, item: 0, type: .click, time: EventTime(millis: 0)),
            Engagement(user: .max, item: .max, type: .comment, time: EventTime(millis: EventTime.limitMillis - 1)),
            Engagement(user: 0, item: 7, type: .exposure, time: EventTime(millis: 0)),
        ]
        #expect(try EngagementLogChunk.decode(EngagementLogChunk(engagements).encode()).engagements == engagements)
        #expect(try EngagementLogChunk.decode(EngagementLogChunk([]).encode()).engagements.isEmpty)
    }

    @Test func everyTruncationIsRejected() {
        let bytes = EngagementLogChunk(randomEngagements(seed: 9, count: 40)).encode()
        for length in 0..<bytes.count {
            #expect(throws: StateDecodingError.self, "prefix of \(length) bytes") {
                _ = try EngagementLogChunk.decode(Array(bytes.prefix(length)))
            }
        }
        #expect(throws: StateDecodingError.self) { _ = try EngagementLogChunk.decode(bytes + [0]) }
    }

    @Test func malformedChunksAreRejected() {
        let valid = EngagementLogChunk([engagement(1, 2, at: 0)]).encode()
        var badVersion = valid
        badVersion[0] = 2
        #expect(throws: StateDecodingError.self) { _ = try EngagementLogChunk.decode(badVersion) }
        // Type 7 in the low bits of the first varint's first byte.
        var badType = valid
        badType[2] |= 7
        #expect(throws: StateDecodingError.self) { _ = try EngagementLogChunk.decode(badType) }
        // A count far larger than the bytes can hold.
        #expect(throws: StateDecodingError.self) { _ = try EngagementLogChunk.decode([1, 0xff, 0xff, 0x03, 0, 0, 0]) }
    }

    @Test func daysAndRetention() throws {
        #expect(EngagementLog.dayOf(EventTime(millis: cooccurrenceDay0)) == 20_758)
        #expect(EngagementLog.dayOf(EventTime(millis: cooccurrenceDay0 - 1)) == 20_757)
        #expect(EngagementLog.dayOf(EventTime(millis: -5)) == 0)
        let day = EngagementLog.dayMillis
        // Window of 30 days ending at day0 + 30 days exactly: (day0, day0 + 30d]; day 20758 starts at
        // day0 and only its first instant is outside, so it is kept; day 20757 goes.
        let end = EventTime(millis: cooccurrenceDay0 + 30 * day)
        #expect(EngagementLog.firstRetainedDay(watermark: end, windowMillis: 30 * day) == 20_758)
        // Day 20758 is kept while its last millisecond (day0 + 1 d − 1 ms) is inside the window, i.e.
        // up to a watermark of day0 + 31 d − 2 ms; one millisecond later it is dropped.
        #expect(
            EngagementLog.firstRetainedDay(watermark: EventTime(millis: end.millis + day - 2), windowMillis: 30 * day)
                == 20_758)
        #expect(
            EngagementLog.firstRetainedDay(watermark: EventTime(millis: end.millis + day - 1), windowMillis: 30 * day)
                == 20_759)
        let range = try #require(EngagementLog.expiredKeyRange(watermark: end, windowMillis: 30 * day))
        #expect(range.from == [0, 0, 0, 0])
        #expect(range.to == [0, 0, 0x51, 0x16])  // 20758 = 0x5116
        #expect(EngagementLog.expiredKeyRange(watermark: EventTime(millis: 1000), windowMillis: 30 * day) == nil)
        // Chunk keys order by day, then sequence, and parse back.
        let a = EngagementLog.chunkKey(day: 20_758, sequence: 9)
        let b = EngagementLog.chunkKey(day: 20_759, sequence: 1)
        #expect(a.lexicographicallyPrecedes(b))
        // Day 20758's chunks sort at or after the range's end: not deleted.
        #expect(!a.lexicographicallyPrecedes(range.to))
        #expect(try EngagementLog.parseChunkKey(a) == (20_758, 9))
    }

    @Test func bufferDrainsOneChunkPerDay() throws {
        var buffer = EngagementLogBuffer()
        let engagements = [
            engagement(1, 1, at: 10), engagement(2, 2, at: 86_400 + 5), engagement(3, 3, at: 20),
            engagement(4, 4, at: -1),
        ]
        for e in engagements { buffer.append(e) }
        #expect(buffer.count == 4)
        let chunks = buffer.drain(sequence: 42)
        #expect(buffer.isEmpty)
        #expect(chunks.map { try! EngagementLog.parseChunkKey($0.key).day } == [20_757, 20_758, 20_759])
        #expect(chunks.allSatisfy { try! EngagementLog.parseChunkKey($0.key).sequence == 42 })
        let decoded = try chunks.flatMap { try EngagementLogChunk.decode($0.value).engagements }
        #expect(Set(decoded) == Set(engagements))
        #expect(try EngagementLogChunk.decode(chunks[1].value).engagements == [engagements[0], engagements[2]])
        #expect(buffer.drain(sequence: 43).isEmpty)
    }
}
