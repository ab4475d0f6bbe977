import ArgumentParser
import Foundation
import NIOHTTP1

struct AdminSeedsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seeds",
        abstract: "An item's look-alike seeds (most recent distinct engagers), newest first, and its gate.")

    @OptionGroup var options: APIOptions

    @Argument(help: "Item id.")
    var item: String

    @Option(help: "Most seeds listed.")
    var limit = 50

    func run() async throws {
        try await reportingFailures {
            let id = item.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? item
            let object = try await options.client.json("/v1/items/\(id)/seeds?limit=\(limit)")
            if options.json {
                try Terminal.json(object)
                return
            }
            let body = object as? [String: Any] ?? [:]
            let count = body["count"] as? Int ?? 0
            let gate = body["minimum_seeds"] as? Int ?? 0
            let passes = body["passes_gate"] as? Bool ?? false
            Terminal.out(
                "item \(item): \(count) seeds; cold-start gate \(gate): \(passes ? "passed" : "not passed (cold start)")"
            )
            let seeds = body["seeds"] as? [[String: Any]] ?? []
            Terminal.out(
                Terminal.table(
                    ["#", "user", "latest engagement"],
                    seeds.enumerated().map { n, seed in
                        let millis = (seed["time_ms"] as? NSNumber)?.int64Value ?? 0
                        let date = ISO8601DateFormatter().string(
                            from: Date(timeIntervalSince1970: Double(millis) / 1000))
                        return [String(n + 1), seed["user_id"] as? String ?? "?", date]
                    }))
        }
    }
}

struct AdminLookalikeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookalike",
        abstract:
            "Audience expansion: the top-k users, not seeds, that look like an item's seeds (needs an embedding model)."
    )

    @OptionGroup var options: APIOptions

    @Argument(help: "Item id.")
    var item: String

    @Option(help: "How many users.")
    var k = 50

    @Flag(help: "Brute force over every user instead of the IVF index.")
    var exact = false

    func run() async throws {
        try await reportingFailures {
            let request = try JSONSerialization.data(
                withJSONObject: ["item": item, "k": k, "exact": exact] as [String: Any])
            let object = try await options.client.json("/v1/lookalike/expand", method: .POST, body: request)
            if options.json {
                try Terminal.json(object)
                return
            }
            let body = object as? [String: Any] ?? [:]
            Terminal.out(
                "users like the seeds of \(item) (model \(body["model_version"] as? String ?? "?"), \(body["method"] as? String ?? "?"), "
                    + "\(body["candidates"] as? Int ?? 0) candidates, \(body["seeds_with_vectors"] as? Int ?? 0) seeds with vectors)"
            )
            let users = body["users"] as? [[String: Any]] ?? []
            Terminal.out(
                Terminal.table(
                    ["rank", "user", "score"],
                    users.enumerated().map { n, user in
                        [
                            String(n + 1), user["user_id"] as? String ?? "?",
                            String(format: "%.6f", user["score"] as? Double ?? 0),
                        ]
                    }))
        }
    }
}
