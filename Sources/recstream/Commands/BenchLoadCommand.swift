import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import RecstreamBench
import RecstreamCore
import RecstreamRuntime
import Synchronization

/// `recstream bench load`: the long soak. Ingest at a fraction of the measured maximum for a
/// while with concurrent query load, sampling the pipeline's resident memory, consumer lag and
/// query latency; writes an SVG plot and a section of docs/reliability.md.
struct BenchLoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Soak test: ingest at 80% of the measured maximum with concurrent queries; memory, lag, latency.",
        discussion: """
            Starts an embedded broker and `recstream run`, then:
              1. calibrates: produces as fast as possible for --calibrate seconds while the pipeline consumes;
                 with the same query load running; the maximum is the pipeline's applied rate over the
                 second half of that phase (producer, broker, client and pipeline share this machine);
              2. soaks: produces at --fraction of that maximum for --duration seconds while a client
                 issues --query-rate requests per second (item stats, batch stats, exposure filter of
                 200 candidates, similar items), sampling the pipeline's RSS and lag every --sample seconds.
            Before the soak a warm-up of --warmup seconds at the same rate fills the state: the generator emits
            --event-rate events per second of event time, so at 90,000 events/s a wall minute covers about
            7.8 event days and the warm-up alone passes the longest window (30 days of item statistics,
            30 days of seeds); the exposure retention and co-occurrence window are one day. The soak then
            runs at the state's steady size, where memory must stay flat. The state bytes /v1/status
            reports per family are sampled beside the RSS, so growth can be traced to a family.

            Example: recstream bench load --duration 600 --plot docs/load.svg --report docs/reliability.md
            """)

    @Option(help: "Seconds of soak at the target rate.")
    var duration = 600

    @Option(help: "Seconds of unthrottled calibration before the soak.")
    var calibrate = 30

    @Option(help: "Fraction of the calibrated maximum to produce at.")
    var fraction = 0.8

    @Option(help: "Produce at this many events/s instead of calibrating.")
    var rate: Int?

    @Option(help: "The maximum measured beforehand (events/s), e.g. the steady applied rate of a saturated soak (--fraction 2); the target is --fraction of it.")
    var maximum: Int?

    @Option(help: "Seconds at the target rate before the soak, filling the state to its steady size (plotted, not judged).")
    var warmup = 300

    @Option(help: "Events per second of event time the generator emits (lower: more event days per wall minute).")
    var eventRate = 8.0

    @Option(help: "Query requests per second during the soak.")
    var queryRate = 200

    @Option(help: "Seconds between samples.")
    var sample = 5

    @Option(help: "p99 query latency target in milliseconds (client side, one connection).")
    var p99TargetMillis = 50.0

    @Option(help: "SVG plot of RSS and lag to write.")
    var plot = "docs/load.svg"

    @Option(help: "Markdown file whose load section (between the load markers) is rewritten.")
    var report = "docs/reliability.md"

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() async throws {
        try await reportingFailures {
            let binary = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
            Terminal.err("starting the embedded broker")
            let broker = try ChildProcess([binary, "broker", "--topic", "load.events:8", "--topic", "load.dlq:1"])
            defer { broker.terminate() }
            let bootstrap = try await broker.value(after: "bootstrap:")
            let stateDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("recstream-load-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: stateDirectory) }
            let pipeline = try ChildProcess([
                binary, "run", "--brokers", bootstrap, "--http-address", "127.0.0.1:0", "--log-level", "warning",
                "--state-dir", stateDirectory,
                "--set", "kafka.events_topic=load.events", "--set", "kafka.dead_letter_topic=load.dlq",
                "--set", "kafka.group_id=load-\(UUID().uuidString)",
                "--set", "exposure.retention_days=1", "--set", "cooccurrence.window_days=1",
            ])
            defer { pipeline.terminate() }
            let client = APIClient(baseURL: try await pipeline.value(after: "api:"), timeout: .seconds(10))
            let pid = pipeline.process.processIdentifier
            try await client.waitForPartitions()

            let producer = try LoadProducer(bootstrap: bootstrap, eventTimeRate: eventRate)
            defer { producer.close() }

            // 1. Calibration.
            var maximum = Double(rate ?? self.maximum ?? 0)
            if rate == nil && self.maximum == nil {
                // The same query load as the soak, so the maximum is what the pipeline sustains while serving.
                Terminal.err("calibrating for \(calibrate) s: producing unthrottled with \(queryRate) queries/s")
                let calibrationQueries = QueryLoad(client: client, rate: queryRate, users: producer.userCount, items: producer.itemCount)
                let calibrationTask = Task { await calibrationQueries.run() }
                defer {
                    calibrationQueries.stop()
                    calibrationTask.cancel()
                }
                producer.start(rate: nil)
                try await Task.sleep(for: .seconds(Double(calibrate) / 2))
                let a = try await totals(client)
                let t0 = ContinuousClock.now
                try await Task.sleep(for: .seconds(Double(calibrate) / 2))
                let b = try await totals(client)
                maximum = Double(b.consumed - a.consumed) / (ContinuousClock.now - t0).seconds
                producer.pause()
                Terminal.err("maximum \(Terminal.grouped(Int(maximum))) events/s; waiting for the lag to drain")
                let drainDeadline = ContinuousClock.now + .seconds(300)
                while ContinuousClock.now < drainDeadline, (try await totals(client).lag) > Int(maximum) { try await Task.sleep(for: .milliseconds(500)) }
            }
            let target = rate.map(Double.init) ?? maximum * fraction

            // 2. Warm-up, then the soak.
            Terminal.err("warming up \(warmup) s, then soaking \(duration) s at \(Terminal.grouped(Int(target))) events/s with \(queryRate) queries/s")
            let queries = QueryLoad(client: client, rate: queryRate, users: producer.userCount, items: producer.itemCount)
            let queryTask = Task { await queries.run() }
            producer.start(rate: target)
            let started = ContinuousClock.now
            var samples: [LoadSample] = []
            var previous = try await totals(client)
            var previousTime = started
            while ContinuousClock.now - started < .seconds(warmup + duration) {
                try await Task.sleep(for: .seconds(sample))
                let now = ContinuousClock.now
                let t = try await totals(client)
                let s = LoadSample(
                    seconds: (now - started).seconds - Double(warmup), rssMiB: Self.rssMiB(pid: pid), lag: t.lag,
                    eventsPerSecond: Double(t.consumed - previous.consumed) / (now - previousTime).seconds,
                    stateMiB: t.stateBytes.mapValues { Double($0) / 1_048_576 }, watermarkMillis: t.watermark)
                samples.append(s)
                previous = t
                previousTime = now
                Terminal.status(
                    String(
                        format: "%@ %4.0f s  rss %6.0f MiB  state %6.0f MiB  lag %9d  %9.0f events/s", s.seconds < 0 ? "warm-up" : "soak",
                        abs(s.seconds), s.rssMiB, s.stateMiB.values.reduce(0, +), s.lag, s.eventsPerSecond))
            }
            Terminal.endStatus()
            producer.pause()
            queries.stop()
            await queryTask.value
            guard pipeline.isRunning else { throw ValidationError("recstream run exited during the soak") }

            let result = LoadResult(
                duration: duration, warmup: warmup, eventRate: eventRate, maximum: maximum, target: target, produced: producer.sent, failed: producer.failedDeliveries,
                samples: samples, latencies: queries.latencies(), errors: queries.errors(), p99TargetMillis: p99TargetMillis,
                calibrated: rate == nil && self.maximum == nil, givenMaximum: self.maximum != nil)
            try result.svg().write(toFile: plot, atomically: true, encoding: .utf8)
            let section = result.markdown(plotPath: URL(fileURLWithPath: plot).lastPathComponent, command: Self.commandLine())
            let existing = (try? String(contentsOfFile: report, encoding: .utf8)) ?? "# Reliability\n"
            try LoadResult.replacingSection(in: existing, with: section).write(toFile: report, atomically: true, encoding: .utf8)
            if json {
                Terminal.out(String(decoding: try JSONSerialization.data(withJSONObject: result.summary, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self))
            } else {
                Terminal.out(section)
            }
            Terminal.err("wrote \(plot) and the load section of \(report)")
        }
    }

    static func commandLine() -> String {
        (["recstream"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
    }

    /// Resident set size of `pid` from /proc, MiB.
    static func rssMiB(pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return .nan }
        let kib = Double(line.split(separator: " ").dropFirst().first ?? "") ?? .nan
        return kib / 1024
    }

    private func totals(_ client: APIClient) async throws -> (consumed: Int, lag: Int, stateBytes: [String: Int], watermark: Int64?) {
        let status = try await client.json("/v1/status") as? [String: Any] ?? [:]
        var stateBytes: [String: Int] = [:]
        for family in status["state"] as? [[String: Any]] ?? [] {
            if let name = family["family"] as? String { stateBytes[name, default: 0] += (family["bytes"] as? Int) ?? 0 }
        }
        let watermark = (status["watermark_millis"] as? NSNumber)?.int64Value
        var consumed = 0
        var lag = 0
        for p in status["partitions"] as? [[String: Any]] ?? [] where (p["topic"] as? String) == "load.events" {
            consumed += ((p["applied"] as? Int) ?? 0) + ((p["duplicates"] as? Int) ?? 0) + ((p["late"] as? Int) ?? 0)
            lag += (p["lag"] as? Int) ?? 0
        }
        return (consumed, lag, stateBytes, watermark)
    }
}

/// One sample of the soak.
struct LoadSample: Sendable {
    /// Seconds since the soak began (negative during the warm-up).
    var seconds: Double
    var rssMiB: Double
    var lag: Int
    var eventsPerSecond: Double
    /// The state bytes /v1/status reports, per family.
    var stateMiB: [String: Double] = [:]
    var watermarkMillis: Int64? = nil
}

/// Produces generated events on its own thread, unthrottled or at a fixed rate.
final class LoadProducer: @unchecked Sendable {
    private let publisher: EventPublisher
    private final class Shared: Sendable {
        let control = Mutex<(rate: Double?, running: Bool, stop: Bool)>((nil, false, false))
        let counters = Mutex<(sent: Int, failed: Int)>((0, 0))
    }
    private let shared = Shared()
    private let thread: Thread
    let userCount = 200_000
    let itemCount = 50_000
    init(bootstrap: String, eventTimeRate: Double) throws {
        let publisher = try EventPublisher(bootstrapServers: bootstrap, topic: "load.events", format: .json)
        self.publisher = publisher
        var generatorConfiguration = GeneratorConfiguration(seed: 2026, events: Int.max / 2)
        generatorConfiguration.users = userCount
        generatorConfiguration.items = itemCount
        generatorConfiguration.eventsPerSecond = eventTimeRate
        // Event time runs fast (a wall minute covers days), so it starts a year back: a whole soak
        // stays behind the wall clock, where `ingest.max_future_ms` would refuse it as future_ts.
        generatorConfiguration.startTime = EventTime(millis: Int64(Date().timeIntervalSince1970 * 1000) - 365 * 86_400_000)
        let configuration = generatorConfiguration
        let shared = self.shared
        thread = Thread {
            var generator = EventGenerator(configuration)
            var windowStart = ContinuousClock.now
            var windowSent = 0
            var lastRate: Double? = nil
            while true {
                let (rate, running, stop) = shared.control.withLock { $0 }
                if stop { break }
                if !running {
                    Thread.sleep(forTimeInterval: 0.01)
                    windowStart = ContinuousClock.now
                    windowSent = 0
                    continue
                }
                if rate != lastRate {
                    lastRate = rate
                    windowStart = ContinuousClock.now
                    windowSent = 0
                }
                var burst = 1_000
                if let rate {
                    let due = Int(rate * (ContinuousClock.now - windowStart).seconds) - windowSent
                    if due <= 0 {
                        Thread.sleep(forTimeInterval: 0.002)
                        continue
                    }
                    burst = min(due, 5_000)
                }
                for _ in 0..<burst {
                    guard let event = generator.next() else { break }
                    do { try publisher.send(event) } catch { shared.counters.withLock { $0.failed += 1 } }
                }
                windowSent += burst
                shared.counters.withLock { $0.sent += burst }
            }
        }
        thread.start()
    }

    func start(rate: Double?) { shared.control.withLock { $0 = (rate, true, false) } }
    func pause() { shared.control.withLock { $0.running = false } }
    var sent: Int { shared.counters.withLock { $0.sent } }
    var failedDeliveries: Int { shared.counters.withLock { $0.failed } + publisher.failed }

    func close() {
        shared.control.withLock { $0.stop = true }
        try? publisher.flush(timeout: .seconds(30))
        publisher.close()
    }
}

/// A steady mix of the serving fleet's calls at a fixed rate over one connection.
final class QueryLoad: @unchecked Sendable {
    private let client: APIClient
    private let rate: Int
    private let users: Int
    private let items: Int
    private let state = Mutex<(stop: Bool, latencies: [(seconds: Double, millis: Double, route: String)], errors: [String: Int])>((false, [], [:]))

    init(client: APIClient, rate: Int, users: Int, items: Int) {
        self.client = client
        self.rate = rate
        self.users = users
        self.items = items
    }

    func stop() { state.withLock { $0.stop = true } }
    func latencies() -> [(seconds: Double, millis: Double, route: String)] { state.withLock { $0.latencies } }
    func errors() -> [String: Int] { state.withLock { $0.errors } }

    func run() async {
        var random = Xoshiro256StarStar(seed: 77)
        let started = ContinuousClock.now
        var n = 0
        while !state.withLock({ $0.stop }) {
            let due = started + .seconds(Double(n) / Double(max(rate, 1)))
            if due > ContinuousClock.now { try? await Task.sleep(until: due) }
            n += 1
            let item = "i\((random.next() % UInt64(items)) % 2_000)"
            let user = "u\((random.next() % UInt64(users)))"
            let route: String
            let path: String
            var body: Data? = nil
            switch n % 4 {
            case 0:
                route = "item stats"
                path = "/v1/items/\(item)/stats"
            case 1:
                route = "batch stats (50)"
                path = "/v1/items/stats"
                body = try? JSONSerialization.data(withJSONObject: ["items": (0..<50).map { _ in "i\((random.next() % UInt64(items)))" }])
            case 2:
                route = "exposure filter (200)"
                path = "/v1/users/\(user)/exposures/filter"
                body = try? JSONSerialization.data(withJSONObject: ["items": (0..<200).map { _ in "i\((random.next() % UInt64(items)))" }])
            default:
                route = "similar items"
                path = "/v1/items/\(item)/similar?method=swing&k=20"
            }
            let t0 = ContinuousClock.now
            do {
                let (status, _) = try await client.request(path, method: body == nil ? .GET : .POST, json: body)
                let millis = (ContinuousClock.now - t0).seconds * 1000
                state.withLock {
                    $0.latencies.append(((t0 - started).seconds, millis, route))
                    if status >= 500 { $0.errors["HTTP \(status)", default: 0] += 1 }
                }
            } catch {
                state.withLock { $0.errors[APIClient.describe(error), default: 0] += 1 }
            }
        }
    }
}

/// What a soak measured, and how it is reported.
struct LoadResult {
    var duration: Int
    var warmup: Int
    var eventRate: Double
    var maximum: Double
    var target: Double
    var produced: Int
    var failed: Int
    var samples: [LoadSample]
    var latencies: [(seconds: Double, millis: Double, route: String)]
    var errors: [String: Int]
    var p99TargetMillis: Double
    var calibrated: Bool
    var givenMaximum = false

    static let begin = "<!-- load:begin (written by recstream bench load) -->"
    static let end = "<!-- load:end -->"

    /// The steady state: the soak's samples (the warm-up's are plotted, not judged).
    var steady: [LoadSample] { samples.filter { $0.seconds >= 0 } }

    /// RSS growth across the steady state: last sample's RSS over the first steady sample's, minus one.
    var steadyGrowth: Double {
        guard let first = steady.first?.rssMiB, let last = steady.last?.rssMiB, first > 0 else { return .nan }
        return last / first - 1
    }

    func p(_ q: Double, _ values: [Double]) -> Double { BenchmarkReport.quantile(values, q) }

    var summary: [String: Any] {
        let millis = soakLatencies.map(\.millis)
        return [
            "duration_s": duration, "maximum_events_per_s": maximum, "target_events_per_s": target, "produced": produced,
            "delivery_failures": failed, "rss_mib_start": steady.first?.rssMiB ?? 0, "rss_mib_end": steady.last?.rssMiB ?? 0,
            "rss_mib_max": samples.map(\.rssMiB).max() ?? 0, "steady_rss_growth": steadyGrowth, "warmup_s": warmup,
            "event_days_warmup": eventDays.warmup, "event_days_soak": eventDays.soak,
            "lag_max": samples.map(\.lag).max() ?? 0, "lag_end": samples.last?.lag ?? 0,
            "queries": millis.count, "query_p50_ms": p(0.5, millis), "query_p99_ms": p(0.99, millis),
            "query_errors": errors.values.reduce(0, +),
            "mean_events_per_s": steady.map(\.eventsPerSecond).reduce(0, +) / Double(max(steady.count, 1)),
        ]
    }

    /// The soak's query latencies (the warm-up's are left out).
    var soakLatencies: [(seconds: Double, millis: Double, route: String)] {
        latencies.filter { $0.seconds >= Double(warmup) }.map { ($0.seconds - Double(warmup), $0.millis, $0.route) }
    }

    /// Event days the soak's input spanned (from the instance watermark), warm-up and soak.
    var eventDays: (warmup: Double, soak: Double) {
        let marks = samples.compactMap { s in s.watermarkMillis.map { (s.seconds, Double($0)) } }
        guard let first = marks.first, let last = marks.last else { return (0, 0) }
        let atStart = marks.first { $0.0 >= 0 } ?? last
        return ((atStart.1 - first.1) / 86_400_000, (last.1 - atStart.1) / 86_400_000)
    }

    func markdown(plotPath: String, command: String) -> String {
        func f(_ v: Double, _ digits: Int = 0) -> String { String(format: "%.\(digits)f", v) }
        let latencies = soakLatencies
        let millis = latencies.map(\.millis)
        let routes = Dictionary(grouping: latencies, by: \.route).sorted { $0.key < $1.key }
        var perMinute: [String] = []
        for minute in 0..<max(1, (duration + 59) / 60) {
            let inMinute = latencies.filter { Int($0.seconds / 60) == minute }.map(\.millis)
            if !inMinute.isEmpty { perMinute.append(f(p(0.99, inMinute), 1)) }
        }
        let lags = steady.map(\.lag)
        let rates = steady.map(\.eventsPerSecond)
        let meanRate = rates.reduce(0, +) / Double(max(rates.count, 1))
        let flat = abs(steadyGrowth) < 0.10
        let p99 = p(0.99, millis)
        let days = eventDays
        let families = Set(samples.flatMap { $0.stateMiB.keys }).sorted()
        let firstSteady = steady.first?.stateMiB ?? [:]
        let lastSteady = steady.last?.stateMiB ?? [:]
        let stateRows = families.map { name in
            "| \(name) | \(f(firstSteady[name] ?? 0, 1)) MiB | \(f(lastSteady[name] ?? 0, 1)) MiB |"
        }
        return """
            \(Self.begin)
            ## Load: \(duration >= 60 ? "\(duration / 60) minutes" : "\(duration) s") at \(f(target / max(maximum, 1) * 100))% of the measured maximum with concurrent queries

            Reproduce with `\(command)` (release build). \(BenchmarkReport.provenance()); the broker, the producer, the query client and `recstream run` share the machine.

            \(calibrated ? "Measured maximum (pipeline applied rate while the producer ran unthrottled and the same query load ran)" : givenMaximum ? "Maximum measured beforehand (`--maximum`: the steady applied rate of a saturated soak with the same query load)" : "Given rate"): \
            **\(Terminal.grouped(Int(maximum))) events/s**; target **\(Terminal.grouped(Int(target))) events/s**, \
            achieved **\(Terminal.grouped(Int(meanRate))) events/s** (mean over the soak); \
            \(Terminal.grouped(produced)) events produced, \(failed) delivery failures. A warm-up of \(warmup) s at the same rate \
            came first (plotted left of 0 s, not judged). The generator emits \(f(eventRate, 1)) events per second of event time, \
            so the warm-up spanned \(f(days.warmup, 1)) event days and the soak \(f(days.soak, 1)) more: longer than every \
            window (item statistics 30 days, seeds 30 days; exposure retention and co-occurrence window set to one day), so \
            the soak runs at the state's steady size.

            ![resident memory and consumer lag of recstream run during the soak](\(plotPath))

            | | value |
            |---|---|
            | RSS at the soak's first / last / max sample | \(f(steady.first?.rssMiB ?? 0)) / \(f(steady.last?.rssMiB ?? 0)) / \(f(steady.map(\.rssMiB).max() ?? 0)) MiB |
            | RSS change over the soak (first to last sample) | \(f(steadyGrowth * 100, 1))% (\(flat ? "flat: within ±10%" : "NOT flat")) |
            | consumer lag, steady state max / last sample | \(Terminal.grouped(lags.max() ?? 0)) / \(Terminal.grouped(samples.last?.lag ?? 0)) records (\(f(Double(lags.max() ?? 0) / max(target, 1), 2)) s of input) |
            | queries / errors | \(Terminal.grouped(millis.count)) / \(errors.values.reduce(0, +))\(errors.isEmpty ? "" : " (" + errors.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")") |
            | query latency p50 / p99 / max (client, one connection) | \(f(p(0.5, millis), 2)) / \(f(p99, 2)) / \(f(millis.max() ?? 0, 1)) ms (target p99 < \(f(p99TargetMillis)) ms: \(p99 < p99TargetMillis ? "met" : "NOT met")) |
            | query p99 per minute | \(perMinute.joined(separator: ", ")) ms |

            State held, as /v1/status reports it (approximate bytes per family), at the soak's first and last sample:

            | family | soak start | soak end |
            |---|---|---|
            \(stateRows.joined(separator: "\n"))

            | route | calls | p50 | p99 |
            |---|---|---|---|
            \(routes.map { "| \($0.key) | \($0.value.count) | \(f(p(0.5, $0.value.map(\.millis)), 2)) ms | \(f(p(0.99, $0.value.map(\.millis)), 2)) ms |" }.joined(separator: "\n"))
            \(Self.end)
            """
    }

    /// `existing` with its load section replaced by `section` (appended when absent).
    static func replacingSection(in existing: String, with section: String) -> String {
        if let a = existing.range(of: begin), let b = existing.range(of: end, range: a.upperBound..<existing.endIndex) {
            return existing.replacingCharacters(in: a.lowerBound..<b.upperBound, with: section)
        }
        return existing + (existing.hasSuffix("\n") ? "\n" : "\n\n") + section + "\n"
    }

    /// RSS (left axis) and lag (right axis) against time.
    func svg() -> String {
        let width = 720.0
        let height = 300.0
        let left = 60.0
        let right = 70.0
        let top = 30.0
        let bottom = 40.0
        let plotW = width - left - right
        let plotH = height - top - bottom
        let minT = min(samples.first?.seconds ?? 0, 0)
        let maxT = max(samples.last?.seconds ?? 1, 1)
        let maxRSS = max((samples.map(\.rssMiB).filter { !$0.isNaN }.max() ?? 1) * 1.1, 1)
        let maxLag = max(Double(samples.map(\.lag).max() ?? 1) * 1.1, 1)
        func x(_ t: Double) -> Double { left + (t - minT) / (maxT - minT) * plotW }
        func y(_ v: Double, _ top_: Double) -> Double { top + plotH - v / top_ * plotH }
        func points(_ values: [(Double, Double)], _ scale: Double) -> String {
            values.map { String(format: "%.1f,%.1f", x($0.0), y($0.1, scale)) }.joined(separator: " ")
        }
        var ticks = ""
        for i in 0...4 {
            let fy = top + plotH - Double(i) / 4 * plotH
            ticks += String(format: "<line x1='%.0f' y1='%.1f' x2='%.0f' y2='%.1f' stroke='#ddd'/>", left, fy, left + plotW, fy)
            ticks += String(format: "<text x='%.0f' y='%.1f' text-anchor='end' font-size='11'>%.0f</text>", left - 5, fy + 4, maxRSS * Double(i) / 4)
            ticks += String(format: "<text x='%.0f' y='%.1f' font-size='11' fill='#c05000'>%@</text>", left + plotW + 5, fy + 4, Terminal.grouped(Int(maxLag * Double(i) / 4)))
            let fx = left + Double(i) / 4 * plotW
            ticks += String(format: "<text x='%.1f' y='%.0f' text-anchor='middle' font-size='11'>%.0f s</text>", fx, top + plotH + 16, minT + (maxT - minT) * Double(i) / 4)
        }
        return """
            <svg xmlns='http://www.w3.org/2000/svg' width='\(Int(width))' height='\(Int(height))' font-family='sans-serif'>
            <rect width='100%' height='100%' fill='white'/>
            <text x='\(Int(left))' y='18' font-size='13'>recstream run: RSS and reported state (MiB, blue / green, left), consumer lag (records, orange, right)</text>
            \(ticks)
            <rect x='\(left)' y='\(top)' width='\(plotW)' height='\(plotH)' fill='none' stroke='#888'/>
            <line x1='\(x(0))' y1='\(top)' x2='\(x(0))' y2='\(top + plotH)' stroke='#888' stroke-dasharray='4 3'/>
            <text x='\(x(0) + 4)' y='\(top + 12)' font-size='11' fill='#555'>soak starts (warm-up before)</text>
            <polyline fill='none' stroke='#30a030' stroke-width='1.5' points='\(points(samples.map { ($0.seconds, $0.stateMiB.values.reduce(0, +)) }, maxRSS))'/>
            <polyline fill='none' stroke='#1060c0' stroke-width='2' points='\(points(samples.map { ($0.seconds, $0.rssMiB) }, maxRSS))'/>
            <polyline fill='none' stroke='#c05000' stroke-width='1.5' points='\(points(samples.map { ($0.seconds, Double($0.lag)) }, maxLag))'/>
            <text x='\(Int(left + plotW / 2))' y='\(Int(height - 6))' text-anchor='middle' font-size='11'>wall-clock seconds of soak</text>
            </svg>
            """
    }
}
