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
        // Single mode needs only the directory topic, which its first claim creates where the
        // cluster auto-creates topics (the embedded broker serves no CreateTopics);
        // ``ensureDirectory(configuration:kafka:logger:)`` creates it where it does not.
        guard configuration.pipelineMode == .split else { return (events, events) }
        for topic in configuration.internalTopics(eventsPartitions: events) {
            if let existing = try admin.partitionCount(of: topic.name, timeout: .seconds(30)) {
                if topic.name == configuration.itemsTopic { items = existing }
            } else {
                missing.append(
                    TopicSpec(
                        name: topic.name, partitions: topic.partitions, replicationFactor: configuration.replicationFactor,
                        config: topic.compacted ? ["cleanup.policy": "compact"] : [:]))
            }
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

    /// Creates the group directory topic when it is missing (single mode, on a cluster that does
    /// not auto-create topics). Returns whether it exists afterwards.
    static func ensureDirectory(configuration: RecstreamConfiguration, kafka: KafkaConfiguration, logger: Logger) -> Bool {
        do {
            let admin = try KafkaAdmin(configuration: kafka)
            if try admin.partitionCount(of: configuration.directoryTopic, timeout: .seconds(5)) != nil { return true }
            logger.notice("creating the group directory topic", metadata: ["topic": "\(configuration.directoryTopic)"])
            try admin.createTopics(
                [
                    TopicSpec(
                        name: configuration.directoryTopic, partitions: 1, replicationFactor: configuration.replicationFactor,
                        config: ["cleanup.policy": "compact"])
                ], timeout: .seconds(10))
            return true
        } catch {
            logger.warning(
                "cannot create the group directory topic",
                metadata: ["topic": "\(configuration.directoryTopic)", "error": "\(error)"])
            return false
        }
    }
}
