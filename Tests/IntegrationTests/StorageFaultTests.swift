import Foundation
import NIOHTTP1
import RecstreamCore
import RecstreamKafka
import RecstreamTesting
import Testing

@Suite("Storage faults", .serialized, .processSlot)
struct StorageFaultTests {
    static func events(seed: UInt64, count: Int) -> [Event] {
        var config = GeneratorConfiguration(seed: seed, events: count)
        config.users = 2_000
        config.items = 400
        config.itemsPerCommunity = 100
        return Array(EventGenerator(config))
    }

    static func run(_ bootstrap: String, _ dir: String, group: String = "g", _ extra: [String] = []) throws -> RecstreamProcess {
        try RecstreamProcess([
            "run", "--brokers", bootstrap, "--state-dir", dir, "--http-address", "127.0.0.1:0", "--log-level", "warning",
            "--set", "kafka.group_id=\(group)", "--set", "state.commit_interval_ms=100",
            "--set", "kafka.properties.session.timeout.ms=6000",
        ] + extra)
    }

    static func totals(_ api: String, items: [String]) async throws -> [String: [String: Int]] {
        let (_, body, _) = try await http(api + "/v1/items/stats", method: .POST, json: ["ids": items])
        var out: [String: [String: Int]] = [:]
        for case let item as [String: Any] in ((body as? [String: Any])?["items"] as? [Any] ?? []) {
            out[item["item_id"] as? String ?? ""] = (item["windows"] as? [String: [String: Any]])?["all"]?["counts"] as? [String: Int]
        }
        return out
    }

    /// A byte flipped in a table file: the next start refuses to serve, naming the one command
    /// that rebuilds the state; after it, a replay from Kafka rebuilds the same state.
    @Test(.timeLimit(.minutes(6)))
    func corruptedTableFileIsRefusedAndRebuiltFromKafka() async throws {
        let broker = try RecstreamProcess(["broker"])
        defer { broker.signal(SIGKILL) }
        let bootstrap = try await broker.value(after: "bootstrap:")
        let dir = try TemporaryDirectory("corrupt")
        defer { dir.remove() }
        let events = Self.events(seed: 31, count: 20_000)
        let producer = try TestProducer(bootstrap)
        for event in events { try producer.send(event) }
        try producer.flush()
        let items = Array(Set(events.map(\.itemID))).sorted()

        let first = try Self.run(bootstrap, dir.path)
        let firstAPI = try await first.value(after: "api:")
        try await awaitConsumed(firstAPI, count: events.count)
        let before = try await Self.totals(firstAPI, items: items)
        first.signal(SIGTERM)
        #expect(try await first.waitForExit() == 0)

        // Flip bytes in the middle of the largest table file.
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".sst") }
        let largest = try #require(files.max { a, b in
            let size = { (f: String) in (try? FileManager.default.attributesOfItem(atPath: dir.path + "/" + f)[.size] as? Int) ?? 0 }
            return size(a) < size(b)
        })
        let handle = try #require(FileHandle(forUpdatingAtPath: dir.path + "/" + largest))
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size / 2)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: 64))
        try handle.close()

        // Verified in the background (the default): the start does not wait for the sweep, which
        // finds the damage and fails /readyz with the command that rebuilds the state. (A start
        // whose own loading reads the damaged block is refused at once instead.)
        let background = try Self.run(bootstrap, dir.path)
        if let api = try? await background.value(after: "api:") {
            try await eventually(within: .seconds(120), "the background verification to find the damage") {
                (try await status(api)["verification"] as? [String: Any])?["phase"] as? String == "damaged"
            }
            let (code, _, text) = try await http(api + "/readyz")
            #expect(code == 503)
            #expect(text.contains("damaged") && text.contains("recstream state reset --state-dir"), "\(text.prefix(500))")
            let metrics = try await http(api + "/metrics").text
            #expect(metrics.contains("recstream_state_damaged 1"))
            print("damage found by the background verification")
            background.signal(SIGKILL)
        } else {
            print("damage found by the start's own loading")
            #expect(background.errorLines.joined().contains("damaged"), "\(background.errorLines.suffix(5))")
        }
        _ = try await background.waitForExit()

        // Verified before serving: refused at start.
        let refused = try Self.run(bootstrap, dir.path, ["--set", "state.verify=blocking"])
        #expect(try await refused.waitForExit(within: .seconds(60)) == 1)
        let message = refused.errorLines.joined(separator: "\n")
        #expect(message.contains("damaged"), "\(message)")
        #expect(message.contains("recstream state reset --state-dir"))

        let reset = try RecstreamProcess(["state", "reset", "--state-dir", dir.path])
        #expect(try await reset.waitForExit() == 0)
        let moved = try FileManager.default.contentsOfDirectory(atPath: (dir.path as NSString).deletingLastPathComponent)
            .filter { $0.hasPrefix((dir.path as NSString).lastPathComponent + ".reset-") }
        #expect(moved.count == 1)
        defer { for m in moved { try? FileManager.default.removeItem(atPath: (dir.path as NSString).deletingLastPathComponent + "/" + m) } }

        let rebuilt = try Self.run(bootstrap, dir.path, group: "g2")
        let rebuiltAPI = try await rebuilt.value(after: "api:")
        try await awaitConsumed(rebuiltAPI, count: events.count)
        #expect(try await Self.totals(rebuiltAPI, items: items) == before)
        rebuilt.signal(SIGTERM)
        #expect(try await rebuilt.waitForExit() == 0)
    }

    /// A store that silently went back to an older state (what RocksDB does with a truncated
    /// MANIFEST) is caught by the commit marker and refused.
    @Test(.timeLimit(.minutes(6)))
    func rolledBackStoreIsRefused() async throws {
        let broker = try RecstreamProcess(["broker"])
        defer { broker.signal(SIGKILL) }
        let bootstrap = try await broker.value(after: "bootstrap:")
        let dir = try TemporaryDirectory("rollback")
        let old = try TemporaryDirectory("rollback-copy")
        defer {
            dir.remove()
            old.remove()
        }
        let events = Self.events(seed: 32, count: 10_000)
        let producer = try TestProducer(bootstrap)
        for event in events[..<5_000] { try producer.send(event) }
        try producer.flush()
        let first = try Self.run(bootstrap, dir.path)
        try await awaitConsumed(try await first.value(after: "api:"), count: 5_000)
        first.signal(SIGTERM)
        #expect(try await first.waitForExit() == 0)
        try FileManager.default.removeItem(atPath: old.path)
        try FileManager.default.copyItem(atPath: dir.path, toPath: old.path)

        for event in events[5_000...] { try producer.send(event) }
        try producer.flush()
        let second = try Self.run(bootstrap, dir.path)
        try await awaitConsumed(try await second.value(after: "api:"), count: events.count)
        second.signal(SIGTERM)
        #expect(try await second.waitForExit() == 0)

        // Put the older store files back under the newer commit marker.
        let marker = try String(contentsOfFile: dir.path + "/RECSTREAM-COMMIT", encoding: .utf8)
        try FileManager.default.removeItem(atPath: dir.path)
        try FileManager.default.copyItem(atPath: old.path, toPath: dir.path)
        try marker.write(toFile: dir.path + "/RECSTREAM-COMMIT", atomically: true, encoding: .utf8)
        let refused = try Self.run(bootstrap, dir.path)
        #expect(try await refused.waitForExit(within: .seconds(60)) == 1)
        #expect(refused.errorLines.joined().contains("rolled back"))
    }

    /// The state directory fills up during commits: they fail with a clear error and are retried
    /// (the store reopened) while the API keeps serving; when space returns, commits resume. A
    /// read-only state directory is refused at start with a clear error. After all of it, a
    /// kill -9 and restart gives exactly the right state.
    @Test(.timeLimit(.minutes(8)))
    func fullAndReadOnlyDisksAreRetriedAndRecovered() async throws {
        let mountPoint = try TemporaryDirectory("tmpfs")
        defer { mountPoint.remove() }
        func mount(_ arguments: [String]) async throws -> Int32 {
            let m = try ChildProcessRunner.run(["/bin/mount"] + arguments)
            return m
        }
        #expect(try await mount(["-t", "tmpfs", "-o", "size=3m", "tmpfs", mountPoint.path]) == 0, "needs root to mount a tmpfs")
        defer { _ = try? ChildProcessRunner.run(["/bin/umount", "-l", mountPoint.path]) }
        let dir = mountPoint.path + "/state"

        let broker = try RecstreamProcess(["broker"])
        defer { broker.signal(SIGKILL) }
        let bootstrap = try await broker.value(after: "bootstrap:")
        let events = Self.events(seed: 33, count: 90_000)
        let producer = try TestProducer(bootstrap)
        let run = try Self.run(bootstrap, dir)
        defer { run.signal(SIGKILL) }
        let api = try await run.value(after: "api:")
        for event in events { try producer.send(event) }
        try producer.flush()

        // 3 MB is not enough for this stream's log: commits start failing.
        try await eventually("a commit to fail for lack of space", progress: {
            let s = try await status(api)
            return (s["last_commit_error"] as? String)?.contains("space") == true ? .done : .waiting([consumedRecords(s)])
        })
        #expect((try await http(api + "/v1/items/i1/stats")).status == 200, "queries keep being served")
        #expect((try await http(api + "/metrics")).text.contains("recstream_commit_failures_total"))
        #expect(try await mount(["-o", "remount,size=256m", mountPoint.path]) == 0)
        try await awaitConsumed(api, count: events.count)
        let recovered = try await status(api)
        #expect(recovered["last_commit_error"] == nil || recovered["last_commit_error"] is NSNull)

        // Read-only: RocksDB keeps its files open, so a mounted file system cannot be switched to
        // read-only under a running instance (EBUSY); the check is at start instead: refused
        // with a clear error, then fine once writable again.
        run.signal(SIGTERM)
        #expect(try await run.waitForExit() == 0)
        #expect(try await mount(["-o", "remount,ro", mountPoint.path]) == 0)
        let refused = try Self.run(bootstrap, dir, group: "g-ro")
        #expect(try await refused.waitForExit(within: .seconds(60)) == 1)
        #expect(refused.errorLines.joined().lowercased().contains("read-only"), "\(refused.errorLines.suffix(5))")
        #expect(try await mount(["-o", "remount,rw", mountPoint.path]) == 0)
        let extra = Self.events(seed: 34, count: 5_000).map {
            Event(eventID: "ro-" + $0.eventID, type: $0.type, userID: $0.userID, itemID: $0.itemID, time: $0.time)
        }
        for event in extra { try producer.send(event) }
        try producer.flush()
        let all = events + extra
        let writable = try Self.run(bootstrap, dir, group: "g-rw")
        defer { writable.signal(SIGKILL) }
        let writableAPI = try await writable.value(after: "api:")
        try await awaitConsumed(writableAPI, count: all.count)

        // Nothing corrupt, nothing lost: kill -9, restart on the same directory, compare.
        let items = Array(Set(all.map(\.itemID))).sorted()
        let before = try await Self.totals(writableAPI, items: items)
        try await writable.crash()
        let again = try Self.run(bootstrap, dir, group: "g-again")
        defer { again.signal(SIGKILL) }
        let againAPI = try await again.value(after: "api:")
        try await awaitConsumed(againAPI, count: all.count)
        #expect(try await Self.totals(againAPI, items: items) == before)
        again.signal(SIGTERM)
        #expect(try await again.waitForExit() == 0)
    }
}

/// Runs a short command to completion.
enum ChildProcessRunner {
    static func run(_ command: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
