/// Told by a `KafkaConsumer` when its consumer group gives it partitions or takes them away.
///
/// Both methods run on the thread that calls `KafkaConsumer.poll` (or `close`), between
/// batches: never while a record is being handed to `poll`'s body.
///
/// - Important: The consumer holds its listener strongly; a listener must not hold its
///   consumer strongly.
public protocol RebalanceListener: AnyObject {
    /// Called on the polling thread when partitions are assigned, before any of their records
    /// is handed out. Returns where each partition starts: a stored offset, or no entry (nil)
    /// for the consumer's `defaultStart` (`.beginning` unless set otherwise). The group's
    /// committed offsets are not consulted.
    func partitionsAssigned(_ partitions: [TopicPartition]) -> [TopicPartition: StartOffset]

    /// Called on the polling thread before partitions are taken away; the listener persists
    /// what it must before returning. No record of these partitions is handed out afterwards
    /// unless they are assigned again.
    func partitionsRevoked(_ partitions: [TopicPartition])
}
