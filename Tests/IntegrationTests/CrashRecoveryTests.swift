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
        // The stream arrives in kills + 1 parts: one before the first start, one before each
        // restart, so every restarted instance has records to apply when it is killed.
        let parts = (0...kills).map { k in (events.count * k / (kills + 1))..<(events.count * (k + 1) / (kills + 1)) }
        let producer = try TestProducer(bootstrap)
        for event in events[parts[0]] { try producer.send(event) }
        try producer.flush()

        func start(_ dir: String, group: String) throws -> RecstreamProcess {
            try RecstreamProcess([
                "run", "--brokers", bootstrap, "--state-dir", dir, "--http-address", "127.0.0.1:0", "--log-level", "warning",
                "--set", "kafka.group_id=\(group)", "--set", "state.commit_interval_ms=100",
            ])
        }

        // Crash loop: each kill waits until the restarted instance is seen applying records, so it
        // lands in the middle of ingest (and, with 100 ms commits, often during a commit).
        var killed = 0
        var killedMidStream = 0
        while killed < kills {
            for event in events[parts[killed + 1]] { try producer.send(event) }
            try producer.flush()
            let produced = parts[killed + 1].upperBound
            let run = try start(crashDir.path, group: "crash")
            let api = try await run.value(after: "api:")
            var last = -1
            try await eventually(within: .seconds(120), "restarted instance to apply records") {
                let consumed = consumedRecords(try await status(api))
                defer { last = consumed }
                return (last >= 0 && consumed > last) || consumed >= produced
            }
            try await Task.sleep(for: .milliseconds(Int(rng.next() % 40)))
            let atKill = consumedRecords(try await status(api))
            try await run.crash()
            if atKill < produced { killedMidStream += 1 }
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
