import Foundation
import NIOHTTP1
import RecstreamCore
import RecstreamKafka
import RecstreamTesting
import Testing

/// Producers whose clocks are wrong: an event stamped far in the future is refused (`future_ts`)
/// without moving the watermark, one stamped at the epoch is late, and late exposures still
/// reach the exposure filter while item statistics leave them out.
@Suite("Client clocks", .serialized, .processSlot)
struct ClientClockTests {
    static let item = "clock-item"

    /// Normal event `n`: alternately an exposure and a click of one item, by one of seven users,
    /// stamped `n` ms after `base`.
    static func normal(_ n: Int, base: Int64) -> Event {
        Event(
            eventID: "n\(n)", type: n % 2 == 0 ? .exposure : .click, userID: "u\(n % 7)", itemID: item,
            time: EventTime(millis: base + Int64(n)))
    }

    /// Catches: a future event accepted (the exposure count is one too high, and the watermark
    /// jumps ten years so every later normal event is late and missing from the counts); a
    /// watermark moved by the refused event (status `watermark_millis`, and the same lateness
    /// after the restart, where a persisted poisoned watermark would surface); the epoch event
    /// counted; the future event missing from the dead-letter topic or without its source offset.
    @Test(.timeLimit(.minutes(2)))
    func futureStampedEventIsDeadLetteredAndNeverPoisonsTheWatermark() async throws {
        let broker = try singlePartitionBroker()
        defer { broker.shutdown() }
        let stateDir = try TemporaryDirectory("client-clock")
        defer { stateDir.remove() }
        let producer = try TestProducer(broker.bootstrapServers)

        // Offsets 0..<50 normal, 50 the future event, 51 the epoch event, 52..<102 normal.
        let base = wallClockMillis() - 60_000
        var sent = 0
        func sendNormal(_ count: Int, base: Int64) throws {
            for _ in 0..<count {
                try producer.send(Self.normal(sent, base: base), partition: 0)
                sent += 1
            }
        }
        try sendNormal(50, base: base)
        let tenYears: Int64 = 10 * 365 * 86_400_000
        try producer.send(
            Event(eventID: "future", type: .exposure, userID: "u0", itemID: Self.item, time: EventTime(millis: wallClockMillis() + tenYears)),
            partition: 0)
        try producer.send(Event(eventID: "epoch", type: .click, userID: "u1", itemID: Self.item, time: EventTime(millis: 0)), partition: 0)
        try sendNormal(50, base: base)
        try producer.flush()

        var run = try startInstance(brokers: broker.bootstrapServers, stateDir: stateDir.path)
        defer { run.signal(SIGKILL) }
        var api = try await run.value(after: "api:")
        try await awaitConsumed(api, count: 102)

        /// Every normal event counted in each window, the refused and the late one in none.
        func expectExactCounts(normalEvents: Int) async throws {
            let counts = try #require(try await itemCounts(api, Self.item))
            for window in ["1h", "24h", "all"] {
                #expect(counts[window]?["exposure"] == (normalEvents + 1) / 2, "exposures in \(window)")
                #expect(counts[window]?["click"] == normalEvents / 2, "clicks in \(window)")
            }
            let p = try await partitionStatus(api)
            #expect(p["applied"] as? Int == normalEvents)
            #expect(p["late"] as? Int == 1)
            #expect(p["duplicates"] as? Int == 0)
            #expect(p["rejected"] as? [String: Int] == [RejectReason.futureTimestamp.rawValue: 1])
            let limit = wallClockMillis() + 300_000
            let watermark = try #require(p["watermark_millis"] as? Int)
            #expect(watermark < limit, "partition watermark \(watermark) is past now + 5 min")
            let instanceWatermark = try #require(try await status(api)["watermark_millis"] as? Int)
            #expect(instanceWatermark < limit, "instance watermark \(instanceWatermark) is past now + 5 min")
        }
        try await expectExactCounts(normalEvents: 100)

        let dead = try await readWholeTopic(bootstrap: broker.bootstrapServers)
        #expect(dead.count == 1)
        let record = try #require(dead.first)
        #expect(record.headers["recstream.reason"] == RejectReason.futureTimestamp.rawValue)
        #expect(record.headers["recstream.source.topic"] == "recstream.events")
        #expect(record.headers["recstream.source.partition"] == "0")
        #expect(record.headers["recstream.source.offset"] == "50")

        try await expectCleanExit(run)
        run = try startInstance(brokers: broker.bootstrapServers, stateDir: stateDir.path)
        api = try await run.value(after: "api:")
        // Stamped at the new "now": on time, unless a persisted watermark lies in the future.
        try sendNormal(50, base: wallClockMillis() - 1_000)
        try producer.flush()
        try await awaitConsumed(api, count: 152)
        try await expectExactCounts(normalEvents: 150)
        try await expectCleanExit(run)
    }

    /// Catches: late exposures dropped before the exposure filter (they would pass the filter:
    /// false negatives), or counted in item statistics (exposure counts one too high per item),
    /// or not accounted as late / late-and-kept in the partition status. The never-shown
    /// controls catch a filter that removes everything.
    @Test(.timeLimit(.minutes(2)))
    func lateExposureReachesTheFilterButNotItemStatistics() async throws {
        let broker = try singlePartitionBroker()
        defer { broker.shutdown() }
        let stateDir = try TemporaryDirectory("late-exposure")
        defer { stateDir.remove() }
        let producer = try TestProducer(broker.bootstrapServers)

        // On time: 4 crowd exposures of each of 10 items, stamped within the last minute.
        let items = (0..<10).map { "late-item-\($0)" }
        let now = wallClockMillis() - 60_000
        var n = 0
        for item in items {
            for crowd in 0..<4 {
                let event = Event(
                    eventID: "c\(n)", type: .exposure, userID: "crowd-\(crowd)", itemID: item, time: EventTime(millis: now + Int64(n)))
                try producer.send(event, partition: 0)
                n += 1
            }
        }
        // Late: one user shown each item 1 to 3 days before the watermark (allowed lateness: 10 min).
        let hour: Int64 = 3_600_000
        for (k, item) in items.enumerated() {
            let age = 24 * hour + Int64(k) * 5 * hour
            let event = Event(eventID: "late-\(k)", type: .exposure, userID: "late-user", itemID: item, time: EventTime(millis: now - age))
            try producer.send(event, partition: 0)
        }
        try producer.flush()

        let run = try startInstance(brokers: broker.bootstrapServers, stateDir: stateDir.path)
        defer { run.signal(SIGKILL) }
        let api = try await run.value(after: "api:")
        try await awaitConsumed(api, count: 50)

        let controls = (0..<20).map { "never-shown-\($0)" }
        let kept = try await unexposed(api, user: "late-user", candidates: items + controls)
        let falseNegatives = kept.filter { items.contains($0) }
        #expect(falseNegatives.isEmpty, "late exposures the filter does not know: \(falseNegatives)")
        #expect(kept.filter { controls.contains($0) }.count >= 15, "never-shown candidates removed: \(controls.count - kept.count)")

        for item in items {
            let counts = try #require(try await itemCounts(api, item))
            for window in ["1h", "24h", "7d", "30d", "all"] {
                #expect(counts[window]?["exposure"] == 4, "\(item) exposures in \(window)")
            }
        }
        let p = try await partitionStatus(api)
        #expect(p["applied"] as? Int == 40)
        #expect(p["late"] as? Int == 10)
        #expect(p["late_exposures_kept"] as? Int == 10)
        try await expectCleanExit(run)
    }
}
