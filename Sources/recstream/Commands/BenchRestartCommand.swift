import ArgumentParser
import Foundation
import NIOCore
import RecstreamBench
import RecstreamCore
import RecstreamRuntime

/// `recstream bench restart`: how long a restarted instance takes to answer again, after a
/// graceful stop (SIGTERM) and after a crash (SIGKILL), on the same state directory.
struct BenchRestartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restart",
        abstract: "Restart to first answer: time from starting a stopped or killed instance until it answers item statistics.",
        discussion: """
            Starts `recstream broker`, produces --events generated events, runs one `recstream run` on a state
            directory until it has applied and committed them all, then --rounds times: stops it (SIGTERM, then
            SIGKILL in alternate rounds), starts it again on the same directory and polls
            `GET /v1/items/<most engaged item>/stats` every 10 ms. Reported per kind of stop: the time from the
            new process's start to its first 200, to `/readyz` 200 (every partition's lag known and small), and
            every status code seen meanwhile (503 `warming_up` is expected; a 404 would be a wrong answer).
            Writes the "Restart to first answer" section of --report.

            Example: recstream bench restart --events 200000 --rounds 6 --report docs/reliability.md
            """)

    @Option(help: "Events produced before the first start.")
    var events = 200_000

    @Option(help: "Restarts measured (alternately after SIGTERM and SIGKILL).")
    var rounds = 6

    @Option(help: "Markdown file whose restart section is rewritten.")
    var report = "docs/reliability.md"

    @Flag(help: "Print the result as JSON.")
    var json = false

    struct Round {
        var kind: String
        var stopSeconds: Double
        var firstAnswerSeconds: Double
        var readySeconds: Double
        var codes: Set<Int>
    }

    func run() async throws {
        try await reportingFailures {
            let binary = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
            Terminal.err("starting the broker")
            let broker = try ChildProcess([binary, "broker"])
            defer { broker.terminate() }
            let bootstrap = try await broker.value(after: "bootstrap:")
            Terminal.err("producing \(Terminal.grouped(events)) events")
            let publisher = try EventPublisher(bootstrapServers: bootstrap, topic: "recstream.events", format: .json)
            var generator = GeneratorConfiguration(seed: 11, events: events)
            generator.users = max(1_000, events / 20)
            generator.items = max(200, events / 100)
            var counts: [String: Int] = [:]
            for event in EventGenerator(generator) {
                try publisher.send(event)
                counts[event.itemID, default: 0] += 1
            }
            try publisher.flush(timeout: .seconds(300))
            publisher.close()
            let item = counts.max { $0.value < $1.value }?.key ?? "i1"

            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recstream-restart-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: dir) }
            func start() throws -> ChildProcess {
                try ChildProcess([
                    binary, "run", "--brokers", bootstrap, "--state-dir", dir, "--http-address", "127.0.0.1:0", "--log-level", "warning",
                    "--set", "embedding.enabled=false",
                ])
            }
            var instance = try start()
            var api = try await instance.value(after: "api:")
            try await awaitReady(APIClient(baseURL: api, timeout: .seconds(10)), within: .seconds(1_800))
            Terminal.err("caught up; measuring \(rounds) restarts")

            let clock = ContinuousClock()
            var results: [Round] = []
            for round in 0..<rounds {
                let graceful = round % 2 == 0
                let stopStarted = clock.now
                if graceful {
                    instance.signal(SIGTERM)
                    let code = try await instance.waitForExit(within: .seconds(60))
                    guard code == 0 else { throw ValidationError("the instance exited \(code) after SIGTERM") }
                } else {
                    try await instance.crash()
                }
                let stopSeconds = (clock.now - stopStarted).seconds
                let started = clock.now
                instance = try start()
                api = try await instance.value(after: "api:")
                let client = APIClient(baseURL: api, timeout: .seconds(10))
                var codes = Set<Int>()
                var firstAnswer: Double? = nil
                while firstAnswer == nil {
                    let (code, _) = try await client.request("/v1/items/\(item)/stats")
                    codes.insert(code)
                    if code == 200 { firstAnswer = (clock.now - started).seconds }
                    if clock.now - started > .seconds(300) { throw ValidationError("no answer within 300 s of the restart") }
                    if firstAnswer == nil { try await Task.sleep(for: .milliseconds(10)) }
                }
                try await awaitReady(client, within: .seconds(300))
                let ready = (clock.now - started).seconds
                let result = Round(
                    kind: graceful ? "SIGTERM" : "SIGKILL", stopSeconds: stopSeconds, firstAnswerSeconds: firstAnswer ?? 0, readySeconds: ready,
                    codes: codes)
                results.append(result)
                Terminal.err(
                    "round \(round + 1) (\(result.kind)): stopped in \(String(format: "%.2f", stopSeconds)) s, first answer after "
                        + "\(String(format: "%.3f", result.firstAnswerSeconds)) s, ready after \(String(format: "%.2f", ready)) s, codes \(codes.sorted())")
            }
            instance.terminate()

            let section = markdown(results)
            let existing = try? String(contentsOfFile: report, encoding: .utf8)
            try BenchmarkReport.replacingMarkedSection("restart", with: section, in: existing ?? "")
                .write(toFile: report, atomically: true, encoding: .utf8)
            if json {
                let summary: [String: Any] = Dictionary(
                    uniqueKeysWithValues: ["SIGTERM", "SIGKILL"].map { kind in
                        let r = results.filter { $0.kind == kind }
                        return (
                            kind,
                            [
                                "first_answer_seconds_median": BenchmarkReport.median(r.map(\.firstAnswerSeconds)),
                                "ready_seconds_median": BenchmarkReport.median(r.map(\.readySeconds)),
                                "stop_seconds_median": BenchmarkReport.median(r.map(\.stopSeconds)),
                                "status_codes": Array(r.reduce(into: Set<Int>()) { $0.formUnion($1.codes) }).sorted(),
                            ] as [String: Any]
                        )
                    })
                Terminal.out(String(decoding: try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self))
            } else {
                Terminal.out(section)
            }
            Terminal.err("wrote the restart section of \(report)")
        }
    }

    private func awaitReady(_ client: APIClient, within limit: Duration) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let (code, _) = try? await client.request("/readyz"), code == 200 { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ValidationError("the instance did not become ready within \(limit)")
    }

    private func markdown(_ results: [Round]) -> String {
        func f(_ v: Double, _ d: Int) -> String { String(format: "%.\(d)f", v) }
        let rows = ["SIGTERM", "SIGKILL"].map { kind -> String in
            let r = results.filter { $0.kind == kind }
            let codes = r.reduce(into: Set<Int>()) { $0.formUnion($1.codes) }.sorted().map(String.init).joined(separator: ", ")
            return "| \(kind) | \(r.count) | \(f(BenchmarkReport.median(r.map(\.stopSeconds)), 2)) s "
                + "| **\(f(BenchmarkReport.median(r.map(\.firstAnswerSeconds)), 3)) s** (\(r.map { f($0.firstAnswerSeconds, 3) }.joined(separator: ", "))) "
                + "| \(f(BenchmarkReport.median(r.map(\.readySeconds)), 2)) s | \(codes) |"
        }
        return """
            ## Restart to first answer

            Reproduce with `recstream bench restart --events \(events) --rounds \(rounds) --report \(report)` (release build). \
            \(BenchmarkReport.provenance()). One `recstream broker`, \(Terminal.grouped(events)) generated events, one \
            `recstream run` (single mode) caught up on them, then stopped and started again on the same state directory; \
            the clock starts when the new process is started and the first answer is `GET /v1/items/<most engaged item>/stats` \
            answering 200.

            | stop | restarts | stop took (median) | first answer (median, each) | `/readyz` 200 (median) | status codes seen |
            |---|---|---|---|---|---|
            \(rows.joined(separator: "\n"))

            Single mode takes every partition itself (no group rebalance to wait for), so a restart answers as soon as
            the state directory is open and the partitions' state loaded; until then keyed routes answer 503 `warming_up`
            with `Retry-After: 1`, never a 404.
            """
    }
}
