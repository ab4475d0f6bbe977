import CRdKafka

/// The consumer's side of group membership: what the listener has been told is owned, the
/// rebalance events waiting to be applied, and the per-partition topic-name cache.
///
/// Reached from the rebalance and commit trampolines through an unretained opaque pointer;
/// every use is on the thread that calls `KafkaConsumer.poll`/`close` (librdkafka serves
/// those callbacks inside `rd_kafka_consume_batch_queue` and `rd_kafka_consumer_close`).
final class ConsumerGroupState {
    /// A rebalance callback, recorded to be applied after the current batch is handed out.
    enum Rebalance {
        case assign([TopicPartition])
        case revoke([TopicPartition])
        case failure(rd_kafka_resp_err_t, [TopicPartition])
    }

    let listener: any RebalanceListener
    let defaultStart: StartOffset
    /// The consumer queue, for `rd_kafka_queue_yield` when a rebalance arrives mid-wait.
    var queue: OpaquePointer?
    /// While true (inside `close()`), callbacks are applied at once instead of deferred.
    var applyImmediately = false
    /// True when the application assigns partitions itself (no subscription, no group
    /// management): assignments are then incremental whatever the group protocol.
    var manual = false
    /// Rebalance callbacks not yet applied, in arrival order.
    var pending: [Rebalance] = []
    /// Partitions the listener has been given and not yet had revoked.
    private(set) var owned: Set<TopicPartition> = []
    /// The native start offset chosen when each owned partition was assigned or last restarted.
    var startOffsets: [TopicPartition: Int64] = [:]
    /// Outcomes of asynchronous commits, drained into events by `poll`.
    let asyncCommits = CommitOutcome()
    /// Errors from applying a rebalance, drained into events by `poll`.
    var rebalanceErrors: [KafkaError] = []

    private struct PartitionKey: Hashable {
        var topicHandle: UInt
        var partition: Int32
    }
    /// topic handle + partition → the topic name when owned, `nil` when not; cleared on every
    /// ownership change (topic handles of owned partitions stay alive while owned).
    private var ownership: [PartitionKey: String?] = [:]
    private var lastKey: PartitionKey?
    private var lastTopic: String?

    init(listener: any RebalanceListener, defaultStart: StartOffset) {
        self.listener = listener
        self.defaultStart = defaultStart
    }

    /// The topic name when the record's partition is owned by the listener, else `nil`.
    ///
    /// Cost: a pointer compare for consecutive records of one partition; a dictionary
    /// lookup otherwise; a string conversion once per partition per ownership change.
    func ownedTopic(handle: OpaquePointer?, partition: Int32) -> String? {
        guard let handle else { return nil }
        let key = PartitionKey(topicHandle: UInt(bitPattern: Int(bitPattern: handle)), partition: partition)
        if key == lastKey { return lastTopic }
        let topic: String?
        if let cached = ownership[key] {
            topic = cached
        } else {
            let name = String(cString: rd_kafka_topic_name(handle))
            topic = owned.contains(TopicPartition(topic: name, partition: partition)) ? name : nil
            ownership[key] = topic
        }
        lastKey = key
        lastTopic = topic
        return topic
    }

    /// Called by the trampoline: apply now (during close) or record and wake the waiting poll.
    func received(_ code: rd_kafka_resp_err_t, _ partitions: [TopicPartition], rk: OpaquePointer) {
        let event: Rebalance = switch code {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS: .assign(partitions)
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS: .revoke(partitions)
        default: .failure(code, partitions)
        }
        if applyImmediately {
            apply(event, rk: rk)
        } else {
            pending.append(event)
            // Ends the wait in rd_kafka_consume_batch_queue once the queue is empty, so the
            // rebalance is applied promptly instead of after the whole poll timeout.
            if let queue { rd_kafka_queue_yield(queue) }
        }
    }

    /// Applies every pending rebalance in order.
    func applyPending(rk: OpaquePointer) {
        while !pending.isEmpty {
            apply(pending.removeFirst(), rk: rk)
        }
    }

    private func isCooperative(_ rk: OpaquePointer) -> Bool {
        guard let name = rd_kafka_rebalance_protocol(rk) else { return false }
        return String(cString: name) == "COOPERATIVE"
    }

    private func apply(_ event: Rebalance, rk: OpaquePointer) {
        switch event {
        case .assign(let partitions):
            let starts = partitions.isEmpty ? [:] : listener.partitionsAssigned(partitions)
            let offsets = partitions.map { tp in (tp, (starts[tp] ?? defaultStart).native) }
            let list = TopicPartitionList(offsets)
            if isCooperative(rk) || manual {
                // rd_kafka_incremental_assign(): copies the list; returns an error object we own.
                if let error = rd_kafka_incremental_assign(rk, list.pointer) {
                    rebalanceErrors.append(KafkaError(consuming: error))
                }
            } else {
                // rd_kafka_assign(): copies the list.
                let code = rd_kafka_assign(rk, list.pointer)
                if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                    rebalanceErrors.append(KafkaError(native: code, message: "assign failed", fatalFrom: rk))
                }
            }
            for (tp, offset) in offsets {
                owned.insert(tp)
                startOffsets[tp] = offset
            }
        case .revoke(let partitions):
            if !partitions.isEmpty { listener.partitionsRevoked(partitions) }
            unassign(partitions, rk: rk)
        case .failure(let code, let partitions):
            // librdkafka's rule for a rebalance error: drop the whole assignment.
            rebalanceErrors.append(KafkaError(native: code, message: "rebalance failed for \(partitions)", fatalFrom: rk))
            let all = owned.sorted()
            if !all.isEmpty { listener.partitionsRevoked(all) }
            // rd_kafka_assign(NULL): clears the assignment.
            _ = rd_kafka_assign(rk, nil)
            forget(all)
        }
    }

    /// Manual assignment: tells the listener every owned partition is revoked and drops them
    /// (librdkafka has no group to serve a final revoke for a manual assignment).
    func revokeAllManual(rk: OpaquePointer) {
        guard manual else { return }
        let all = owned.sorted()
        if !all.isEmpty {
            listener.partitionsRevoked(all)
            unassign(all, rk: rk)
        }
    }

    private func unassign(_ partitions: [TopicPartition], rk: OpaquePointer) {
        if isCooperative(rk) || manual {
            let list = TopicPartitionList(partitions)
            // rd_kafka_incremental_unassign(): copies the list; returns an error object we own.
            if let error = rd_kafka_incremental_unassign(rk, list.pointer) {
                rebalanceErrors.append(KafkaError(consuming: error))
            }
            forget(partitions)
        } else {
            // rd_kafka_assign(NULL): the eager protocol revokes everything.
            let code = rd_kafka_assign(rk, nil)
            if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                rebalanceErrors.append(KafkaError(native: code, message: "unassign failed", fatalFrom: rk))
            }
            forget(Array(owned))
        }
    }

    private func forget(_ partitions: [TopicPartition]) {
        for tp in partitions {
            owned.remove(tp)
            startOffsets[tp] = nil
        }
        ownershipChanged()
    }

    /// Drops the topic-name cache; call after any assignment change.
    func ownershipChanged() {
        ownership.removeAll(keepingCapacity: true)
        lastKey = nil
        lastTopic = nil
    }
}

/// Collects the outcome of offset commits from the commit trampoline.
final class CommitOutcome {
    var failures: [KafkaError] = []

    func record(_ code: rd_kafka_resp_err_t, _ list: UnsafePointer<rd_kafka_topic_partition_list_t>?, rk: OpaquePointer?) {
        let entries = list.map { TopicPartitionList.entries(of: $0) } ?? []
        let failed = entries.filter { $0.error != RD_KAFKA_RESP_ERR_NO_ERROR }
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            failures.append(KafkaError(native: code, message: "commit of \(entries.map { "\($0.0)@\($0.offset)" }) failed: "
                + String(cString: rd_kafka_err2str(code)), fatalFrom: rk))
        } else {
            for entry in failed {
                failures.append(KafkaError(native: entry.error, message: "commit of \(entry.0)@\(entry.offset) failed: "
                    + String(cString: rd_kafka_err2str(entry.error))))
            }
        }
    }
}

/// The one rebalance trampoline. The opaque is the unretained `ConsumerGroupState`
/// (set with `rd_kafka_conf_set_opaque`); the list belongs to librdkafka and is only read.
let consumerRebalanceTrampoline: @convention(c) (
    OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
    UnsafeMutableRawPointer?
) -> Void = { rk, code, list, opaque in
    guard let rk, let opaque else { return }
    let partitions = list.map { TopicPartitionList.entries(of: $0).map(\.0) } ?? []
    Unmanaged<ConsumerGroupState>.fromOpaque(opaque).takeUnretainedValue().received(code, partitions, rk: rk)
}

/// The one offset-commit trampoline, passed per call to `rd_kafka_commit_queue`. The opaque is
/// an unretained `CommitOutcome` that outlives the call (a local for synchronous commits, the
/// consumer's long-lived one for asynchronous commits).
let consumerCommitTrampoline: @convention(c) (
    OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
    UnsafeMutableRawPointer?
) -> Void = { rk, code, list, opaque in
    guard let opaque else { return }
    Unmanaged<CommitOutcome>.fromOpaque(opaque).takeUnretainedValue().record(code, list, rk: rk)
}
