import CoreMetrics
import Foundation
import Logging
import RecstreamCore
import RecstreamKafka
import Synchronization

/// Keeps what the status and the alerts say about progress true while ingest itself is blocked.
///
/// Every second, on its own thread and its own client handle (never the consumer, whose thread
/// may be stuck in a commit), it asks the brokers for the log end offset of every owned partition
/// (one ListOffsets request per broker) and stores the answers with their time in the engine
/// state; ``StateEngine/status()`` reports a partition's lag only from an answer younger than a
/// few seconds, so a lag is live or unknown, never stale. It also publishes the gauges an alert
/// needs: `recstream_consumer_lag_records` (total, only when every owned partition's lag is
/// known), `recstream_consumer_partition_lag_records{topic,partition}`,
/// `recstream_seconds_since_last_commit` and `recstream_ingest_stalled` (0 or 1).
final class EndOffsetMonitor: @unchecked Sendable {
    private let engine: StateEngine
    private let kafka: KafkaConfiguration
    private let logger: Logger
    private let factory: any MetricsFactory
    private let running = Atomic<Bool>(false)
    private let finished = Mutex<Bool>(false)
    private var thread: Thread?
    private let interval: Duration

    init(engine: StateEngine, kafka: KafkaConfiguration, metricsFactory: any MetricsFactory, logger: Logger, interval: Duration = .seconds(1)) {
        self.engine = engine
        self.kafka = kafka
        self.logger = logger
        self.factory = metricsFactory
        self.interval = interval
    }

    func start() {
        running.store(true, ordering: .releasing)
        let thread = Thread { [self] in loop() }
        thread.name = "recstream-end-offsets"
        self.thread = thread
        thread.start()
    }

    /// Stops the loop and waits for it (at most one refresh).
    func stop() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        while !finished.withLock({ $0 }) { Thread.sleep(forTimeInterval: 0.01) }
    }

    private func loop() {
        defer { finished.withLock { $0 = true } }
        let admin: KafkaAdmin
        do {
            admin = try KafkaAdmin(configuration: kafka)
        } catch {
            logger.error("end-offset monitor cannot create its client; lags stay unknown", metadata: ["error": "\(error)"])
            return
        }
        let total = Gauge(label: "recstream_consumer_lag_records", factory: factory)
        let sinceCommit = Gauge(label: "recstream_seconds_since_last_commit", factory: factory)
        let stalled = Gauge(label: "recstream_ingest_stalled", factory: factory)
        var partitionGauges: [TopicPartition: Gauge] = [:]
        let clock = engine.clock
        var lastFailureLog: ContinuousClock.Instant? = nil
        while running.load(ordering: .acquiring) {
            let started = clock.now()
            let owned = engine.ownedTopicPartitions()
            if !owned.isEmpty {
                do {
                    let ends = try admin.endOffsets(owned, timeout: .seconds(2))
                    let at = engine.wallClock()
                    engine.lock.withLock {
                        for (tp, offset) in ends { engine.state.liveEnds[tp] = LiveEnd(offset: offset, atMillis: at) }
                    }
                } catch {
                    if lastFailureLog.map({ clock.now() - $0 > .seconds(30) }) ?? true {
                        lastFailureLog = clock.now()
                        logger.warning("end offsets unavailable; lags are reported unknown", metadata: ["error": "\(error)"])
                    }
                }
            }
            let status = engine.status()
            if let lag = status.totalLag { total.record(lag) }
            for p in status.partitions {
                let tp = TopicPartition(topic: p.topic, partition: p.partition)
                let gauge =
                    partitionGauges[tp]
                    ?? Gauge(
                        label: "recstream_consumer_partition_lag_records",
                        dimensions: [("topic", p.topic), ("partition", String(p.partition))], factory: factory)
                partitionGauges[tp] = gauge
                if let lag = p.lag { gauge.record(lag) }
            }
            sinceCommit.record(status.secondsSinceLastCommit ?? 0)
            stalled.record(status.stalled ? 1 : 0)
            // Sleep out the interval in short steps: a stop is prompt, and partitions that were
            // just assigned (no end known yet) are asked about at once instead of a second later.
            while running.load(ordering: .acquiring) && clock.now() - started < interval {
                if clock.now() - started >= .milliseconds(100) && engine.hasOwnedPartitionWithoutEnd() { break }
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
    }
}
