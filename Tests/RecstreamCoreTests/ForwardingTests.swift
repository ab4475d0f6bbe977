import RecstreamCore
import RecstreamTesting
import Testing

@Suite("Split-mode forwarding")
struct ForwardingTests {
    @Test func forwardedEventRoundTrips() throws {
        let cases = [
            ForwardedEvent(
                type: .click, time: EventTime(millis: 1_793_491_200_123), dwellMillis: 4_500, late: false, userID: Array("u42".utf8),
                itemID: Array("i977".utf8), sourcePartition: 7, sourceOffset: 123_456_789),
            ForwardedEvent(
                type: .exposure, time: EventTime(millis: 0), dwellMillis: nil, late: true, userID: Array("ü".utf8), itemID: [0, 255],
                sourcePartition: 0, sourceOffset: 0),
        ]
        for event in cases { #expect(try ForwardedEvent.decode(event.encoded()) == event) }
        #expect(throws: StateDecodingError.self) { try ForwardedEvent.decode([2, 0, 0]) }
        #expect(throws: StateDecodingError.self) { try ForwardedEvent.decode(Array(cases[0].encoded().dropLast())) }
    }

    @Test func highWaterMarksAcceptEachSourceOffsetOnce() {
        var marks = SourceHighWaterMarks()
        var outcomes: [Bool] = []
        for (partition, offset) in [(1, 5), (2, 3), (1, 5), (1, 4), (1, 6)] as [(Int32, Int64)] {
            outcomes.append(marks.accept(partition: partition, offset: offset))
        }
        #expect(outcomes == [true, true, false, false, true])
        var w = BinaryWriter()
        marks.encode(into: &w)
        var restored = SourceHighWaterMarks()
        var r = BinaryReader(w.bytes)
        try? restored.decode(from: &r)
        #expect(restored == marks)
    }

    /// Kafka's Java client places keys with murmur2; these are the values of its own unit tests
    /// (`UtilsTest.testMurmur2`).
    @Test func partitionerMatchesTheJavaClient() {
        let golden: [(String, Int32)] = [
            ("21", -973_932_308), ("foobar", -790_332_482), ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829), ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            ("abc", 479_470_107),
        ]
        for (key, expected) in golden { #expect(KafkaPartitioner.murmur2(Array(key.utf8)) == expected, "\(key)") }
        for key in ["i1", "i977", ""] {
            let p = KafkaPartitioner.partition(of: Array(key.utf8), partitions: 6)
            #expect((0..<6).contains(p))
        }
    }

    /// The user-keyed stage forwards, the item-keyed stage applies what arrives, in any
    /// interleaving of source partitions and with every record of a source partition sent twice
    /// (a restart re-forwarding): item statistics equal the single-stage shards' merged counters,
    /// window by window.
    @Test func itemStageEqualsSingleStageUnderInterleavingAndReforwarding() {
        let stream = randomStream(seed: 11, count: 20_000, partitions: 4)
        let single = ShardConfiguration(allowedLatenessMillis: 600_000, dedupWindowMillis: 600_000)
        var splitConfiguration = single
        splitConfiguration.forwardsItemSide = true
        var reference = (0..<4).map { Shard(partition: Int32($0), configuration: single) }
        var users = (0..<4).map { Shard(partition: Int32($0), configuration: splitConfiguration) }
        var outboxes: [[ForwardedEvent]] = Array(repeating: [], count: 4)
        var offsets = [Int64](repeating: 0, count: 4)
        for (partition, event) in stream {
            let p = Int(partition)
            _ = reference[p].apply(event, offset: offsets[p])
            let outcome = users[p].apply(event, offset: offsets[p])
            if outcome == .applied || outcome == .late {
                outboxes[p].append(
                    ForwardedEvent(
                        type: event.type, time: event.time, dwellMillis: event.dwellMillis, late: outcome == .late,
                        userID: Array(event.userID.utf8), itemID: Array(event.itemID.utf8), sourcePartition: partition,
                        sourceOffset: offsets[p]))
            }
            offsets[p] += 1
        }
        // Each source partition's records in order, twice over (the second pass re-forwards the
        // tail from a restart point), interleaved round-robin across partitions.
        var rng = SplitMix64(seed: 5)
        var queues = outboxes.map { box -> [ForwardedEvent] in
            let restart = box.isEmpty ? 0 : Int(rng.next() % UInt64(box.count))
            return box + box[restart...]
        }
        var itemShards = (0..<3).map { Shard(stage: ShardKeys.itemsStage, partition: Int32($0), configuration: single) }
        var itemOffsets = [Int64](repeating: 0, count: 3)
        while queues.contains(where: { !$0.isEmpty }) {
            let p = Int(rng.next() % 4)
            guard !queues[p].isEmpty else { continue }
            let record = queues[p].removeFirst()
            let q = Int(KafkaPartitioner.partition(of: record.itemID, partitions: 3))
            _ = itemShards[q].applyForwarded(record, offset: itemOffsets[q])
            itemOffsets[q] += 1
        }
        let items = Set(stream.map(\.event.itemID))
        let now = reference.compactMap(\.watermark).max()!
        let stats = StatsConfiguration()
        var compared = 0
        for item in items {
            var merged: ItemCounters? = nil
            for shard in reference { if let c = shard.itemCounters(item) { merged = merged.map { $0.merged(with: c) } ?? c } }
            let q = Int(KafkaPartitioner.partition(of: Array(item.utf8), partitions: 3))
            // Buckets may be pruned at different moments (each shard prunes at its own watermark);
            // what is observable — every window's count at `now`, totals, late drops — is equal.
            let split = itemShards[q].itemCounters(item).map { ItemStatsReport(itemID: item, counters: $0, now: now, configuration: stats) }
            #expect(split == merged.map { ItemStatsReport(itemID: item, counters: $0, now: now, configuration: stats) }, "\(item)")
            compared += 1
        }
        #expect(compared > 100)
    }
}
