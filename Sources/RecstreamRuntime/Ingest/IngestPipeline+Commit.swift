import Foundation
import Logging
import Metrics
import RecstreamCore
import RecstreamKafka
import RecstreamStorage
import Synchronization

// The atomic commit of state and offsets, in both modes.
extension IngestPipeline {
    // MARK: Commit

    /// One atomic commit of every owned shard's changes and offsets. Retries storage failures
    /// with backoff (ingest pauses meanwhile) until it succeeds or a stop is requested.
    ///
    /// Never stores a source offset past what it forwarded: after a forward failed, no commit on
    /// any path writes anything. A commit abandoned after draining keeps what it drained for the
    /// next one (``carriedLocal``, ``carriedStores``).
    func commit(consumer: KafkaConsumer?) {
        sendOutgoing()
        if let storeFailure {
            logger.error("commit skipped: a record waiting for a state entry was not applied", metadata: ["error": "\(storeFailure)"])
            return
        }
        if let forwardFailure {
            logger.error(
                "commit skipped: a forwarded record was lost, so no offset past it may be stored; the restart replays from the last commit",
                metadata: ["error": "\(forwardFailure)"])
            return
        }
        let started = clock.now()
        // Refused records are in the dead-letter topic, or recorded here as undeliverable, before
        // the offsets that skip them are committed. Bounded by dead_letter.timeout_ms.
        var changes = carriedLocal
        carriedLocal = StateChanges()
        let undeliverable = deadLetters.awaitDelivered(shouldStop: stopRequested)
        for record in undeliverable { changes.put(record.storeKey, record.encoded()) }
        if !undeliverable.isEmpty {
            var byReason: [RejectReason: Int] = [:]
            for record in undeliverable { byReason[record.reason, default: 0] += 1 }
            for (reason, n) in byReason { metrics.undeliverable[reason]?.increment(by: Int64(n)) }
            withState { state in
                state.undeliverable.append(contentsOf: undeliverable)
                state.undeliverableCount += undeliverable.count
                if state.undeliverable.count > EngineState.undeliverableKept {
                    state.undeliverable.removeFirst(state.undeliverable.count - EngineState.undeliverableKept)
                }
            }
        }
        var offsets: [TopicPartition: Int64] = [:]
        var stores: [(MovableStore, StateChanges)] = []
        withState { state in
            if split {
                var drained: [MovableStore: StateChanges] = [:]
                for shard in state.ownedShards {
                    drained[MovableStore(kind: .user, partition: shard.partition, configuration: configuration)] =
                        state.shards[Int(shard.partition)]!.drainChanges()
                    if let next = shard.nextOffset { offsets[TopicPartition(topic: configuration.eventsTopic, partition: shard.partition)] = next }
                }
                for shard in state.ownedItemShards {
                    drained[MovableStore(kind: .item, partition: shard.partition, configuration: configuration)] =
                        state.itemShards[Int(shard.partition)]!.drainChanges()
                    if let next = shard.nextOffset { offsets[TopicPartition(topic: configuration.itemsTopic, partition: shard.partition)] = next }
                }
                if state.ownsEngagements {
                    drained[MovableStore(kind: .engagement, partition: 0, configuration: configuration)] = state.instance.drainChanges()
                    if let next = state.instance.nextOffset { offsets[TopicPartition(topic: configuration.engagementsTopic, partition: 0)] = next }
                }
                // Carried changes of a store no longer owned are dropped with the store (the new
                // owner restores from the changelog, which never saw them).
                for (store, carried) in carriedStores {
                    guard var later = drained[store] else { continue }
                    var merged = carried
                    merged.merge(later: later)
                    later = merged
                    drained[store] = later
                }
                carriedStores = [:]
                stores = drained.sorted { ($0.key.kind.rawValue, $0.key.partition) < ($1.key.kind.rawValue, $1.key.partition) }
                    .map { ($0.key, $0.value) }
                return
            }
            changes.merge(later: state.instance.drainChanges())
            for index in state.shards.indices where state.shards[index] != nil {
                changes.merge(later: state.shards[index]!.drainChanges())
                if let next = state.shards[index]!.nextOffset {
                    offsets[TopicPartition(topic: configuration.eventsTopic, partition: Int32(index))] = next
                }
            }
        }
        if split {
            // Forwards first: a source offset is committed only after what it forwarded is in Kafka.
            // Then each store's batch goes to its changelog, and only then to the local store, so
            // the local copy is never ahead of the changelog.
            guard let changelog, let producer else { return }
            func abandon(_ why: String, _ error: String) {
                carriedLocal.merge(later: changes)
                for (store, storeChanges) in stores { carriedStores[store] = storeChanges }
                withState { $0.lastCommitError = "\(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(wallClock()) / 1000))): \(why): \(error)" }
                metrics.commitFailures.increment()
                logger.error("\(why); the commit is abandoned and its changes carried into the next one", metadata: ["error": "\(error)"])
            }
            guard awaitProducer(producer) else {
                abandon("forwarded records are not delivered", "\(forwardFailure.map { "\($0)" } ?? "stopping with the broker unreachable")")
                return
            }
            if forwardedSinceCommit > 0 {
                forwardedSinceCommit = 0
                forwardFlushes += 1
                crashPoint?.reached(.afterForwardFlush, commit: forwardFlushes)
            }
            var tokens: [(MovableStore, UInt64)] = []
            do {
                for (store, storeChanges) in stores {
                    if !storeChanges.isEmpty { try faults?.fail(.changelogSend) }
                    if let token = try changelog.send(storeChanges, of: store, repository: repository) { tokens.append((store, token)) }
                }
            } catch {
                // A batch cut short has no `rs-end` record: restore drops it. Retried next commit.
                abandon("a changelog record could not be queued", "\(error)")
                return
            }
            guard awaitProducer(producer) else {
                abandon("changelog records are not delivered", "\(forwardFailure.map { "\($0)" } ?? "stopping with the broker unreachable")")
                return
            }
            var positions = StateChanges()
            for (store, token) in tokens {
                guard let position = changelog.position(after: token) else {
                    abandon("a changelog batch has no delivery offset", "\(store)")
                    return
                }
                var w = BinaryWriter()
                w.appendBigEndian(UInt64(bitPattern: position))
                positions.put(store.positionKey, w.bytes)
            }
            changes.append(positions)
            for (_, storeChanges) in stores { changes.append(storeChanges) }
        }
        lastCommit = clock.now()
        if !changes.isEmpty {
            var backoff = Duration.milliseconds(50)
            writtenCommits += 1
            crashPoint?.reached(.beforeCommitWrite, commit: writtenCommits)
            while true {
                do {
                    try faults?.fail(.storageWrite)
                    try repository.commit(changes)
                    crashPoint?.reached(.afterCommitWrite, commit: writtenCommits)
                    break
                } catch {
                    metrics.commitFailures.increment()
                    withState { $0.lastCommitError = "\(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(wallClock()) / 1000))): \(error)" }
                    logger.error("state commit failed; retrying", metadata: ["error": "\(error)", "backoff": "\(backoff)"])
                    if stopRequested() && backoff >= .seconds(5) {
                        // Split mode: the changelog already has this batch; the local copy stays
                        // behind it, which the next assignment detects and restores.
                        carriedLocal = changes
                        logger.critical("giving up the final commit; the store keeps the previous commit", metadata: ["error": "\(error)"])
                        return
                    }
                    Thread.sleep(forTimeInterval: Double(backoff.components.seconds) + Double(backoff.components.attoseconds) / 1e18)
                    backoff = min(backoff * 2, .seconds(5))
                    // After a failed log write RocksDB refuses writes until reopened; reopening
                    // recovers the last good commit and the same batch is written again.
                    do { try repository.reopen() } catch { logger.error("reopening the state store failed", metadata: ["error": "\(error)"]) }
                }
            }
        }
        evictToBudget()
        let elapsed = clock.now() - started
        let millis = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        let completedAt = wallClock()
        withState { state in
            for (tp, offset) in offsets where tp.topic == configuration.eventsTopic { state.committedOffsets[tp.partition] = offset }
            for (tp, offset) in offsets where split && tp.topic == configuration.itemsTopic { state.itemCommitted[tp.partition] = offset }
            if let engagements = offsets[TopicPartition(topic: configuration.engagementsTopic, partition: 0)] {
                state.engagementsCommitted = engagements
            }
            // Every completed commit counts, an empty one too: the stall alarm watches the commit
            // loop, not the traffic.
            state.lastCompletedCommitAtMillis = completedAt
            if !changes.isEmpty {
                state.lastCommitAtMillis = completedAt
                state.lastCommitDurationMillis = millis
            }
            state.lastCommitError = nil
        }
        guard !changes.isEmpty else { return }
        metrics.commits.increment()
        metrics.commitDuration.recordNanoseconds(Int64(millis * 1e6))
        metrics.commitBytes.record(changes.byteCount)
        metrics.commitRecords.record(changes.recordCount)
        if let consumer, !offsets.isEmpty {
            // For lag monitoring only; the store is the source of truth.
            do { try consumer.commit(offsets, asynchronously: true) } catch {
                logger.debug("group offset commit failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Waits until every forwarded and changelog record has been delivered. False (the commit is
    /// abandoned, the previous one stands) when a stop was requested and the broker stayed
    /// unreachable for 30 s, or when a record failed for good.
    func awaitProducer(_ producer: KafkaProducer) -> Bool {
        let failedBefore = producer.failedCount
        let started = clock.now()
        while true {
            do {
                try producer.flush(timeout: .seconds(1))
                break
            } catch {
                if stopRequested() && clock.now() - started > .seconds(30) {
                    logger.critical("forwarded records still undelivered after 30 s while stopping; the last commit stands")
                    return false
                }
            }
        }
        if producer.failedCount != failedBefore {
            forwardFailure = ForwardError(description: "\(producer.failedCount - failedBefore) forwarded or changelog records failed delivery")
            logger.critical("forwarded records failed delivery; stopping without committing past them")
            return false
        }
        return true
    }

    /// Keeps the paged entries of every owned shard within `state.cache_bytes`: each shard evicts
    /// clean entries down to its share, in proportion to what it holds. After a commit, so what
    /// it evicts is clean; dirty entries are never evicted.
    func evictToBudget() {
        let (resident, evicted): (Int, Int) = withState { state in
            var total = state.ownedShards.reduce(0) { $0 + $1.pagedBytes } + state.ownedItemShards.reduce(0) { $0 + $1.pagedBytes }
            var evicted = 0
            if total > configuration.cacheBytes {
                let ratio = Double(configuration.cacheBytes) / Double(total)
                for i in state.shards.indices where state.shards[i] != nil {
                    evicted += state.shards[i]!.evict(toBytes: Int(Double(state.shards[i]!.pagedBytes) * ratio))
                }
                for i in state.itemShards.indices where state.itemShards[i] != nil {
                    evicted += state.itemShards[i]!.evict(toBytes: Int(Double(state.itemShards[i]!.pagedBytes) * ratio))
                }
                total -= evicted
            }
            state.cache.budgetBytes = configuration.cacheBytes
            state.cache.residentBytes = total
            state.cache.evictedBytes += evicted
            return (total, evicted)
        }
        metrics.cacheBytes.record(resident)
        if evicted > 0 { metrics.cacheEvictedBytes.increment(by: Int64(evicted)) }
    }
}
