import Foundation
import NIOHTTP1
import RecstreamBench
import RecstreamCore
import RecstreamKafka
import RecstreamRuntime
import RecstreamTesting
import Testing

/// A single-mode instance owns its whole consumer group: a second instance of the group, single
/// or split, refuses to run beside it. Split-mode instances run side by side on a `recstream
/// broker` started with no flags (it creates the default group's internal topics).
@Suite("One instance per group in single mode", .serialized, .processSlot)
struct GroupGuardTests {
    /// `recstream broker` with no flags: recstream.events (8 partitions), the dead-letter topic
    /// and the default group's internal topics.
    static func startBroker() async throws -> (RecstreamProcess, String) {
        let broker = try RecstreamProcess(["broker"])
        return (broker, try await broker.value(after: "bootstrap:"))
    }

    static func event(_ n: Int) -> Event {
        Event(
            eventID: "e\(n)", type: n % 3 == 0 ? .click : .exposure, userID: "user-\(n % 37)", itemID: "item-\(n % 53)",
            time: EventTime(millis: 1_000_000 + Int64(n)))
    }

    /// Catches: two single-mode instances in one group (each would own every partition and
    /// apply the same input twice), or single beside split (each would see part of the input);
    /// a refusal that goes unexplained, or that takes the running instance down with it.
    @Test(.timeLimit(.minutes(2)), arguments: ["single", "split"])
    func secondInstanceOfASingleModeGroupRefusesToRun(mode: String) async throws {
        let (broker, bootstrap) = try await Self.startBroker()
        defer { broker.signal(SIGKILL) }
        let first = try TemporaryDirectory("guard-first")
        let second = try TemporaryDirectory("guard-second")
        defer {
            first.remove()
            second.remove()
        }
        let running = try startInstance(brokers: bootstrap, stateDir: first.path)
        defer { running.signal(SIGKILL) }
        let api = try await running.value(after: "api:")
        try await eventually(within: .seconds(30), "the first instance to consume") {
            try await status(api)["consuming"] as? Bool == true
        }

        let refused = try startInstance(brokers: bootstrap, stateDir: second.path, ["--set", "pipeline.mode=\(mode)"])
        defer { refused.signal(SIGKILL) }
        let exit = try await refused.waitForExit(within: .seconds(30))
        #expect(exit != 0)
        let message = refused.errorLines.joined(separator: "\n")
        #expect(message.contains("refusing to run"), "stderr of the refused \(mode)-mode instance: \(message.suffix(800))")

        // The first keeps serving: its conflict check (every 2 s) sees the refused instance's
        // claim, still fresh, and must not yield to it; then it applies and commits what arrives.
        try await keepsAnswering(running, api: api, for: .seconds(5))
        let producer = try TestProducer(bootstrap)
        for n in 0..<200 { try producer.send(Self.event(n)) }
        try producer.flush()
        try await awaitConsumed(api, count: 200)
        #expect(running.process.isRunning)
        try await expectCleanExit(running)
    }

    /// Catches: split mode failing on a fresh `recstream broker` ("cannot create the internal
    /// topics": the broker made none and the mock serves no CreateTopics), or the single-mode
    /// guard mistaking two split-mode members of one group for a conflict.
    @Test(.timeLimit(.minutes(2)))
    func twoSplitModeInstancesOnAFreshBrokerTogetherApplyEveryEvent() async throws {
        let (broker, bootstrap) = try await Self.startBroker()
        defer { broker.signal(SIGKILL) }
        let dirs = [try TemporaryDirectory("split-a"), try TemporaryDirectory("split-b")]
        defer { for dir in dirs { dir.remove() } }
        let instances = try dirs.map { dir in
            try startInstance(
                brokers: bootstrap, stateDir: dir.path,
                [
                    "--set", "pipeline.mode=split",
                    // A member that leaves holds its partitions until its session times out.
                    "--set", "kafka.properties.session.timeout.ms=6000", "--set", "kafka.properties.heartbeat.interval.ms=500",
                ])
        }
        defer { for instance in instances { instance.signal(SIGKILL) } }
        var apis: [String] = []
        for instance in instances { apis.append(try await instance.value(after: "api:")) }

        let total = 2_000
        let producer = try TestProducer(bootstrap)
        for n in 0..<total { try producer.send(Self.event(n)) }
        try producer.flush()

        // Every events partition owned by exactly one instance, both instances owning some,
        // applied and committed to its end, and the events consumed across both equal to those produced.
        var last = ""
        do {
            try await eventually(within: .seconds(90), "two split-mode instances to apply every event") {
                var owners: [Int: Int] = [:]
                var consumed = 0
                var settled = true
                var idle = 0
                for api in apis {
                    let partitions = try await status(api)["partitions"] as? [[String: Any]] ?? []
                    if !partitions.contains(where: { $0["topic"] as? String == "recstream.events" }) { idle += 1 }
                    for p in partitions where p["topic"] as? String == "recstream.events" {
                        let partition = p["partition"] as? Int ?? -1
                        owners[partition, default: 0] += 1
                        let applied = p["applied_offset"] as? Int
                        if applied != p["end_offset"] as? Int || applied != p["committed_offset"] as? Int { settled = false }
                        let rejected = (p["rejected"] as? [String: Int] ?? [:]).values.reduce(0, +)
                        consumed += (p["applied"] as? Int ?? 0) + (p["duplicates"] as? Int ?? 0) + (p["late"] as? Int ?? 0) + rejected
                    }
                }
                last = "owners \(owners.sorted { $0.key < $1.key }), consumed \(consumed)/\(total), settled \(settled), idle instances \(idle)"
                return owners.count == 8 && owners.values.allSatisfy { $0 == 1 } && settled && consumed == total && idle == 0
            }
        } catch {
            throw RecstreamProcess.Failure(description: "\(error); last: \(last)")
        }
        // Both still run.
        for instance in instances {
            #expect(instance.process.isRunning)
            try await expectCleanExit(instance)
        }
    }
}
