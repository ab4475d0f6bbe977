/// Why an `EmbeddedBroker` operation failed.
public enum EmbeddedBrokerError: Error, Sendable, CustomStringConvertible {
    /// `.unbounded` retention was requested but the guarded lift refused; the reason names
    /// the failed layout check. Choose `.stock` to run with librdkafka's limits instead.
    case retentionLiftRefused(String)
    /// librdkafka could not create the client handle or the mock cluster.
    case startFailed(String)
    /// A mock-cluster call failed (e.g. `TOPIC_ALREADY_EXISTS`, an unknown broker id).
    case kafka(KafkaError)
    /// The broker was shut down.
    case shutDown

    public var description: String {
        switch self {
        case .retentionLiftRefused(let reason): "mock retention lift refused: \(reason)"
        case .startFailed(let reason): "embedded broker failed to start: \(reason)"
        case .kafka(let error): "embedded broker: \(error)"
        case .shutDown: "embedded broker is shut down"
        }
    }
}
