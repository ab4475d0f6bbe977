import ArgumentParser
import Foundation
import RecstreamBench
import RecstreamCore
import RecstreamRuntime

/// `recstream bench families`: ingest throughput by the families switched on and by how much of
/// the paged state fits in the cache, against the raw consume ceiling of the same run.
struct BenchFamiliesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "families",
        abstract: "Ingest throughput: every family, item statistics and exposure filters alone, and those with the state 10x the cache.",
        discussion: """
            Starts `recstream broker` pinned to core 1 and produces --events generated JSON events (the stream \
            of `recstream bench`: seed 42, Zipf users and items, 20,000 events/s of event time). Then, --rounds \
            times, in fresh processes pinned to core 0: the raw consume (ceiling), the pipeline with every family, \
            the pipeline with item statistics and exposure filters alone (cooccurrence, lookalike and embedding \
            switched off), and the same with state.cache_bytes set to a tenth of the paged state the in-cache run \
            held at its end (measured in round 1), so the state is 10x the cache. Reports medians, ratios to the \
            ceiling and the 10x run against the in-cache run. Rewrites the section "\(Self.heading)" of --output.

            Example: recstream bench families --events 2000000 --rounds 5
            """)

    static let heading = "## Ingest throughput by families and cache"

    @Option(help: "Events produced.")
    var events = 2_000_000

    @Option(help: "Rounds; medians are reported.")
    var rounds = 5

    @Option(help: "Markdown report whose section is rewritten.")
    var output = "docs/benchmarks.md"

    @Flag(help: "Do not pin processes to cores with taskset.")
    var noPin = false

    @Flag(help: "Print the figures as JSON.")
    var json = false

    static let slim = ["cooccurrence.enabled=false", "lookalike.enabled=false", "embedding.enabled=false"]

    struct Figures: Codable {
        var ceiling: [Double] = []
        var allFamilies: [Double] = []
        var statisticsAndFilters: [Double] = []
        var tenTimesTheCache: [Double] = []
        var pagedStateBytes = 0
        var cacheBytes = 0
        var loadsPerRound: [Int] = []
    }

    func run() async throws {
        try await reportingFailures {
            let binary = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
            let taskset = FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset") && !noPin ? "/usr/bin/taskset" : nil
            Terminal.err("bench families: starting the broker\(taskset == nil ? "" : " on core 1")")
            let broker = try ChildProcess(pinned(1, binary: binary, taskset: taskset, ["broker", "--topic", "bench.json:8", "--topic", "bench.json.dlq:1"]))
            defer { broker.terminate() }
            let bootstrap = try await broker.value(after: "bootstrap:")
            var config = GeneratorConfiguration(seed: 42, events: events)
            config.eventsPerSecond = 20_000
            let publisher = try EventPublisher(bootstrapServers: bootstrap, topic: "bench.json", format: .json)
            for event in EventGenerator(config) { try publisher.send(event) }
            try publisher.flush(timeout: .seconds(600))
            guard publisher.failed == 0 else { throw ValidationError("\(publisher.failed) events failed to deliver") }
            publisher.close()

            func ingest(_ settings: [String]) async throws -> Benchmarks.Measurement {
                try await measureChild(
                    pinned(0, binary: binary, taskset: taskset, [
                        "bench", "ingest", "--brokers", bootstrap, "--topic", "bench.json", "--expect", String(events),
                    ] + settings.flatMap { ["--set", $0] }))
            }
            var f = Figures()
            for round in 1...rounds {
                let raw = try await measureChild(
                    pinned(0, binary: binary, taskset: taskset, ["bench", "consume-raw", "--brokers", bootstrap, "--topic", "bench.json", "--expect", String(events)]))
                let all = try await ingest([])
                let alone = try await ingest(Self.slim)
                if round == 1 {
                    f.pagedStateBytes = alone.pagedBytes ?? 0
                    f.cacheBytes = max(1 << 20, f.pagedStateBytes / 10)
                }
                let paged = try await ingest(Self.slim + ["state.cache_bytes=\(f.cacheBytes)"])
                f.ceiling.append(raw.recordsPerSecond)
                f.allFamilies.append(all.recordsPerSecond)
                f.statisticsAndFilters.append(alone.recordsPerSecond)
                f.tenTimesTheCache.append(paged.recordsPerSecond)
                f.loadsPerRound.append(paged.cacheLoads ?? 0)
                Terminal.err(
                    "bench families: round \(round)/\(rounds): ceiling \(Terminal.grouped(Int(raw.recordsPerSecond)))/s, every family "
                        + "\(Terminal.grouped(Int(all.recordsPerSecond)))/s, statistics and filters \(Terminal.grouped(Int(alone.recordsPerSecond)))/s, "
                        + "state 10x the cache \(Terminal.grouped(Int(paged.recordsPerSecond)))/s (\(Terminal.grouped(paged.cacheLoads ?? 0)) loads)")
            }
            let section = markdown(f)
            let existing = try? String(contentsOfFile: output, encoding: .utf8)
            try BenchmarkReport.replacingSection(Self.heading, with: section, in: existing).write(toFile: output, atomically: true, encoding: .utf8)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                Terminal.out(String(decoding: try encoder.encode(f), as: UTF8.self))
            } else {
                Terminal.out(section)
            }
            Terminal.err("wrote the section to \(output)")
        }
    }

    private func markdown(_ f: Figures) -> String {
        func median(_ v: [Double]) -> Double { BenchmarkReport.median(v) }
        func row(_ name: String, _ v: [Double], _ target: String) -> String {
            let ratio = median(zip(v, f.ceiling).map { $0 / $1 }) * 100
            return "| \(name) | **\(Terminal.grouped(Int(median(v))))** | \(String(format: "%.1f%%", ratio)) | "
                + "\(v.map { Terminal.grouped(Int($0)) }.joined(separator: ", ")) | \(target) |"
        }
        let pagedRatio = median(zip(f.tenTimesTheCache, f.statisticsAndFilters).map { $0 / $1 }) * 100
        var command = "recstream bench families"
        if events != 2_000_000 { command += " --events \(events)" }
        if rounds != 5 { command += " --rounds \(rounds)" }
        return """
            \(Self.heading)

            Reproduce with `\(command)` (release build). \(BenchmarkReport.provenance()). \(Terminal.grouped(events)) \
            generated JSON events (the stream of "Ingest throughput" at the top of this file: about 92% exposures, Zipf users and items), 8 \
            partitions, the broker pinned to core 1 and each measurement a fresh process pinned to core 0, rounds \
            interleaved. Item statistics and exposure filters alone: `--set cooccurrence.enabled=false --set \
            lookalike.enabled=false --set embedding.enabled=false`. State 10x the cache: the same with \
            `state.cache_bytes=\(f.cacheBytes)`, a tenth of the \(Terminal.grouped(f.pagedStateBytes)) bytes of paged \
            state the in-cache run held at its end (round 1); every miss reads RocksDB (block cache 64 MiB) on the \
            ingest thread, \(Terminal.grouped(Int(median(f.loadsPerRound.map(Double.init))))) loads per run (median).

            | pipeline | median records/s | of the ceiling | rounds | target |
            |---|---|---|---|---|
            \(row("ceiling (raw consume)", f.ceiling, ""))
            \(row("every family", f.allFamilies, "433,722 (1.5x 289,148)"))
            \(row("item statistics and exposure filters alone", f.statisticsAndFilters, "1,200,000"))
            \(row("the same, state 10x the cache", f.tenTimesTheCache, "50% of the line above"))

            State 10x the cache against in cache (median of per-round ratios): **\(String(format: "%.0f%%", pagedRatio))**.

            """
    }
}
