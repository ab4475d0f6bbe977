import Foundation
import NIOHTTP1
import RecstreamCore
import RecstreamKafka
import RecstreamTesting
import Testing

@Suite("Crash loop", .serialized, .processSlot)
struct CrashLoopTests {
    /// Modelled on Kafka's exactly-once system test: kill the pipeline with SIGKILL over and over
    /// (at random moments during ingest, and exactly before or after a commit's write), restart
    /// it on the same state directory each time while events keep arriving, then check that every
    /// input record is reflected exactly once and that the final state equals an uninterrupted
    /// run's. `RECSTREAM_CRASH_KILLS` sets the number of kills (default 20; docs/reliability.md
    /// runs hundreds).
    @Test(.timeLimit(.minutes(20)))
    func everyRecordIsReflectedExactlyOnceThroughRepeatedKills() async throws {
        let kills = ProcessInfo.processInfo.environment["RECSTREAM_CRASH_KILLS"].flatMap(Int.init) ?? 20
        let seed = ProcessInfo.processInfo.environment["RECSTREAM_TEST_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        print("crash loop: \(kills) kills, seed \(seed) (replay with RECSTREAM_TEST_SEED=\(seed))")
        var rng = SplitMix64(seed: seed)

        let broker = try RecstreamProcess(["broker"])
        defer { broker.signal(SIGKILL) }
        let bootstrap = try await broker.value(after: "bootstrap:")
        let crashDir = try TemporaryDirectory("crashloop")
        let cleanDir = try TemporaryDirectory("crashloop-clean")
        defer {
            crashDir.remove()
            cleanDir.remove()
        }

        var config = GeneratorConfiguration(seed: seed, events: 40_000 + kills * 4_000)
        config.users = 20_000
        config.items = 3_000
        let events = Array(EventGenerator(config))
        let producer = try TestProducer(bootstrap)
        // A few bad records among the good ones: they must be refused exactly once too.
        let bad = 3
        for n in 0..<bad { try producer.sendRaw(Array("bad record \(n)".utf8), key: Array("u\(n)".utf8)) }
        let chunks = kills + 1
        let chunkSize = (events.count + chunks - 1) / chunks
        var produced = 0
        func produceChunk() throws {
            let end = min(produced + chunkSize, events.count)
            for event in events[produced..<end] { try producer.send(event) }
            produced = end
        }
        try produceChunk()
        try producer.flush()

        func start(_ dir: String, group: String, environment: [String: String] = [:]) throws -> RecstreamProcess {
            try RecstreamProcess(
                [
                    "run", "--brokers", bootstrap, "--state-dir", dir, "--http-address", "127.0.0.1:0", "--log-level", "error",
                    "--set", "kafka.group_id=\(group)", "--set", "state.commit_interval_ms=50",
                ], environment: environment)
        }

        var moments: [String: Int] = [:]
        for kill in 0..<kills {
            // A fresh group per incarnation: the state directory, not the group, holds the offsets,
            // and a new group skips waiting for the killed member's session to expire.
            let mode = kill % 4
            var environment: [String: String] = [:]
            if mode == 1 { environment["RECSTREAM_CRASH_AT"] = "before-commit-write:\(1 + rng.next() % 4)" }
            if mode == 2 { environment["RECSTREAM_CRASH_AT"] = "after-commit-write:\(1 + rng.next() % 4)" }
            if mode == 3 { environment["RECSTREAM_CRASH_AT"] = rng.next() % 2 == 0 ? "during-model-write:1" : "before-model-switch:1" }
            let run = try start(crashDir.path, group: "crash-\(seed)-\(kill)", environment: environment)
            try produceChunk()
            if mode == 3 {
                // A periodic job's publish: train a model on what is committed so far; the process
                // kills itself in the middle of publishing it.
                let api = try await run.value(after: "api:")
                try await eventually(within: .seconds(60), "incarnation \(kill) to commit some engagements") {
                    consumedRecords(try await status(api)) > 0
                }
                try await Task.sleep(for: .milliseconds(200))
                _ = try? await http(api + "/v1/admin/train", method: .POST, json: ["mode": rng.next() % 2 == 0 ? "full" : "incremental"])
                do {
                    _ = try await run.waitForExit(within: .seconds(60))
                    moments[environment["RECSTREAM_CRASH_AT"]!.split(separator: ":")[0].description, default: 0] += 1
                } catch {
                    try await run.crash()
                    moments["random", default: 0] += 1
                }
            } else if mode == 0 {
                let api = try await run.value(after: "api:")
                try await eventually(within: .seconds(60), "incarnation \(kill) to own its partitions") {
                    !((try await status(api)["partitions"] as? [Any]) ?? []).isEmpty
                }
                try await Task.sleep(for: .milliseconds(20 + Int(rng.next() % 400)))
                try await run.crash()
                moments["random", default: 0] += 1
            } else {
                // The process kills itself at the chosen commit; if the stream ran dry first, kill it.
                do {
                    _ = try await run.waitForExit(within: .seconds(30))
                    moments[environment["RECSTREAM_CRASH_AT"]!.split(separator: ":")[0].description, default: 0] += 1
                } catch {
                    try await run.crash()
                    moments["random", default: 0] += 1
                }
            }
            #expect(run.process.terminationReason == .uncaughtSignal, "incarnation \(kill) was killed, not stopped")
        }
        while produced < events.count { try produceChunk() }
        try producer.flush()
        print("crash loop kills by moment: \(moments)")
        #expect(moments.values.reduce(0, +) == kills)

        func runToCompletion(_ dir: String, group: String) async throws -> [String] {
            let run = try start(dir, group: group)
            try await awaitConsumed(try await run.value(after: "api:"), count: events.count + bad)
            run.signal(SIGTERM)
            #expect(try await run.waitForExit() == 0)
            let dump = try RecstreamProcess(["state", "dump", "--state-dir", dir])
            #expect(try await dump.waitForExit(within: .seconds(300)) == 0)
            return dump.lines
        }
        let crashed = try await runToCompletion(crashDir.path, group: "crash-\(seed)-final")

        // The interrupted publishes left no half-written version behind that is served or kept as a
        // temporary, and the store still publishes and serves a new version.
        let models = try FileManager.default.contentsOfDirectory(atPath: crashDir.path + "/models")
        #expect(!models.contains { $0.hasPrefix(".tmp-") }, "\(models)")
        let after = try start(crashDir.path, group: "crash-\(seed)-models")
        let afterAPI = try await after.value(after: "api:")
        let (trained, _, trainText) = try await http(afterAPI + "/v1/admin/train", method: .POST, json: ["mode": "full"])
        #expect(trained == 200, "\(trainText)")
        let (listed, list, listText) = try await http(afterAPI + "/v1/admin/models")
        #expect(listed == 200, "\(listText)")
        let served = (list as? [String: Any])?["served"] as? String
        let newest = ((list as? [String: Any])?["models"] as? [[String: Any]])?.first?["version"] as? String
        #expect(served != nil && served == newest, "\(listText)")
        after.signal(SIGTERM)
        #expect(try await after.waitForExit() == 0)
        let clean = try await runToCompletion(cleanDir.path, group: "clean-\(seed)")

        // Exactly once: the counters of the shards add up to the input, nothing more, nothing less.
        func inputAccounted(_ lines: [String]) -> Int {
            let counted: Set<String> = ["exposure", "click", "like", "collect", "share", "comment", "duplicates", "late", "malformed_json"]
            let regex = try! NSRegularExpression(pattern: "([a-z_]+)=([0-9]+)")
            return lines.filter { $0.hasPrefix("shard ") }.reduce(0) { total, line in
                total + regex.matches(in: line, range: NSRange(line.startIndex..., in: line)).reduce(0) { sum, match in
                    let key = String(line[Range(match.range(at: 1), in: line)!])
                    return counted.contains(key) ? sum + Int(line[Range(match.range(at: 2), in: line)!])! : sum
                }
            }
        }
        #expect(inputAccounted(crashed) == events.count + bad)
        #expect(inputAccounted(clean) == events.count + bad)
        #expect(crashed.count == clean.count)
        let firstDifference = zip(crashed, clean).first { $0 != $1 }
        #expect(firstDifference == nil, "first difference: \(String(describing: firstDifference))")
    }
}
