import Foundation
import RecstreamCore
import RecstreamKafka
import Synchronization

/// Sends events to a topic the way the contract says producers must: keyed by `user_id`, JSON by
/// default or protobuf with the `content-type: application/x-protobuf` header. Counts delivery
/// reports so callers can show progress and a final delivered/failed tally.
public final class EventPublisher: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case json
        case protobuf
    }

    public let topic: String
    public let format: Format
    private let producer: KafkaProducer
    private final class FirstError: Sendable {
        let value = Mutex<String?>(nil)
    }
    private let firstError = FirstError()

    /// - Parameter properties: extra librdkafka properties (defaults favour throughput:
    ///   linger.ms=20, batch.num.messages=10000, idempotence on).
    public init(bootstrapServers: String, topic: String, format: Format, properties: [String: String] = [:]) throws {
        self.topic = topic
        self.format = format
        var props = ["linger.ms": "20", "batch.num.messages": "10000", "queue.buffering.max.messages": "1000000"]
        for (k, v) in properties { props[k] = v }
        let errorBox = firstError
        producer = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: bootstrapServers, props),
            onDelivery: { report in
                if let error = report.error { errorBox.value.withLock { if $0 == nil { $0 = error.description } } }
            })
    }

    private static let protobufHeaders = [KafkaHeader(key: "content-type", value: Array("application/x-protobuf".utf8))]

    /// Queues one event (blocks while the local queue is full).
    public func send(_ event: Event) throws {
        switch format {
        case .json:
            try producer.send(topic: topic, key: Array(event.userID.utf8), value: event.jsonBytes())
        case .protobuf:
            try producer.send(topic: topic, key: Array(event.userID.utf8), value: event.protobufBytes(), headers: Self.protobufHeaders)
        }
    }

    /// Queues a raw record as is (for records that are not valid events: DLQ tests and tools).
    public func sendRaw(key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = []) throws {
        try producer.send(topic: topic, key: key, value: value, headers: headers)
    }

    public var delivered: Int { producer.deliveredCount }
    public var failed: Int { producer.failedCount }
    public var inFlight: Int { producer.inFlightCount }
    /// The first delivery error seen, if any.
    public var firstDeliveryError: String? { firstError.value.withLock { $0 } }

    /// Waits until every queued event has a delivery report.
    public func flush(timeout: Duration = .seconds(60)) throws { try producer.flush(timeout: timeout) }

    public func close() { producer.close(timeout: .seconds(30)) }
}

/// Reads JSON-lines event files (or stdin) and validates each line with the strict decoder, so a
/// producer tool reports bad lines instead of feeding them to the pipeline unknowingly.
public struct EventLineReader: Sequence, IteratorProtocol {
    /// One line of input: the event, or why the line is not one.
    public enum Line {
        case event(Event, lineNumber: Int)
        case invalid(raw: [UInt8], lineNumber: Int, rejection: Rejection)
    }

    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    private var lineNumber = 0
    private var decoder = EventDecoder()

    /// - Parameter path: a file, or "-" for standard input.
    public init(path: String) throws {
        if path == "-" {
            handle = .standardInput
        } else {
            guard let h = FileHandle(forReadingAtPath: path) else {
                throw ConfigurationError("cannot open \(path) for reading")
            }
            handle = h
        }
    }

    public mutating func next() -> Line? {
        while true {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                let line = Array(buffer[start..<newline])
                start = newline + 1
                if let parsed = parse(line) { return parsed }
                continue
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                let line = Array(buffer[start...])
                start = buffer.count
                return parse(line)
            }
            buffer.removeFirst(start)
            start = 0
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty { atEnd = true } else { buffer.append(contentsOf: chunk) }
        }
    }

    private mutating func parse(_ raw: [UInt8]) -> Line? {
        lineNumber += 1
        var line = raw
        if line.last == 0x0D { line.removeLast() }
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return nil }
        switch decoder.decode(line.span, format: .json) {
        case .success(let decoded): return .event(decoder.materialize(decoded), lineNumber: lineNumber)
        case .failure(let rejection): return .invalid(raw: line, lineNumber: lineNumber, rejection: rejection)
        }
    }
}
