import Foundation
import NIOHTTP1
import RecstreamCore
import RecstreamTesting
import Testing

/// A team that wants exposure filters and item statistics only switches the rest off: those
/// families keep nothing and their routes say which setting turns them on.
@Suite("Family switches end to end", .serialized, .processSlot)
struct FamilySwitchEndToEndTests {
    @Test(.timeLimit(.minutes(3)))
    func statisticsAndFiltersAloneAnswerAndTheRestNameTheirSetting() async throws {
        let run = try RecstreamProcess([
            "run", "--http-address", "127.0.0.1:0", "--log-level", "warning", "--set", "state.commit_interval_ms=100",
            "--set", "cooccurrence.enabled=false", "--set", "lookalike.enabled=false", "--set", "embedding.enabled=false",
        ])
        defer { run.signal(SIGKILL) }
        let bootstrap = try await run.value(after: "bootstrap:")
        let api = try await run.value(after: "api:")
        let producer = try TestProducer(bootstrap)
        let start: Int64 = 1_793_491_200_000
        for n in 0..<300 {
            let type: EventType = n % 3 == 0 ? .click : .exposure
            try producer.send(Event(eventID: "e\(n)", type: type, userID: "u\(n % 10)", itemID: "i\(n % 5)", time: EventTime(millis: start + Int64(n))))
        }
        try producer.flush()
        try await awaitConsumed(api, count: 300)

        let (statsCode, _, _) = try await http(api + "/v1/items/i1/stats")
        #expect(statsCode == 200)
        let (filterCode, filterBody, _) = try await http(
            api + "/v1/users/u1/exposures/filter", method: .POST, json: ["items": ["i1", "never-shown"]])
        #expect(filterCode == 200)
        #expect((filterBody as? [String: Any])?["items"] as? [String] == ["never-shown"])
        for (path, setting) in [
            ("/v1/items/i1/similar", "cooccurrence.enabled"), ("/v1/users/u1/history", "cooccurrence.enabled"),
            ("/v1/items/i1/seeds", "lookalike.enabled"),
        ] {
            let (code, body, text) = try await http(api + path)
            #expect(code == 404, "\(path): \(text)")
            let error = (body as? [String: Any])?["error"] as? [String: Any]
            #expect(error?["code"] as? String == "family_disabled", "\(path): \(text)")
            #expect((error?["message"] as? String)?.contains(setting) == true, "\(path): \(text)")
        }
        // Nothing is kept for the switched-off families.
        let families = try await status(api)["state"] as? [[String: Any]] ?? []
        for family in families where ["cooccurrence", "seeds", "engagement_log"].contains(family["family"] as? String ?? "") {
            #expect(family["entries"] as? Int == 0, "\(family)")
        }
        run.signal(SIGTERM)
        #expect(try await run.waitForExit() == 0)
    }
}
