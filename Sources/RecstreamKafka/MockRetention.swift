/// How much an `EmbeddedBroker` keeps per partition.
public enum MockRetention: Sendable, Hashable {
    /// Keep every record for the broker's lifetime (in memory). The mock's private 5 MiB /
    /// 100,000-message-set limits are lifted on every partition after a field-by-field layout
    /// check; if the check fails, the broker refuses to start
    /// (`EmbeddedBrokerError.retentionLiftRefused`) rather than lose records silently.
    case unbounded
    /// Keep librdkafka's limits (at most 5 MiB or 100,000 message sets per partition; older
    /// sets are freed). A consumer that falls behind sees `.offsetOutOfRange`.
    case stock
}
