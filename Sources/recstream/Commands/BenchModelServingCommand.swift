import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import RecstreamBench
import RecstreamCore
import RecstreamRuntime

/// `recstream bench model-serving`: embedding retrieval and look-alike scoring over HTTP against a
/// running instance with a trained model; rewrites its section of docs/benchmarks.md.
struct BenchModelServingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model-serving",
        abstract: "Retrieval and look-alike scoring over HTTP against a loaded instance with a trained model.",
        discussion: """
            Starts an embedded broker and `recstream run`, produces --events generated events plus 200 items \
            engaged by 150 of the 2,000 most active users each (so they pass the 100-seed gate), trains a full \
            refresh through POST /v1/admin/train, waits for the look-alike summary job, then makes --calls \
            sequential calls of POST /v1/lookalike/score (1,000 items: the 200 and 800 others) and of \
            POST /v1/retrieve (k = 100) over one connection, recording the Server-Timing header and the \
            client's time. Rewrites the section "## Retrieval and look-alike scoring over HTTP" of --output.
            """)

    @Option(help: "Generated background events.")
    var events = 300_000

    @Option(help: "Calls of each route.")
    var calls = 1_000

    @Option(help: "Markdown report whose section is rewritten.")
    var output = "docs/benchmarks.md"

    static let heading = "## Retrieval and look-alike scoring over HTTP"

    func run() async throws {
        try await reportingFailures {
            let binary = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
            let broker = try ChildProcess([binary, "broker", "--topic", "ms.events:8", "--topic", "ms.dlq:1"])
            defer { broker.terminate() }
            let bootstrap = try await broker.value(after: "bootstrap:")
            let stateDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("recstream-ms-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: stateDirectory) }
            let run = try ChildProcess([
                binary, "run", "--brokers", bootstrap, "--http-address", "127.0.0.1:0", "--log-level", "warning",
                "--state-dir", stateDirectory, "--set", "kafka.events_topic=ms.events", "--set", "kafka.dead_letter_topic=ms.dlq",
                "--set", "lookalike.summary_interval_ms=1000",
            ])
            defer { run.terminate() }
            let client = APIClient(baseURL: try await run.value(after: "api:"), timeout: .seconds(600))

            Terminal.err("producing \(Terminal.grouped(events)) events and the seed engagements")
            let publisher = try EventPublisher(bootstrapServers: bootstrap, topic: "ms.events", format: .json)
            var config = GeneratorConfiguration(seed: 11, events: events)
            config.users = 20_000
            var last = config.startTime.millis
            var produced = 0
            for event in EventGenerator(config) {
                try publisher.send(event)
                last = max(last, event.time.millis)
                produced += 1
            }
            var rng = Xoshiro256StarStar(seed: 5)
            for item in 0..<200 {
                for n in 0..<150 {
                    try publisher.send(Event(
                        eventID: "la\(item)-\(n)", type: .click, userID: "u\(rng.next() % 2_000)", itemID: "la\(item)",
                        time: EventTime(millis: last + Int64(produced))))
                    produced += 1
                }
            }
            try publisher.flush(timeout: .seconds(300))
            publisher.close()
            let deadline = ContinuousClock.now + .seconds(300)
            while true {
                guard ContinuousClock.now < deadline else { throw ValidationError("the instance did not consume \(produced) events in 300 s") }
                let status = try? await client.json("/v1/status") as? [String: Any]
                let consumed = (status?["partitions"] as? [[String: Any]] ?? []).reduce(0) {
                    $0 + (($1["applied"] as? Int) ?? 0) + (($1["duplicates"] as? Int) ?? 0) + (($1["late"] as? Int) ?? 0)
                }
                if consumed >= produced { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            // The job reads the committed log: wait until every partition's commit covers its end.
            while true {
                guard ContinuousClock.now < deadline else { throw ValidationError("the instance did not commit in 300 s") }
                let partitions = (try? await client.json("/v1/status") as? [String: Any])?["partitions"] as? [[String: Any]] ?? []
                if !partitions.isEmpty, partitions.allSatisfy({ ($0["committed_offset"] as? Int ?? -1) >= ($0["end_offset"] as? Int ?? Int.max) }) { break }
                try await Task.sleep(for: .milliseconds(100))
            }

            Terminal.err("training a full refresh")
            let (trained, body) = try await client.request(
                "/v1/admin/train", method: .POST, json: try JSONSerialization.data(withJSONObject: ["mode": "full"]))
            guard trained == 200 else { throw ValidationError("training answered \(trained): \(String(decoding: body, as: UTF8.self))") }

            // Users with a vector of their own: the score route answers 404 for a user the model lacks.
            var users: [String] = []
            for n in 0..<4_000 where users.count < calls {
                let (status, _) = try await client.request("/v1/users/u\(n)/embedding")
                if status == 200 { users.append("u\(n)") }
            }
            guard !users.isEmpty else {
                let (_, models) = try await client.request("/v1/admin/models")
                let (code, sample) = try await client.request("/v1/users/u1/embedding")
                throw ValidationError("no user has an embedding; models: \(String(decoding: models, as: UTF8.self)); u1: \(code) \(String(decoding: sample, as: UTF8.self).prefix(300)); trained: \(String(decoding: body, as: UTF8.self).prefix(600))")
            }
            let items = (0..<200).map { "la\($0)" } + (0..<800).map { "i\($0)" }
            func scoreBody(_ user: String) throws -> Data {
                try JSONSerialization.data(withJSONObject: ["user": user, "items": items] as [String: Any])
            }
            Terminal.err("waiting for the look-alike summaries")
            let summaryDeadline = ContinuousClock.now + .seconds(60)
            var scoredItems = 0
            while true {
                let object = try await client.json("/v1/lookalike/score", method: .POST, body: try scoreBody(users[0])) as? [String: Any]
                scoredItems = (object?["items"] as? [[String: Any]] ?? []).filter { $0["status"] as? String == "scored" }.count
                if scoredItems >= 150 { break }
                if ContinuousClock.now > summaryDeadline {
                    let statuses = Dictionary(grouping: object?["items"] as? [[String: Any]] ?? [], by: { $0["status"] as? String ?? "?" }).mapValues(\.count)
                    throw ValidationError("summaries not built within 60 s: \(statuses)")
                }
                try await Task.sleep(for: .milliseconds(250))
            }

            var score: (client: [Double], server: [Double]) = ([], [])
            var retrieve: (client: [Double], server: [Double]) = ([], [])
            for n in 0..<calls {
                let user = users[n % users.count]
                let t0 = ContinuousClock.now
                let (status, _, server) = try await client.requestTimed("/v1/lookalike/score", method: .POST, json: try scoreBody(user))
                score.client.append((ContinuousClock.now - t0).seconds * 1000)
                if let server { score.server.append(server) }
                guard status == 200 else { throw ValidationError("score answered \(status)") }
                let t1 = ContinuousClock.now
                let (rstatus, _, rserver) = try await client.requestTimed(
                    "/v1/retrieve", method: .POST, json: try JSONSerialization.data(withJSONObject: ["user": user, "k": 100] as [String: Any]))
                retrieve.client.append((ContinuousClock.now - t1).seconds * 1000)
                if let rserver { retrieve.server.append(rserver) }
                guard rstatus == 200 else { throw ValidationError("retrieve answered \(rstatus)") }
                if n % 100 == 0 { Terminal.status("call \(n + 1)/\(calls)") }
            }
            Terminal.endStatus()
            func ms(_ values: [Double], _ q: Double) -> String { String(format: "%.2f ms", BenchmarkReport.quantile(values, q)) }
            let section = """
                \(Self.heading)

                Reproduce with `.build/release/recstream bench model-serving --events \(events) --calls \(calls)` (release build). \
                \(BenchmarkReport.provenance()); broker, pipeline \
                and client share it. \(Terminal.grouped(produced)) events (200 items engaged by 150 of the 2,000 most active \
                users each), a full refresh through `POST /v1/admin/train`, the look-alike summary job, then \(calls) \
                sequential calls of each route over one connection, for \(users.count) users with their own vector; server \
                time from the `Server-Timing` header (routing, JSON and the work), client time around the call.

                | call | server p50 | server p99 | client p50 | client p99 |
                |---|---|---|---|---|
                | `POST /v1/lookalike/score`, 1,000 items (\(scoredItems) scored, the rest cold start) | \(ms(score.server, 0.5)) | \(ms(score.server, 0.99)) | \(ms(score.client, 0.5)) | \(ms(score.client, 0.99)) |
                | `POST /v1/retrieve`, k = 100, exposed items dropped | \(ms(retrieve.server, 0.5)) | \(ms(retrieve.server, 0.99)) | \(ms(retrieve.client, 0.5)) | \(ms(retrieve.client, 0.99)) |

                """
            let existing = try? String(contentsOfFile: output, encoding: .utf8)
            try BenchmarkReport.replacingSection(Self.heading, with: section, in: existing).write(toFile: output, atomically: true, encoding: .utf8)
            Terminal.out(section)
            Terminal.err("wrote the section to \(output)")
        }
    }
}
