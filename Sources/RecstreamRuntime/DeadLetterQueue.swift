import Foundation
import Logging
import RecstreamCore
import RecstreamKafka
import Synchronization

/// Sends refused records to the dead-letter topic and makes sure they arrived before the offsets
/// that skip them are committed: a refused record is either in the dead-letter topic or still
/// ahead of the committed offset, never nowhere. Delivery is at least once (a crash after the
/// delivery and before the commit sends it again).
///
/// Each record is kept in memory until its delivery report says it landed; failures are sent
/// again by ``awaitDelivered(shouldStop:)``. Memory is bounded by the commit interval times the
/// rate of bad records (the pipeline commits early when ``pendingCount`` passes its cap).
final class DeadLetterQueue: @unchecked Sendable {
    struct Pending: Sendable {
        var key: [UInt8]?
        var value: [UInt8]
        var headers: [KafkaHeader]
    }

    /// Undelivered records and failed tokens, shared with the producer's delivery callback.
    final class Ledger: Sendable {
        let pending = Mutex<[UInt64: Pending]>([:])
        let failed = Mutex<[UInt64]>([])
        let lastError = Mutex<String?>(nil)

        func record(_ report: DeliveryReport) {
            if let error = report.error {
                failed.withLock { $0.append(report.token) }
                lastError.withLock { $0 = error.description }
            } else {
                _ = pending.withLock { $0.removeValue(forKey: report.token) }
            }
        }
    }

    let topic: String
    private let producer: KafkaProducer
    private let logger: Logger
    private let ledger = Ledger()
    private let nextToken = Atomic<UInt64>(1)

    init(configuration: KafkaConfiguration, topic: String, logger: Logger) throws(KafkaError) {
        self.topic = topic
        self.logger = logger
        let ledger = self.ledger
        producer = try KafkaProducer(configuration: configuration, onDelivery: { ledger.record($0) })
    }

    /// Queues `record` for the dead-letter topic with headers naming why and where it came from.
    func send(
        key: [UInt8]?, value: [UInt8], originalHeaders: [KafkaHeader], rejection: Rejection, source: TopicPartition,
        offset: Int64
    ) throws(KafkaError) {
        var headers = originalHeaders.filter { !$0.key.hasPrefix("recstream.") }
        headers.append(KafkaHeader(key: "recstream.reason", value: Array(rejection.reason.rawValue.utf8)))
        headers.append(KafkaHeader(key: "recstream.detail", value: Array(rejection.detail.utf8)))
        headers.append(KafkaHeader(key: "recstream.source.topic", value: Array(source.topic.utf8)))
        headers.append(KafkaHeader(key: "recstream.source.partition", value: Array(String(source.partition).utf8)))
        headers.append(KafkaHeader(key: "recstream.source.offset", value: Array(String(offset).utf8)))
        let token = nextToken.add(1, ordering: .relaxed).oldValue
        let record = Pending(key: key, value: value, headers: headers)
        ledger.pending.withLock { $0[token] = record }
        try producer.send(topic: topic, key: key, value: value, headers: headers, token: token)
    }

    var pendingCount: Int { ledger.pending.withLock { $0.count } }

    /// Blocks until every queued record is delivered, re-sending failures with backoff.
    /// - Returns: false if `shouldStop` became true first.
    func awaitDelivered(shouldStop: () -> Bool) -> Bool {
        var backoff = Duration.milliseconds(100)
        while true {
            try? producer.flush(timeout: .seconds(5))
            let retry = ledger.failed.withLock { list -> [UInt64] in
                defer { list.removeAll() }
                return list
            }
            for token in retry {
                guard let record = ledger.pending.withLock({ $0[token] }) else { continue }
                do {
                    try producer.send(topic: topic, key: record.key, value: record.value, headers: record.headers, token: token)
                } catch {
                    ledger.failed.withLock { $0.append(token) }
                }
            }
            if pendingCount == 0 { return true }
            if shouldStop() { return false }
            logger.warning(
                "dead-letter delivery incomplete; retrying",
                metadata: ["pending": "\(pendingCount)", "error": "\(ledger.lastError.withLock { $0 } ?? "-")"])
            Thread.sleep(forTimeInterval: Double(backoff.components.seconds) + Double(backoff.components.attoseconds) / 1e18)
            backoff = min(backoff * 2, .seconds(5))
        }
    }

    func close() { producer.close(timeout: .seconds(10)) }
}
