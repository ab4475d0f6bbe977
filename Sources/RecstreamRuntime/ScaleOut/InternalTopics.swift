import Logging
import RecstreamKafka

/// A forwarded or changelog record that could not be delivered: ingest stops without committing
/// past it (a restart replays from the last commit).
struct ForwardError: Error, CustomStringConvertible {
    var description: String
}

/// The topics the split pipeline owns: the item repartition topic (as many partitions as the
/// events topic), the one-partition engagement topic, and a compacted changelog per stage input.
enum InternalTopics {
    /// Creates whichever internal topics are missing; returns the events and item topics' partition counts.
    /// - Throws: the events topic is missing, or the cluster refused to create a topic.
    static func ensure(
        configuration: RecstreamConfiguration, kafka: KafkaConfiguration, logger: Logger
    ) throws -> (events: Int, items: Int) {
        let admin = try KafkaAdmin(configuration: kafka)
        guard let events = try admin.partitionCount(of: configuration.eventsTopic, timeout: .seconds(30)) else {
            throw ForwardError(description: "the events topic \(configuration.eventsTopic) does not exist")
        }
        var missing: [TopicSpec] = []
        var items = events
        let wanted =
            configuration.pipelineMode == .split
            ? configuration.internalTopics(eventsPartitions: events)
            : configuration.internalTopics(eventsPartitions: events).filter { $0.name == configuration.directoryTopic }
        for topic in wanted {
            if let existing = try admin.partitionCount(of: topic.name, timeout: .seconds(30)) {
                if topic.name == configuration.itemsTopic { items = existing }
            } else {
                missing.append(
                    TopicSpec(
                        name: topic.name, partitions: topic.partitions, replicationFactor: configuration.replicationFactor,
                        config: topic.compacted ? ["cleanup.policy": "compact"] : [:]))
            }
        }
        if configuration.pipelineMode == .single && !missing.isEmpty && admin.controllerID(timeout: .seconds(5)) == nil {
            // A cluster without a controller (the embedded mock) serves no CreateTopics; there the
            // directory's first claim creates its topic (producers may auto-create).
            logger.info("the directory topic is created by the first claim", metadata: ["topic": "\(configuration.directoryTopic)"])
            return (events, items)
        }
        if !missing.isEmpty {
            logger.notice("creating internal topics", metadata: ["topics": "\(missing.map(\.name))"])
            do {
                try admin.createTopics(missing, timeout: .seconds(30))
            } catch {
                // Another instance may have created them meanwhile.
                for spec in missing where try admin.partitionCount(of: spec.name, timeout: .seconds(30)) == nil {
                    throw ForwardError(
                        description: "cannot create the internal topics (\(error)). Create them before starting: "
                            + missing.map { "\($0.name) (\($0.partitions) partitions\($0.config.isEmpty ? "" : ", cleanup.policy=compact"))" }
                            .joined(separator: ", ")
                            + "; with `recstream broker`, pass --group \(configuration.groupID) --events-partitions \(events).")
                }
            }
        }
        return (events, items)
    }
}
