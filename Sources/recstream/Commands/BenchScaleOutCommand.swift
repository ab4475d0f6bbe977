import ArgumentParser
import Foundation
import NIOCore
import RecstreamBench
import RecstreamCore
import RecstreamRuntime

/// `recstream bench scaleout`: split-mode throughput of 1, 2 and 3 instances in one group over the
/// same pre-produced input, and the time to restore a group's state from its changelogs.
struct BenchScaleOutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scaleout",
        abstract: "Split mode: throughput of 1 vs 2 vs 3 instances, and restore time from the changelogs.",
        discussion: """
            Starts `recstream broker`, produces --events generated events to a --partitions-partition topic, then for
            each instance count runs that many `recstream run --set pipeline.mode=split` processes in a fresh group
            until the group has applied and committed every partition of the events, item and engagement topics;
            the throughput is events / (last partition caught up − first record applied). Every count runs
            --rounds times (median reported). Then the 1-instance group's stores are restored from its changelog
            topics into a fresh directory (--rounds times), giving seconds per GiB of changelog read.
            All processes share this machine's cores: more instances cannot add CPU here, they show the cost of
            the repartition hop and the coordination, not the gain of more machines.

            Example: recstream bench scaleout --events 1000000 --report docs/scaling.md
            """)

    @Option(help: "Events produced once and consumed by every group.")
    var events = 1_000_000

    @Option(help: "Partitions of the events topic (and of the item repartition topic).")
    var partitions = 6

    @Option(help: "Instance counts to measure, comma-separated.")
    var instances = "1,2,3"

    @Option(help: "Runs per instance count and restores.")
    var rounds = 3

    @Option(help: "Markdown file whose scale-out section is rewritten.")
    var report = "docs/scaling.md"

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() async throws {
        try await reportingFailures {
            let binary = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
            let counts = instances.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 > 0 }
            guard !counts.isEmpty else { throw ValidationError("--instances expects counts like 1,2,3") }
            let groups = counts.flatMap { n in (0..<rounds).map { "bench-\(n)x-\($0)" } }
            Terminal.err("starting the broker")
            let broker = try ChildProcess(
                [binary, "broker", "--topic", "scale.events:\(partitions)", "--topic", "scale.dlq:1", "--events-partitions", "\(partitions)"]
                    + groups.flatMap { ["--group", $0] })
            defer { broker.terminate() }
            let bootstrap = try await broker.value(after: "bootstrap:")

            Terminal.err("producing \(Terminal.grouped(events)) events")
            let publisher = try EventPublisher(bootstrapServers: bootstrap, topic: "scale.events", format: .json)
            var generatorConfiguration = GeneratorConfiguration(seed: 7, events: events)
            generatorConfiguration.users = 100_000
            generatorConfiguration.items = 20_000
            for event in EventGenerator(generatorConfiguration) { try publisher.send(event) }
            try publisher.flush(timeout: .seconds(300))
            publisher.close()

            var rates: [Int: [Double]] = [:]
            var directories: [String] = []
            defer { for d in directories { try? FileManager.default.removeItem(atPath: d) } }
            for round in 0..<rounds {
                for n in counts {
                    let group = "bench-\(n)x-\(round)"
                    var instances: [ChildProcess] = []
                    var apis: [String] = []
                    for i in 0..<n {
                        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recstream-scale-\(group)-\(i)").path
                        directories.append(dir)
                        let instance = try ChildProcess([
                            binary, "run", "--brokers", bootstrap, "--state-dir", dir, "--http-address", "127.0.0.1:0", "--log-level", "warning",
                            "--set", "pipeline.mode=split", "--set", "kafka.group_id=\(group)", "--set", "kafka.events_topic=scale.events",
                            "--set", "kafka.dead_letter_topic=scale.dlq", "--set", "embedding.enabled=false",
                        ])
                        instances.append(instance)
                        apis.append(try await instance.value(after: "api:"))
                    }
                    let rate = try await measure(apis: apis, group: group)
                    if rate < 0.3 * (rates.values.flatMap { $0 }.max() ?? 0) {
                        Terminal.err("slow run; the instances' last log lines:")
                        for instance in instances { for line in instance.errorLines.suffix(8) { Terminal.err("  " + line) } }
                    }
                    rates[n, default: []].append(rate)
                    Terminal.err("\(n) instance(s), round \(round + 1): \(Terminal.grouped(Int(rate))) events/s")
                    for instance in instances { instance.terminate(grace: .seconds(60)) }
                }
            }

            var restores: [Runtime.ChangelogRestore] = []
            for round in 0..<rounds {
                var configuration = RecstreamConfiguration()
                configuration.groupID = "bench-\(counts[0])x-0"
                configuration.eventsTopic = "scale.events"
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recstream-restore-\(round)-\(UUID().uuidString)").path
                directories.append(dir)
                let restore = try Runtime.restoreFromChangelogs(configuration: configuration, bootstrapServers: bootstrap, into: dir)
                restores.append(restore)
                Terminal.err(
                    "restore round \(round + 1): \(Terminal.grouped(restore.records)) records, \(String(format: "%.1f", Double(restore.bytes) / 1_048_576)) MiB in \(String(format: "%.2f", restore.seconds)) s")
            }

            let section = markdown(rates: rates, restores: restores)
            let existing = try? String(contentsOfFile: report, encoding: .utf8)
            try BenchmarkReport.replacingSection("## Measured: scale-out on this machine", with: section, in: existing)
                .write(toFile: report, atomically: true, encoding: .utf8)
            if json {
                let summary: [String: Any] = [
                    "events": events, "partitions": partitions,
                    "events_per_second_median": Dictionary(uniqueKeysWithValues: rates.map { ("\($0.key)", BenchmarkReport.median($0.value)) }),
                    "restore_seconds_per_gib_median": BenchmarkReport.median(restores.map { $0.seconds / max(Double($0.bytes), 1) * 1_073_741_824 }),
                    "restore_mib": Double(restores.first?.bytes ?? 0) / 1_048_576,
                ]
                Terminal.out(String(decoding: try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self))
            } else {
                Terminal.out(section)
            }
            Terminal.err("wrote the scale-out section of \(report)")
        }
    }

    /// Events per second from the first applied record until every partition of the group's three
    /// topics is applied and committed to its end.
    private func measure(apis: [String], group: String) async throws -> Double {
        let clients = apis.map { APIClient(baseURL: $0, timeout: .seconds(10)) }
        var first: ContinuousClock.Instant? = nil
        let deadline = ContinuousClock.now + .seconds(1_800)
        while ContinuousClock.now < deadline {
            var owners: [String: Int] = [:]
            var consumed = 0
            var behind = 0
            for client in clients {
                let status = try await client.json("/v1/status") as? [String: Any] ?? [:]
                for p in status["partitions"] as? [[String: Any]] ?? [] {
                    let topic = p["topic"] as? String ?? "?"
                    owners["\(topic)/\(p["partition"] as? Int ?? -1)", default: 0] += 1
                    let applied = p["applied_offset"] as? Int ?? 0
                    if topic == "scale.events" {
                        consumed += (p["applied"] as? Int ?? 0) + (p["duplicates"] as? Int ?? 0) + (p["late"] as? Int ?? 0)
                    }
                    if let end = p["end_offset"] as? Int, applied == end, (p["committed_offset"] as? Int ?? 0) == end { continue }
                    behind += 1
                }
            }
            if first == nil && consumed > 0 { first = ContinuousClock.now }
            if consumed == events && behind == 0 && owners.count == 2 * partitions + 1 && owners.values.allSatisfy({ $0 == 1 }), let first {
                return Double(events) / (ContinuousClock.now - first).seconds
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw ValidationError("group \(group) did not catch up within 30 minutes")
    }

    private func markdown(rates: [Int: [Double]], restores: [Runtime.ChangelogRestore]) -> String {
        func f(_ v: Double, _ d: Int = 0) -> String { String(format: "%.\(d)f", v) }
        let one = BenchmarkReport.median(rates[1] ?? [1])
        let rows = rates.keys.sorted().map { n -> String in
            let m = BenchmarkReport.median(rates[n] ?? [])
            return "| \(n) | \(Terminal.grouped(Int(m))) | \((rates[n] ?? []).map { Terminal.grouped(Int($0)) }.joined(separator: ", ")) | \(f(m / one, 2))× |"
        }
        let bytes = Double(restores.first?.bytes ?? 0)
        let perGiB = restores.map { $0.seconds / max(Double($0.bytes), 1) * 1_073_741_824 }
        return """
            ## Measured: scale-out on this machine

            Reproduce with `recstream bench scaleout --events \(events) --partitions \(partitions) --rounds \(rounds) --instances \(instances)` (release build). \
            \(BenchmarkReport.provenance()). One `recstream broker`, \
            \(Terminal.grouped(events)) generated events on a \(partitions)-partition topic, `pipeline.mode=split`, embeddings off; \
            each group runs until every partition of its events, item and engagement topics is applied and committed. \
            **All instances, the broker and the benchmark share 2 cores**: one instance ingests on one thread (one core), a \
            second instance brings the second core into use, a third adds no CPU, only coordination; on separate machines \
            the user-keyed and item-keyed stages divide by partition while the engagement stage stays on one owner.

            | instances | events/s (median) | rounds | vs 1 instance |
            |---|---|---|---|
            \(rows.joined(separator: "\n"))

            Restore from the changelogs (the whole state of the \(instances.split(separator: ",").first ?? "1")-instance group, \(restores.first?.stores ?? 0) stores, \
            \(Terminal.grouped(restores.first?.records ?? 0)) records, \(f(bytes / 1_048_576, 1)) MiB of keys and values): \
            \(restores.map { f($0.seconds, 2) + " s" }.joined(separator: ", ")); median **\(f(BenchmarkReport.median(perGiB), 1)) s per GiB** \
            read from the mock broker into RocksDB.
            """
    }
}
