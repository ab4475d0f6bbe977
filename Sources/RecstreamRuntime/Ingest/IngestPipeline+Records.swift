import Foundation
import Logging
import Metrics
import RecstreamCore
import RecstreamKafka
import RecstreamStorage
import Synchronization

// One record of the events topic or an internal topic: decode, admit, apply, forward or refuse.
extension IngestPipeline {
    // MARK: One record

    func process(_ record: borrowing ConsumedRecord) {
        // After a failed store read nothing more is applied: its record must not be passed.
        guard storeFailure == nil else { return }
        if !holdsLock {
            engine.lock.lock()
            holdsLock = true
            let (limit, overflow) = wallClock().addingReportingOverflow(configuration.maxFutureMillis)
            futureLimitMillis = overflow ? Int64.max : limit
        }
        if split && record.topic != configuration.eventsTopic {
            processForwarded(record)
            return
        }
        let partition = Int(record.partition)
        let offset = record.offset
        // Shards are reached in place (`borrow`): `shards[p]!.method()` for a non-mutating method
        // copies the whole shard, a retain and a release per stored reference, per record.
        guard partition < engine.state.shards.count,
            engine.state.shards[partition]?.borrow({ $0.hasApplied(offset: offset) }) == false
        else { return }

        var format = PayloadFormat.json
        if let header = record.header("content-type") {
            let bytes = UnsafeBufferPointer<UInt8>(start: header.baseAddress?.assumingMemoryBound(to: UInt8.self), count: header.count)
            guard let f = PayloadFormat(contentTypeBytes: bytes.span) else {
                let value = String(decoding: header, as: UTF8.self)
                refuse(
                    record, Rejection(.unsupportedContentType, "content-type '\(value)' is neither application/json nor application/x-protobuf"))
                return
            }
            format = f
        }
        if record.isNullValue {
            refuse(record, Rejection(.malformedJSON, "the record has no value (a tombstone)"))
            return
        }
        let value = record.value
        let bytes = UnsafeBufferPointer<UInt8>(start: value.baseAddress?.assumingMemoryBound(to: UInt8.self), count: value.count)
        let result = decoder.decode(bytes.span, format: format)
        switch result {
        case .success(let event):
            if event.time.millis > futureLimitMillis {
                let ahead = event.time.millis - (futureLimitMillis - configuration.maxFutureMillis)
                refuse(
                    record,
                    Rejection(
                        .futureTimestamp,
                        "ts \(event.time.millis) is \(ahead) ms ahead of the wall clock; the limit is ingest.max_future_ms=\(configuration.maxFutureMillis)"))
                return
            }
            let idBytes = decoder.idBytes
            let maxIDs = configuration.maxDictionaryIDs
            if engine.state.shards[partition]!.borrow({ !$0.admits(event, idBytes: idBytes, maxIDs: maxIDs) })
                || (!split && engine.state.instance.isEngagement(event.type)
                    && !engine.state.instance.admits(
                        type: event.type, userID: idBytes.span.extracting(event.userID), itemID: idBytes.span.extracting(event.itemID),
                        maxIDs: maxIDs))
            {
                refuse(
                    record,
                    Rejection(
                        .dictionaryFull,
                        "the event names a new id while an id dictionary holds state.max_dictionary_ids=\(maxIDs) ids (or 4 GiB of id bytes)"))
                return
            }
            var outcome = engine.state.shards[partition]!.apply(event, idBytes: idBytes, offset: offset)
            // A paged entry the event needs is read, then the event offered again (at most once
            // per family: an installed entry stays resident until the next commit).
            var loads = 0
            while true {
                if loads == 3 {
                    storeFailure = StoreLoadLoop(description: "an event still needed a state entry after \(loads) reads")
                    return
                }
                loads += 1
                if case .needsItem(let item) = outcome {
                    let key = engine.state.shards[partition]!.borrow { $0.itemRecordKey(item) }
                    guard loadItem(key, install: { try $0.shards[partition]!.installItem(item, record: $1) }) else { return }
                } else if case .needsUser(let user) = outcome {
                    let prefix = engine.state.shards[partition]!.borrow { $0.exposureRecordPrefix(user) }
                    guard loadUser(prefix, install: { try $0.shards[partition]!.installUser(user, records: $1) }) else { return }
                } else {
                    break
                }
                outcome = engine.state.shards[partition]!.apply(event, idBytes: idBytes, offset: offset)
            }
            switch outcome {
            case .applied where split:
                tally.applied[event.type.index] += 1
                forward(event, ids: idBytes.span, late: false, partition: record.partition, offset: offset)
            case .late where split:
                tally.late += 1
                forward(event, ids: idBytes.span, late: true, partition: record.partition, offset: offset)
            case .applied:
                tally.applied[event.type.index] += 1
                if engine.state.instance.isEngagement(event.type) {
                    let ids = idBytes.span
                    engine.state.instance.apply(
                        type: event.type, time: event.time, userID: ids.extracting(event.userID), itemID: ids.extracting(event.itemID))
                }
            case .duplicate: tally.duplicates += 1
            case .late: tally.late += 1
            case .alreadyApplied, .needsItem, .needsUser: break
            }
        case .failure(let rejection):
            refuse(record, rejection)
        }
    }

    func processForwarded(_ record: borrowing ConsumedRecord) {
        let forwarded: ForwardedEvent
        do {
            forwarded = try ForwardedEvent.decode(Array(record.value))
        } catch {
            logger.error(
                "unreadable record in an internal topic; skipped",
                metadata: ["topic": "\(record.topic)", "partition": "\(record.partition)", "offset": "\(record.offset)", "error": "\(error)"])
            if record.topic == configuration.itemsTopic, Int(record.partition) < engine.state.itemShards.count {
                _ = engine.state.itemShards[Int(record.partition)]?.skipLost(to: record.offset + 1)
            }
            return
        }
        let maxIDs = configuration.maxDictionaryIDs
        if record.topic == configuration.itemsTopic {
            let index = Int(record.partition)
            guard index < engine.state.itemShards.count,
                engine.state.itemShards[index]?.borrow({ $0.hasApplied(offset: record.offset) }) == false
            else { return }
            if case .needsItem(let item) = engine.state.itemShards[index]!.applyForwarded(forwarded, offset: record.offset) {
                let key = engine.state.itemShards[index]!.borrow { $0.itemRecordKey(item) }
                guard loadItem(key, install: { try $0.itemShards[index]!.installItem(item, record: $1) }) else { return }
                _ = engine.state.itemShards[index]!.applyForwarded(forwarded, offset: record.offset)
            }
        } else if record.topic == configuration.engagementsTopic, engine.state.ownsEngagements {
            guard
                engine.state.instance.admits(
                    type: forwarded.type, userID: forwarded.userID.span, itemID: forwarded.itemID.span, maxIDs: maxIDs)
            else {
                engine.state.instance.skip(offset: record.offset)
                dictionaryFull(record.topicPartition, offset: record.offset)
                return
            }
            engine.state.instance.applyForwarded(forwarded, offset: record.offset)
        }
    }

    /// A record of an internal topic whose ids do not fit a full dictionary: skipped, counted and
    /// logged (its source event was accepted upstream, so it has no dead-letter record of its own).
    func dictionaryFull(_ tp: TopicPartition, offset: Int64) {
        metrics.dictionaryFullSkipped.increment()
        if dictionaryFullLogged < 10 {
            dictionaryFullLogged += 1
            logger.error(
                "an id dictionary is full (state.max_dictionary_ids); a forwarded record naming a new id was skipped",
                metadata: ["topic": "\(tp.topic)", "partition": "\(tp.partition)", "offset": "\(offset)"])
        }
    }

    func refuse(_ record: borrowing ConsumedRecord, _ rejection: Rejection) {
        let partition = Int(record.partition)
        outgoingDeadLetters.append(
            RefusedRecord(
                key: record.key.map { Array($0) }, value: Array(record.value), headers: record.headers, rejection: rejection,
                source: record.topicPartition, offset: record.offset))
        _ = engine.state.shards[partition]!.reject(offset: record.offset, reason: rejection.reason)
        tally.rejected[rejection.reason, default: 0] += 1
    }

    /// Reads `item`'s committed statistics record and makes it resident in the shard, with the
    /// engine lock released meanwhile (a store read is I/O: queries must not wait behind it). The
    /// ingest thread is the only writer, so the shard is as it was when the lock comes back.
    /// False when the record cannot be read or decoded: the record being processed is skipped
    /// without moving its offset, ingest stops, and the restart reads it again.
    func loadItem(_ key: [UInt8], install: (inout EngineState, [UInt8]?) throws -> Void) -> Bool {
        load({ () throws -> [UInt8]? in try repository.committedValue(key) }, install: install)
    }

    /// Reads the committed records under `prefix` (a user's exposure slices) and installs them,
    /// as ``loadItem(_:install:)`` does for one record.
    func loadUser(_ prefix: [UInt8], install: (inout EngineState, [(key: [UInt8], value: [UInt8])]) throws -> Void) -> Bool {
        load({ try repository.committedRecords(under: prefix) }, install: install)
    }

    private func load<Loaded>(_ read: () throws -> Loaded, install: (inout EngineState, Loaded) throws -> Void) -> Bool {
        if holdsLock { engine.lock.unlock() }
        let record: Loaded
        do {
            record = try read()
        } catch {
            if holdsLock { engine.lock.lock() }
            storeFailure = error
            return false
        }
        if holdsLock { engine.lock.lock() }
        do {
            // In place: the shard is not copied out of the engine state.
            try install(&engine.state, record)
            engine.state.cache.loads += 1
            metrics.cacheLoads.increment()
        } catch {
            storeFailure = error
            return false
        }
        return true
    }
}

/// A record whose state entries stayed missing after they were read (a bug, never expected):
/// ingest stops without passing the record instead of reading forever.
struct StoreLoadLoop: Error, CustomStringConvertible {
    var description: String
}
