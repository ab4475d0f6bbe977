import Foundation
import RecstreamCore
import Testing

@testable import RecstreamQueryAPI

@Suite("API JSON keys")
struct APIJSONTests {
    /// What `/v1/status` writes, `recstream admin status` reads back whole: acronym properties
    /// (`group_id`), reject reasons and stage names as dictionary keys.
    @Test func aStatusRoundTripsThroughTheAPIsKeyConvention() throws {
        var status = InstanceStatus(
            version: "v", bootstrapServers: "b:1", groupID: "g", eventsTopic: "e", deadLetterTopic: "d", startedAtMillis: 5,
            partitions: [
                PartitionStatus(
                    topic: "e", partition: 3, appliedOffset: 10, committedOffset: 9, endOffset: 12, watermarkMillis: 7, applied: 8,
                    duplicates: 1, late: 0, rejected: [.malformedJSON: 2, .futureTimestamp: 1], endOffsetAgeSeconds: 0.5)
            ],
            state: [FamilySize(family: "item_stats", entries: 1, bytes: 2)], cache: StateCacheStatus(budgetBytes: 4),
            verification: StateVerificationStatus(phase: .passed, records: 3, seconds: 0.1))
        status.unownedPartitions = ["user": [0, 2]]
        let data = try APIJSON.encoder().encode(status)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"group_id\"") && text.contains("\"future_ts\"") && text.contains("\"unowned_partitions\""))
        let back = try APIJSON.decoder().decode(InstanceStatus.self, from: data)
        #expect(back.groupID == "g")
        #expect(back.startedAtMillis == 5)
        #expect(back.partitions.first?.appliedOffset == 10)
        #expect(back.partitions.first?.watermarkMillis == 7)
        #expect(back.partitions.first?.rejected == [.malformedJSON: 2, .futureTimestamp: 1])
        #expect(back.unownedPartitions == ["user": [0, 2]])
        #expect(back.verification?.phase == .passed)
        #expect(back.cache?.budgetBytes == 4)
    }
}
