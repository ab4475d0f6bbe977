import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import Logging
import RecstreamCore
import RecstreamRuntime
import ServiceLifecycle
import Synchronization

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "See it work in one command: embedded broker, pipeline, query API and generated traffic.",
        discussion: """
            Starts everything `recstream run` starts on the embedded broker, then produces a synthetic stream \
            (recstream generate's model) at --rate events per second and prints, every two seconds, produced and \
            applied throughput, lag and the live statistics of the three most popular items. While it runs, ask \
            it yourself: `recstream admin status`, `curl http://127.0.0.1:8080/v1/items/i1/stats`. Ctrl-C stops it.
            """
    )

    @Option(help: "Events per second of wall-clock time to produce.")
    var rate = 20_000

    @Option(help: "Stop after this many seconds (default: run until Ctrl-C).")
    var duration: Int?

    @Option(help: "Random seed of the generated stream.")
    var seed: UInt64 = 42

    @OptionGroup var options: RunOptions

    func run() async throws {
        var configuration = try options.loadConfiguration()
        if options.brokers == nil { configuration.brokers = nil }
        let logger = LoggingSetup.bootstrap(level: options.logLevel == .info ? .warning : options.logLevel)
        let traffic = DemoTraffic(rate: rate, seed: seed, duration: duration.map { .seconds($0) }, topic: configuration.eventsTopic)
        var server = Server(configuration: configuration, logger: logger)
        server.onReady = { api, bootstrap in traffic.start(api: api, bootstrap: bootstrap) }
        server.extraServices = [traffic]
        do {
            try await server.run()
        } catch {
            Terminal.err("recstream: \(error)")
            throw ExitCode.failure
        }
    }
}

/// Produces generated events at a steady rate and prints what the pipeline makes of them.
final class DemoTraffic: Service, Sendable {
    let rate: Int
    let seed: UInt64
    let duration: Duration?
    let topic: String
    private let ready: AsyncStream<(String, String)>
    private let readyContinuation: AsyncStream<(String, String)>.Continuation

    init(rate: Int, seed: UInt64, duration: Duration?, topic: String) {
        self.rate = max(1, rate)
        self.seed = seed
        self.duration = duration
        self.topic = topic
        (ready, readyContinuation) = AsyncStream.makeStream()
    }

    func start(api: String, bootstrap: String) { readyContinuation.yield((api, bootstrap)) }

    func run() async throws {
        var iterator = ready.makeAsyncIterator()
        guard let (api, bootstrap) = await iterator.next() else { return }
        Terminal.out("demo: producing \(rate) events/s; query it at \(api) (Ctrl-C stops)")
        let publisher = try EventPublisher(bootstrapServers: bootstrap, topic: topic, format: .json)
        defer { publisher.close() }
        var config = GeneratorConfiguration(seed: seed, events: Int.max / 2)
        config.eventsPerSecond = Double(rate)
        var generator = EventGenerator(config)
        let client = APIClient(baseURL: api, timeout: .seconds(2))
        let clock = ContinuousClock()
        let started = clock.now
        var produced = 0
        var nextReport = started + .seconds(2)
        var lastProduced = 0
        var lastApplied: Double = 0
        var lastReportTime = started
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if let duration, clock.now - started >= duration { break }
            let tick = clock.now
            let target = Int(Double(rate) * seconds(tick - started))
            while produced < target, let event = generator.next() {
                try publisher.send(event)
                produced += 1
            }
            if tick >= nextReport {
                nextReport = tick + .seconds(2)
                let span = seconds(tick - lastReportTime)
                lastReportTime = tick
                let status = (try? await client.json("/v1/status")) as? [String: Any]
                let applied = ((status?["partitions"] as? [[String: Any]]) ?? []).reduce(0.0) { $0 + (($1["applied"] as? Double) ?? 0) }
                let lag = ((status?["partitions"] as? [[String: Any]]) ?? []).reduce(0) { $0 + (($1["lag"] as? Int) ?? 0) }
                var line = "produced \(Terminal.grouped(produced)) (\(Terminal.grouped(Int(Double(produced - lastProduced) / span)))/s)  "
                    + "applied \(Terminal.grouped(Int(applied))) (\(Terminal.grouped(Int((applied - lastApplied) / span)))/s)  lag \(Terminal.grouped(lag))"
                lastProduced = produced
                lastApplied = applied
                if let body = try? await client.json(
                    "/v1/items/stats", method: .POST, body: try JSONSerialization.data(withJSONObject: ["ids": ["i1", "i2", "i3"]])) as? [String: Any]
                {
                    for case let item as [String: Any] in body["items"] as? [Any] ?? [] {
                        let window = (item["windows"] as? [String: [String: Any]])?["1h"]
                        let counts = window?["counts"] as? [String: Int] ?? [:]
                        let ctr = (window?["rates"] as? [String: Double])?["ctr"] ?? 0
                        line += String(
                            format: "  | %@ 1h: %d exp %d clk ctr %.3f", item["item_id"] as? String ?? "?", counts["exposure"] ?? 0,
                            counts["click"] ?? 0, ctr)
                    }
                }
                Terminal.out(line)
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        try? publisher.flush(timeout: .seconds(10))
        Terminal.out("demo: produced \(produced) events, delivered \(publisher.delivered)")
    }

    private func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
}
