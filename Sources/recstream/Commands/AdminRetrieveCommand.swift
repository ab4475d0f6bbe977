import ArgumentParser
import Foundation
import NIOHTTP1

/// `recstream admin retrieve USER`: the embedding retrieval the serving fleet calls.
struct AdminRetrieveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrieve",
        abstract: "Top-k items for a user by the served embedding model (IVF index), already-exposed items dropped.")

    @OptionGroup var options: APIOptions

    @Argument(help: "User id.")
    var user: String

    @Option(help: "Items to return.")
    var k = 20

    @Option(help: "IVF lists scanned (default: the instance's embedding.ivf_probes).")
    var nprobe: Int?

    func run() async throws {
        try await reportingFailures {
            var body: [String: Any] = ["user": user, "k": k]
            if let nprobe { body["nprobe"] = nprobe }
            let object = try await options.client.json(
                "/v1/retrieve", method: .POST, body: try JSONSerialization.data(withJSONObject: body))
            if options.json {
                try Terminal.json(object)
                return
            }
            let answer = object as? [String: Any] ?? [:]
            Terminal.out(
                "user \(user): model \(answer["model_version"] as? String ?? "?"), from \(answer["source"] as? String ?? "?"), "
                    + "\(StatusRendering.int(answer["exposed_dropped"])) exposed items dropped")
            let items = answer["items"] as? [[String: Any]] ?? []
            Terminal.out(Terminal.table(["#", "item", "score"], items.enumerated().map { n, item in
                [String(n + 1), item["item_id"] as? String ?? "?", String(format: "%.4f", (item["score"] as? NSNumber)?.doubleValue ?? 0)]
            }))
        }
    }
}

/// `recstream admin score USER ITEM...`: look-alike scores of one user for items.
struct AdminScoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Look-alike (RALM) scores of a user for items, with each item's cold-start flag.")

    @OptionGroup var options: APIOptions

    @Argument(help: "User id.")
    var user: String

    @Argument(help: "Item ids (up to 1,000).")
    var items: [String]

    func run() async throws {
        try await reportingFailures {
            let object = try await options.client.json(
                "/v1/lookalike/score", method: .POST,
                body: try JSONSerialization.data(withJSONObject: ["user": user, "items": items] as [String: Any]))
            if options.json {
                try Terminal.json(object)
                return
            }
            let answer = object as? [String: Any] ?? [:]
            Terminal.out("user \(user): model \(answer["model_version"] as? String ?? "?")")
            let entries = answer["items"] as? [[String: Any]] ?? []
            Terminal.out(Terminal.table(["item", "score", "status", "seeds"], entries.map { entry in
                [
                    entry["item_id"] as? String ?? "?",
                    (entry["score"] as? NSNumber).map { String(format: "%.4f", $0.doubleValue) } ?? "-",
                    entry["status"] as? String ?? "?", StatusRendering.int(entry["seed_count"]),
                ]
            }))
        }
    }
}
