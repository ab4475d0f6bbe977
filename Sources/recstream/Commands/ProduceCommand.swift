import ArgumentParser
import Foundation
import RecstreamCore
import RecstreamRuntime

struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Send events from a JSON-lines file or stdin to the events topic, keyed by user_id.",
        discussion: """
            Each line is one JSON event (see Schemas/events.schema.json). Lines are validated with the same strict \
            decoder the pipeline uses; invalid lines are reported and skipped unless --send-invalid is given (then \
            they are sent as they are, which is how to exercise the dead-letter topic). Shows progress on stderr \
            and ends with the number of delivered and failed records; exits 1 if any failed.
            """
    )

    @Option(help: "Kafka bootstrap servers HOST:PORT[,...] (env RECSTREAM_KAFKA_BROKERS).")
    var brokers: String?

    @Option(help: "Topic to send to.")
    var topic = "recstream.events"

    @Option(help: "JSON-lines file, or - for stdin.")
    var file = "-"

    @Option(help: "Value encoding on the wire: json or protobuf (adds content-type: application/x-protobuf).")
    var format: EventPublisher.Format = .json

    @Flag(help: "Send lines that are not valid events as they are (key: none) instead of skipping them.")
    var sendInvalid = false

    func run() async throws {
        guard let bootstrap = brokers ?? ProcessInfo.processInfo.environment["RECSTREAM_KAFKA_BROKERS"] else {
            throw ValidationError("--brokers is required (the address `recstream run` or `recstream broker` printed)")
        }
        try await reportingFailures {
            let publisher = try EventPublisher(bootstrapServers: bootstrap, topic: topic, format: format)
            let reader = try EventLineReader(path: file)
            var sent = 0
            var skipped = 0
            let started = ContinuousClock.now
            var lastDraw = started
            for line in reader {
                switch line {
                case .event(let event, _):
                    try publisher.send(event)
                    sent += 1
                case .invalid(let raw, let number, let rejection):
                    if sendInvalid {
                        try publisher.sendRaw(key: nil, value: raw)
                        sent += 1
                    } else {
                        skipped += 1
                        if skipped <= 5 { Terminal.err("line \(number): \(rejection)") }
                    }
                }
                if sent % 4096 == 0 {
                    let now = ContinuousClock.now
                    if now - lastDraw > .milliseconds(250) {
                        lastDraw = now
                        Terminal.status("sent " + Terminal.bar(done: publisher.delivered, total: nil, rate: rate(publisher.delivered, since: started)) + "  queued \(Terminal.grouped(sent))")
                    }
                }
            }
            while publisher.inFlight > 0 {
                Terminal.status("flushing " + Terminal.bar(done: publisher.delivered, total: sent, rate: rate(publisher.delivered, since: started)))
                try? publisher.flush(timeout: .milliseconds(250))
            }
            Terminal.status(Terminal.bar(done: publisher.delivered, total: sent, rate: rate(publisher.delivered, since: started)))
            Terminal.endStatus()
            let failed = publisher.failed
            publisher.close()
            Terminal.out("delivered \(publisher.delivered), failed \(failed), skipped invalid lines \(skipped)")
            if let error = publisher.firstDeliveryError { Terminal.err("first delivery error: \(error)") }
            if failed > 0 { throw ExitCode.failure }
        }
    }
}

func rate(_ count: Int, since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return seconds > 0 ? Double(count) / seconds : 0
}

extension EventPublisher.Format: ExpressibleByArgument {}
