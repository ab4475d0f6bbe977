import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import RecstreamBench
import RecstreamCore
import RecstreamKafka
import RecstreamRuntime

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure ingest throughput against the raw librdkafka ceiling, and produce-to-queryable latency.",
        discussion: """
            Starts `recstream broker` pinned to core 1, produces a generated stream (JSON and protobuf copies), then \
            for each round runs, pinned to core 0, in fresh processes: the raw consume of the JSON topic (the \
            ceiling: librdkafka with the pipeline's fetch settings, no processing), the pipeline on the JSON topic \
            and the pipeline on the protobuf topic. Reports medians and the ratio to the ceiling of the same run. \
            Then runs `recstream run` against background load and measures p50/p99 from producing a probe event \
            to the query API answering for it. Writes the results to --output.
            """,
        subcommands: [
            BenchRunCommand.self, BenchCoreCommand.self, BenchCooccurrenceCommand.self, BenchExposureCoreCommand.self,
            BenchConsumeRawCommand.self, BenchIngestCommand.self, BenchLoadCommand.self, BenchEmbeddingsCommand.self, BenchModelServingCommand.self, BenchModelMemoryCommand.self,
            BenchLookalikeCommand.self, BenchScaleOutCommand.self, BenchRestartCommand.self, BenchPagedStateCommand.self,
            BenchFamiliesCommand.self,
        ],
        defaultSubcommand: BenchRunCommand.self
    )
}

struct BenchRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run every measurement and write the report.")

    @Option(help: "Events per topic.")
    var events = 2_000_000

    @Option(help: "Rounds of (ceiling, JSON pipeline, protobuf pipeline); medians are reported.")
    var rounds = 5

    @Option(help: "Markdown report to write.")
    var output = "docs/benchmarks.md"

    @Option(help: "Latency probes (one every 25 ms).")
    var probes = 400

    @Option(help: "Background load during the latency probes, events per second.")
    var loadRate = 50_000

    @Flag(help: "Do not pin processes to cores with taskset.")
    var noPin = false

    func run() async throws {
        try await reportingFailures {
            let binary = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
            let taskset = FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset") && !noPin ? "/usr/bin/taskset" : nil
            func command(_ core: Int, _ args: [String]) -> [String] { pinned(core, binary: binary, taskset: taskset, args) }
            Terminal.err("starting the embedded broker\(taskset == nil ? "" : " on core 1")")
            let broker = try ChildProcess(command(1, [
                "broker", "--topic", "bench.json:8", "--topic", "bench.json.dlq:1", "--topic", "bench.pb:8", "--topic", "bench.pb.dlq:1",
                "--topic", "bench.latency:8", "--topic", "bench.latency.dlq:1", "--topic", "bench.serve:8", "--topic", "bench.serve.dlq:1",
            ]))
            defer { broker.terminate() }
            let bootstrap = try await broker.value(after: "bootstrap:")

            Terminal.err("producing \(Terminal.grouped(events)) events to bench.json and bench.pb")
            var config = GeneratorConfiguration(seed: 42, events: events)
            config.eventsPerSecond = 20_000
            let json = try EventPublisher(bootstrapServers: bootstrap, topic: "bench.json", format: .json)
            let pb = try EventPublisher(bootstrapServers: bootstrap, topic: "bench.pb", format: .protobuf)
            let produceStart = ContinuousClock.now
            var bytes = 0
            var n = 0
            for event in EventGenerator(config) {
                bytes += event.jsonBytes().count
                try json.send(event)
                try pb.send(event)
                n += 1
                if n % 65536 == 0 { Terminal.status("produced " + Terminal.bar(done: n, total: events, rate: rate(n, since: produceStart))) }
            }
            try json.flush(timeout: .seconds(600))
            try pb.flush(timeout: .seconds(600))
            Terminal.endStatus()
            let produceSeconds = (ContinuousClock.now - produceStart).seconds
            guard json.failed == 0, pb.failed == 0 else { throw ValidationError("\(json.failed + pb.failed) events failed to deliver") }
            json.close()
            pb.close()

            var ceiling: [Double] = []
            var pipelineJSON: [Double] = []
            var pipelinePB: [Double] = []
            for round in 1...rounds {
                let raw = try await measure(command(0, ["bench", "consume-raw", "--brokers", bootstrap, "--topic", "bench.json", "--expect", String(events)]))
                let j = try await measure(command(0, ["bench", "ingest", "--brokers", bootstrap, "--topic", "bench.json", "--expect", String(events)]))
                let p = try await measure(command(0, ["bench", "ingest", "--brokers", bootstrap, "--topic", "bench.pb", "--expect", String(events)]))
                ceiling.append(raw.recordsPerSecond)
                pipelineJSON.append(j.recordsPerSecond)
                pipelinePB.append(p.recordsPerSecond)
                Terminal.err(
                    "round \(round)/\(rounds): ceiling \(Terminal.grouped(Int(raw.recordsPerSecond)))/s, JSON pipeline "
                        + "\(Terminal.grouped(Int(j.recordsPerSecond)))/s, protobuf pipeline \(Terminal.grouped(Int(p.recordsPerSecond)))/s")
            }

            Terminal.err("latency: recstream run against \(Terminal.grouped(loadRate)) events/s of background load, \(probes) probes")
            let latencies = try await measureLatency(bootstrap: bootstrap, command: command(0, [
                "run", "--brokers", bootstrap, "--http-address", "127.0.0.1:0", "--log-level", "warning",
                "--set", "kafka.events_topic=bench.latency", "--set", "kafka.dead_letter_topic=bench.latency.dlq",
                "--set", "kafka.group_id=bench-latency-\(UUID().uuidString)",
                "--state-dir", FileManager.default.temporaryDirectory.appendingPathComponent("recstream-bench-\(UUID().uuidString)").path,
            ]))

            Terminal.err("exposure filters in memory: 1,000,000 Zipf users, 30,000,000 exposures (pinned)")
            let exposureCore = try await measureJSON(command(0, ["bench", "exposure-core"]))
            Terminal.err("exposure filter and similar-items queries against a loaded instance")
            let serving = try await measureServing(bootstrap: bootstrap, command: command(0, [
                "run", "--brokers", bootstrap, "--http-address", "127.0.0.1:0", "--log-level", "warning",
                "--set", "kafka.events_topic=bench.serve", "--set", "kafka.dead_letter_topic=bench.serve.dlq",
                "--set", "kafka.group_id=bench-serve-\(UUID().uuidString)",
                "--state-dir", FileManager.default.temporaryDirectory.appendingPathComponent("recstream-bench-\(UUID().uuidString)").path,
            ]))
            Terminal.err("co-occurrence core (pinned)")
            let cooccurrence = try await linesOf(command(0, ["bench", "cooccurrence"]))

            let report = BenchmarkReport(
                events: events, meanEventBytes: Double(bytes) / Double(max(events, 1)), produceSeconds: produceSeconds,
                rounds: rounds, pinned: taskset != nil, ceiling: ceiling, pipelineJSON: pipelineJSON, pipelinePB: pipelinePB,
                latenciesMillis: latencies, loadRate: loadRate,
                command: "make bench   # = .build/release/recstream bench --events \(events) --rounds \(rounds) --output \(output)",
                exposureCore: exposureCore, serving: serving, cooccurrenceLines: cooccurrence)
            let markdown = BenchmarkReport.merging(report.markdown(), into: try? String(contentsOfFile: output, encoding: .utf8))
            try markdown.write(toFile: output, atomically: true, encoding: .utf8)
            Terminal.out(report.summary)
            Terminal.err("wrote \(output)")
        }
    }

    private func measure(_ command: [String]) async throws -> Benchmarks.Measurement { try await measureChild(command) }

    /// Milliseconds from sending a probe event (a new item) to the query API answering 200 for it.
    private func measureLatency(bootstrap: String, command: [String]) async throws -> [Double] {
        let run = try ChildProcess(command)
        defer { run.terminate() }
        let api = try await run.value(after: "api:")
        let client = APIClient(baseURL: api, timeout: .seconds(5))
        try await client.waitForPartitions()

        let load = try EventPublisher(bootstrapServers: bootstrap, topic: "bench.latency", format: .json)
        let probe = try EventPublisher(
            bootstrapServers: bootstrap, topic: "bench.latency", format: .json, properties: ["linger.ms": "0"])
        defer {
            load.close()
            probe.close()
        }
        var config = GeneratorConfiguration(seed: 7, events: Int.max / 2)
        config.eventsPerSecond = Double(loadRate)
        var generator = EventGenerator(config)
        let clock = ContinuousClock()
        let started = clock.now
        var produced = 0
        var latencies: [Double] = []
        var lastTime = config.startTime.millis
        func topUpLoad() throws {
            let target = Int(Double(loadRate) * (clock.now - started).seconds)
            while produced < target, let event = generator.next() {
                lastTime = event.time.millis
                try load.send(event)
                produced += 1
            }
        }
        // Warm up for two seconds of load before probing.
        while clock.now - started < .seconds(2) {
            try topUpLoad()
            try await Task.sleep(for: .milliseconds(5))
        }
        for n in 0..<probes {
            try topUpLoad()
            let item = "probe-\(n)-\(UUID().uuidString.prefix(8))"
            let sent = clock.now
            try probe.send(Event(eventID: "probe-e-\(n)-\(item)", type: .exposure, userID: "probe-user-\(n % 97)", itemID: item, time: EventTime(millis: lastTime)))
            while true {
                let (status, _) = try await client.request("/v1/items/\(item)/stats")
                if status == 200 { break }
                if clock.now - sent > .seconds(30) { throw ValidationError("probe \(n) not queryable after 30 s") }
                try topUpLoad()
                try await Task.sleep(for: .microseconds(500))
            }
            latencies.append((clock.now - sent).seconds * 1000)
            Terminal.status("probe \(n + 1)/\(probes)")
            try await Task.sleep(for: .milliseconds(25))
        }
        Terminal.endStatus()
        return latencies
    }

    private func measureJSON(_ command: [String]) async throws -> [String: Double] {
        let child = try ChildProcess(command)
        let line = try await child.value(after: "result:", within: .seconds(900))
        _ = try await child.waitForExit()
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
        return object.compactMapValues { ($0 as? NSNumber)?.doubleValue }
    }

    private func linesOf(_ command: [String]) async throws -> [String] {
        let child = try ChildProcess(command)
        _ = try await child.waitForExit(within: .seconds(900))
        return child.lines
    }

    /// Loads an instance with 1,000,000 exposures of 100,000 Zipf users plus engagements, then
    /// measures exposure-filter calls (500 candidates, half already shown), the freshness of a
    /// new exposure, and the freshness of a new co-engagement in ItemCF neighbours.
    private func measureServing(bootstrap: String, command: [String]) async throws -> BenchmarkReport.Serving {
        let run = try ChildProcess(command)
        defer { run.terminate() }
        let api = try await run.value(after: "api:")
        let client = APIClient(baseURL: api, timeout: .seconds(5))
        try await client.waitForPartitions()
        let load = try EventPublisher(bootstrapServers: bootstrap, topic: "bench.serve", format: .json)
        var rng = Xoshiro256StarStar(seed: 9)
        let zipf = ZipfSampler(ranks: 100_000, exponent: 1.0)
        var shown: [Int: [String]] = [:]
        let base: Int64 = 1_793_491_200_000
        for n in 0..<1_000_000 {
            let user = zipf.next(using: &rng)
            let item = "x\(rng.next() % 200_000)"
            if shown[user, default: []].count < 250 { shown[user, default: []].append(item) }
            try load.send(Event(eventID: "s\(n)", type: n % 12 == 0 ? .click : .exposure, userID: "su\(user)", itemID: item, time: EventTime(millis: base + Int64(n))))
            if n % 65536 == 0 { Terminal.status("loading \(Terminal.grouped(n)) events") }
        }
        try load.flush(timeout: .seconds(600))
        Terminal.endStatus()
        try await eventuallyConsumed(client, count: 1_000_000)

        // Filter calls: one connection, sequential, 2,000 calls of 500 candidates.
        var clientMillis: [Double] = []
        var serverMillis: [Double] = []
        let users = shown.keys.sorted().prefix(2_000)
        let started = ContinuousClock.now
        for user in users {
            let seen = shown[user] ?? []
            let candidates = Array(seen.prefix(250)) + (0..<(500 - min(250, seen.count))).map { "never-\(user)-\($0)" }
            let body = try JSONSerialization.data(withJSONObject: ["items": candidates])
            let t0 = ContinuousClock.now
            let (status, _, server) = try await client.requestTimed("/v1/users/su\(user)/exposures/filter", method: .POST, json: body)
            clientMillis.append((ContinuousClock.now - t0).seconds * 1000)
            if let server { serverMillis.append(server) }
            guard status == 200 else { throw ValidationError("filter call answered \(status)") }
        }
        let callsPerSecond = Double(users.count) / (ContinuousClock.now - started).seconds

        // Freshness: a new exposure until /v1/exposures/check says exposed; a new co-engagement
        // until ItemCF lists the pair.
        let probe = try EventPublisher(bootstrapServers: bootstrap, topic: "bench.serve", format: .json, properties: ["linger.ms": "0"])
        defer {
            probe.close()
            load.close()
        }
        var exposureMillis: [Double] = []
        var similarMillis: [Double] = []
        for n in 0..<200 {
            let item = "fresh-\(n)-\(UUID().uuidString.prefix(6))"
            let sent = ContinuousClock.now
            try probe.send(Event(eventID: "pe\(n)-\(item)", type: .exposure, userID: "su1", itemID: item, time: EventTime(millis: base + 1_000_000)))
            let check = try JSONSerialization.data(withJSONObject: ["pairs": [["user_id": "su1", "item_id": item]]])
            while true {
                let object = try await client.json("/v1/exposures/check", method: .POST, body: check)
                if ((object as? [String: Any])?["exposed"] as? [Bool])?.first == true { break }
                if ContinuousClock.now - sent > .seconds(30) { throw ValidationError("exposure probe \(n) never visible") }
                try await Task.sleep(for: .microseconds(500))
            }
            exposureMillis.append((ContinuousClock.now - sent).seconds * 1000)

            let a = "pa-\(n)-\(UUID().uuidString.prefix(6))"
            let b = "pb-\(n)-\(UUID().uuidString.prefix(6))"
            let user = "pu-\(n)-\(UUID().uuidString.prefix(6))"
            try probe.send(Event(eventID: "pc\(n)a-\(a)", type: .click, userID: user, itemID: a, time: EventTime(millis: base + 1_000_000)))
            let pairSent = ContinuousClock.now
            try probe.send(Event(eventID: "pc\(n)b-\(b)", type: .click, userID: user, itemID: b, time: EventTime(millis: base + 1_000_001)))
            while true {
                let (status, data) = try await client.request("/v1/items/\(a)/similar?method=itemcf&k=5")
                if status == 200, String(decoding: data, as: UTF8.self).contains(b) { break }
                if ContinuousClock.now - pairSent > .seconds(30) { throw ValidationError("co-engagement probe \(n) never visible") }
                try await Task.sleep(for: .microseconds(500))
            }
            similarMillis.append((ContinuousClock.now - pairSent).seconds * 1000)
            try await Task.sleep(for: .milliseconds(20))
        }

        return BenchmarkReport.Serving(
            filterCallsPerSecond: callsPerSecond, filterClientMillis: clientMillis, filterServerMillis: serverMillis,
            exposureFreshnessMillis: exposureMillis, similarFreshnessMillis: similarMillis)
    }

    private func eventuallyConsumed(_ client: APIClient, count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(600)
        while ContinuousClock.now < deadline {
            if let s = try? await client.json("/v1/status") as? [String: Any] {
                let consumed = (s["partitions"] as? [[String: Any]] ?? []).reduce(0) { $0 + (($1["applied"] as? Int) ?? 0) + (($1["duplicates"] as? Int) ?? 0) }
                if consumed >= count { return }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw ValidationError("the serving instance did not consume \(count) events in 10 minutes")
    }
}

struct BenchConsumeRawCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume-raw", abstract: "(internal) The ceiling: consume a topic with no processing.", shouldDisplay: false)

    @Option var brokers: String
    @Option var topic: String
    @Option var expect: Int
    @Option(help: "librdkafka property KEY=VALUE overriding the consumer defaults (repeatable).")
    var property: [String] = []

    func run() async throws {
        try await reportingFailures {
            let properties = try parseProperties(property)
            let m = try Benchmarks.consumeRaw(bootstrap: brokers, topic: topic, expected: expect, properties: properties)
            Terminal.out("result: " + String(decoding: try JSONEncoder().encode(m), as: UTF8.self))
        }
    }
}

struct BenchIngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest", abstract: "(internal) The pipeline over a topic into a fresh state directory.", shouldDisplay: false)

    @Option var brokers: String
    @Option var topic: String
    @Option var expect: Int
    @Option(help: "librdkafka property KEY=VALUE overriding the consumer defaults (repeatable).")
    var property: [String] = []

    @Option(name: .customLong("set"), help: "Configuration KEY=VALUE, as for `recstream run` (repeatable).")
    var settings: [String] = []

    func run() async throws {
        try await reportingFailures {
            let properties = try parseProperties(property)
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recstream-bench-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let m = try await Benchmarks.ingest(
                bootstrap: brokers, topic: topic, expected: expect, stateDirectory: dir, properties: properties,
                settings: try parseProperties(settings))
            Terminal.out("result: " + String(decoding: try JSONEncoder().encode(m), as: UTF8.self))
        }
    }
}

struct BenchCoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "core", abstract: "Per-event cost of decode and of decode + shard apply, in memory (no Kafka).")

    @Option(help: "Events.")
    var events = 1_000_000

    @Option(help: "Rounds; the median is printed.")
    var rounds = 5

    func run() async throws {
        var decode: [Double] = []
        var apply: [Double] = []
        for _ in 0..<rounds {
            let r = Benchmarks.core(events: events)
            decode.append(r.decodeNanos)
            apply.append(r.applyNanos)
        }
        Terminal.out(String(format: "decode %.0f ns/event, decode + apply %.0f ns/event (medians of %d rounds of %d events)",
            BenchmarkReport.median(decode), BenchmarkReport.median(apply), rounds, events))
    }
}

/// Runs a `bench consume-raw` or `bench ingest` child and reads its `result:` line.
func measureChild(_ command: [String]) async throws -> Benchmarks.Measurement {
    let child = try ChildProcess(command)
    let line = try await child.value(after: "result:", within: .seconds(600))
    guard let measurement = try? JSONDecoder().decode(Benchmarks.Measurement.self, from: Data(line.utf8)) else {
        throw ValidationError("unreadable result from \(command.joined(separator: " ")): \(line)")
    }
    _ = try await child.waitForExit()
    return measurement
}

/// `command` run by `binary`, pinned to `core` with taskset when `taskset` is its path.
func pinned(_ core: Int, binary: String, taskset: String?, _ command: [String]) -> [String] {
    if let taskset { return [taskset, "-c", String(core), binary] + command }
    return [binary] + command
}

/// KEY=VALUE pairs into a dictionary.
func parseProperties(_ pairs: [String]) throws -> [String: String] {
    var properties: [String: String] = [:]
    for p in pairs {
        guard let eq = p.firstIndex(of: "=") else { throw ValidationError("--property expects KEY=VALUE, got '\(p)'") }
        properties[String(p[..<eq])] = String(p[p.index(after: eq)...])
    }
    return properties
}

struct BenchCooccurrenceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cooccurrence",
        abstract: "ItemCF and Swing: engagements applied per CPU second (cap 50), exact recompute time, top-K bytes per item.",
        discussion: "Users with about 47-item histories (heavy users, so the history cap matters); release build; one thread.")

    @Option(help: "Engagements in the stream.")
    var engagements = 1_000_000

    @Option(help: "Stream seed.")
    var seed: UInt64 = 7

    func run() async throws {
        for line in CooccurrenceBenchmark.report(engagements: engagements, seed: seed) { Terminal.out(line) }
    }
}

struct BenchExposureCoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exposure-core", abstract: "Exposure filters in memory: exposures/s per CPU second, bytes per user and per exposure.")

    @Option var users = 1_000_000
    @Option var exposures = 30_000_000

    func run() async throws {
        let r = ExposureBenchmark.run(users: users, exposures: exposures)
        let json: [String: Any] = [
            "exposures": r.exposures, "users": r.users, "live_users": r.liveUsers, "seconds": r.seconds,
            "exposures_per_second": r.exposuresPerSecond, "bytes_per_user": r.bytesPerUser,
            "bytes_per_exposure": r.bytesPerExposure, "serialized_bytes_per_exposure": r.serializedBytesPerExposure,
            "heap_bytes_per_exposure": r.heapBytesPerExposure, "memory_to_persisted": r.memoryToPersisted,
            "heap_to_persisted": r.heapToPersisted,
        ]
        Terminal.out("result: " + String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self))
    }
}
