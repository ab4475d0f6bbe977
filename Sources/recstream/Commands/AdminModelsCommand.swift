import ArgumentParser
import Foundation
import NIOHTTP1

/// `recstream admin models`: the published embedding model versions of an instance.
struct AdminModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "Published embedding model versions, newest first, and the one served.")

    @OptionGroup var options: APIOptions

    func run() async throws {
        try await reportingFailures {
            let object = try await options.client.json("/v1/admin/models")
            if options.json {
                try Terminal.json(object)
                return
            }
            Terminal.out(Self.render(object as? [String: Any] ?? [:]))
        }
    }

    static func render(_ list: [String: Any]) -> String {
        let served = list["served"] as? String
        let models = list["models"] as? [[String: Any]] ?? []
        guard !models.isEmpty else { return "no model published yet" }
        let formatter = ISO8601DateFormatter()
        var notes: [String] = []
        let rows = models.map { m -> [String] in
            let version = m["version"] as? String ?? "?"
            let published = (m["published_at_millis"] as? Double).map { formatter.string(from: Date(timeIntervalSince1970: $0 / 1000)) } ?? "?"
            let isServed = (m["served"] as? Bool) ?? (version == served)
            let heldBack = (m["gate"] as? [String: Any])?["decision"] as? String == "held_back"
            let state = isServed ? "served" : heldBack ? "held back" : "-"
            if let status = m["status"] as? String, status != "served" { notes.append("\(version): \(status)") }
            let recall = ((m["evaluation"] as? [String: Any])?["value"] as? Double).map { String(format: "%.4f", $0) } ?? "-"
            return [
                (isServed ? "* " : "  ") + version, state, m["kind"] as? String ?? "?", m["parent"] as? String ?? "-",
                StatusRendering.int(m["users_with_vectors"]), StatusRendering.int(m["items_with_vectors"]),
                StatusRendering.int(m["engagements_used"]), String(format: "%.4f", m["last_epoch_loss"] as? Double ?? 0), recall,
                StatusRendering.int(m["log_position"]), published,
            ]
        }
        return Terminal.table(
            ["version", "status", "kind", "parent", "users", "items", "engagements", "loss", "recall@50", "log position", "published"],
            rows) + "\n* served" + (notes.isEmpty ? "" : "\n\n" + notes.joined(separator: "\n"))
    }
}

/// `recstream admin rollback VERSION`: serve an earlier published version again.
struct AdminRollbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback", abstract: "Serve an earlier published embedding model version (checksum-verified) from now on.")

    @OptionGroup var options: APIOptions

    @Argument(help: "The version to serve, MAJOR.MINOR (see `recstream admin models`).")
    var version: String

    func run() async throws {
        try await reportingFailures {
            let body = try JSONSerialization.data(withJSONObject: ["version": version])
            let object = try await options.client.json("/v1/admin/rollback", method: .POST, body: body)
            if options.json {
                try Terminal.json(object)
                return
            }
            Terminal.out("serving model \((object as? [String: Any])?["served"] as? String ?? "?")")
        }
    }
}
