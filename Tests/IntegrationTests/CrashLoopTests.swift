import Foundation
import NIOHTTP1
import RecstreamCore
import RecstreamKafka
import RecstreamTesting
import Testing

@Suite("Crash loop", .serialized, .processSlot)
struct CrashLoopTests {
    /// Modelled on Kafka's exactly-once system test: kill the pipeline with SIGKILL over and over
    /// (at random moments during ingest, exactly before or after a commit's write, and inside a
    /// model publish), restart it on the same state directory each time while events keep
    /// arriving, then check that every input record is reflected exactly once, that every bad
    /// record reached the dead-letter topic, and that the final state equals an uninterrupted
    /// run's. A planned kill point that is not reached fails the test. `RECSTREAM_CRASH_KILLS` sets
    /// the number of kills (default 20; docs/reliability.md runs hundreds).
    @Test(.timeLimit(.minutes(30)))
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
        let partitions: Int32 = 8
        let producer = try TestProducer(bootstrap)
        // Every record goes to a chosen partition, so each one's offset is known: the dead letters
        // name their source by partition and offset.
        var nextOffset = [Int64](repeating: 0, count: Int(partitions))
        var produced = 0
        // One bad record at the start of every chunk: each must be refused, counted once and
        // dead-lettered, whichever incarnation meets it and however it dies.
        var badRecords: [SourceRecord: [UInt8]] = [:]
        func sendBad() throws {
            let n = badRecords.count
            let partition = Int32(n) % partitions
            let value = Array("bad record \(n)".utf8)
            try producer.sendRaw(value, key: Array("u\(n)".utf8), partition: partition)
            badRecords[SourceRecord(partition: partition, offset: nextOffset[Int(partition)])] = value
            nextOffset[Int(partition)] += 1
        }
        func produce(upTo end: Int) throws {
            for event in events[produced..<end] {
                let partition = testPartition(of: event.userID, partitions: partitions)
                try producer.send(event, partition: partition)
                nextOffset[Int(partition)] += 1
            }
            produced = end
            try producer.flush()
        }
        let chunks = kills + 1
        let chunkSize = (events.count + chunks - 1) / chunks
        func chunkEnd(_ chunk: Int) -> Int { min((chunk + 1) * chunkSize, events.count) }
        try sendBad()
        try produce(upTo: chunkEnd(0))

        // The killed incarnations run with the smallest cache, so that nearly every commit evicts
        // and most applies read their item back from the store; the uninterrupted run keeps the
        // default and holds everything.
        let tinyCache = 1 << 20
        func start(_ dir: String, group: String, environment: [String: String] = [:]) throws -> RecstreamProcess {
            let cache = dir == crashDir.path ? ["--set", "state.cache_bytes=\(tinyCache)"] : []
            return try RecstreamProcess(
                [
                    "run", "--brokers", bootstrap, "--state-dir", dir, "--http-address", "127.0.0.1:0", "--log-level", "error",
                    "--set", "kafka.group_id=\(group)", "--set", "state.commit_interval_ms=50",
                    // The publishes under test happen early, on a few hundred training examples.
                    "--set", "embedding.min_examples=1",
                ] + cache, environment: environment)
        }
        /// The API of `run`, or nil when it died (at its crash point, say) before serving one.
        func apiUnlessDead(_ run: RecstreamProcess) async throws -> String? {
            do { return try await run.value(after: "api:") } catch {
                if run.isRunning { throw error }
                return nil
            }
        }
        /// Judges an incarnation that was to kill itself at `point`: it must have died of SIGKILL
        /// right after announcing that point. One that is still alive never reached it: a failure,
        /// not a random kill in its place.
        func judgePlannedKill(_ run: RecstreamProcess, _ kill: Int, _ point: String, reason: @autoclosure () -> String) async throws -> Bool {
            if run.isRunning {
                // It had everything it needed to reach the point; give a dying process a moment.
                do { try await run.waitForExit(within: .seconds(30)) } catch {
                    Issue.record("incarnation \(kill): planned kill point \(point) was not reached (\(reason())); the process was still running")
                    try await run.crash()
                    return false
                }
            }
            try await run.waitForExit()
            let announced = run.errorLines.contains { $0.contains("crash point \(point) reached") }
            #expect(announced, "incarnation \(kill) died without announcing \(point): \(run.errorLines.suffix(5))")
            return announced
        }

        var moments: [String: Int] = [:]
        // What the tiny cache did in the incarnations that answered a status before their kill.
        var cacheLoads = 0
        var cacheEvictedBytes = 0
        var missed: [String] = []
        for kill in 0..<kills {
            // A fresh group per incarnation: the state directory, not the group, holds the offsets,
            // and a new group skips waiting for the killed member's session to expire.
            let mode = kill % 4
            let point: String? =
                switch mode {
                case 1: "before-commit-write:\(1 + rng.next() % 4)"
                case 2: "after-commit-write:\(1 + rng.next() % 4)"
                case 3: rng.next() % 2 == 0 ? "during-model-write:1" : "before-model-switch:1"
                default: nil
                }
            let run = try start(crashDir.path, group: "crash-\(seed)-\(kill)", environment: point.map { ["RECSTREAM_CRASH_AT": $0] } ?? [:])
            let end = chunkEnd(kill + 1)
            var reached = false
            switch mode {
            case 0:
                try sendBad()
                try produce(upTo: end)
                let api = try await run.value(after: "api:")
                try await eventually(within: .seconds(120), "incarnation \(kill) to own its partitions") {
                    !((try await status(api)["partitions"] as? [Any]) ?? []).isEmpty
                }
                // The random moment itself: a pause of random length, not a wait for anything.
                try await Task.sleep(for: .milliseconds(20 + Int(rng.next() % 400)))
                try await run.crash()
                moments["random", default: 0] += 1
            case 1, 2:
                // The chunk arrives in four slices, each sent once the previous one is committed: each
                // slice takes at least one commit of its own, so the N-th commit (N <= 4) that writes
                // comes before the last slice is committed, whatever the machine's speed.
                try sendBad()
                let api = try await apiUnlessDead(run)
                let sliceSize = (end - produced + 3) / 4
                while produced < end, run.isRunning, let api {
                    try produce(upTo: min(produced + sliceSize, end))
                    let target = nextOffset.reduce(0) { $0 + Int($1) }
                    try await eventually(stall: .seconds(60), "incarnation \(kill) (\(point!)) to commit \(target) records or kill itself", progress: {
                        guard run.isRunning else { return .done }
                        guard let s = try? await status(api) else { return run.isRunning ? .waiting([-1]) : .done }
                        let committed = committedRecords(s)
                        return committed >= target ? .done : .waiting([committed])
                    })
                }
                reached = try await judgePlannedKill(run, kill, point!, reason: "four slices were committed one after another")
                try produce(upTo: end)
            default:
                // A periodic job's publish: once everything produced so far is committed, a model
                // trained on it has new engagements to publish, and the process kills itself in the
                // middle of publishing it.
                try sendBad()
                try produce(upTo: end)
                let api = try await run.value(after: "api:")
                let target = nextOffset.reduce(0) { $0 + Int($1) }
                try await eventually(stall: .seconds(60), "incarnation \(kill) to commit \(target) records", progress: {
                    let committed = committedRecords(try await status(api))
                    return committed >= target ? .done : .waiting([committed])
                })
                let cache = try await status(api)["cache"] as? [String: Any]
                cacheLoads += cache?["loads"] as? Int ?? 0
                cacheEvictedBytes += cache?["evicted_bytes"] as? Int ?? 0
                let training = rng.next() % 2 == 0 ? "full" : "incremental"
                let answer = try? await http(api + "/v1/admin/train", method: .POST, json: ["mode": training])
                reached = try await judgePlannedKill(
                    run, kill, point!, reason: "a \(training) training answered \(answer.map { "\($0.status) \($0.text.prefix(300))" } ?? "nothing")")
            }
            if let point {
                if reached {
                    moments[String(point.split(separator: ":")[0]), default: 0] += 1
                } else {
                    missed.append(point)
                }
            }
            #expect(run.process.terminationReason == .uncaughtSignal, "incarnation \(kill) was killed, not stopped")
        }
        try produce(upTo: events.count)
        print("crash loop kills by moment: \(moments); tiny cache: \(cacheLoads) loads, \(cacheEvictedBytes) bytes evicted")
        #expect(cacheLoads > 0 && cacheEvictedBytes > 0, "the killed incarnations' cache never read back or evicted")
        #expect(missed.isEmpty, "planned kill points not reached: \(missed)")
        #expect(moments.values.reduce(0, +) + missed.count == kills)

        func runToCompletion(_ dir: String, group: String) async throws -> [String] {
            let run = try start(dir, group: group)
            let api = try await run.value(after: "api:")
            try await awaitConsumed(api, count: events.count + badRecords.count)
            if dir == crashDir.path {
                let cache = try await status(api)["cache"] as? [String: Any]
                #expect(cache?["budget_bytes"] as? Int == tinyCache)
            }
            run.signal(SIGTERM)
            #expect(try await run.waitForExit() == 0)
            let dump = try RecstreamProcess(["state", "dump", "--state-dir", dir])
            #expect(try await dump.waitForExit(within: .seconds(300)) == 0)
            return dump.lines
        }
        let crashed = try await runToCompletion(crashDir.path, group: "crash-\(seed)-final")

        // Every bad record reached the dead-letter topic, naming its source partition and offset.
        // At least once: a kill between a dead letter's delivery and the commit of its batch sends
        // it again, so copies are allowed here (DeadLetterTests checks exactly once without kills).
        // Read now, before the uninterrupted run dead-letters the same records once more.
        let deadLetters = try await readWholeTopic(bootstrap: bootstrap)
        var copies: [SourceRecord: Int] = [:]
        for letter in deadLetters {
            guard let source = letter.source else {
                Issue.record("a dead letter without its source headers: \(letter.headers)")
                continue
            }
            copies[source, default: 0] += 1
            #expect(badRecords[source] == letter.value, "dead letter for \(source) is not the bad record produced there")
            #expect(letter.headers["recstream.source.topic"] == "recstream.events")
            #expect(letter.headers["recstream.reason"] == "malformed_json")
        }
        let lost = badRecords.keys.filter { copies[$0] == nil }.sorted { ($0.partition, $0.offset) < ($1.partition, $1.offset) }
        #expect(lost.isEmpty, "bad records missing from the dead-letter topic: \(lost)")
        print("crash loop dead letters: \(badRecords.count) bad records, \(deadLetters.count) dead letters (\(deadLetters.count - copies.count) re-sent after a kill)")

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
        #expect(inputAccounted(crashed) == events.count + badRecords.count)
        #expect(inputAccounted(clean) == events.count + badRecords.count)
        #expect(crashed.count == clean.count)
        let firstDifference = zip(crashed, clean).first { $0 != $1 }
        #expect(firstDifference == nil, "first difference: \(String(describing: firstDifference))")
        // One line for scripts/reliability-long.sh, which writes it into docs/reliability.md.
        let identical = crashed == clean && lost.isEmpty && missed.isEmpty
        print(
            "crash loop figure: \(kills) kills (\(moments.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))), "
                + "\(events.count) generated events, \(badRecords.count) bad records dead-lettered, final dump "
                + "\(identical ? "identical to" : "DIFFERENT from") the uninterrupted run's, seed \(seed)")
    }
}
