import Foundation
import NIOHTTP1
import RecstreamBench
import RecstreamCore
import RecstreamKafka
import RecstreamRuntime
import RecstreamTesting
import Testing

/// Milliseconds since the epoch now: what "stamped around now" means for a client clock.
func wallClockMillis() -> Int64 {
    Int64(Date().timeIntervalSince1970 * 1000)
}

/// `recstream run` in single mode on an existing broker, answering on a loopback port the OS picks.
func startInstance(brokers: String, stateDir: String, _ extra: [String] = []) throws -> RecstreamProcess {
    try RecstreamProcess(
        [
            "run", "--brokers", brokers, "--state-dir", stateDir, "--http-address", "127.0.0.1:0", "--log-level", "warning",
            "--set", "state.commit_interval_ms=200",
        ] + extra)
}

/// An in-process broker with the events topic and the dead-letter topic, one partition each
/// unless told otherwise.
func singlePartitionBroker(eventsPartitions: Int = 1) throws -> EmbeddedBroker {
    let broker = try EmbeddedBroker()
    try broker.createTopic("recstream.events", partitions: eventsPartitions)
    try broker.createTopic("recstream.events.dlq", partitions: 1)
    return broker
}

/// One partition's entry of `/v1/status`.
func partitionStatus(_ api: String, partition: Int = 0, topic: String = "recstream.events") async throws -> [String: Any] {
    let partitions = try await status(api)["partitions"] as? [[String: Any]] ?? []
    guard let entry = partitions.first(where: { $0["partition"] as? Int == partition && $0["topic"] as? String == topic }) else {
        throw RecstreamProcess.Failure(description: "status of \(api) lists no \(topic)[\(partition)]")
    }
    return entry
}

/// An item's event counts per window (`1h`, `24h`, `7d`, `30d`, `all`), from `/v1/items/{id}/stats`;
/// nil when the instance answers anything but 200.
func itemCounts(_ api: String, _ itemID: String) async throws -> [String: [String: Int]]? {
    let (code, body, _) = try await http(api + "/v1/items/\(itemID)/stats")
    guard code == 200, let windows = (body as? [String: Any])?["windows"] as? [String: [String: Any]] else { return nil }
    return windows.compactMapValues { $0["counts"] as? [String: Int] }
}

/// The candidates `/v1/users/{id}/exposures/filter` keeps (those the user was not shown).
func unexposed(_ api: String, user: String, candidates: [String]) async throws -> [String] {
    let (code, body, text) = try await http(api + "/v1/users/\(user)/exposures/filter", method: .POST, json: ["items": candidates])
    guard code == 200, let kept = (body as? [String: Any])?["items"] as? [String] else {
        throw RecstreamProcess.Failure(description: "exposure filter for \(user): HTTP \(code) \(text.prefix(300))")
    }
    return kept
}

/// Polls `/v1/status` throughout `window` and throws at the first poll that is not answered: for
/// a property that must hold for a while (an instance keeps serving), which `eventually` cannot
/// express.
func keepsAnswering(_ run: RecstreamProcess, api: String, for window: Duration) async throws {
    let deadline = ContinuousClock.now + window
    while ContinuousClock.now < deadline {
        do {
            _ = try await status(api)
        } catch {
            try? await Task.sleep(for: .milliseconds(100))  // the last lines of stderr
            throw RecstreamProcess.Failure(
                description: "\(api) stopped answering (\(error)); running: \(run.process.isRunning); stderr:\n"
                    + run.errorLines.suffix(12).joined(separator: "\n"))
        }
        try await Task.sleep(for: .milliseconds(100))
    }
}

/// SIGTERM, and expects exit status 0 (naming the last lines of stderr otherwise).
func expectCleanExit(_ run: RecstreamProcess, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    run.signal(SIGTERM)
    let status = try await run.waitForExit()
    let stderr = run.errorLines.suffix(12).joined(separator: "\n")
    #expect(status == 0, "exit status \(status) after SIGTERM; stderr:\n\(stderr)", sourceLocation: sourceLocation)
}
