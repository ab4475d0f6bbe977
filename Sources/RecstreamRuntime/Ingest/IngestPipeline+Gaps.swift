import Foundation
import Logging
import Metrics
import RecstreamCore
import RecstreamKafka
import RecstreamStorage
import Synchronization

// Consumer events: offsets the log no longer holds (data loss) or never held (state ahead of the log).
extension IngestPipeline {
    // MARK: Consumer events

    func handle(_ event: ConsumerEvent, consumer: KafkaConsumer) {
        switch event {
        case .offsetOutOfRange(let tp, let requested, let message):
            resolveGap(tp, requested: requested, message: message, consumer: consumer)
        case .partitionEOF:
            break
        case .error(let error):
            if error.isFatal {
                logger.critical("fatal Kafka error", metadata: ["error": "\(error)"])
            } else {
                logger.warning("Kafka reports", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The offset a partition needs no longer exists. Below the log start it is data loss:
    /// recorded (status, metric, error log) and the partition resumes at the log start. Beyond the
    /// log end the topic was recreated or truncated: recorded, and the partition stays stopped
    /// because its state reflects records that no longer exist.
    func resolveGap(_ tp: TopicPartition, requested: Int64, message: String, consumer: KafkaConsumer) {
        let watermarks: (low: Int64, high: Int64)
        do {
            watermarks = try consumer.queryWatermarks(tp, timeout: .seconds(5))
        } catch {
            logger.error("offset out of range and watermarks unavailable", metadata: ["partition": "\(tp.partition)", "error": "\(error)"])
            return
        }
        let now = wallClock()
        if requested < watermarks.low {
            let lost = watermarks.low - requested
            let loss = DataLossEvent(
                topic: tp.topic, partition: tp.partition, fromOffset: requested, toOffset: watermarks.low, detectedAtMillis: now,
                message: "the log start moved past offset \(requested) to \(watermarks.low): \(lost) records were deleted "
                    + "before they were applied (retention); resuming at \(watermarks.low)")
            // Durable with the skip itself: the next commit writes both.
            carriedLocal.put(loss.storeKey, loss.encoded())
            withState { state in
                state.dataLoss.removeAll { $0.storeKey == loss.storeKey }
                state.dataLoss.append(loss)
                let index = Int(tp.partition)
                switch tp.topic {
                case configuration.eventsTopic:
                    if index < state.shards.count { _ = state.shards[index]?.skipLost(to: watermarks.low) }
                case configuration.itemsTopic:
                    if index < state.itemShards.count { _ = state.itemShards[index]?.skipLost(to: watermarks.low) }
                default:
                    // The engagement partition: the lost records are simply not applied; the
                    // instance state resumes at the log start.
                    break
                }
            }
            metrics.dataLoss.increment(by: lost)
            logger.error("DATA LOSS", metadata: ["partition": "\(tp.partition)", "lost": "\(lost)", "detail": "\(loss.message)"])
            do {
                try consumer.seek(tp, to: watermarks.low, timeout: .seconds(10))
            } catch {
                logger.error("cannot resume after data loss", metadata: ["partition": "\(tp.partition)", "error": "\(error)"])
            }
        } else {
            let loss = DataLossEvent(
                topic: tp.topic, partition: tp.partition, fromOffset: watermarks.high, toOffset: requested, detectedAtMillis: now,
                message: "the state needs offset \(requested) but the log ends at \(watermarks.high): the topic was "
                    + "recreated or truncated. The partition is stopped; rebuild the state (remove the state directory) "
                    + "to consume it again. librdkafka: \(message)")
            carriedLocal.put(loss.storeKey, loss.encoded())
            withState { state in
                state.dataLoss.removeAll { $0.storeKey == loss.storeKey }
                state.dataLoss.append(loss)
            }
            logger.error("STATE AHEAD OF LOG", metadata: ["partition": "\(tp.partition)", "detail": "\(loss.message)"])
        }
    }
}
