import ArgumentParser
import Foundation
import RecstreamKafka
import RecstreamRuntime
import ServiceLifecycle
import UnixSignals

struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run the embedded Kafka-protocol broker alone, for multi-process setups and producers.",
        discussion: """
            Starts librdkafka's mock cluster on 127.0.0.1, creates the topics, prints `bootstrap: HOST:PORT` and \
            serves until SIGINT/SIGTERM. Topics live in memory and vanish when it stops. The mock's built-in \
            retention limit (5 MiB or 100,000 batches per partition) is lifted; see docs/embedded-broker.md.
            """
    )

    @Option(help: "Topics to create as NAME[:PARTITIONS] (repeatable). Default: recstream.events:8 and recstream.events.dlq:1.")
    var topic: [String] = []

    @Option(help: "Create the internal topics (split-mode topics, changelogs, the group directory) of this consumer group (repeatable; default: the default group, recstream).")
    var group: [String] = []

    @Option(help: "Partitions of the events topic the --group internal topics are sized for.")
    var eventsPartitions = 8

    @Option(help: "Number of mock brokers.")
    var brokerCount: Int = 1

    func run() async throws {
        var topics: [(String, Int)] = []
        for spec in topic {
            let parts = spec.split(separator: ":", maxSplits: 1)
            guard let name = parts.first.map(String.init), !name.isEmpty,
                let partitions = parts.count == 2 ? Int(parts[1]) : 8, (1...10_000).contains(partitions)
            else { throw ValidationError("--topic expects NAME[:PARTITIONS], got '\(spec)'") }
            topics.append((name, partitions))
        }
        if topics.isEmpty { topics = [("recstream.events", 8), ("recstream.events.dlq", 1)] }
        // The mock cluster does not serve CreateTopics, so split-mode instances cannot create
        // their internal topics themselves: they are made here.
        // With no --group, the default group's: two `recstream run --set pipeline.mode=split`
        // against this broker then work as they are.
        for name in group.isEmpty ? [RecstreamConfiguration().groupID] : group {
            var configuration = RecstreamConfiguration()
            configuration.groupID = name
            topics += configuration.internalTopics(eventsPartitions: eventsPartitions).map { ($0.name, $0.partitions) }
        }
        let broker: EmbeddedBroker
        do {
            broker = try EmbeddedBroker(brokers: brokerCount)
            for (name, partitions) in topics { try broker.createTopic(name, partitions: partitions) }
        } catch {
            Terminal.err("recstream: \(error)")
            throw ExitCode.failure
        }
        Terminal.out("bootstrap: \(broker.bootstrapServers)")
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        for await _ in signals { break }
        broker.shutdown()
    }
}
