import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RecstreamCore
import RecstreamKafka
import RecstreamRuntime
import RecstreamTesting

/// GETs or POSTs JSON against a running instance.
func http(_ url: String, method: HTTPMethod = .GET, json body: Any? = nil) async throws -> (status: Int, body: Any?, text: String) {
    var request = HTTPClientRequest(url: url)
    request.method = method
    if let body {
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
    }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    let bytes = try await response.body.collect(upTo: 64 << 20)
    let data = Data(bytes.readableBytesView)
    return (Int(response.status.code), try? JSONSerialization.jsonObject(with: data), String(decoding: data, as: UTF8.self))
}

/// The instance's status as a dictionary.
func status(_ api: String) async throws -> [String: Any] {
    let (code, body, text) = try await http(api + "/v1/status")
    guard code == 200, let object = body as? [String: Any] else {
        throw RecstreamProcess.Failure(description: "status: HTTP \(code) \(text)")
    }
    return object
}

/// Records the instance has consumed (applied, duplicates, late, refused) over all partitions.
func consumedRecords(_ status: [String: Any]) -> Int {
    (status["partitions"] as? [[String: Any]] ?? []).reduce(0) { total, p in
        let rejected = (p["rejected"] as? [String: Int] ?? [:]).values.reduce(0, +)
        return total + (p["applied"] as? Int ?? 0) + (p["duplicates"] as? Int ?? 0) + (p["late"] as? Int ?? 0) + rejected
    }
}

/// Waits until the instance has consumed `count` records and committed them.
func awaitConsumed(_ api: String, count: Int, within limit: Duration = .seconds(120)) async throws {
    var last = ""
    do {
        try await eventually(within: limit, "instance at \(api) to consume and commit \(count) records") {
            let s = try await status(api)
            let partitions = s["partitions"] as? [[String: Any]] ?? []
            let committed = partitions.allSatisfy { ($0["committed_offset"] as? Int) == ($0["applied_offset"] as? Int) }
            last = "consumed \(consumedRecords(s)), partitions \(partitions.map { "\($0["partition"] ?? "?"):\($0["applied_offset"] ?? "-")/\($0["end_offset"] ?? "-")" })"
            return consumedRecords(s) == count && committed && !partitions.isEmpty
        }
    } catch {
        throw RecstreamProcess.Failure(description: "\(error); last status: \(last)")
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

    func flush() throws {
        try producer.flush(timeout: .seconds(60))
        guard producer.failedCount == 0 else { throw RecstreamProcess.Failure(description: "\(producer.failedCount) records failed to deliver") }
    }
}

/// The partition tests route a user to when they pick partitions themselves.
func testPartition(of userID: String, partitions: Int32) -> Int32 {
    Int32(MurmurHash3.hash128(userID).low % UInt64(partitions))
}
