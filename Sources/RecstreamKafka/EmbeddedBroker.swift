#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRdKafka
import CRdKafkaMock
import Synchronization

/// An in-process Kafka-protocol cluster (librdkafka's mock cluster) on 127.0.0.1, reachable
/// by any Kafka client for as long as this object lives.
///
/// Guarantees: with `.unbounded` retention (the default) no record is ever dropped by the
/// broker: the mock's private per-partition limits are lifted after a guarded layout check,
/// for topics created here and, through a sweep every 100 ms, for topics that clients
/// auto-create; if a check fails the broker refuses (see docs/embedded-broker.md).
/// Everything is kept in memory.
///
/// The mock in librdkafka 2.0.2 has no CreateTopics API: create topics with `createTopic`
/// (clients' Metadata/Produce requests for an unknown topic also auto-create it with 4
/// partitions). Consumer groups, offsets commits, idempotent producers and ListOffsets work.
///
/// - Important: Thread-safe (`@unchecked Sendable`): the mock cluster serialises control calls
///   on its own thread, and this object guards its handles with a `Mutex` so `shutdown`
///   cannot race another call or the sweep.
public final class EmbeddedBroker: @unchecked Sendable {
    /// "127.0.0.1:PORT[,127.0.0.1:PORT...]", one entry per broker.
    public let bootstrapServers: String
    /// The number of brokers (ids 1...brokerCount).
    public let brokerCount: Int
    /// The retention mode chosen at start.
    public let retention: MockRetention

    private let shared: Shared
    private let sweeper: Mutex<BackgroundThread?>

    /// Starts a cluster of `brokers` brokers on loopback ports chosen by the OS.
    ///
    /// - Throws: `.retentionLiftRefused` when `.unbounded` was asked for and the running
    ///   librdkafka is not a layout this module mirrors; `.startFailed` when librdkafka cannot
    ///   create the cluster.
    public init(brokers: Int = 1, retention: MockRetention = .unbounded) throws(EmbeddedBrokerError) {
        precondition((1...32).contains(brokers), "brokers \(brokers) outside 1...32")
        self.brokerCount = brokers
        self.retention = retention
        let client: ClientHandle
        let mcluster: OpaquePointer
        do {
            // A producer-type handle with no brokers of its own hosts the cluster.
            // log_level 4: the hosting handle has no brokers of its own, which librdkafka would
            // otherwise report as a configuration notice on every start.
            let conf = try KafkaConfiguration(bootstrapServers: "").makeNativeConf(defaults: ["log_level": "4"])
            client = try ClientHandle(type: RD_KAFKA_PRODUCER, conf: conf)
            // rd_kafka_mock_cluster_new(): ours to rd_kafka_mock_cluster_destroy(), which must
            // run before the hosting handle is destroyed.
            guard let cluster = rd_kafka_mock_cluster_new(try client.get(), Int32(brokers)) else {
                throw EmbeddedBrokerError.startFailed("rd_kafka_mock_cluster_new returned NULL")
            }
            mcluster = cluster
        } catch let error as KafkaError {
            throw .startFailed(error.description)
        } catch let error as EmbeddedBrokerError {
            throw error
        } catch {
            throw .startFailed("\(error)")
        }
        // rd_kafka_mock_cluster_bootstraps(): a string owned by the cluster; copied here.
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(mcluster))
        let shared = Shared(core: Core(client: client, cluster: mcluster), brokerCount: brokers)
        self.shared = shared
        guard retention == .unbounded else {
            sweeper = Mutex(nil)
            return
        }
        if let refusal = shared.liftAll() {
            shared.destroy()
            throw .retentionLiftRefused(refusal)
        }
        do {
            let thread = try BackgroundThread(name: "mock-retention-sweep") {
                // Topics auto-created by clients appear without a call here: lift them too.
                while shared.sleepUnlessStopped(milliseconds: 100) {
                    _ = shared.liftAll()
                }
            }
            sweeper = Mutex(thread)
        } catch {
            shared.destroy()
            throw .startFailed(error.description)
        }
    }

    deinit {
        shutdown()
    }

    /// Creates a topic (synchronously: it exists when this returns) and, with `.unbounded`
    /// retention, lifts its limits before returning.
    ///
    /// - Parameter replicationFactor: accepted for symmetry; librdkafka 2.0.2's mock assigns
    ///   min(3, brokers) replicas whatever is asked.
    /// - Throws: `.kafka` with `TOPIC_ALREADY_EXISTS` for an existing name;
    ///   `.retentionLiftRefused` (the topic then exists with stock limits); `.shutDown`.
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws(EmbeddedBrokerError) {
        precondition((1...100_000).contains(partitions), "partitions \(partitions) outside 1...100000")
        try shared.withOpenCore { core throws(EmbeddedBrokerError) in
            // rd_kafka_mock_topic_create(): runs on the mock thread; returns after it is done.
            let code = rd_kafka_mock_topic_create(core.cluster, name, Int32(partitions), Int32(replicationFactor))
            if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw .kafka(KafkaError(native: code, message: "create topic \(name): \(String(cString: rd_kafka_err2str(code)))"))
            }
        }
        if retention == .unbounded, let refusal = shared.liftAll() {
            throw .retentionLiftRefused(refusal)
        }
    }

    /// Takes broker `id` down: it closes client connections and refuses new ones.
    package func setBrokerDown(_ id: Int32) throws(EmbeddedBrokerError) {
        try control("set broker \(id) down") { rd_kafka_mock_broker_set_down($0, id) }
    }

    /// Brings broker `id` back up.
    package func setBrokerUp(_ id: Int32) throws(EmbeddedBrokerError) {
        try control("set broker \(id) up") { rd_kafka_mock_broker_set_up($0, id) }
    }

    /// Delays every response of broker `id` by `delay` (millisecond resolution).
    package func setRoundTripTime(_ id: Int32, _ delay: Duration) throws(EmbeddedBrokerError) {
        try control("set broker \(id) rtt") { rd_kafka_mock_broker_set_rtt($0, id, delay.clampedMilliseconds) }
    }

    /// Makes the next `errors.count` requests of API `apiKey` (Kafka protocol ApiKey, e.g. 0 =
    /// Produce, 1 = Fetch) fail with these error codes, in order, on any broker.
    package func pushRequestErrors(apiKey: Int16, errors: [Int32]) throws(EmbeddedBrokerError) {
        let codes = errors.map { rd_kafka_resp_err_t(rawValue: $0) }
        try shared.withOpenCore { core throws(EmbeddedBrokerError) in
            // rd_kafka_mock_push_request_errors_array(): copies the array.
            codes.withUnsafeBufferPointer { buffer in
                rd_kafka_mock_push_request_errors_array(core.cluster, apiKey, buffer.count, buffer.baseAddress)
            }
        }
    }

    /// The first refusal of the periodic sweep, if any: then some auto-created partition may
    /// have stock limits. `nil` while every partition seen was lifted (or retention is `.stock`).
    public var retentionLiftFailure: String? {
        shared.failure.withLock { $0 }
    }

    /// Stops the sweep, destroys the cluster (closing every client connection) and its
    /// hosting handle. Idempotent; also run by `deinit`.
    public func shutdown() {
        let thread = sweeper.withLock { thread in
            let taken = thread
            thread = nil
            return taken
        }
        shared.stop.store(true, ordering: .releasing)
        thread?.join()
        shared.destroy()
    }

    private func control(_ what: String, _ call: (OpaquePointer) -> rd_kafka_resp_err_t) throws(EmbeddedBrokerError) {
        try shared.withOpenCore { core throws(EmbeddedBrokerError) in
            let code = call(core.cluster)
            if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw .kafka(KafkaError(native: code, message: "\(what): \(String(cString: rd_kafka_err2str(code)))"))
            }
        }
    }

    // MARK: Testing

    /// A partition's current limits, read after the same layout checks (for tests).
    func retentionLimits(topic: String, partition: Int32) throws(EmbeddedBrokerError) -> (maxSize: UInt, maxCount: UInt) {
        try shared.withOpenCore { core throws(EmbeddedBrokerError) in
            var report = recstream_mock_limits_report_t()
            var maxSize = 0
            var maxCount = 0
            let status = recstream_mock_limits_read(UnsafeMutableRawPointer(core.cluster),
                                                    UnsafeMutableRawPointer(try? core.client.get()),
                                                    Int32(brokerCount), topic, partition, &maxSize, &maxCount, &report)
            if status != Int32(RECSTREAM_MOCK_LIMITS_OK.rawValue) { throw .retentionLiftRefused(report.reasonText) }
            return (UInt(bitPattern: maxSize), UInt(bitPattern: maxCount))
        }
    }

    /// Runs the guarded lift on a corrupted private copy of the cluster (for tests).
    ///
    /// - Returns: the refusal reason (`nil` when the lift went through on the copy) and
    ///   whether the copy's partition bytes are unchanged afterwards.
    func testingLiftCorruptedCopy(_ corruption: MockLayoutCorruption) throws(EmbeddedBrokerError)
        -> (refusal: String?, copyUnchanged: Bool)
    {
        try shared.withOpenCore { core throws(EmbeddedBrokerError) in
            var report = recstream_mock_limits_report_t()
            var unchanged: Int32 = 0
            let status = recstream_mock_limits_testing_lift_corrupted_copy(
                UnsafeMutableRawPointer(core.cluster), UnsafeMutableRawPointer(try? core.client.get()),
                Int32(brokerCount), corruption.rawValue, &report, &unchanged)
            let refused = status != Int32(RECSTREAM_MOCK_LIMITS_OK.rawValue)
            return (refused ? report.reasonText : nil, unchanged != 0)
        }
    }

    // MARK: Shared state

    /// The handles, owned under a lock.
    fileprivate struct Core {
        var client: ClientHandle
        var cluster: OpaquePointer
        var isDestroyed = false
    }

    /// What the broker object and its sweep thread share.
    fileprivate final class Shared: Sendable {
        let core: Mutex<Core>
        let brokerCount: Int
        let stop = Atomic<Bool>(false)
        let failure = Mutex<String?>(nil)

        init(core: consuming sending Core, brokerCount: Int) {
            self.core = Mutex(core)
            self.brokerCount = brokerCount
        }

        func withOpenCore<R: Sendable>(_ body: (inout Core) throws(EmbeddedBrokerError) -> R) throws(EmbeddedBrokerError) -> R {
            try core.withLock { (core: inout Core) throws(EmbeddedBrokerError) -> R in
                if core.isDestroyed { throw .shutDown }
                return try body(&core)
            }
        }

        /// One guarded lift over every topic; returns the refusal reason, if any (the first
        /// refusal is also kept in `failure`).
        func liftAll() -> String? {
            let outcome: String?? = try? withOpenCore { core throws(EmbeddedBrokerError) -> String? in
                var report = recstream_mock_limits_report_t()
                let status = recstream_mock_limits_lift(UnsafeMutableRawPointer(core.cluster),
                                                        UnsafeMutableRawPointer(try? core.client.get()),
                                                        Int32(brokerCount), &report)
                return status == Int32(RECSTREAM_MOCK_LIMITS_OK.rawValue) ? nil : report.reasonText
            }
            guard let refusal = outcome ?? nil else { return nil }
            failure.withLock { if $0 == nil { $0 = refusal } }
            return refusal
        }

        /// Sleeps in 10 ms steps; `false` as soon as `stop` is set.
        func sleepUnlessStopped(milliseconds: Int) -> Bool {
            var slept = 0
            while slept < milliseconds {
                if stop.load(ordering: .acquiring) { return false }
                usleep(10_000)
                slept += 10
            }
            return !stop.load(ordering: .acquiring)
        }

        /// Destroys cluster then handle, once.
        func destroy() {
            core.withLock { core in
                guard !core.isDestroyed else { return }
                core.isDestroyed = true
                // rd_kafka_mock_cluster_destroy(): stops the mock thread and frees every topic.
                rd_kafka_mock_cluster_destroy(core.cluster)
                core.client.destroy()
            }
        }
    }
}

/// A corruption the testing entry point applies to its private copy of the cluster.
enum MockLayoutCorruption: Int32, CaseIterable, Sendable {
    case none = 0
    case version, brokerCount, clusterHandle, topicCount, topicCluster, topicName
    case partitionCount, partitionID, partitionTopic, partitionLimits
}

extension recstream_mock_limits_report_t {
    /// The NUL-terminated `reason` field as a String.
    var reasonText: String {
        withUnsafePointer(to: reason) { tuple in
            tuple.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: reason)) { String(cString: $0) }
        }
    }
}
