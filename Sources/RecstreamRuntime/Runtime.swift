import CoreMetrics
import Foundation
import Logging
import RecstreamCore
import RecstreamKafka
import RecstreamStorage

/// The assembled engine of one `recstream run`: the durable store, the live state and the
/// ingest service, wired from a configuration. The executable adds the HTTP server and the
/// embedded broker and runs everything in a service group.
public final class Runtime: Sendable {
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

    /// Closes the store; call after the ingest service has returned.
    public func close() { repository.close() }

    /// The canonical dump of the state committed in `stateDirectory` (the process owning it must
    /// have stopped): every shard's metadata and items, partitions ascending.
    public static func dumpCommittedState(stateDirectory: String, configuration: RecstreamConfiguration) throws -> [String] {
        let repository = try StateRepository(
            path: stateDirectory, syncWrites: false, eventsTopic: configuration.eventsTopic)
        defer { repository.close() }
        var partitions: Set<Int32> = []
        try repository.store.scan(prefix: [ShardKeys.shardMarker, ShardKeys.eventsStage]) { key, _ in
            if key.count >= 6 {
                var w: UInt32 = 0
                for i in 2..<6 { w = (w << 8) | UInt32(key[i]) }
                partitions.insert(Int32(bitPattern: w ^ 0x8000_0000))
            }
            return true
        }
        var lines: [String] = []
        for partition in partitions.sorted() {
            lines += try repository.loadShard(partition: partition, configuration: configuration.shardConfiguration).dumpLines()
        }
        return lines
    }
}
