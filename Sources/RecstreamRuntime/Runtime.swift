import CoreMetrics
import Foundation
import Logging
import RecstreamCore
import RecstreamKafka
import RecstreamStorage

/// The assembled engine of one `recstream run`: the durable store, the live state and the
/// ingest service, wired from a configuration. The executable adds the HTTP server and the
/// embedded broker and runs everything in a service group.
public final class Runtime: AdminOperations, Sendable {
    public let engine: StateEngine
    public let ingest: IngestService
    public let stateDirectory: String
    private let repository: StateRepository

    /// Opens the store and prepares ingest; nothing is consumed until `ingest.run()`.
    /// - Throws: configuration, storage (locked, corrupt, mismatched directory) or Kafka client
    ///   errors, each with a message fit for an operator.
    public init(
        configuration: RecstreamConfiguration, bootstrapServers: String, stateDirectory: String, version: String,
        metricsFactory: any MetricsFactory, logger: Logger
    ) throws {
        self.stateDirectory = stateDirectory
        repository = try StateRepository(
            path: stateDirectory, syncWrites: configuration.syncWrites, eventsTopic: configuration.eventsTopic)
        engine = StateEngine(configuration: configuration, version: version, bootstrapServers: bootstrapServers)
        let kafka = KafkaConfiguration(bootstrapServers: bootstrapServers, configuration.kafkaProperties)
        let pipeline = try IngestPipeline(
            configuration: configuration, kafka: kafka, engine: engine, repository: repository,
            metricsFactory: metricsFactory, logger: logger)
        ingest = IngestService(pipeline: pipeline)
    }

    /// Checkpoints go to `state.checkpoint_dir`, or `<state dir>.checkpoints`.
    public func checkpoint() async throws -> CheckpointReport {
        let directory = engine.configuration.checkpointDir ?? (stateDirectory + ".checkpoints")
        let repository = self.repository
        let configuration = engine.configuration
        return try await Task.detached {
            try repository.checkpoint(
                under: directory, eventsTopic: configuration.eventsTopic, configuration: configuration.shardConfiguration)
        }.value
    }

    /// Closes the store; call after the ingest service has returned.
    public func close() { repository.close() }

    /// The canonical dump of the state committed in `stateDirectory` (the process owning it must
    /// have stopped): every shard's metadata and items, partitions ascending.
    public static func dumpCommittedState(stateDirectory: String, configuration: RecstreamConfiguration) throws -> [String] {
        let repository = try StateRepository(
            path: stateDirectory, syncWrites: false, eventsTopic: configuration.eventsTopic)
        defer { repository.close() }
        var lines: [String] = []
        for partition in try repository.partitions() {
            lines += try repository.loadShard(partition: partition, configuration: configuration.shardConfiguration).dumpLines()
        }
        return lines
    }
}
