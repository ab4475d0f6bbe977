/// A topic to create with `KafkaAdmin.createTopics`.
public struct TopicSpec: Sendable, Hashable {
    /// The topic name.
    public var name: String
    /// The number of partitions.
    public var partitions: Int
    /// Copies of each partition across brokers.
    public var replicationFactor: Int
    /// Topic-level configuration (e.g. `retention.ms`), by Kafka's key.
    public var config: [String: String]

    public init(name: String, partitions: Int, replicationFactor: Int, config: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.config = config
    }
}
