import Foundation
import RecstreamTesting
import Testing
@testable import RecstreamKafka

@Suite(.timeLimit(.minutes(1)), .processSlot) struct InteropTests {
    static let kcat = "/usr/bin/kcat"

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: kcat), "needs kcat (apt-get install kcat)"))
    func kcatListsTheEmbeddedBrokersTopics() async throws {
        let broker = try EmbeddedBroker(brokers: 2)
        let topic = uniqueName("kcat")
        try broker.createTopic(topic, partitions: 3)
        let (status, output) = try await onDedicatedThread {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.kcat)
            process.arguments = ["-b", broker.bootstrapServers, "-L", "-m", "10"]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        #expect(status == 0)
        #expect(output.contains("topic \"\(topic)\" with 3 partitions"), "\(output)")
        #expect(output.contains("2 brokers"), "\(output)")
    }

    @Test func adminReadsMetadataAndWatermarks() async throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("admin")
        try broker.createTopic(topic, partitions: 5)
        let missing = uniqueName("missing")
        let (count, absent, absentAgain, marks) = try await onDedicatedThread {
            let admin = try KafkaAdmin(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers))
            let count = try admin.partitionCount(of: topic, timeout: .seconds(10))
            let absent = try admin.partitionCount(of: missing, timeout: .seconds(10))
            let absentAgain = try admin.partitionCount(of: missing, timeout: .seconds(10))
            let marks = try admin.watermarks(TopicPartition(topic: topic, partition: 4), timeout: .seconds(10))
            return (count, absent, absentAgain, [marks.low, marks.high])
        }
        #expect(count == 5)
        #expect(absent == nil)
        #expect(absentAgain == nil, "looking a topic up does not create it")
        #expect(marks == [0, 0])
    }

    /// librdkafka 2.0.2's mock has no CreateTopics handler: the admin call fails with a typed
    /// error instead of hanging, and EmbeddedBroker.createTopic is the way to create topics.
    @Test func createTopicsAgainstTheMockFailsWithATypedError() async throws {
        let broker = try EmbeddedBroker()
        let error = try await onDedicatedThread { () throws -> KafkaError? in
            let admin = try KafkaAdmin(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers))
            do {
                try admin.createTopics([TopicSpec(name: uniqueName("t"), partitions: 2, replicationFactor: 1)],
                                       timeout: .seconds(5))
                return nil
            } catch let error as KafkaError {
                return error
            }
        }
        let thrown = try #require(error)
        // 2.0.2's mock: "Failed while waiting for controller: Local: Timed out".
        #expect([Int32(-185), -165].contains(thrown.code), "\(thrown)")
    }

    @Test func embeddedBrokerReportsMockErrorsAndShutsDown() throws {
        let broker = try EmbeddedBroker(brokers: 3)
        #expect(broker.bootstrapServers.split(separator: ",").count == 3)
        #expect(broker.bootstrapServers.split(separator: ",").allSatisfy { $0.hasPrefix("127.0.0.1:") })
        let topic = uniqueName("dup")
        try broker.createTopic(topic, partitions: 1)
        #expect(throws: EmbeddedBrokerError.self) { try broker.createTopic(topic, partitions: 1) }
        #expect(throws: EmbeddedBrokerError.self) { try broker.setBrokerDown(99) }
        try broker.setRoundTripTime(2, .milliseconds(5))
        broker.shutdown()
        broker.shutdown()
        #expect(throws: EmbeddedBrokerError.self) { try broker.createTopic(uniqueName("late"), partitions: 1) }
    }
}
