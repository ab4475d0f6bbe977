import ArgumentParser
import Foundation
import RecstreamCore
import RecstreamRuntime

/// Generator settings exposed as flags (shared by generate, demo and bench).
struct GeneratorOptions: ParsableArguments {
    @Option(help: "Random seed; the same seed and settings give the same stream, byte for byte.")
    var seed: UInt64 = 42

    @Option(help: "Number of events.")
    var events = 1_000_000

    @Option(help: "Distinct users (Zipf-distributed activity).")
    var users = 100_000

    @Option(help: "Distinct items (Zipf-distributed popularity).")
    var items = 20_000

    @Option(help: "Events per second of event time.")
    var rate = 2_000.0

    @Option(help: "Event time of the first event, ms since the epoch (default 2026-11-01T00:00:00Z).")
    var startMillis: Int64 = 1_793_491_200_000

    @Option(help: "Fraction of events re-sent with the same event_id (producer retries).")
    var duplicateFraction = 0.001

    @Option(help: "Fraction of events sent late (event time moved back up to 120 s).")
    var lateFraction = 0.001

    func configuration() throws -> GeneratorConfiguration {
        var c = GeneratorConfiguration(seed: seed, events: events)
        c.users = users
        c.items = items
        c.itemsPerCommunity = min(c.itemsPerCommunity, items)
        c.eventsPerSecond = rate
        c.startTime = EventTime(millis: startMillis)
        c.duplicateFraction = duplicateFraction
        c.lateFraction = lateFraction
        let problems = c.problems
        guard problems.isEmpty else { throw ValidationError(problems.joined(separator: "\n")) }
        return c
    }
}

struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a seeded synthetic event stream to a file, stdout, or straight to the topic.",
        discussion: """
            Zipf-like item popularity and user activity, user communities with preferred items, sessions of \
            exposures with ~8% clicks and rarer likes/collects/shares/comments, a few late events and producer \
            retries. Examples:
              recstream generate --events 100000 --output events.jsonl
              recstream generate --events 2000000 --brokers 127.0.0.1:PORT
            """
    )

    @OptionGroup var generator: GeneratorOptions

    @Option(help: "Output file, or - for stdout. Ignored with --brokers.")
    var output = "-"

    @Option(help: "Send straight to this Kafka cluster instead of writing JSON lines.")
    var brokers: String?

    @Option(help: "Topic (with --brokers).")
    var topic = "recstream.events"

    @Option(help: "Wire encoding with --brokers: json or protobuf.")
    var format: EventPublisher.Format = .json

    func run() async throws {
        let config = try generator.configuration()
        try await reportingFailures {
            let started = ContinuousClock.now
            var lastDraw = started
            var count = 0
            func progress(force: Bool = false) {
                let now = ContinuousClock.now
                if force || now - lastDraw > .milliseconds(250) {
                    lastDraw = now
                    Terminal.status("generated " + Terminal.bar(done: count, total: config.events, rate: rate(count, since: started)))
                }
            }
            if let brokers {
                let publisher = try EventPublisher(bootstrapServers: brokers, topic: topic, format: format)
                for event in EventGenerator(config) {
                    try publisher.send(event)
                    count += 1
                    if count & 4095 == 0 { progress() }
                }
                try publisher.flush()
                progress(force: true)
                Terminal.endStatus()
                Terminal.out("delivered \(publisher.delivered), failed \(publisher.failed)")
                let failed = publisher.failed
                publisher.close()
                if failed > 0 { throw ExitCode.failure }
            } else {
                let handle: FileHandle
                if output == "-" {
                    handle = .standardOutput
                } else {
                    guard FileManager.default.createFile(atPath: output, contents: nil) else {
                        throw ValidationError("cannot create \(output)")
                    }
                    handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
                }
                var buffer: [UInt8] = []
                buffer.reserveCapacity(1 << 20)
                for event in EventGenerator(config) {
                    event.appendJSON(to: &buffer)
                    buffer.append(0x0A)
                    count += 1
                    if buffer.count >= 1 << 20 {
                        handle.write(Data(buffer))
                        buffer.removeAll(keepingCapacity: true)
                        if output != "-" { progress() }
                    }
                }
                handle.write(Data(buffer))
                if output != "-" {
                    try handle.close()
                    progress(force: true)
                    Terminal.endStatus()
                    Terminal.err("wrote \(count) events to \(output)")
                }
            }
        }
    }
}
