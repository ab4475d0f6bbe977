import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RecstreamBench
import RecstreamCore
import RecstreamKafka
import RecstreamRuntime
import RecstreamTesting
import Testing

/// One HTTP answer: status, headers and body bytes.
struct HTTPAnswer {
    var status: Int
    var headers: HTTPHeaders
    var data: Data
}

/// Sends `request` to a running instance, budgeted so that a slow but live server does not fail
/// the test: a request that reads (any GET, and the POST queries) gets `attempt` per try and is
/// retried after a deadline until `budget` has passed; an admin POST, which starts work (training,
/// a recompute, a checkpoint) and must not be repeated, gets one try with the whole budget. A dead
/// server fails at once (its port refuses the connection); only a live one that is slow to answer
/// is waited for.
func exchange(
    _ url: String, method: HTTPMethod = .GET, json body: Any? = nil, attempt: Duration = .seconds(10), budget: Duration = .seconds(180)
) async throws -> HTTPAnswer {
    var request = HTTPClientRequest(url: url)
    request.method = method
    if let body {
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
    }
    let startsWork = method != .GET && url.contains("/v1/admin/")
    let deadline = ContinuousClock.now + budget
    var deadlinesMissed = 0
    while true {
        let timeout = startsWork ? budget : min(attempt, max(.seconds(1), deadline - ContinuousClock.now))
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: TimeAmount(timeout))
            let bytes = try await response.body.collect(upTo: 64 << 20)
            return HTTPAnswer(status: Int(response.status.code), headers: response.headers, data: Data(bytes.readableBytesView))
        } catch let error as HTTPClientError where error == .deadlineExceeded && !startsWork && ContinuousClock.now < deadline {
            deadlinesMissed += 1
            if deadlinesMissed == 1 { print("\(method) \(url): no answer within \(attempt); retrying (budget \(budget))") }
        }
    }
}

/// GETs or POSTs JSON against a running instance (budgeted as ``exchange(_:method:json:attempt:budget:)``).
func http(_ url: String, method: HTTPMethod = .GET, json body: Any? = nil, budget: Duration = .seconds(180)) async throws -> (status: Int, body: Any?, text: String) {
    let answer = try await exchange(url, method: method, json: body, budget: budget)
    return (answer.status, try? JSONSerialization.jsonObject(with: answer.data), String(decoding: answer.data, as: UTF8.self))
}

/// The instance's status as a dictionary.
func status(_ api: String) async throws -> [String: Any] {
    let (code, body, text) = try await http(api + "/v1/status")
    guard code == 200, let object = body as? [String: Any] else {
        throw RecstreamProcess.Failure(description: "status: HTTP \(code) \(text)")
    }
    return object
}

/// Every item's `POST /v1/items/stats` report, fetched `chunk` ids per request; an item the
/// instance has no statistics for fails the test.
func fetchItemStats(_ api: String, _ ids: [String], chunk: Int = 200) async throws -> [(id: String, item: [String: Any])] {
    var out: [(id: String, item: [String: Any])] = []
    for start in stride(from: 0, to: ids.count, by: chunk) {
        let part = Array(ids[start..<min(start + chunk, ids.count)])
        let (code, body, text) = try await http(api + "/v1/items/stats", method: .POST, json: ["ids": part])
        #expect(code == 200, "\(text.prefix(300))")
        let results = try #require((body as? [String: Any])?["items"] as? [Any])
        for (id, result) in zip(part, results) {
            out.append((id, try #require(result as? [String: Any], "item \(id) missing")))
        }
    }
    return out
}

/// Checks one item report's windowed counts, every type and window, against the reference.
func expectWindowCounts(
    _ item: [String: Any], of id: String, match reference: ReferenceItemStats, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let windows = try #require(item["windows"] as? [String: [String: Any]], sourceLocation: sourceLocation)
    for type in EventType.allCases {
        for window in StatsWindow.allCases {
            let counts = windows[window.rawValue]?["counts"] as? [String: Int]
            #expect(
                counts?[type.name].map(UInt64.init) == reference.count(itemID: id, type: type, window: window),
                "\(id) \(type.name) \(window.rawValue)", sourceLocation: sourceLocation)
        }
    }
}

/// Records the instance has consumed (applied, duplicates, late, refused) over all partitions.
func consumedRecords(_ status: [String: Any]) -> Int {
    (status["partitions"] as? [[String: Any]] ?? []).reduce(0) { total, p in
        let rejected = (p["rejected"] as? [String: Int] ?? [:]).values.reduce(0, +)
        return total + (p["applied"] as? Int ?? 0) + (p["duplicates"] as? Int ?? 0) + (p["late"] as? Int ?? 0) + rejected
    }
}

/// The sum of the partitions' committed offsets (the records durably reflected so far).
func committedRecords(_ status: [String: Any]) -> Int {
    (status["partitions"] as? [[String: Any]] ?? []).reduce(0) { $0 + ($1["committed_offset"] as? Int ?? 0) }
}

/// Waits until the instance has consumed exactly `count` records and committed them. Budgeted by
/// progress (see `eventually(progress:)`): it fails when neither the consumed count nor the
/// committed offsets have moved for `stall`, and at once when more than `count` were consumed.
func awaitConsumed(_ api: String, count: Int, stall: Duration = .seconds(60)) async throws {
    var last = ""
    do {
        try await eventually(stall: stall, "instance at \(api) to consume and commit \(count) records", progress: {
            let s = try await status(api)
            let partitions = s["partitions"] as? [[String: Any]] ?? []
            let committed = partitions.allSatisfy { ($0["committed_offset"] as? Int) == ($0["applied_offset"] as? Int) }
            let consumed = consumedRecords(s)
            last = "consumed \(consumed), partitions \(partitions.map { "\($0["partition"] ?? "?"):\($0["applied_offset"] ?? "-")/\($0["end_offset"] ?? "-")" })"
            guard consumed <= count else {
                throw RecstreamProcess.Failure(description: "instance at \(api) consumed \(consumed) records, more than the \(count) produced")
            }
            if consumed == count && committed && !partitions.isEmpty { return .done }
            return .waiting([partitions.count, consumed, committedRecords(s)])
        })
    } catch {
        throw RecstreamProcess.Failure(description: "\(error); last status: \(last)")
    }
}

/// Runs `body` on a new thread and awaits its result: blocking librdkafka calls in tests (reading a
/// topic, flushing a producer) stay off the cooperative pool, which other tests share.
func onDedicatedThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// One dead letter as read back from the dead-letter topic.
struct DeadLetter: Sendable {
    var partition: Int32
    var offset: Int64
    var key: [UInt8]?
    var value: [UInt8]
    var headers: [String: String]

    /// The source record it stands for: `recstream.source.partition` and `recstream.source.offset`.
    var source: SourceRecord? {
        guard let partition = headers["recstream.source.partition"].flatMap(Int32.init),
            let offset = headers["recstream.source.offset"].flatMap(Int64.init)
        else { return nil }
        return SourceRecord(partition: partition, offset: offset)
    }
}

/// A record of the events topic, by position.
struct SourceRecord: Hashable, Sendable, CustomStringConvertible {
    var partition: Int32
    var offset: Int64
    var description: String { "\(partition)@\(offset)" }
}

/// Every record of `topic` up to each partition's high watermark at the time of the call: all
/// copies, so that a second copy of a record is seen, outside any consumer group.
func readWholeTopic(bootstrap: String, topic: String = "recstream.events.dlq") async throws -> [DeadLetter] {
    try await onDedicatedThread {
        let configuration = KafkaConfiguration(bootstrapServers: bootstrap)
        let admin = try KafkaAdmin(configuration: configuration)
        guard let partitions = try admin.partitionCount(of: topic, timeout: .seconds(30)) else {
            throw RecstreamProcess.Failure(description: "no topic \(topic)")
        }
        var records: [DeadLetter] = []
        for partition in 0..<Int32(partitions) {
            let reader = try PartitionReader(configuration: configuration, partition: TopicPartition(topic: topic, partition: partition))
            defer { reader.close() }
            let (low, high) = try reader.watermarks(timeout: .seconds(30))
            try reader.read(from: low, to: high, idleTimeout: .seconds(60)) { record in
                var headers: [String: String] = [:]
                for h in record.headers { headers[h.key] = h.value.map { String(decoding: $0, as: UTF8.self) } }
                records.append(
                    DeadLetter(
                        partition: record.partition, offset: record.offset, key: record.key.map { Array($0) }, value: Array(record.value),
                        headers: headers))
            }
        }
        return records
    }
}

/// A producer for tests: explicit partitions, flushed on demand.
final class TestProducer: Sendable {
    let producer: KafkaProducer
    init(_ bootstrap: String) throws {
        producer = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: bootstrap, ["linger.ms": "5", "batch.num.messages": "10000"]))
    }

    func send(_ event: Event, topic: String = "recstream.events", partition: Int32? = nil) throws {
        try producer.send(topic: topic, partition: partition, key: Array(event.userID.utf8), value: event.jsonBytes())
    }

    func sendRaw(_ value: [UInt8], key: [UInt8]? = nil, headers: [KafkaHeader] = [], topic: String = "recstream.events", partition: Int32? = nil) throws {
        try producer.send(topic: topic, partition: partition, key: key, value: value, headers: headers)
    }

    /// Blocks until every queued record is delivered (call it from a thread of its own, or
    /// accept that it holds a cooperative thread while the broker answers).
    func flush() throws {
        try producer.flush(timeout: .seconds(120))
        guard producer.failedCount == 0 else { throw RecstreamProcess.Failure(description: "\(producer.failedCount) records failed to deliver") }
    }
}

/// The partition tests route a user to when they pick partitions themselves.
func testPartition(of userID: String, partitions: Int32) -> Int32 {
    Int32(MurmurHash3.hash128(userID).low % UInt64(partitions))
}
