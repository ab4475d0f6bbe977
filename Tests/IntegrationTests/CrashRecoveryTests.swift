import Foundation
import RecstreamCore
import RecstreamKafka
import RecstreamTesting
import Testing

@Suite("Crash recovery", .serialized, .processSlot)
struct CrashRecoveryTests {
    /// Kill `recstream run` with SIGKILL at random moments while it ingests (and while more
    /// events arrive), restart it each time on the same state directory, and check that the final
    /// committed state is identical to that of one uninterrupted run over the same input.
    @Test(.timeLimit(.minutes(12)))
    func stateAfterRepeatedSIGKILLEqualsAnUninterruptedRun() async throws {
        let seed = ProcessInfo.processInfo.environment["RECSTREAM_TEST_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        print("crash recovery seed \(seed) (replay with RECSTREAM_TEST_SEED=\(seed))")
        var rng = SplitMix64(seed: seed)
        let kills = 6

        let broker = try RecstreamProcess(["broker"])
        defer { broker.signal(SIGKILL) }
        let bootstrap = try await broker.value(after: "bootstrap:")
        let crashDir = try TemporaryDirectory("crash")
        let cleanDir = try TemporaryDirectory("clean")
        defer {
            crashDir.remove()
            cleanDir.remove()
        }

        var config = GeneratorConfiguration(seed: seed, events: 160_000)
        config.users = 20_000
        config.items = 3_000
        let events = Array(EventGenerator(config))
        let firstPart = 110_000
        let producer = try TestProducer(bootstrap)
        for event in events[..<firstPart] { try producer.send(event) }
        try producer.flush()

        func start(_ dir: String, group: String) throws -> RecstreamProcess {
            try RecstreamProcess([
                "run", "--brokers", bootstrap, "--state-dir", dir, "--http-address", "127.0.0.1:0", "--log-level", "warning",
                "--set", "kafka.group_id=\(group)", "--set", "state.commit_interval_ms=100",
                // A killed member holds its partitions until its session times out; keep that short.
                "--set", "kafka.properties.session.timeout.ms=6000", "--set", "kafka.properties.heartbeat.interval.ms=500",
            ])
        }

        // Crash loop: the rest of the stream arrives while the instance is being killed. Each
        // kill waits until the restarted instance owns its partitions and is consuming, so it
        // lands in the middle of ingest (and, with 100 ms commits, often during a commit).
        var killed = 0
        var killedMidStream = 0
        var producedRest = false
        while killed < kills {
            let run = try start(crashDir.path, group: "crash")
            let api = try await run.value(after: "api:")
            var before = 0
            try await eventually(within: .seconds(120), "restarted instance to own partitions") {
                let s = try await status(api)
                before = consumedRecords(s)
                return !(s["partitions"] as? [[String: Any]] ?? []).isEmpty
            }
            try await Task.sleep(for: .milliseconds(50 + Int(rng.next() % 500)))
            if killed == 2 && !producedRest {
                for event in events[firstPart...] { try producer.send(event) }
                producedRest = true
            }
            let atKill = consumedRecords(try await status(api))
            try await run.crash()
            if atKill > before && atKill < events.count { killedMidStream += 1 }
            killed += 1
        }
        print("crash recovery: \(killed) kills, \(killedMidStream) while records were being applied")
        #expect(killedMidStream >= kills / 2)
        try producer.flush()

        let resumed = try start(crashDir.path, group: "crash")
        try await awaitConsumed(try await resumed.value(after: "api:"), count: events.count)
        resumed.signal(SIGTERM)
        #expect(try await resumed.waitForExit() == 0)

        let clean = try start(cleanDir.path, group: "clean")
        try await awaitConsumed(try await clean.value(after: "api:"), count: events.count)
        clean.signal(SIGTERM)
        #expect(try await clean.waitForExit() == 0)

        let crashDump = try RecstreamProcess(["state", "dump", "--state-dir", crashDir.path])
        let cleanDump = try RecstreamProcess(["state", "dump", "--state-dir", cleanDir.path])
        #expect(try await crashDump.waitForExit(within: .seconds(300)) == 0)
        #expect(try await cleanDump.waitForExit(within: .seconds(300)) == 0)
        let crashLines = crashDump.lines
        let cleanLines = cleanDump.lines
        #expect(killed == kills)
        #expect(cleanLines.count > 1_000)
        #expect(crashLines.count == cleanLines.count)
        let firstDifference = zip(crashLines, cleanLines).first { $0 != $1 }
        #expect(firstDifference == nil, "first difference: \(String(describing: firstDifference))")
    }
}
