import Foundation
import NIOHTTP1
import RecstreamBench
import RecstreamCore
import RecstreamRuntime
import RecstreamTesting
import Testing

@Suite("HTTP API fuzzing", .serialized, .processSlot)
struct APIFuzzTests {
    /// schemathesis generates requests from Schemas/openapi.yaml (valid and invalid ones) against a
    /// running instance with data: no response may be a 5xx, every response must match the spec,
    /// and none may take longer than 5 s. `RECSTREAM_API_FUZZ_EXAMPLES` sets examples per operation.
    @Test(.timeLimit(.minutes(10)))
    func generatedRequestsNeverGet5xxOrHang() async throws {
        let schemathesis = ["/usr/local/bin/schemathesis", "/root/.pyenv/shims/schemathesis", "/usr/bin/schemathesis"]
            .first { FileManager.default.isExecutableFile(atPath: $0) } ?? (ProcessInfo.processInfo.environment["PATH"] ?? "")
            .split(separator: ":").map { "\($0)/schemathesis" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        let binary = try #require(schemathesis, "schemathesis is missing: make test installs it from PyPI")
        // The log below holds about 220 training examples, under the default embedding.min_examples.
        let run = try RecstreamProcess([
            "run", "--http-address", "127.0.0.1:0", "--log-level", "error", "--set", "embedding.min_examples=100",
        ])
        defer { run.signal(SIGKILL) }
        let bootstrap = try await run.value(after: "bootstrap:")
        let api = try await run.value(after: "api:")
        var config = GeneratorConfiguration(seed: 3, events: 5_000)
        config.users = 200
        config.items = 100
        config.itemsPerCommunity = 50
        let producer = try TestProducer(bootstrap)
        for event in EventGenerator(config) { try producer.send(event) }
        try producer.flush()
        try await eventually("data to arrive", progress: {
            let consumed = consumedRecords(try await IntegrationTests.status(api))
            return consumed > 4_000 ? .done : .waiting([consumed])
        })
        // Serve an embedding model, so the embedding routes answer from it (503 is only for "no model yet").
        let (trained, _, trainText) = try await http(api + "/v1/admin/train", method: .POST, json: ["mode": "full"])
        #expect(trained == 200, "\(trainText)")

        let examples = ProcessInfo.processInfo.environment["RECSTREAM_API_FUZZ_EXAMPLES"] ?? "50"
        let spec = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Schemas/openapi.yaml").path
        // Which documented 503s are expected answers (see the file).
        let configFile = URL(fileURLWithPath: spec).deletingLastPathComponent().appendingPathComponent("schemathesis.toml").path
        let fuzz = try ChildProcess([
            binary, "--config-file", configFile, "run", spec, "--url", api, "-c", "not_a_server_error,response_schema_conformance", "-n", examples,
            "--max-response-time", "5", "--request-timeout", "10", "--seed", "1",
        ])
        let exitStatus = try await fuzz.waitForExit(within: .seconds(540))
        let summary = fuzz.lines.filter { $0.contains("generated") || $0.contains("passed") || $0.contains("failed") }
        print("schemathesis: \(summary.joined(separator: " | "))")
        #expect(exitStatus == 0, "\(fuzz.lines.suffix(40).joined(separator: "\n"))")
        #expect(run.process.isRunning, "the instance survived")
    }
}
