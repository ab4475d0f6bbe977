import Foundation
import Logging
import RecstreamCore
import RecstreamKafka
import Synchronization

/// Sends refused records to the dead-letter topic without ever stalling ingest on them.
///
/// Guarantees, per refused record, before the commit that moves its partition's offset past it:
/// it was acknowledged by the dead-letter topic, or ingest gave up on it after a bounded time and
/// returns it from ``awaitDelivered(shouldStop:)`` as an ``UndeliverableRecord``, which the commit
/// writes to the state store with the offsets. A refused record is therefore in the dead-letter
/// topic, in the store's undeliverable list, or still ahead of the committed offset; never
/// nowhere. Delivery is at least once: a crash after the delivery and before the commit sends it
/// again (consumers de-duplicate by the `recstream.source.*` headers).
///
/// What is sent always fits: the value is cut to `limits.maxValueBytes` (header
/// `recstream.truncated: true`), the key to `limits.maxKeyBytes`, and the original headers are
/// dropped when together they exceed `limits.maxHeaderBytes`; `recstream.original.size` carries
/// the value's real size. Every wait is bounded: librdkafka gives each attempt at most
/// `limits.timeout` (`message.timeout.ms`), a retriable failure is re-sent while the record's
/// first attempt is younger than that, and a permanent one (not authorized, unknown topic on a
/// cluster without auto-creation, too large) is given up at once.
///
/// Memory: pending records are held until acknowledged; the pipeline commits early when
/// ``pendingCount`` passes its cap, so they are bounded by that cap times the value limit.
final class DeadLetterQueue: @unchecked Sendable {
    /// What one dead-letter record may carry, and how long delivery may take.
    struct Limits: Sendable {
        /// Largest value sent; longer values are cut. Key `dead_letter.max_value_bytes`.
        var maxValueBytes = 64 * 1024
        /// Largest key sent; longer keys are cut.
        var maxKeyBytes = 1024
        /// Largest total of the refused record's own headers carried over; more are dropped.
        var maxHeaderBytes = 16 * 1024
        /// How long a record may take to be acknowledged, retries included. Key `dead_letter.timeout_ms`.
        var timeout: Duration = .seconds(30)
    }

    struct Pending: Sendable {
        var key: [UInt8]?
        var value: [UInt8]
        var headers: [KafkaHeader]
        var source: TopicPartition
        var offset: Int64
        var rejection: Rejection
        var originalBytes: Int
        var firstSent: ContinuousClock.Instant
        var lastError: String?
    }

    /// Undelivered records and failed tokens, shared with the producer's delivery callback.
    final class Ledger: Sendable {
        let pending = Mutex<[UInt64: Pending]>([:])
        let failed = Mutex<[(token: UInt64, error: KafkaError)]>([])

        func record(_ report: DeliveryReport) {
            if let error = report.error {
                failed.withLock { $0.append((report.token, error)) }
            } else {
                _ = pending.withLock { $0.removeValue(forKey: report.token) }
            }
        }
    }

    let topic: String
    let limits: Limits
    private let producer: KafkaProducer
    private let logger: Logger
    private let ledger = Ledger()
    private let nextToken = Atomic<UInt64>(1)
    private let clock: RuntimeClock

    /// - Parameter clock: time-outs run on its monotonic reading; undeliverable records are
    ///   stamped with its wall time.
    init(
        configuration: KafkaConfiguration, topic: String, limits: Limits = Limits(), logger: Logger, clock: RuntimeClock = .system
    ) throws(KafkaError) {
        self.topic = topic
        self.limits = limits
        self.logger = logger
        self.clock = clock
        let ledger = self.ledger
        var producerConfiguration = configuration
        let timeoutMillis = Int(limits.timeout.components.seconds) * 1000 + Int(limits.timeout.components.attoseconds / 1_000_000_000_000_000)
        // librdkafka retries retriable errors by itself until this time-out, then reports failure.
        producerConfiguration.properties["message.timeout.ms"] = String(max(1, timeoutMillis))
        // At least once is the contract here, and an idempotent producer turns a permanent
        // delivery error (an authorization refusal) into a fatal state that fails every later send.
        producerConfiguration.properties["enable.idempotence"] = "false"
        producer = try KafkaProducer(
            configuration: producerConfiguration, queueFullTimeout: .milliseconds(100), onDelivery: { ledger.record($0) })
    }

    /// Queues `record` for the dead-letter topic with headers naming why and where it came from.
    /// Never throws and never blocks longer than the producer's queue-full wait: a record librdkafka
    /// refuses at once is handled by the next ``awaitDelivered(shouldStop:)`` like a failed delivery.
    func send(
        key: [UInt8]?, value: [UInt8], originalHeaders: [KafkaHeader], rejection: Rejection, source: TopicPartition,
        offset: Int64
    ) {
        let record = Self.fitted(
            key: key, value: value, originalHeaders: originalHeaders, rejection: rejection, source: source, offset: offset,
            limits: limits, now: clock.now())
        let token = nextToken.add(1, ordering: .relaxed).oldValue
        ledger.pending.withLock { $0[token] = record }
        transmit(token, record)
    }

    /// The dead-letter record for a refused one, cut to the limits.
    static func fitted(
        key: [UInt8]?, value: [UInt8], originalHeaders: [KafkaHeader], rejection: Rejection, source: TopicPartition, offset: Int64,
        limits: Limits, now: ContinuousClock.Instant
    ) -> Pending {
        var headers: [KafkaHeader] = []
        let carried = originalHeaders.filter { !$0.key.hasPrefix("recstream.") }
        let carriedBytes = carried.reduce(0) { $0 + $1.key.utf8.count + ($1.value?.count ?? 0) }
        if carriedBytes <= limits.maxHeaderBytes {
            headers = carried
        } else {
            headers.append(KafkaHeader(key: "recstream.headers.dropped", utf8: String(carried.count)))
        }
        headers.append(KafkaHeader(key: "recstream.reason", utf8: rejection.reason.rawValue))
        headers.append(KafkaHeader(key: "recstream.detail", value: Array(rejection.detail.utf8.prefix(1024))))
        headers.append(KafkaHeader(key: "recstream.source.topic", utf8: source.topic))
        headers.append(KafkaHeader(key: "recstream.source.partition", utf8: String(source.partition)))
        headers.append(KafkaHeader(key: "recstream.source.offset", utf8: String(offset)))
        headers.append(KafkaHeader(key: "recstream.original.size", utf8: String(value.count)))
        var sentValue = value
        if value.count > limits.maxValueBytes {
            sentValue = Array(value.prefix(limits.maxValueBytes))
            headers.append(KafkaHeader(key: "recstream.truncated", utf8: "true"))
        }
        var sentKey = key
        if let k = key, k.count > limits.maxKeyBytes {
            sentKey = Array(k.prefix(limits.maxKeyBytes))
            headers.append(KafkaHeader(key: "recstream.key.truncated", utf8: String(k.count)))
        }
        return Pending(
            key: sentKey, value: sentValue, headers: headers, source: source, offset: offset, rejection: rejection,
            originalBytes: value.count, firstSent: now, lastError: nil)
    }

    private func transmit(_ token: UInt64, _ record: Pending) {
        do {
            try producer.send(topic: topic, key: record.key, value: record.value, headers: record.headers, token: token)
        } catch {
            ledger.failed.withLock { $0.append((token, error)) }
        }
    }

    var pendingCount: Int { ledger.pending.withLock { $0.count } }

    /// Waits until every queued record is acknowledged or given up, re-sending retriable failures
    /// while they are younger than `limits.timeout`. Bounded: every record ends within
    /// `limits.timeout` plus a few seconds of grace for its last report.
    /// - Returns: the records given up, for the caller to write durably with the commit.
    func awaitDelivered(shouldStop: () -> Bool) -> [UndeliverableRecord] {
        var gaveUp: [UndeliverableRecord] = []
        var backoff = Duration.milliseconds(20)
        var lastWarning = clock.now()
        while true {
            try? producer.flush(timeout: .milliseconds(200))
            let failures = ledger.failed.withLock { list -> [(token: UInt64, error: KafkaError)] in
                defer { list.removeAll() }
                return list
            }
            let now = clock.now()
            for (token, error) in failures {
                guard var record = ledger.pending.withLock({ $0[token] }) else { continue }
                record.lastError = error.description
                if Self.isPermanent(error) || now - record.firstSent >= limits.timeout {
                    gaveUp.append(giveUp(token, record, error: error.description))
                } else {
                    ledger.pending.withLock { $0[token] = record }
                    transmit(token, record)
                }
            }
            // A record with no report long after its time-out (a lost report) is given up too;
            // should it still land, the dead-letter topic holds one more copy, which at-least-once allows.
            let overdue = ledger.pending.withLock { pending in
                pending.filter { now - $0.value.firstSent >= limits.timeout + .seconds(5) }
            }
            for (token, record) in overdue { gaveUp.append(giveUp(token, record, error: record.lastError ?? "no delivery report")) }
            if pendingCount == 0 { return gaveUp }
            if now - lastWarning >= .seconds(5) {
                lastWarning = now
                logger.warning(
                    "dead-letter delivery incomplete; waiting at most dead_letter.timeout_ms per record",
                    metadata: ["pending": "\(pendingCount)", "shouldStop": "\(shouldStop())"])
            }
            Thread.sleep(forTimeInterval: Double(backoff.components.attoseconds) / 1e18 + Double(backoff.components.seconds))
            backoff = min(backoff * 2, .milliseconds(500))
        }
    }

    private func giveUp(_ token: UInt64, _ record: Pending, error: String) -> UndeliverableRecord {
        _ = ledger.pending.withLock { $0.removeValue(forKey: token) }
        logger.error(
            "a refused record could not be written to the dead-letter topic; recorded in the state store instead",
            metadata: [
                "topic": "\(record.source.topic)", "partition": "\(record.source.partition)", "offset": "\(record.offset)",
                "reason": "\(record.rejection.reason.rawValue)", "error": "\(error)",
            ])
        return UndeliverableRecord(
            topic: record.source.topic, partition: record.source.partition, offset: record.offset, reason: record.rejection.reason,
            detail: record.rejection.detail, originalBytes: record.originalBytes, error: error, recordedAtMillis: clock.wallMillis())
    }

    /// Errors a retry cannot fix: authorization, size, a topic that does not exist where
    /// auto-creation is off, an invalid record, a fatal producer.
    static func isPermanent(_ error: KafkaError) -> Bool {
        if error.isFatal { return true }
        switch error.name {
        case "TOPIC_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED", "MSG_SIZE_TOO_LARGE", "_MSG_SIZE_TOO_LARGE",
            "RECORD_LIST_TOO_LARGE", "INVALID_RECORD", "CORRUPT_MESSAGE", "_UNKNOWN_TOPIC", "INVALID_TOPIC_EXCEPTION",
            "UNSUPPORTED_VERSION", "SASL_AUTHENTICATION_FAILED", "_AUTHENTICATION", "POLICY_VIOLATION":
            return true
        default:
            return false
        }
    }

    func close() { producer.close(timeout: .seconds(10)) }
}
