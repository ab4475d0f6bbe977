import CRdKafka

/// An error reported by librdkafka or by this module, as a value.
///
/// Every librdkafka result code, `rd_kafka_error_t` and delivery failure passes through one
/// choke point (`KafkaError.init(code:message:fatalFrom:)`) so that the flags are computed in
/// one place.
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The `rd_kafka_resp_err_t` value: negative for local (client) errors, positive for
    /// errors sent by the broker (the Kafka protocol's error codes).
    public var code: Int32
    /// librdkafka's symbolic name, e.g. `_TIMED_OUT` or `OFFSET_OUT_OF_RANGE`.
    public var name: String
    /// A human-readable message; more specific than the generic text for the code when
    /// librdkafka supplied one.
    public var message: String
    /// The client instance is unusable after this error and must be recreated.
    public var isFatal: Bool
    /// The operation may succeed if tried again unchanged.
    public var isRetriable: Bool

    /// Builds an error for a result code; name and retriability come from the code.
    ///
    /// `_FATAL` (-150) is always fatal. Retriable codes are the Kafka protocol's retriable
    /// errors plus the local transport, time-out and queue-full conditions.
    public init(code: Int32, message: String? = nil) {
        self.init(native: rd_kafka_resp_err_t(rawValue: code), message: message, isFatal: nil, isRetriable: nil)
    }

    public var description: String {
        var flags = ""
        if isFatal { flags += ", fatal" }
        if isRetriable { flags += ", retriable" }
        return "KafkaError(\(name) \(code)\(flags)): \(message)"
    }

    /// The choke point: every librdkafka code becomes a `KafkaError` here.
    ///
    /// When `code` is `_FATAL` and `fatalFrom` is a client handle, the underlying fatal error
    /// is read with `rd_kafka_fatal_error()` and reported with `isFatal` set.
    init(native code: rd_kafka_resp_err_t, message: String? = nil, fatalFrom rk: OpaquePointer? = nil) {
        if code == RD_KAFKA_RESP_ERR__FATAL, let rk {
            var buffer = [CChar](repeating: 0, count: 512)
            let underlying = rd_kafka_fatal_error(rk, &buffer, buffer.count)
            if underlying != RD_KAFKA_RESP_ERR_NO_ERROR {
                let text = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                self.init(native: underlying, message: message.map { "\($0): \(text)" } ?? text,
                          isFatal: true, isRetriable: false)
                return
            }
        }
        self.init(native: code, message: message, isFatal: nil, isRetriable: nil)
    }

    /// Takes ownership of an `rd_kafka_error_t` (destroys it) and keeps its own flags.
    ///
    /// - Important: `error` must not be used after this call.
    init(consuming error: OpaquePointer) {
        defer { rd_kafka_error_destroy(error) }
        self.init(native: rd_kafka_error_code(error),
                  message: String(cString: rd_kafka_error_string(error)),
                  isFatal: rd_kafka_error_is_fatal(error) != 0,
                  isRetriable: rd_kafka_error_is_retriable(error) != 0)
    }

    private init(native code: rd_kafka_resp_err_t, message: String?, isFatal: Bool?, isRetriable: Bool?) {
        self.code = code.rawValue
        self.name = String(cString: rd_kafka_err2name(code))
        self.message = message ?? String(cString: rd_kafka_err2str(code))
        self.isFatal = isFatal ?? (code == RD_KAFKA_RESP_ERR__FATAL)
        self.isRetriable = isRetriable ?? Self.retriableCodes.contains(code.rawValue)
    }

    /// A local error for misuse of this module's API (closed handle, bad argument).
    static func local(_ code: rd_kafka_resp_err_t, _ message: String) -> KafkaError {
        KafkaError(native: code, message: message)
    }

    /// The Kafka protocol's retriable errors (the broker's RetriableException family) and the
    /// local conditions that clear by themselves.
    static let retriableCodes: Set<Int32> = {
        let codes: [rd_kafka_resp_err_t] = [
        // broker
        RD_KAFKA_RESP_ERR_INVALID_MSG, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
        RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS,
        RD_KAFKA_RESP_ERR_NOT_CONTROLLER, RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,
        RD_KAFKA_RESP_ERR_FETCH_SESSION_ID_NOT_FOUND, RD_KAFKA_RESP_ERR_INVALID_FETCH_SESSION_EPOCH,
        RD_KAFKA_RESP_ERR_LISTENER_NOT_FOUND, RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH,
        RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH, RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_PREFERRED_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT, RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED,
        // local
        RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__RESOLVE, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
        RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__QUEUE_FULL,
        RD_KAFKA_RESP_ERR__WAIT_COORD, RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE, RD_KAFKA_RESP_ERR__WAIT_CACHE,
        RD_KAFKA_RESP_ERR__RETRY, RD_KAFKA_RESP_ERR__NODE_UPDATE,
        ]
        return Set(codes.map(\.rawValue))
    }()
}
