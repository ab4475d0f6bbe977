import Foundation
import Logging
import RecstreamCore
import RecstreamKafka
import Synchronization

/// Who runs in the group and who owns which partition, learned through Kafka. Every instance
/// publishes an ``OwnershipClaim`` (its identity, mode, advertised URL and owned partitions) to
/// the group's compacted one-partition topic `<group id>.instances` after every rebalance and
/// every 2 s, and tails that topic. A claim not renewed within ``freshnessMillis`` is ignored
/// (its instance stopped or hangs).
///
/// Split mode: ownership itself is Kafka's consumer-group assignment; the directory spreads the
/// word so queries can be forwarded to owners. Single mode: the directory is the guard that one
/// instance owns the group: a single-mode instance refuses to start while another instance has
/// a fresh claim in the group, and a split-mode instance refuses while a single-mode one has
/// (``conflicts()``); of two that started at the same moment, the later one yields.
public final class OwnershipDirectory: OwnerRouting, @unchecked Sendable {
    static let freshnessMillis: Int64 = 15_000

    private let topic: String
    private let kafka: KafkaConfiguration
    private let itemsPartitions: Mutex<Int>
    private let userPartitions = Mutex<Int>(0)
    /// The partitions this instance owns, as the ingest thread last reported them; re-published
    /// every 2 s by the directory's own thread, so a busy ingest thread (a long commit) never lets
    /// the claim go stale.
    private let published = Mutex<[String: [Int32]]?>(nil)
    /// The directory's own producer: claims never queue behind a large changelog batch.
    private let producer: KafkaProducer
    private let logger: Logger
    private let state = Mutex<(selfURL: String?, claims: [String: OwnershipClaim], stop: Bool, caughtUp: Bool)>((nil, [:], false, false))
    private var thread: Thread?
    /// This instance's identity, mode and start, carried by every claim it publishes.
    let identity: String
    let mode: RecstreamConfiguration.PipelineMode
    let startedAtMillis: Int64
    private let clock: RuntimeClock

    init(
        configuration: RecstreamConfiguration, kafka: KafkaConfiguration, logger: Logger, identity: String, startedAtMillis: Int64,
        clock: RuntimeClock = .system
    ) throws {
        producer = try KafkaProducer(configuration: kafka)
        topic = configuration.directoryTopic
        self.kafka = kafka
        self.logger = logger
        self.identity = identity
        self.mode = configuration.pipelineMode
        self.startedAtMillis = startedAtMillis
        self.clock = clock
        itemsPartitions = Mutex(0)
    }

    public var selfURL: String? { state.withLock { $0.selfURL } }

    /// Sets the URL other instances forward to (after the HTTP server is bound).
    public func setSelfURL(_ url: String) { state.withLock { $0.selfURL = url } }

    func setPartitionCounts(events: Int, items: Int) {
        userPartitions.withLock { $0 = events }
        itemsPartitions.withLock { $0 = items }
    }

    /// Starts tailing the directory topic on a background thread.
    func start() {
        let topic = self.topic
        let kafka = self.kafka
        let logger = self.logger
        let thread = Thread { [self] in
            while !isStopped {
                do {
                    let reader = try PartitionReader(configuration: kafka, partition: TopicPartition(topic: topic, partition: 0))
                    defer { reader.close() }
                    let end = try reader.watermarks(timeout: .seconds(10))
                    if end.high <= end.low { self.state.withLock { $0.caughtUp = true } }
                    try reader.tail(from: 0, shouldStop: { self.isStopped }) { record in
                        if record.offset + 1 >= end.high { self.state.withLock { $0.caughtUp = true } }
                        guard !record.isNullValue, let claim = try? JSONDecoder().decode(OwnershipClaim.self, from: Data(record.value)) else {
                            return
                        }
                        self.state.withLock { s in
                            if (s.claims[claim.identity]?.atMillis ?? Int64.min) <= claim.atMillis { s.claims[claim.identity] = claim }
                        }
                    }
                } catch {
                    logger.warning("ownership directory unavailable; retrying", metadata: ["topic": "\(topic)", "error": "\(error)"])
                    Thread.sleep(forTimeInterval: 1)
                }
            }
        }
        thread.name = "recstream-directory"
        self.thread = thread
        thread.start()
        let renewal = Thread { [self] in
            while !isStopped {
                Thread.sleep(forTimeInterval: 2)
                renew()
            }
        }
        renewal.name = "recstream-directory-renewal"
        renewal.start()
    }

    func stop() {
        state.withLock { $0.stop = true }
        producer.close()
    }

    private var isStopped: Bool { state.withLock { $0.stop } }

    /// Waits until the directory has read every claim published before it started (or `limit`
    /// passed). False when it could not catch up: the guard then works from what it has.
    func awaitCaughtUp(within limit: Duration) -> Bool {
        let deadline = clock.now() + limit
        while clock.now() < deadline {
            if state.withLock({ $0.caughtUp }) { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return false
    }

    /// Fresh claims of other instances that this one must not run beside: in single mode any
    /// other instance of the group, in split mode any single-mode instance.
    func conflicts() -> [OwnershipClaim] {
        claims().filter { claim in
            guard claim.identity != identity else { return false }
            return mode == .single || claim.mode == RecstreamConfiguration.PipelineMode.single.rawValue
        }
    }

    /// Publishes this instance's claim through `producer` now and every 2 s from then on (no-op
    /// until the URL is known).
    func publish(partitions: [String: [Int32]]) {
        published.withLock { $0 = partitions }
        renew()
    }

    /// Sends the current claim. Under the `published` lock, so the ingest thread's publish and the
    /// renewal thread cannot cross: a claim with older partitions never gets a newer timestamp.
    private func renew() {
        published.withLock { published in
            // Single mode claims the group before its API is bound (the guard needs no URL).
            guard let partitions = published, let url = selfURL ?? (mode == .single ? "" : nil) else { return }
            let claim = OwnershipClaim(
                url: url, atMillis: clock.wallMillis(), partitions: partitions, mode: mode.rawValue, instance: identity,
                startedAtMillis: startedAtMillis)
            // Known at once locally, even before the topic echoes it back.
            state.withLock { $0.claims[identity] = claim }
            guard let value = try? JSONEncoder().encode(claim) else { return }
            do {
                try producer.send(topic: topic, partition: 0, key: Array(identity.utf8), value: Array(value))
            } catch {
                logger.warning("cannot publish the ownership claim", metadata: ["error": "\(error)"])
            }
        }
    }

    public func claims() -> [OwnershipClaim] {
        let now = clock.wallMillis()
        return state.withLock { $0.claims.values }.filter { now - $0.atMillis <= Self.freshnessMillis }.sorted { $0.url < $1.url }
    }

    /// The freshest claim listing `partition` of `stage`.
    private func owner(stage: String, partition: Int32) -> String? {
        claims().filter { $0.partitions[stage]?.contains(partition) ?? false }.max { $0.atMillis < $1.atMillis }?.url
    }

    public func userPartitionCount() -> Int { userPartitions.withLock { $0 } }

    public func userStageComplete() -> Bool {
        let n = userPartitions.withLock { $0 }
        guard n > 0 else { return false }
        let claimed = Set(claims().flatMap { $0.partitions["user"] ?? [] })
        return (0..<Int32(n)).allSatisfy(claimed.contains)
    }

    public func ownersOfItems(_ itemIDs: [String]) -> [String?] {
        let n = itemsPartitions.withLock { $0 }
        guard n > 0 else { return itemIDs.map { _ in nil } }
        // The freshest claim per item partition, from one snapshot of the directory.
        var owners: [Int32: OwnershipClaim] = [:]
        for claim in claims() {
            for p in claim.partitions["item"] ?? [] where (owners[p]?.atMillis ?? Int64.min) < claim.atMillis { owners[p] = claim }
        }
        return itemIDs.map { owners[KafkaPartitioner.partition(of: Array($0.utf8), partitions: n)]?.url }
    }

    /// Per stage (`user`, `item`), the partitions no fresh claim of the group lists: nobody
    /// consumes them now (an instance died and its session has not expired, or too few instances
    /// run that stage). Empty stages are left out.
    public func unownedPartitions() -> [String: [Int32]] {
        let counts = ["user": userPartitions.withLock { $0 }, "item": itemsPartitions.withLock { $0 }]
        let fresh = claims()
        var unowned: [String: [Int32]] = [:]
        for (stage, n) in counts where n > 0 {
            let claimed = Set(fresh.flatMap { $0.partitions[stage] ?? [] })
            let missing = (0..<Int32(n)).filter { !claimed.contains($0) }
            if !missing.isEmpty { unowned[stage] = missing }
        }
        return unowned
    }

    public func ownerOfEngagementStage() -> String? { owner(stage: "engagement", partition: 0) }

    public func userStageOwners() -> [String] { claims().filter { !($0.partitions["user"] ?? []).isEmpty }.map(\.url) }
}
