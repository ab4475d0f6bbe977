/// One record header: a name and an optional value (`nil` is Kafka's null header value).
public struct KafkaHeader: Sendable, Hashable {
    /// The header name; Kafka allows duplicates within one record.
    public var key: String
    /// The header value, or `nil` for a null value.
    public var value: [UInt8]?

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }

    /// A header whose value is the UTF-8 encoding of `value`.
    public init(key: String, utf8 value: String) {
        self.init(key: key, value: Array(value.utf8))
    }
}
